// Package viewer serves the OHIF viewer (the built dist/ of the @ohif/app
// package, installed by scripts/install-ohif.sh, never committed) at
// /viewer, configured to read ohi's DICOMweb routes of one data store:
// /viewer?datastoreId=ID&StudyInstanceUIDs=UID opens a study.
//
// OHIF's build expects to be served from the root of a site. The handler
// relocates it under /viewer/ as it serves it, without changing the files
// on disk: it points window.PUBLIC_URL and the absolute URLs of index.html
// at /viewer/, as well as the webpack public path of the scripts that set
// one, the fonts of the style sheets and the icons of the manifest. It
// generates app-config.js, the viewer's configuration.
package viewer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"
)

// Prefix is the path the viewer is served under.
const Prefix = "/viewer"

// maxRewrite bounds the size of a script the handler relocates in memory.
const maxRewrite = 64 << 20

// Handler serves the viewer.
type Handler struct {
	root   *os.Root // the dist directory, nil when not installed
	dir    string
	index  []byte
	logger *slog.Logger
	start  time.Time

	mu        sync.Mutex
	rewritten map[string][]byte // script path -> relocated bytes (nil: serve as is)
}

// New returns the viewer handler for an OHIF dist directory. A directory
// that does not hold a viewer is not an error: the handler then answers
// that the viewer is not installed and how to install it.
func New(dir string, logger *slog.Logger) (*Handler, error) {
	if logger == nil {
		logger = slog.Default()
	}
	h := &Handler{dir: dir, logger: logger, start: time.Now(), rewritten: map[string][]byte{}}
	if dir == "" {
		return h, nil
	}
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("viewer directory %s: %w", dir, err)
	}
	index, err := fs.ReadFile(root.FS(), "index.html")
	if errors.Is(err, fs.ErrNotExist) {
		root.Close()
		return h, nil
	}
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("viewer directory %s: %w", dir, err)
	}
	h.root, h.index = root, relocateIndex(index)
	return h, nil
}

// Installed reports whether a viewer was found.
func (h *Handler) Installed() bool { return h.root != nil }

// Close releases the directory.
func (h *Handler) Close() error {
	if h.root != nil {
		return h.root.Close()
	}
	return nil
}

// relocateIndex points the absolute URLs of OHIF's index.html, and its
// public URL, at Prefix.
func relocateIndex(b []byte) []byte {
	s := string(b)
	s = strings.ReplaceAll(s, `window.PUBLIC_URL="/"`, `window.PUBLIC_URL="`+Prefix+`/"`)
	for _, attr := range []string{`src="/`, `href="/`} {
		s = strings.ReplaceAll(s, attr, attr+Prefix[1:]+"/")
	}
	// Browsers fetch the manifest without cookies unless told to, and the
	// viewer's files need the session.
	s = strings.ReplaceAll(s, `<link rel="manifest" `, `<link rel="manifest" crossorigin="use-credentials" `)
	return []byte(s)
}

// relocations are the root-relative URLs of OHIF's build, by the kind of
// top-level file that holds them: the public path webpack's runtime sets
// in scripts, url(/...) in style sheets, the icons of the web app manifest.
var relocations = map[string][2]string{
	".js":   {`__webpack_require__.p = "/";`, `__webpack_require__.p = "` + Prefix + `/";`},
	".css":  {`url(/`, `url(` + Prefix + `/`},
	".json": {`"/assets/`, `"` + Prefix + `/assets/`},
}

// relocated returns a top-level file of the build relocated under Prefix,
// or nil when it has no root-relative URL and is served from disk as it is.
func (h *Handler) relocated(name string) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b, ok := h.rewritten[name]; ok {
		return b, nil
	}
	f, err := h.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRewrite+1))
	if err != nil {
		return nil, err
	}
	var out []byte
	if r, ok := relocations[path.Ext(name)]; ok && len(b) <= maxRewrite && bytes.Contains(b, []byte(r[0])) {
		out = bytes.ReplaceAll(b, []byte(r[0]), []byte(r[1]))
	}
	h.rewritten[name] = out
	return out, nil
}

// ServeHTTP serves /viewer (the app), /viewer/app-config.js (generated) and
// the files of the dist directory under /viewer/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	p := r.URL.Path
	if p == Prefix+"/app-config.js" {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, AppConfig)
		return
	}
	if h.root == nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>Viewer not installed</title><h1>The viewer is not installed</h1>
<p>Run <code>scripts/install-ohif.sh</code> (or <code>make build</code>), then start <code>ohi serve</code> again
(or point <code>--viewer-dir</code> at an OHIF dist directory). Looked in: <code>%s</code>.</p>
<p><a href="/console/">Back to the console</a></p></html>`, htmlEscape(h.dir))
		return
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(p, Prefix), "/")
	if rel == "" || rel == "index.html" || !strings.Contains(path.Base(rel), ".") {
		// The app itself, at /viewer and at any route of OHIF's router.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", h.start, bytes.NewReader(h.index))
		return
	}
	if !fs.ValidPath(rel) {
		http.NotFound(w, r)
		return
	}
	if ct := mime.TypeByExtension(path.Ext(rel)); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	// OHIF's file names carry content hashes; the rest changes only with
	// an install.
	w.Header().Set("Cache-Control", "private, max-age=3600")
	if _, ok := relocations[path.Ext(rel)]; ok && !strings.Contains(rel, "/") {
		b, err := h.relocated(rel)
		if err != nil {
			h.notFound(w, r, err)
			return
		}
		if b != nil {
			http.ServeContent(w, r, rel, h.start, bytes.NewReader(b))
			return
		}
	}
	f, err := h.root.Open(rel)
	if err != nil {
		h.notFound(w, r, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, rel, st.ModTime(), f)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, fs.ErrNotExist) {
		h.logger.Warn("viewer: open", "path", r.URL.Path, "err", err)
	}
	http.NotFound(w, r)
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
