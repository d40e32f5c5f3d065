// Package app wires one ohi server process: the metadata store, the blob
// store, the s3:// buckets, the import job runner, the HealthImaging service
// and the HTTP handler. cmd/ohi uses it for `ohi serve`; integration tests
// use it to run the real server in-process.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/blob/fileblob"
	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/console"
	"github.com/openhealthimaging/ohi/dicomweb"
	"github.com/openhealthimaging/ohi/importer"
	"github.com/openhealthimaging/ohi/jobqueue"
	"github.com/openhealthimaging/ohi/server"
	"github.com/openhealthimaging/ohi/service"
	"github.com/openhealthimaging/ohi/sigv4"
	"github.com/openhealthimaging/ohi/sqlstore"
	"github.com/openhealthimaging/ohi/viewer"
)

// Config configures an App. DataDir is required.
type Config struct {
	// DataDir holds the embedded database, blobs and buckets by default,
	// and temporary files always.
	DataDir string
	// Database is the metadata store: "" for SQLite in DataDir, or a
	// postgres:// URL shared by every replica.
	Database string
	// Blobs is the storage area for frames and metadata documents; nil
	// means DataDir/blobs. Replicas share an S3 bucket (blob/s3blob).
	Blobs     ohi.BlobStore
	Region    string // default us-east-1
	AccountID string // default 123456789012
	// Credentials maps access key ids to secrets; nil disables signature
	// verification.
	Credentials map[string]string
	// Buckets resolves s3:// buckets; nil means <DataDir>/buckets.
	Buckets ohi.Buckets
	// ImportWorkers is the number of files read in parallel (default NumCPU).
	ImportWorkers int
	// ImportStallTimeout is how long a file being imported may make no
	// progress in one stage before it is failed and its task carries on
	// (default importer.DefaultStallTimeout; negative disables it).
	ImportStallTimeout time.Duration
	Limits             importer.Limits
	// TransitionDelay is how long data stores stay CREATING/DELETING.
	TransitionDelay time.Duration
	// JobPoll is how often idle import workers look for jobs (default 2s).
	JobPoll time.Duration
	// Decode decodes compressed frames for the importer (nil: in process);
	// `ohi serve` passes a codecproc.Pool.
	Decode func(ctx context.Context, frame []byte, ts string, img codec.Image) (*codec.Pixels, error)
	// Lease is how long an import job or task stays claimed by a worker
	// that stopped renewing it (default 30s); then another worker takes it.
	Lease time.Duration
	// ViewerDir is the OHIF dist directory served at /viewer ("": none;
	// /viewer then says how to install it).
	ViewerDir string
	// SessionTTL is how long a console login lasts (default
	// console.DefaultSessionTTL).
	SessionTTL time.Duration
	Logger     *slog.Logger
}

