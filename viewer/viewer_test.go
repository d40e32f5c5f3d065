package viewer

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dist writes a small directory laid out like OHIF's build.
func dist(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"index.html":           `<!doctype html><html><head><script>window.PUBLIC_URL="/"</script><link rel="manifest" href="/manifest.json"><script src="/app-config.js"></script></head><body><script defer src="/app.bundle.abc.js"></script></body></html>`,
		"app.bundle.abc.js":    `(() => { __webpack_require__.p = "/"; })(); load("x");`,
		"worker.bundle.def.js": `self.onmessage = 1;`,
		"app.bundle.css":       `@font-face{src:url(/a1.woff2)}`,
		"manifest.json":        `{"icons":[{"src":"/assets/icon.png"}]}`,
		"assets/icon.png":      "PNG",
		"app-config.js":        "window.config = {demo: true};",
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "passwd.txt")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func get(t *testing.T, h http.Handler, path string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, rec.Header(), string(b)
}

func TestRelocatesOHIF(t *testing.T) {
	h, err := New(dist(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if !h.Installed() {
		t.Fatal("viewer not found")
	}
	for _, p := range []string{"/viewer", "/viewer/", "/viewer/index.html", "/viewer/viewer"} {
		code, hdr, body := get(t, h, p+"?datastoreId=x&StudyInstanceUIDs=1.2")
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", p, code, hdr.Get("Content-Type"))
		}
		for _, want := range []string{`window.PUBLIC_URL="/viewer/"`, `<link rel="manifest" crossorigin="use-credentials" href="/viewer/manifest.json"`, `src="/viewer/app-config.js"`, `src="/viewer/app.bundle.abc.js"`} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %s: %s", p, want, body)
			}
		}
	}
	cases := map[string]string{
		"/viewer/app.bundle.abc.js":    `__webpack_require__.p = "/viewer/";`,
		"/viewer/worker.bundle.def.js": `self.onmessage = 1;`,
		"/viewer/app.bundle.css":       `url(/viewer/a1.woff2)`,
		"/viewer/manifest.json":        `"/viewer/assets/icon.png"`,
		"/viewer/assets/icon.png":      "PNG",
	}
	for p, want := range cases {
		code, _, body := get(t, h, p)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d %q, want %q", p, code, body, want)
		}
	}
	// The generated configuration replaces the build's.
	code, hdr, body := get(t, h, "/viewer/app-config.js")
	if code != 200 || !strings.Contains(hdr.Get("Content-Type"), "javascript") || strings.Contains(body, "demo") ||
		!strings.Contains(body, `"/datastore/" + ds`) || !strings.Contains(body, "omitQuotationForMultipartRequest: true") {
		t.Errorf("app-config.js: %d %s", code, body)
	}
	// Nothing outside the directory.
	for _, p := range []string{"/viewer/../go.mod", "/viewer/passwd.txt", "/viewer/assets/../../x.js", "/viewer/missing.js", "/viewer/assets"} {
		if code, _, body := get(t, h, p); code == 200 && strings.Contains(body, "root:") || code == 200 && !strings.HasPrefix(body, "<!doctype") {
			t.Errorf("GET %s: %d %.80q", p, code, body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/viewer", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestNotInstalled(t *testing.T) {
	for _, dir := range []string{"", filepath.Join(t.TempDir(), "none"), t.TempDir()} {
		h, err := New(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if h.Installed() {
			t.Errorf("%q: installed", dir)
		}
		code, _, body := get(t, h, "/viewer?datastoreId=x")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "install-ohif.sh") {
			t.Errorf("%q: %d %s", dir, code, body)
		}
	}
}
