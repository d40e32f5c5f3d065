// Package service implements the HealthImaging operations (api.Service) on
// top of the ohi stores: it owns the semantics (life cycles, idempotency,
// quotas, grouping rules, pagination) while package api owns the wire
// format and sqlstore, blob/* and importer own storage and import work.
package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/api"
)

// Config holds the service settings. The zero value is completed by
// WithDefaults.
type Config struct {
	Region    string // default "us-east-1"
	AccountID string // 12 digits, default "123456789012"
	// MaxDatastores is the quota of data stores that are not deleted
	// (default 100, as AWS).
	MaxDatastores int
	// TransitionDelay is how long a data store stays CREATING or DELETING
	// before it settles (default 500ms). Clients polling right after create
	// see CREATING, as against AWS.
	TransitionDelay time.Duration
	// MaxConcurrentJobs is the quota of unfinished import jobs per data store
	// (default 100, as AWS).
	MaxConcurrentJobs int
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "123456789012"
	}
	if c.MaxDatastores == 0 {
		c.MaxDatastores = 100
	}
	if c.TransitionDelay == 0 {
		c.TransitionDelay = 500 * time.Millisecond
	}
	if c.MaxConcurrentJobs == 0 {
		c.MaxConcurrentJobs = 100
	}
	return c
}

// Notifier is told when an import job was submitted, so a worker can pick it
// up without waiting for its next poll.
type Notifier interface {
	Notify()
}

// Service implements api.Service.
type Service struct {
	cfg    Config
	store  ohi.MetadataStore
	blobs  ohi.BlobStore
	jobs   Notifier
	logger *slog.Logger
	tokens *tokenCodec
	docs   docCache // decoded metadata documents DICOMweb reads

	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

var _ api.Service = (*Service)(nil)

// New returns a Service. blobs is the server's storage area (frames and
// metadata documents); jobs may be nil.
func New(ctx context.Context, cfg Config, store ohi.MetadataStore, blobs ohi.BlobStore, jobs Notifier, logger *slog.Logger) (*Service, error) {
	if logger == nil {
		logger = slog.Default()
	}
	key, err := store.Setting(ctx, "pagination-token-key", func() string {
		var b [32]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	})
	if err != nil {
		return nil, fmt.Errorf("load pagination key: %w", err)
	}
	tc, err := newTokenCodec(key)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Service{cfg: cfg.WithDefaults(), store: store, blobs: blobs, jobs: jobs, logger: logger, tokens: tc, ctx: sctx, cancel: cancel}
	if err := s.resumeTransitions(ctx); err != nil {
		cancel()
		return nil, err
	}
	if err := s.resumeSettles(ctx); err != nil {
		cancel()
		return nil, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.indexExisting(sctx)
	}()
	return s, nil
}

// Close stops background transitions and waits for them.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// DatastoreARN returns the ARN of a data store.
func (s *Service) DatastoreARN(id string) string {
	return fmt.Sprintf("arn:aws:medical-imaging:%s:%s:datastore/%s", s.cfg.Region, s.cfg.AccountID, id)
}

// ImageSetARN returns the ARN of an image set.
func (s *Service) ImageSetARN(datastoreID, id string) string {
	return s.DatastoreARN(datastoreID) + "/imageset/" + id
}

// parseARN splits a resource ARN of this region and account into its data
// store id and optional image set id.
func (s *Service) parseARN(arn string) (datastoreID, imageSetID string, err error) {
	prefix := fmt.Sprintf("arn:aws:medical-imaging:%s:%s:datastore/", s.cfg.Region, s.cfg.AccountID)
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return "", "", ohi.NotFoundf("resource %s does not exist in region %s of account %s", arn, s.cfg.Region, s.cfg.AccountID)
	}
	datastoreID, imageSetID, _ = strings.Cut(rest, "/imageset/")
	return datastoreID, imageSetID, nil
}

func ptr[T any](v T) *T { return &v }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func limitOf(p *int32, def int) int {
	if p == nil {
		return def
	}
	return int(*p)
}