// App is a wired server process.
type App struct {
	Store   *sqlstore.Store
	Blobs   ohi.BlobStore
	Buckets ohi.Buckets
	Service *service.Service
	Runner  *jobqueue.Runner
	Console *console.Console
	Viewer  *viewer.Handler
	// Sessions are the console's login sessions (nil without credentials).
	Sessions *console.Sessions
	// DICOMweb is the DICOMweb handler (mounted in Handler).
	DICOMweb *dicomweb.Handler
	Handler  http.Handler
	// Importer runs import jobs and STOW-RS requests.
	Importer *importer.Importer

	logger *slog.Logger

	closers []func() error
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New opens the stores in cfg.DataDir and wires the server. Call Start to
// run import jobs and Close to release everything.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("app: DataDir is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	a := &App{}
	fail := func(err error) (*App, error) {
		a.Close()
		return nil, err
	}
	for _, d := range []string{cfg.DataDir, filepath.Join(cfg.DataDir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
	}
	sweepTemp(filepath.Join(cfg.DataDir, "tmp"), cfg.Database != "", logger)
	dbURL := cfg.Database
	if dbURL == "" {
		dbURL = filepath.Join(cfg.DataDir, "ohi.db")
	}
	store, err := sqlstore.Open(ctx, dbURL)
	if err != nil {
		return fail(fmt.Errorf("open metadata store: %w", err))
	}
	a.Store = store
	a.closers = append(a.closers, store.Close)
	blobs := cfg.Blobs
	if blobs == nil {
		fb, err := fileblob.New(filepath.Join(cfg.DataDir, "blobs"))
		if err != nil {
			return fail(fmt.Errorf("open blob store: %w", err))
		}
		a.closers = append(a.closers, fb.Close)
		blobs = fb
	}
	a.Blobs = blobs
	a.Buckets = cfg.Buckets
	if a.Buckets == nil {
		fb := &fileblob.Buckets{Root: filepath.Join(cfg.DataDir, "buckets")}
		a.closers = append(a.closers, fb.Close)
		a.Buckets = fb
	}
	imp := &importer.Importer{Store: store, Blobs: blobs, Buckets: a.Buckets, Logger: logger,
		Workers: cfg.ImportWorkers, Limits: cfg.Limits, TempDir: filepath.Join(cfg.DataDir, "tmp"), Decode: cfg.Decode,
		StallTimeout: cfg.ImportStallTimeout}
	a.Importer, a.logger = imp, logger
	a.Runner = &jobqueue.Runner{Store: store, Jobs: imp, Logger: logger, Poll: cfg.JobPoll, Lease: cfg.Lease}
	svc, err := service.New(ctx, service.Config{Region: cfg.Region, AccountID: cfg.AccountID, TransitionDelay: cfg.TransitionDelay},
		store, blobs, a.Runner, logger)
	if err != nil {
		return fail(err)
	}
	a.Service = svc
	a.closers = append(a.closers, func() error { svc.Close(); return nil })
	var verifier *sigv4.Verifier
	if cfg.Credentials != nil {
		region := cfg.Region
		if region == "" {
			region = "us-east-1"
		}
		verifier = &sigv4.Verifier{Service: api.SigningName, Region: region, Credentials: sigv4.StaticCredentials(cfg.Credentials)}
	}
	a.DICOMweb = dicomweb.New(dicomweb.Config{Service: svc, Storer: imp, Logger: logger, TempDir: filepath.Join(cfg.DataDir, "tmp")})
	scfg := server.Config{Service: svc, Verifier: verifier, Logger: logger,
		DICOMweb: a.DICOMweb, DICOMwebSpoolDir: filepath.Join(cfg.DataDir, "tmp"),
		Health: func(ctx context.Context) error { _, err := store.DatastoreList(ctx, "", "", 1); return err }}
	if cfg.Credentials != nil {
		// One session key for every replica: sessions survive restarts
		// and work on whichever replica a browser reaches.
		key, err := store.Setting(ctx, "console-session-key", func() string {
			var b [32]byte
			_, _ = rand.Read(b[:])
			return hex.EncodeToString(b[:])
		})
		if err != nil {
			return fail(fmt.Errorf("load console session key: %w", err))
		}
		kb, err := hex.DecodeString(key)
		if err != nil || len(kb) < 32 {
			return fail(errors.New("the console session key in the database is malformed"))
		}
		a.Sessions = &console.Sessions{Credentials: cfg.Credentials, Key: kb, TTL: cfg.SessionTTL}
		scfg.Sessions = a.Sessions
	}
	var decode console.DecodeFunc
	if cfg.Decode != nil {
		decode = console.DecodeFunc(cfg.Decode)
	}
	con, err := console.New(console.Config{Service: svc, Sessions: a.Sessions, Decode: decode, Logger: logger})
	if err != nil {
		return fail(err)
	}
	a.Console = con
	scfg.Console = con
	vh, err := viewer.New(cfg.ViewerDir, logger)
	if err != nil {
		return fail(err)
	}
	a.closers = append(a.closers, vh.Close)
	a.Viewer = vh
	scfg.Viewer = vh
	a.Handler = server.New(scfg)
	return a, nil
}

// TempLeftoverAge is how old an entry of <DataDir>/tmp must be for New to
// take it for a crash's leftover when the database is shared. With the
// embedded database the process holds the data directory alone (`ohi
// serve` locks it), so everything there is a leftover.
const TempLeftoverAge = time.Hour

// sweepTemp removes what a crash left in the temporary directory: request
// bodies spooled for signature checks, STOW-RS parts, copies of input
// objects. Nothing else writes there before New returns. With a shared
// database only entries older than TempLeftoverAge go, in case replicas
// were given one data directory.
func sweepTemp(dir string, shared bool, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Warn("sweep temporary files", "dir", dir, "err", err)
		return
	}
	cutoff := time.Now().Add(-TempLeftoverAge)
	n := 0
	for _, e := range entries {
		if shared {
			if fi, err := e.Info(); err != nil || fi.ModTime().After(cutoff) {
				continue
			}
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			log.Warn("remove a leftover temporary file", "path", filepath.Join(dir, e.Name()), "err", err)
			continue
		}
		n++
	}
	if n > 0 {
		log.Info("removed the temporary files of an earlier run", "dir", dir, "entries", n)
	}
}

// Start runs the import job workers until Close. With the embedded
// database, jobs a previous process left unfinished resume at once (the
// caller guarantees that no other process uses the data directory); with a
// shared database they resume when their leases expire.
func (a *App) Start(ctx context.Context) error {
	if !a.Store.Shared() {
		if err := a.Store.ImportJobReleaseLeases(ctx); err != nil {
			return err
		}
	}
	rctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if n, err := a.Importer.SweepStow(rctx); err != nil && rctx.Err() == nil {
			a.logger.Warn("sweep interrupted STOW-RS requests", "err", err)
		} else if n > 0 {
			a.logger.Info("removed the storage of interrupted STOW-RS requests", "objects", n)
		}
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.Runner.Run(rctx)
	}()
	return nil
}

// Close stops the workers (interrupted jobs resume at the next start) and
// closes the stores.
func (a *App) Close() error {
	if a.cancel != nil {
		a.cancel()
		a.wg.Wait()
	}
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
