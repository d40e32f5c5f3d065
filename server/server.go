// Package server assembles the HTTP handler of `ohi serve`: request ids,
// access logs, panic recovery, body limits, a health endpoint, SigV4
// verification, and the HealthImaging operations of package api.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/dicomweb"
	"github.com/openhealthimaging/ohi/sigv4"
)

// Config configures the handler.
type Config struct {
	// Service answers the HealthImaging operations.
	Service api.Service
	// Verifier checks request signatures; nil disables authentication.
	Verifier *sigv4.Verifier
	// Logger receives one access log line per request (default slog.Default).
	Logger *slog.Logger
	// Health reports whether the server can serve; /healthz answers 200 when
	// it returns nil and 503 otherwise. Nil means always healthy.
	Health func(ctx context.Context) error
	// Console serves the web console under /console/ (nil: none).
	Console http.Handler
	// Viewer serves the image viewer under /viewer (nil: none).
	Viewer http.Handler
	// DICOMweb serves the DICOMweb routes (package dicomweb:
	// /datastore/{id}/studies, /series, /instances and below; nil: none),
	// behind the same SigV4 check as the API (or a console session) with a
	// body limit of MaxDICOMwebBody, bodies over 8 MB spooled to
	// DICOMwebSpoolDir while their signature is checked.
	DICOMweb         http.Handler
	DICOMwebSpoolDir string
	// Sessions authenticates browsers on the console, the viewer and the
	// DICOMweb routes, which accept a valid session or a valid SigV4
	// signature; the HealthImaging API accepts only signatures. Nil means
	// those routes, too, accept only signatures.
	Sessions Sessions
}

// Sessions tells browser sessions apart (package console implements it).
type Sessions interface {
	// Authenticated reports whether r carries a valid session.
	Authenticated(r *http.Request) bool
	// Public reports whether r may be served with neither a session nor a
	// signature (the login page and its assets).
	Public(r *http.Request) bool
}

// LoginPath is where browsers without a session are sent.
const LoginPath = "/console/login"

// DICOMwebPatterns are the ServeMux patterns of the DICOMweb routes.
var DICOMwebPatterns = []string{
	"/datastore/{datastoreId}/studies", "/datastore/{datastoreId}/studies/",
	"/datastore/{datastoreId}/series", "/datastore/{datastoreId}/series/",
	"/datastore/{datastoreId}/instances", "/datastore/{datastoreId}/instances/",
}

// New returns the server's root handler.
func New(cfg Config) http.Handler {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var h http.Handler = api.NewHandler(cfg.Service)
	signed := func(h http.Handler) http.Handler { return h }
	if cfg.Verifier != nil {
		signed = func(h http.Handler) http.Handler {
			return cfg.Verifier.Middleware(h, func(w http.ResponseWriter, r *http.Request, e *sigv4.Error) {
				code, _ := api.WriteError(w, &api.Error{Code: e.Code, Status: e.Status, Message: e.Message})
				if info := api.RequestInfoFrom(r.Context()); info != nil {
					info.ErrorCode = code
				}
			})
		}
	}
	h = http.MaxBytesHandler(signed(h), api.MaxRequestBody)
	mux := http.NewServeMux()
	browser := func(next http.Handler) http.Handler {
		return http.MaxBytesHandler(browserAuth(cfg, signed(next), next), api.MaxRequestBody)
	}
	if cfg.Console != nil {
		mux.Handle("/console/", browser(cfg.Console))
		mux.Handle("/console", browser(cfg.Console))
	}
	if cfg.Viewer != nil {
		mux.Handle("/viewer", browser(cfg.Viewer))
		mux.Handle("/viewer/", browser(cfg.Viewer))
	}
	if cfg.DICOMweb != nil {
		dw := browserAuth(cfg, signedDICOMweb(cfg), http.MaxBytesHandler(cfg.DICOMweb, MaxDICOMwebBody))
		for _, p := range DICOMwebPatterns {
			mux.Handle(p, dw)
		}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Health != nil {
			if err := cfg.Health(r.Context()); err != nil {
				http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(api.OpenAPIJSON)
	})
	if cfg.DICOMweb != nil {
		doc := dicomweb.OpenAPI()
		mux.HandleFunc("GET "+dicomweb.OpenAPIPath, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(doc)
		})
	}
	mux.Handle("/", h)
	return withRequest(mux, logger)
}

// browserAuth admits a request to a route browsers use when it is signed
// (verified by signed), carries a valid session, or is public (the login
// page); a browser asking for a page without either is sent to the login
// page, anything else gets 403 as from the API.
func browserAuth(cfg Config, signed, next http.Handler) http.Handler {
	if cfg.Verifier == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "" || r.URL.Query().Has("X-Amz-Signature"):
			signed.ServeHTTP(w, r)
		case cfg.Sessions != nil && (cfg.Sessions.Authenticated(r) || cfg.Sessions.Public(r)):
			// SameSite=Strict keeps other sites from sending the
			// session; a cross-origin request that changes something
			// (a form, a STOW-RS) is refused besides.
			if err := crossOrigin.Check(r); err != nil {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		case cfg.Sessions != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			strings.Contains(r.Header.Get("Accept"), "text/html"):
			http.Redirect(w, r, LoginPath+"?"+url.Values{"next": {r.URL.RequestURI()}}.Encode(), http.StatusSeeOther)
		default:
			// The same answer as an unsigned API request gets.
			signed.ServeHTTP(w, r)
		}
	})
}

var crossOrigin = http.NewCrossOriginProtection()

// newRequestID returns a request id in the UUID layout AWS uses.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// withRequest assigns the request id, recovers panics and logs each request.
func withRequest(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &api.RequestInfo{ID: newRequestID()}
		w.Header().Set("x-amzn-RequestId", info.ID)
		rw := &responseWriter{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(api.WithRequestInfo(r.Context(), info))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.Error("panic serving request", "requestId", info.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rw.wroteHeader {
					code, _ := api.WriteError(rw, fmt.Errorf("panic: %v", p))
					info.ErrorCode = code
				}
			}
			attrs := []any{"requestId", info.ID, "method", r.Method, "path", r.URL.EscapedPath(), "status", rw.status,
				"bytes", rw.bytes, "ms", float64(time.Since(start).Microseconds()) / 1000}
			if info.Operation != "" {
				attrs = append(attrs, "op", info.Operation)
			}
			if info.ErrorCode != "" {
				attrs = append(attrs, "error", info.ErrorCode)
			}
			switch {
			case info.Err != nil:
				logger.Error("request", append(attrs, "err", info.Err.Error())...)
			case rw.status >= 500:
				logger.Error("request", attrs...)
			default:
				logger.Info("request", attrs...)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// responseWriter records the status and size; it keeps io.ReaderFrom so
// frames served from local files still use sendfile.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom passes through to the underlying writer's ReadFrom.
func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	w.wroteHeader = true
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r)
		w.bytes += n
		return n, err
	}
	n, err := io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
