package arazzo_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openhealthimaging/ohi/arazzo"
)

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func flowNaming(url string) string {
	return `arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions:
  - {name: api, url: "` + url + `", type: openapi}
workflows:
  - workflowId: w
    steps:
      - {stepId: s, operationId: get}
`
}

const tinyOpenAPI = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /x:
    get:
      operationId: get
      responses: {"200": {description: ok}}
`

// TestFetcherAccessRule checks the rule on the locations a document may
// name: local files under the parent of the document's directory, no
// remote documents from a local one unless allowed, and no local files
// from a remote one.
func TestFetcherAccessRule(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "secret.yaml"), tinyOpenAPI)
	writeFile(t, filepath.Join(root, "p", "openapi", "api.yaml"), tinyOpenAPI)
	writeFile(t, filepath.Join(root, "p", "openapi", "escape.yaml"), strings.Replace(tinyOpenAPI,
		`responses: {"200": {description: ok}}`, `responses: {"200": {$ref: "../../secret.yaml#/paths/~1x/get/responses/200"}}`, 1))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api.yaml":
			w.Write([]byte(tinyOpenAPI))
		case "/flow-abs.yaml":
			w.Write([]byte(flowNaming(filepath.Join(root, "secret.yaml"))))
		case "/flow-file.yaml":
			w.Write([]byte(flowNaming("file://" + filepath.ToSlash(filepath.Join(root, "secret.yaml")))))
		case "/flow.yaml":
			w.Write([]byte(flowNaming("api.yaml")))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	// load returns the bundle's error, or a refusal noted while loading
	// (a malformed part of an OpenAPI description is left out, with a
	// note).
	load := func(f *arazzo.Fetcher, loc string) error {
		b, err := f.LoadBundle(t.Context(), loc, nil)
		if err != nil {
			return err
		}
		for _, n := range b.SourceNotes(b.Root) {
			if strings.Contains(n.Msg, arazzo.ErrRefused.Error()) {
				return errors.New(n.Msg)
			}
		}
		return nil
	}
	local := func(name, url string) string {
		return writeFile(t, filepath.Join(root, "p", "flows", name), flowNaming(url))
	}
	for _, tc := range []struct {
		name    string
		f       *arazzo.Fetcher
		loc     string
		refused bool
	}{
		{"sibling directory", &arazzo.Fetcher{}, local("ok.yaml", "../openapi/api.yaml"), false},
		{"escape with ..", &arazzo.Fetcher{}, local("up.yaml", "../../secret.yaml"), true},
		{"escape by absolute path", &arazzo.Fetcher{}, local("abs.yaml", filepath.Join(root, "secret.yaml")), true},
		{"escape by $ref", &arazzo.Fetcher{}, local("ref.yaml", "../openapi/escape.yaml"), true},
		{"escape allowed by Dir", &arazzo.Fetcher{Dir: root}, local("up2.yaml", "../../secret.yaml"), false},
		{"remote from local", &arazzo.Fetcher{}, local("remote.yaml", srv.URL+"/api.yaml"), true},
		{"remote from local, allowed", &arazzo.Fetcher{AllowRemote: true}, local("remote2.yaml", srv.URL+"/api.yaml"), false},
		{"remote root, remote source", &arazzo.Fetcher{}, srv.URL + "/flow.yaml", false},
		// An absolute path in a remote document is a path on its server.
		{"remote root, absolute local path", &arazzo.Fetcher{}, srv.URL + "/flow-abs.yaml", false},
		{"remote root, file URL", &arazzo.Fetcher{}, srv.URL + "/flow-file.yaml", true},
	} {
		err := load(tc.f, tc.loc)
		if tc.name == "remote root, absolute local path" {
			if err == nil || !strings.Contains(err.Error(), "404") {
				t.Errorf("%s: err = %v, want the server's 404", tc.name, err)
			}
			continue
		}
		if tc.refused && (err == nil || !strings.Contains(err.Error(), arazzo.ErrRefused.Error())) {
			t.Errorf("%s: err = %v, want refused", tc.name, err)
		}
		if !tc.refused && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.refused && err != nil && !errors.Is(err, arazzo.ErrRefused) && !strings.Contains(tc.name, "$ref") {
			t.Errorf("%s: %v does not wrap ErrRefused", tc.name, err)
		}
	}
}

// TestBundleBudget checks that a bundle reads each location once and at
// most MaxBundleDocuments documents, however many its documents name.
func TestBundleBudget(t *testing.T) {
	var hits sync.Map
	var total atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		total.Add(1)
		n, _ := hits.LoadOrStore(r.URL.Path, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		w.Write([]byte(tinyOpenAPI))
	}))
	defer srv.Close()
	var doc strings.Builder
	doc.WriteString("arazzo: 1.0.1\ninfo: {title: t, version: \"1\"}\nsourceDescriptions:\n")
	for i := range arazzo.MaxBundleDocuments + 5 {
		fmt.Fprintf(&doc, "  - {name: s%d, url: \"%s/api/%d.yaml\", type: openapi}\n", i, srv.URL, i)
	}
	// The same location again, under other names: read once.
	for i := range 5 {
		fmt.Fprintf(&doc, "  - {name: again%d, url: \"%s/api/0.yaml\", type: openapi}\n", i, srv.URL)
	}
	doc.WriteString("workflows: [{workflowId: w, steps: [{stepId: s, operationId: get}]}]\n")
	path := writeFile(t, filepath.Join(t.TempDir(), "flow.yaml"), doc.String())
	_, err := (&arazzo.Fetcher{AllowRemote: true}).LoadBundle(t.Context(), path, nil)
	if err == nil || !strings.Contains(err.Error(), "documents in one bundle") {
		t.Errorf("err = %v, want the document budget", err)
	}
	if n := total.Load(); n > arazzo.MaxBundleDocuments {
		t.Errorf("%d requests, want at most %d", n, arazzo.MaxBundleDocuments)
	}
	hits.Range(func(k, v any) bool {
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("%s read %d times", k, n)
		}
		return true
	})
}
