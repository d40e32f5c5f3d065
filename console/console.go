// Package console is ohi's web console, served by `ohi serve` at /console/:
// data stores and their status, import jobs with live progress (from ohi's
// own task records), image set search with versions and primary flags, and
// a server-rendered thumbnail of every series. It is a third front door
// onto the service layer, next to the HealthImaging API and DICOMweb: every
// change it makes (create or delete a data store, start an import) is the
// service call the API makes, checked against the same model constraints.
//
// Pages are plain html/template HTML embedded in the binary, with one small
// script that refreshes the progress of running import jobs.
//
// With signature verification on, browsers cannot sign requests: the login
// page takes the access key pair once and issues a session cookie (see
// Sessions) that the console, the viewer and the DICOMweb routes accept.
// Every form that changes something carries a CSRF token.
package console

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/service"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// DecodeFunc decodes one stored frame (see codec.Decode). `ohi serve`
// passes the codec worker pool, so that frames stored as received (JPEG,
// lossy JPEG 2000) are decoded outside the server process.
type DecodeFunc func(ctx context.Context, frame []byte, ts string, img codec.Image) (*codec.Pixels, error)

// Config configures the console.
type Config struct {
	// Service is the HealthImaging service the console calls.
	Service *service.Service
	// Sessions authenticates browsers; nil means no login (--no-auth).
	Sessions *Sessions
	// Decode decodes frames for thumbnails (default codec.Decode in process).
	Decode DecodeFunc
	// ViewerPath is where the viewer is served (default /viewer).
	ViewerPath string
	// ThumbnailCache is the number of rendered thumbnails kept (default 512).
	ThumbnailCache int
	Logger         *slog.Logger
}

// Console is the web console's handler.
type Console struct {
	cfg    Config
	svc    *service.Service
	pages  map[string]*template.Template
	mux    *http.ServeMux
	thumbs *thumbnailer
	logger *slog.Logger
	// anonKey signs CSRF tokens when there are no sessions (--no-auth).
	anonKey []byte
}

// Prefix is the path under which the console is served.
const Prefix = "/console/"

// New returns the console.
func New(cfg Config) (*Console, error) {
	if cfg.Service == nil {
		return nil, errors.New("console: Service is required")
	}
	if cfg.Decode == nil {
		cfg.Decode = func(_ context.Context, frame []byte, ts string, img codec.Image) (*codec.Pixels, error) {
			return codec.Decode(frame, ts, img)
		}
	}
	if cfg.ViewerPath == "" {
		cfg.ViewerPath = "/viewer"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Console{cfg: cfg, svc: cfg.Service, logger: cfg.Logger, pages: map[string]*template.Template{}}
	c.anonKey = make([]byte, 32)
	_, _ = rand.Read(c.anonKey)
	c.thumbs = newThumbnailer(cfg.Service, cfg.Decode, cfg.ThumbnailCache)
	funcs := template.FuncMap{
		"time": func(t *api.Time) string {
			if t == nil || t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"gotime": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"deref": func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		},
		"val": func(v any) any {
			rv := reflect.ValueOf(v)
			if !rv.IsValid() || rv.Kind() == reflect.Pointer && rv.IsNil() {
				return ""
			}
			return reflect.Indirect(rv).Interface()
		},
		"deref2": func(p *bool) bool { return p != nil && *p },
		"percent": func(done, total int) int {
			if total <= 0 {
				return 0
			}
			return done * 100 / total
		},
		"viewer": func(dsID, studyUID string) string {
			return cfg.ViewerPath + "?" + url.Values{"datastoreId": {dsID}, "StudyInstanceUIDs": {studyUID}}.Encode()
		},
		"patientName": func(pn string) string { return strings.TrimSpace(strings.ReplaceAll(pn, "^", " ")) },
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		c.pages[base] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	m := http.NewServeMux()
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", staticHandler(static)))
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("POST /console/logout", c.logout)
	m.HandleFunc("GET /console/{$}", c.datastores)
	m.HandleFunc("POST /console/datastores", c.createDatastore)
	m.HandleFunc("GET /console/datastores/{id}", c.datastore)
	m.HandleFunc("POST /console/datastores/{id}/delete", c.deleteDatastore)
	m.HandleFunc("POST /console/datastores/{id}/imports", c.startImport)
	m.HandleFunc("GET /console/datastores/{id}/jobs/{job}", c.job)
	m.HandleFunc("GET /console/datastores/{id}/jobs/{job}/progress", c.jobProgress)
	m.HandleFunc("GET /console/datastores/{id}/imagesets", c.imageSets)
	m.HandleFunc("GET /console/datastores/{id}/imagesets/{set}", c.imageSet)
	m.HandleFunc("GET /console/datastores/{id}/imagesets/{set}/thumbnail.png", c.thumbnail)
	m.HandleFunc("GET /console/datastores/{id}/imagesets/{set}/frames/{frame}/image.png", c.frameImage)
	m.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, Prefix, http.StatusMovedPermanently) })
	c.mux = m
	return c, nil
}

