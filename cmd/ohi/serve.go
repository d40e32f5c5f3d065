package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/blob/s3blob"
	"github.com/openhealthimaging/ohi/codec/codecproc"
	"github.com/openhealthimaging/ohi/importer"
	"github.com/openhealthimaging/ohi/internal/app"
)

// ServeCmd runs the API server.
type ServeCmd struct {
	Listen          string        `default:"127.0.0.1:8080" env:"OHI_LISTEN" help:"Address to listen on."`
	DataDir         string        `default:"./ohi-data" env:"OHI_DATA_DIR" type:"path" help:"Directory for the database, frames, metadata and the s3:// buckets of the embedded default."`
	Region          string        `default:"us-east-1" env:"OHI_REGION" help:"AWS region the server answers as (SigV4 scope and ARNs)."`
	AccountID       string        `default:"123456789012" env:"OHI_ACCOUNT_ID" help:"12-digit account id used in ARNs."`
	AccessKeyID     string        `env:"OHI_ACCESS_KEY_ID" help:"Access key id clients sign with. With no credentials and no --no-auth, a key pair is generated into the data directory."`
	SecretAccessKey string        `env:"OHI_SECRET_ACCESS_KEY" help:"Secret access key clients sign with."`
	NoAuth          bool          `env:"OHI_NO_AUTH" help:"Disable signature verification (any client is accepted)."`
	S3Endpoint      string        `name:"s3-endpoint" env:"OHI_S3_ENDPOINT" help:"Read import input and write import output from this S3-compatible endpoint (standard AWS credential chain) instead of <data-dir>/buckets."`
	Database        string        `env:"OHI_DATABASE" placeholder:"postgres://..." help:"Metadata database: a postgres:// URL shared by replicas (default: SQLite in the data directory)."`
	BlobStore       string        `env:"OHI_BLOB_STORE" placeholder:"s3://BUCKET/PREFIX" help:"Storage for frames and metadata: an s3:// bucket and prefix shared by replicas, on --s3-endpoint or AWS (default: the data directory)."`
	ImportWorkers   int           `env:"OHI_IMPORT_WORKERS" help:"Files read in parallel per import job (default: number of CPUs)."`
	ImportStall     time.Duration `name:"import-stall-timeout" default:"3m" env:"OHI_IMPORT_STALL_TIMEOUT" help:"How long a file being imported may make no progress (in one stage: open, parse, or a frame's read, decode, transcode or store) before it is failed with the stage it was stuck in and the import carries on."`
	MaxFilesPerJob  int           `default:"5000" env:"OHI_MAX_FILES_PER_JOB" help:"Quota of files per import job."`
	LogFormat       string        `default:"text" enum:"text,json" env:"OHI_LOG_FORMAT" help:"Log format: text or json."`
	LogLevel        string        `default:"info" enum:"debug,info,warn,error" env:"OHI_LOG_LEVEL" help:"Log level."`
	ShutdownTimeout time.Duration `default:"30s" env:"OHI_SHUTDOWN_TIMEOUT" help:"How long a shutdown waits for requests in flight."`
	ViewerDir       string        `env:"OHI_VIEWER_DIR" type:"path" help:"OHIF viewer (its built dist/) served at /viewer (default: the viewer directory next to this binary, which make build installs)."`
	SessionTTL      time.Duration `default:"8h" env:"OHI_SESSION_TTL" help:"How long a web console login lasts."`
	Lease           time.Duration `default:"30s" env:"OHI_LEASE" help:"With a shared database: how long an import job or task stays claimed by a replica that stopped (crashed), before another replica takes it over."`
}

var accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)

