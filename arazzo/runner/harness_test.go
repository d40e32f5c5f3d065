package runner_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/runner"
)

// testAPI is the OpenAPI description the execution tests run against.
const testAPI = `openapi: 3.1.0
info: {title: test, version: "1"}
servers:
- url: https://api.example.invalid/{base}
  variables:
    base: {default: v1}
security: []
paths:
  /items/{id}:
    parameters:
    - {name: id, in: path, required: true, schema: {type: string}}
    get:
      operationId: getItem
      parameters:
      - {name: tags, in: query, schema: {type: array}, explode: false}
      - {name: filter, in: query, style: deepObject, schema: {type: object}}
      - {name: X-Trace, in: header, schema: {type: string}}
  /items:
    post:
      operationId: createItem
      requestBody:
        content:
          application/json: {schema: {type: object}}
  /form:
    post:
      operationId: postForm
      requestBody:
        content:
          application/x-www-form-urlencoded: {schema: {type: object}}
  /flaky:
    get: {operationId: flaky}
  /status:
    get: {operationId: getStatus}
  /other:
    get: {operationId: other}
  /tags/{arn}#tagKeys:
    delete:
      operationId: untag
      parameters:
      - {name: arn, in: path, required: true, schema: {type: string}}
  /secure:
    get:
      operationId: secureOp
      security: [{bearerAuth: []}]
  /keyed:
    get:
      operationId: keyedOp
      security: [{apiKeyQ: []}]
components:
  securitySchemes:
    bearerAuth: {type: http, scheme: bearer}
    apiKeyQ: {type: apiKey, in: query, name: api_key}
`

// call is one request the test server received.
type call struct {
	method, path, rawPath, query string
	header                       http.Header
	body                         string
	at                           time.Time
}

// server is a scripted test server: handlers get the number of earlier
// calls to the same "METHOD /path".
type server struct {
	mu     sync.Mutex
	calls  []call
	counts map[string]int
	routes map[string]func(w http.ResponseWriter, r *http.Request, n int)
	srv    *httptest.Server
}

func newServer(t *testing.T, routes map[string]func(w http.ResponseWriter, r *http.Request, n int)) *server {
	s := &server{counts: map[string]int{}, routes: routes}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		key := r.Method + " " + r.URL.Path
		s.mu.Lock()
		n := s.counts[key]
		s.counts[key]++
		s.calls = append(s.calls, call{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Header.Clone(), string(b), time.Now()})
		h := s.routes[key]
		s.mu.Unlock()
		if h == nil {
			http.Error(w, `{"message":"no route"}`, http.StatusNotFound)
			return
		}
		h(w, r, n)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[key]
}

func (s *server) callsTo(key string) []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []call
	for _, c := range s.calls {
		if c.method+" "+c.path == key {
			out = append(out, c)
		}
	}
	return out
}

func jsonReply(status int, body string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// writeDocs writes the Arazzo document (and the test OpenAPI as api.yaml)
// to a temp dir and returns the Arazzo path.
func writeDocs(t testing.TB, arazzoDoc string, extra map[string]string) string {
	dir := t.TempDir()
	files := map[string]string{"api.yaml": testAPI, "flow.arazzo.yaml": arazzoDoc}
	for k, v := range extra {
		files[k] = v
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "flow.arazzo.yaml")
}

// header of every test document; the single source is named api.
const docHead = `arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions:
- {name: api, url: ./api.yaml, type: openapi}
`

type runCfg struct {
	workflow string
	inputs   map[string]any
	opts     runner.Options
	timeout  time.Duration
	logs     *bytes.Buffer
}

// runDoc loads, validates and runs a document against s.
func runDoc(t *testing.T, s *server, doc string, cfg runCfg) *runner.Result {
	t.Helper()
	path := writeDocs(t, doc, nil)
	timeout := cfg.timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	f := &arazzo.Fetcher{}
	b, err := f.LoadBundle(ctx, path, map[string]string{"api": s.srv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if ds := arazzo.Validate(b.Root, b); arazzo.HasErrors(ds) {
		t.Fatalf("document does not validate: %v", ds)
	}
	opts := cfg.opts
	if opts.PollInterval == 0 {
		opts.PollInterval = 5 * time.Millisecond
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.logs != nil {
		opts.Logger = slog.New(slog.NewTextHandler(cfg.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	res, err := runner.New(b, opts).Run(ctx, cfg.workflow, cfg.inputs)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func actions(res *runner.Result) string {
	var parts []string
	for _, s := range res.Steps {
		parts = append(parts, s.StepID+":"+s.Action)
	}
	return strings.Join(parts, " ")
}