// ServeHTTP serves the console. The server puts it behind its
// authentication middleware (a session or a signature), which lets only
// Sessions.Public requests through without one; the console itself checks
// the CSRF token of every POST and rejects cross-origin POSTs.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	if r.Method == http.MethodPost {
		if err := crossOrigin.Check(r); err != nil {
			c.fail(w, r, http.StatusForbidden, "cross-origin request refused")
			return
		}
		if !c.csrfValid(r) {
			c.fail(w, r, http.StatusForbidden, "the form has expired or did not come from this console (CSRF token missing or wrong); reload the page and try again")
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

var crossOrigin = http.NewCrossOriginProtection()

func staticHandler(fsys fs.FS) http.Handler {
	fsrv := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// page is the data every template gets.
type page struct {
	Title    string
	CSRF     string
	LoggedIn bool
	Auth     bool
	Flash    string
	Data     any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	t := c.pages[name]
	p := page{Title: title, CSRF: c.csrfToken(w, r), Auth: c.cfg.Sessions != nil, Data: data,
		Flash: flashes[r.URL.Query().Get("done")]}
	if c.cfg.Sessions != nil {
		_, p.LoggedIn = c.cfg.Sessions.session(r)
	}
	var buf strings.Builder
	if err := t.Execute(&buf, p); err != nil {
		c.logger.Error("console: render", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// fail renders an error page with the status that fits err.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "error", "Error", msg)
}

// failErr renders a service error with its HTTP status.
func (c *Console) failErr(w http.ResponseWriter, r *http.Request, err error) {
	c.fail(w, r, errStatus(err), errMessage(err))
}

func errStatus(err error) int {
	var ve *ohi.ValidationError
	var ae *api.Error
	switch {
	case errors.As(err, &ve):
		return http.StatusBadRequest
	case errors.Is(err, ohi.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ohi.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ohi.ErrQuotaExceeded):
		return http.StatusTooManyRequests
	case errors.As(err, &ae) && ae.Status != 0:
		return ae.Status
	}
	return http.StatusInternalServerError
}

func errMessage(err error) string {
	if errStatus(err) == http.StatusInternalServerError {
		return "internal error: " + err.Error()
	}
	return err.Error()
}

// flashes are the messages a redirect after a change shows (a fixed set,
// so that a link cannot make the console say something else).
var flashes = map[string]string{
	"created":  "Data store created. It becomes ACTIVE in a moment.",
	"deleting": "Data store deletion started.",
	"import":   "Import job started.",
}

// done redirects to a console page after a change, with its message.
func done(w http.ResponseWriter, r *http.Request, path, flash string) {
	http.Redirect(w, r, path+"?done="+url.QueryEscape(flash), http.StatusSeeOther)
}