func newLogger(format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// Run starts the server and blocks until SIGINT or SIGTERM.
func (c *ServeCmd) Run() error {
	if !accountIDRE.MatchString(c.AccountID) {
		return &ExitError{Code: 2, Err: fmt.Errorf("--account-id must be 12 digits, got %q", c.AccountID)}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return &ExitError{Code: 2, Err: errors.New("--access-key-id and --secret-access-key must be given together")}
	}
	logger := newLogger(c.LogFormat, c.LogLevel)
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if c.Database == "" {
		// The embedded database belongs to one process.
		unlock, err := lockDataDir(c.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}

	var buckets ohi.Buckets
	var blobs ohi.BlobStore
	if c.S3Endpoint != "" || c.BlobStore != "" {
		client, err := s3blob.NewClient(ctx, c.S3Endpoint, c.Region)
		if err != nil {
			return fmt.Errorf("S3 client for %q: %w", c.S3Endpoint, err)
		}
		if c.S3Endpoint != "" {
			buckets = &s3blob.Buckets{Client: client}
		}
		if c.BlobStore != "" {
			bucket, prefix, err := ohi.ParseS3URI(c.BlobStore)
			if err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("--blob-store must be s3://BUCKET/PREFIX: %v", err)}
			}
			if prefix != "" && !strings.HasSuffix(prefix, "/") {
				prefix += "/"
			}
			blobs = s3blob.New(client, bucket, prefix)
		}
	}
	var creds map[string]string
	if c.NoAuth {
		logger.Warn("signature verification is DISABLED (--no-auth): any client can read and write this server")
	} else {
		ak, sk := c.AccessKeyID, c.SecretAccessKey
		if ak == "" {
			var err error
			if ak, sk, err = loadOrCreateCredentials(c.DataDir); err != nil {
				return err
			}
		}
		creds = map[string]string{ak: sk}
		logger.Info("signature verification on", "accessKeyId", ak, "region", c.Region)
	}
	// Compressed pixel data is decoded in worker processes (this binary,
	// `ohi codec-worker`): a hostile codestream that aborts a C decoder
	// then fails its file instead of stopping the server.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	viewerDir := c.ViewerDir
	if viewerDir == "" {
		viewerDir = filepath.Join(filepath.Dir(exe), "viewer")
	}
	decoders := &codecproc.Pool{Command: []string{exe, "codec-worker"}, Size: max(c.ImportWorkers, runtime.NumCPU())}
	defer decoders.Close()
	a, err := app.New(ctx, app.Config{DataDir: c.DataDir, Decode: decoders.Decode, Database: c.Database, Blobs: blobs, Region: c.Region, AccountID: c.AccountID, Credentials: creds,
		Buckets: buckets, ImportWorkers: c.ImportWorkers, ImportStallTimeout: c.ImportStall, Lease: c.Lease, SessionTTL: c.SessionTTL, ViewerDir: viewerDir, Limits: importer.Limits{MaxFiles: c.MaxFilesPerJob}, Logger: logger})
	if err != nil {
		return err
	}
	defer a.Close()
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Listen, err)
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("ohi listening", "endpoint", "http://"+ln.Addr().String(), "dataDir", c.DataDir, "version", version)
	logger.Info("web console", "url", "http://"+ln.Addr().String()+"/console/", "viewer", a.Viewer.Installed(), "viewerDir", viewerDir)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	if err := a.Close(); err != nil {
		logger.Warn("close", "err", err)
	}
	logger.Info("stopped")
	return nil
}

// loadOrCreateCredentials returns the key pair stored in the data directory,
// generating one on first use. The file uses the AWS shared credentials
// format (profile "ohi") so clients can point AWS_SHARED_CREDENTIALS_FILE at
// it.
func loadOrCreateCredentials(dir string) (ak, sk string, err error) {
	path := filepath.Join(dir, "credentials")
	if b, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "aws_access_key_id":
				ak = strings.TrimSpace(v)
			case "aws_secret_access_key":
				sk = strings.TrimSpace(v)
			}
		}
		if ak == "" || sk == "" {
			return "", "", fmt.Errorf("%s has no aws_access_key_id/aws_secret_access_key", path)
		}
		fmt.Fprintf(os.Stderr, "ohi: clients sign with the key pair in %s (profile ohi), access key id %s\n", path, ak)
		return ak, sk, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", err
	}
	var a [10]byte
	var s [30]byte
	_, _ = rand.Read(a[:])
	_, _ = rand.Read(s[:])
	ak = "OHI" + strings.ToUpper(hex.EncodeToString(a[:]))[:17]
	sk = hex.EncodeToString(s[:])
	content := fmt.Sprintf("[ohi]\naws_access_key_id = %s\naws_secret_access_key = %s\n", ak, sk)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return "", "", err
	}
	fmt.Fprintf(os.Stderr, "ohi: generated a key pair for clients in %s (profile ohi)\n  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\n", path, ak, sk)
	return ak, sk, nil
}

// lockDataDir takes an exclusive lock on the data directory so two servers
// never share one embedded database.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another ohi process", dir)
	}
	return func() { f.Close() }, nil
}

// CodecWorkerCmd decodes frames for `ohi serve` in a separate process
// (package codec/codecproc); it is started by the server, not by users.
type CodecWorkerCmd struct{}

// Run serves decode requests on stdin and stdout until stdin closes.
func (CodecWorkerCmd) Run() error { return codecproc.Serve(os.Stdin, os.Stdout) }
