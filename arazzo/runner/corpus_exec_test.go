package runner_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/runner"
)

// repoRoot returns the directory holding go.mod.
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		dir = filepath.Dir(dir)
	}
	t.Skip("repository root (go.mod) not found")
	return ""
}

// executable lists the corpus documents the execution test runs: those
// INDEX.md marks valid whose sources are all local OpenAPI or Arazzo
// documents.
func executable(t *testing.T, corpus string) []string {
	data, err := os.ReadFile(filepath.Join(corpus, "INDEX.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 6 || !strings.Contains(cells[0], "/") {
			continue
		}
		path, src, schema, notes := strings.TrimSpace(cells[0]), cells[2], cells[3], cells[4]
		if !strings.HasPrefix(schema, "ok") || strings.Contains(notes, "INVALID") || strings.Contains(notes, "semantically wrong") {
			continue
		}
		// "1 (openapi) L1/R0": every source local and present.
		var n, l, r int
		var types string
		if _, err := fmt.Sscanf(src, "%d (%s L%d/R%d", &n, &types, &l, &r); err != nil || n == 0 || l != n || r != 0 {
			continue
		}
		if strings.Contains(types, "asyncapi") || strings.Contains(types, "?") {
			continue
		}
		out = append(out, path)
	}
	return out
}

// mockKey names the mock of a description: copies of one description
// (the fixtures repeat some) share a mock, unless they have relative
// $refs, which resolve from their own location.
func mockKey(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || bytes.Contains(data, []byte("$ref: ./")) || bytes.Contains(data, []byte(`"$ref": "./`)) ||
		bytes.Contains(data, []byte("$ref: ../")) || bytes.Contains(data, []byte(`"$ref": "../`)) {
		return path
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// startMocks starts the mocks of the given descriptions (by mock key), a
// few at a time: their start-up is mostly waiting.
func startMocks(t *testing.T, bin string, specs map[string]string, mocks map[string]*prism, errs map[string]error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	for key, path := range specs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m, err := startPrism(t, bin, path)
			mu.Lock()
			mocks[key], errs[key] = m, err
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// prism is a Prism mock server of one OpenAPI description on loopback.
type prism struct {
	url  string
	cmd  *exec.Cmd
	logs *bytes.Buffer
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPrism starts `prism mock` for spec and waits until it listens.
func startPrism(t *testing.T, bin, spec string) (*prism, error) {
	port := freePort(t)
	cmd := exec.Command(bin, "mock", "-h", "127.0.0.1", "-p", fmt.Sprint(port), spec)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &bytes.Buffer{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &prism{url: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, logs: logs}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		pw.Close()
	})
	ready := make(chan error, 1)
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			mu.Lock()
			logs.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !sent && strings.Contains(sc.Text(), "Prism is listening") {
				ready <- nil
				sent = true
			}
			if !sent && strings.Contains(sc.Text(), "fatal") {
				ready <- errors.New(sc.Text())
				sent = true
			}
		}
		if !sent {
			ready <- errors.New("prism exited")
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			return nil, fmt.Errorf("prism mock %s: %v\n%s", spec, err, logs.String())
		}
		return p, nil
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("prism mock %s: not listening after 60s", spec)
	}
}

// sampleInputs builds workflow inputs from the input schema: defaults,
// examples, enums and consts, else a value of the declared type, for
// every property.
func sampleInputs(doc *arazzo.Document, wf *arazzo.Workflow) map[string]any {
	var sample func(s map[string]any, depth int) any
	deref := func(s map[string]any) map[string]any {
		for i := 0; i < 8; i++ {
			ref, ok := s["$ref"].(string)
			if !ok {
				return s
			}
			name, ok := strings.CutPrefix(ref, "#/components/inputs/")
			if !ok {
				return s
			}
			next, _ := doc.Components.Inputs[name].(map[string]any)
			if next == nil {
				return s
			}
			s = next
		}
		return s
	}
	sample = func(s map[string]any, depth int) any {
		s = deref(s)
		if depth > 6 {
			return nil
		}
		for _, k := range []string{"default", "const", "example"} {
			if v, ok := s[k]; ok {
				return v
			}
		}
		if ex, ok := s["examples"].([]any); ok && len(ex) > 0 {
			return ex[0]
		}
		if e, ok := s["enum"].([]any); ok && len(e) > 0 {
			return e[0]
		}
		typ, _ := s["type"].(string)
		if ts, ok := s["type"].([]any); ok && len(ts) > 0 {
			typ, _ = ts[0].(string)
		}
		switch typ {
		case "string":
			if f, _ := s["format"].(string); f == "email" {
				return "test@example.com"
			}
			return "test"
		case "integer", "number":
			if m, ok := s["minimum"]; ok {
				return m
			}
			return 1
		case "boolean":
			return true
		case "array":
			if it, ok := s["items"].(map[string]any); ok {
				return []any{sample(it, depth+1)}
			}
			return []any{}
		}
		props, _ := s["properties"].(map[string]any)
		out := map[string]any{}
		for k, p := range props {
			if pm, ok := p.(map[string]any); ok {
				if v := sample(pm, depth+1); v != nil {
					out[k] = v
				}
			}
		}
		return out
	}
	s, _ := wf.Inputs.(map[string]any)
	if s == nil {
		return map[string]any{}
	}
	m, _ := sample(s, 0).(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

// explainedRejections lists the runs in which the mock rightly rejects a
// request because the fixture's own OpenAPI description supplies a value
// that violates it (its runner ran against a lenient live server).
var explainedRejections = map[string]string{
	"redocly-cli/tests/e2e/respect/local-json-server/local-json-server.arazzo.yaml/auto-inherit": "the description's example some-item-id for the required path parameter id is not the uuid its schema requires",
	"oai-arazzo-spec/examples/1.0.0/FAPI-PAR.arazzo.yaml/OIDC-PAR-AuthzCode":                     "the workflow's input client_assertion is an object (JWT claims) while the description's query parameter is a string",
}

var statusClientError = regexp.MustCompile(`\$statusCode\s*==\s*4\d\d`)

// expectsRejection reports whether a step of wf expects a 4xx status: the
// workflow sends an invalid request on purpose, to test the server.
func expectsRejection(wf *arazzo.Workflow) bool {
	for _, s := range wf.Steps {
		for _, c := range s.SuccessCriteria {
			if statusClientError.MatchString(c.Condition) {
				return true
			}
		}
	}
	return false
}

// recorder remembers the mock's verdicts on the requests ohi sent.
type recorder struct {
	mu       sync.Mutex
	rejected []string // requests Prism's validator refused
	calls    int
}

func (rc *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if !loopback(req.URL.Hostname()) {
		return nil, fmt.Errorf("refused: %s is not a loopback address (the test sends requests to its mocks only)", req.URL.Host)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	// Prism's error types for a request that does not match the
	// description (no such path or method, invalid parameters or body).
	// Prism answers an invalid request with the description's own 4xx
	// response when it has one, and lists the violations in a header.
	if v := resp.Header.Get("sl-violations"); v != "" && strings.Contains(v, `"severity":"Error"`) && resp.StatusCode >= 400 {
		rc.rejected = append(rc.rejected, fmt.Sprintf("%s %s: %d: %s", req.Method, req.URL, resp.StatusCode, v))
	}
	for _, kind := range []string{"NO_PATH_MATCHED_ERROR", "NO_METHOD_MATCHED_ERROR", "UNPROCESSABLE_ENTITY"} {
		if bytes.Contains(body, []byte("prism/errors#"+kind)) {
			rc.rejected = append(rc.rejected, fmt.Sprintf("%s %s: %s: %s", req.Method, req.URL, kind, oneLine(body)))
		}
	}
	return resp, rerr
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackOnly refuses every request that is not to a loopback address:
// documents whose sources are URLs are not fetched.
type loopbackOnly struct{}

func (loopbackOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if !loopback(req.URL.Hostname()) {
		return nil, fmt.Errorf("refused: %s is not a loopback address (the test does not use the network)", req.URL.Host)
	}
	return http.DefaultTransport.RoundTrip(req)
}

func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 1200 {
		s = s[:1200] + "…"
	}
	return s
}

// TestCorpusExecution runs every workflow of the shared corpus documents
// whose sources are local OpenAPI descriptions against a Prism mock of
// each description on loopback, and checks that the runner accepts every
// document that validates, that every run ends within its bounds, and
// that the mock's validator accepts every request ohi sends (paths,
// methods, parameters and bodies built from the description).
func TestCorpusExecution(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prism mock servers")
	}
	root := repoRoot(t)
	corpus := filepath.Join(root, "..", "shared", "arazzo-corpus")
	if _, err := os.Stat(filepath.Join(corpus, "INDEX.md")); err != nil {
		t.Skipf("the shared Arazzo corpus is absent (%v); it is read from ../shared, never copied into the project", err)
	}
	bin := filepath.Join(root, ".cache", "arazzo-mock", "node_modules", ".bin", "prism")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("OHI_E2E_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("Prism is not installed (%v): run scripts/install-arazzo-mock.sh", err)
		}
		t.Skipf("Prism is not installed (%v): run scripts/install-arazzo-mock.sh", err)
	}
	docs := executable(t, corpus)
	if len(docs) == 0 {
		t.Fatal("no executable documents found in INDEX.md")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	mocks := map[string]*prism{}
	mockErr := map[string]error{}
	f := &arazzo.Fetcher{Client: &http.Client{Transport: loopbackOnly{}, Timeout: 10 * time.Second}}
	auth := runner.NewEnvAuth(func(name string) string {
		if strings.HasPrefix(name, "OHI_AUTH_") {
			return "test:test"
		}
		return ""
	})
	// Start every description's mock first, concurrently.
	specs := map[string]string{}
	for _, rel := range docs {
		b, err := f.LoadBundle(ctx, filepath.Join(corpus, filepath.FromSlash(rel)), nil)
		if err != nil {
			continue
		}
		for _, d := range b.Documents() {
			for _, src := range b.OpenAPISources(d) {
				specs[mockKey(src.URL)] = src.URL
			}
		}
	}
	startMocks(t, bin, specs, mocks, mockErr)
	var runs, succeeded, failed, skipped int
	for _, rel := range docs {
		path := filepath.Join(corpus, filepath.FromSlash(rel))
		b, err := f.LoadBundle(ctx, path, nil)
		if err != nil {
			// A local arazzo source whose own sources are URLs.
			t.Logf("%s: not run, its sources do not all load offline: %v", rel, err)
			skipped++
			continue
		}
		if ds := arazzo.Validate(b.Root, b); arazzo.HasErrors(ds) {
			// TestCorpusValidation judges validation; a document with errors
			// is not run.
			t.Logf("%s: not run: %v", rel, (&arazzo.ValidationError{Diagnostics: ds}).Error())
			skipped++
			continue
		}
		// A mock per OpenAPI description, of the root document and of
		// its arazzo sources; every source is re-pointed to its mock.
		ok := true
		for _, d := range b.Documents() {
			for name, src := range b.OpenAPISources(d) {
				// Copies of one description (the fixtures repeat some)
				// share a mock; a description with external $refs is
				// mocked from its own location.
				key := mockKey(src.URL)
				m := mocks[key]
				if m == nil && mockErr[key] == nil {
					m, mockErr[key] = startPrism(t, bin, src.URL)
					mocks[key] = m
				}
				if mockErr[key] != nil {
					t.Logf("%s: no mock for %s: %v", rel, name, mockErr[key])
					ok = false
					break
				}
				src.ServerOverride = m.url
			}
		}
		if !ok {
			skipped++
			continue
		}
		for _, wf := range b.Root.Workflows {
			rec := &recorder{}
			opts := runner.Options{
				Client:        &http.Client{Transport: rec, Timeout: 10 * time.Second},
				MaxSteps:      200,
				PollInterval:  time.Millisecond,
				MaxRetryAfter: 10 * time.Millisecond,
				Auth:          auth,
			}
			rctx, rcancel := context.WithTimeout(ctx, 40*time.Second)
			start := time.Now()
			res, err := runner.New(b, opts).Run(rctx, wf.WorkflowID, sampleInputs(b.Root, &wf))
			rcancel()
			var ie *runner.InputError
			switch {
			case errors.As(err, &ie):
				t.Logf("%s/%s: sample inputs do not satisfy the input schema: %v", rel, wf.WorkflowID, err)
				skipped++
				continue
			case err != nil:
				t.Errorf("%s/%s: the runner refused a valid document: %v", rel, wf.WorkflowID, err)
				continue
			}
			runs++
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("%s/%s: ran %s", rel, wf.WorkflowID, d)
			}
			if len(res.Steps) > opts.MaxSteps+1 {
				t.Errorf("%s/%s: %d step records with --max-steps %d", rel, wf.WorkflowID, len(res.Steps), opts.MaxSteps)
			}
			for _, r := range rec.rejected {
				if expectsRejection(&wf) {
					t.Logf("%s/%s: the mock rejected a request the workflow expects to be rejected: %s", rel, wf.WorkflowID, r)
					continue
				}
				if why, ok := explainedRejections[rel+"/"+wf.WorkflowID]; ok {
					t.Logf("%s/%s: the mock rejected a request (%s): %s", rel, wf.WorkflowID, why, r)
					continue
				}
				t.Errorf("%s/%s: the mock rejected a request: %s", rel, wf.WorkflowID, r)
			}
			if res.Status == runner.StatusSucceeded {
				succeeded++
			} else {
				failed++
				t.Logf("%s/%s: %s after %d step executions: %s", rel, wf.WorkflowID, res.Status, len(res.Steps), deref(res.Error))
			}
		}
	}
	urls := make([]string, 0, len(mocks))
	for u := range mocks {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	t.Logf("%d documents, %d mocks, %d workflow runs: %d succeeded, %d failed against the schema mock, %d skipped",
		len(docs), len(urls), runs, succeeded, failed, skipped)
	if runs == 0 {
		t.Fatal("no workflow ran")
	}
}

// TestRespectMaxStepsFixture reproduces Respect's e2e fixture max-steps
// under the conditions of its snapshot: every request fails at the
// network (its server does not resolve; here a closed loopback port). The
// snapshot shows pre-step failing into the nested workflow, both nested
// steps failing, the nested workflow step failing into ping, and ping
// looping until the step limit ends the run; ohi must take the same path
// and end the same way.
func TestRespectMaxStepsFixture(t *testing.T) {
	root := repoRoot(t)
	path := filepath.Join(root, "..", "shared", "arazzo-corpus", "redocly-cli", "tests", "e2e", "respect", "max-steps", "arazzo.yaml")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("the shared Arazzo corpus is absent (%v)", err)
	}
	closed := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := (&arazzo.Fetcher{}).LoadBundle(ctx, path, map[string]string{"oas": closed})
	if err != nil {
		t.Fatal(err)
	}
	opts := runner.Options{MaxSteps: 12, PollInterval: time.Millisecond, MaxPollInterval: time.Millisecond,
		Client: &http.Client{Transport: loopbackOnly{}, Timeout: 5 * time.Second}}
	res, err := runner.New(b, opts).Run(ctx, "infinite", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Steps {
		got = append(got, s.StepID+":"+s.Action)
	}
	want := []string{"pre-step:goto with-nested", "step-1:goto step-2", "step-2:end", "with-nested:goto ping",
		"ping:goto ping", "ping:goto ping"}
	if len(got) < len(want) || strings.Join(got[:len(want)], " ") != strings.Join(want, " ") {
		t.Fatalf("steps %q, want them to start %q", got, want)
	}
	if res.Status != runner.StatusFailed || res.Error == nil || !strings.Contains(*res.Error, "more than 12 step executions") {
		t.Fatalf("status %s, error %v: want the run ended by the step limit", res.Status, deref(res.Error))
	}
}

// cafeLocal serves the Redocly Cafe API description the Respect fixtures
// fetch from its live URL from the corpus's local copy
// (redocly-cli/resources/cafe.yaml), and refuses every other non-loopback
// request.
type cafeLocal struct{ file string }

func (c cafeLocal) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == "cafe.redocly.com" && req.URL.Path == "/_bundle/openapi/cafe.yaml" {
		data, err := os.ReadFile(c.file)
		if err != nil {
			return nil, err
		}
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: io.NopCloser(bytes.NewReader(data)),
			Header: http.Header{"Content-Type": {"application/yaml"}}, Request: req}, nil
	}
	return loopbackOnly{}.RoundTrip(req)
}

// alive reports whether a mock still accepts connections.
func alive(p *prism) bool {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.url, "http://"), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// snapshotCounts reads "Workflows: 2 passed, 1 failed, 3 total" from a
// Respect snapshot.
func snapshotCounts(snap string) (passed, failed int, ok bool) {
	i := strings.Index(snap, "Workflows: ")
	if i < 0 {
		return 0, 0, false
	}
	line := snap[i:]
	if j := strings.IndexAny(line, "\n│"); j > 0 {
		line = line[:j]
	}
	for _, part := range strings.Split(strings.TrimPrefix(line, "Workflows: "), ", ") {
		var n int
		var what string
		if _, err := fmt.Sscanf(part, "%d %s", &n, &what); err == nil {
			switch what {
			case "passed":
				passed = n
			case "failed":
				failed = n
			}
		}
	}
	return passed, failed, true
}

// TestRespectSnapshots runs the Respect e2e fixtures that use the Redocly
// Cafe API against a Prism mock of its local copy and compares the
// workflows passed and failed with each fixture's snapshot, which was
// recorded against the live API. The mock answers from the description
// (first 2xx response, generated bodies), so fixtures whose outcome
// depends on the live API's data or errors differ; the test reports the
// comparison, and fails when the runner refuses a fixture that
// validates or when the mock rejects a request ohi built.
func TestRespectSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Prism mock server")
	}
	root := repoRoot(t)
	base := filepath.Join(root, "..", "shared", "arazzo-corpus", "redocly-cli")
	cafe := filepath.Join(base, "resources", "cafe.yaml")
	if _, err := os.Stat(cafe); err != nil {
		t.Skipf("the shared Arazzo corpus is absent (%v)", err)
	}
	bin := filepath.Join(root, ".cache", "arazzo-mock", "node_modules", ".bin", "prism")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("OHI_E2E_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("Prism is not installed (%v): run scripts/install-arazzo-mock.sh", err)
		}
		t.Skipf("Prism is not installed (%v): run scripts/install-arazzo-mock.sh", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	mock, err := startPrism(t, bin, cafe)
	if err != nil {
		t.Fatal(err)
	}
	// The Cafe API's URL is served from its local copy (cafeLocal), so
	// remote documents are allowed.
	f := &arazzo.Fetcher{Client: &http.Client{Transport: cafeLocal{cafe}, Timeout: 10 * time.Second}, AllowRemote: true}
	auth := runner.NewEnvAuth(func(name string) string {
		if strings.HasPrefix(name, "OHI_AUTH_") {
			return "test:test"
		}
		return ""
	})
	snaps, _ := filepath.Glob(filepath.Join(base, "tests", "e2e", "respect", "*", "__snapshots__", "*.snap"))
	var compared, agreed int
	var table []string
	for _, snapFile := range snaps {
		dir := filepath.Dir(filepath.Dir(snapFile))
		name := filepath.Base(dir)
		docPath := filepath.Join(dir, name+".arazzo.yaml")
		snap, err := os.ReadFile(snapFile)
		if err != nil {
			t.Fatal(err)
		}
		wantPassed, wantFailed, ok := snapshotCounts(string(snap))
		if _, err := os.Stat(docPath); err != nil || !ok {
			continue
		}
		b, err := f.LoadBundle(ctx, docPath, nil)
		if err != nil {
			t.Logf("%s: not run, a source does not load offline: %v", name, err)
			continue
		}
		// point re-points the sources at the mock, restarting it when it
		// has exited: Prism 5.16 exits on a request whose Content-Type does
		// not parse (the case-insensitive-headers fixture sends one).
		point := func() bool {
			if !alive(mock) {
				t.Logf("%s: the mock had exited; starting another", name)
				if mock, err = startPrism(t, bin, cafe); err != nil {
					t.Fatal(err)
				}
			}
			uses := false
			for _, d := range b.Documents() {
				for _, src := range b.OpenAPISources(d) {
					if src.URL == "https://cafe.redocly.com/_bundle/openapi/cafe.yaml" {
						src.ServerOverride = mock.url
						uses = true
					} else {
						src.ServerOverride = "http://127.0.0.1:9" // nothing listens there
					}
				}
			}
			return uses
		}
		if !point() {
			continue
		}
		if ds := arazzo.Validate(b.Root, b); arazzo.HasErrors(ds) {
			t.Logf("%s: not run: %v", name, (&arazzo.ValidationError{Diagnostics: ds}).Error())
			continue
		}
		var passed, failed int
		for _, wf := range b.Root.Workflows {
			time.Sleep(50 * time.Millisecond) // let a crashed mock finish exiting
			point()
			rec := &recorder{}
			opts := runner.Options{Client: &http.Client{Transport: rec, Timeout: 10 * time.Second}, MaxSteps: 100,
				PollInterval: time.Millisecond, MaxRetryAfter: 10 * time.Millisecond, Auth: auth}
			rctx, rcancel := context.WithTimeout(ctx, 40*time.Second)
			res, err := runner.New(b, opts).Run(rctx, wf.WorkflowID, sampleInputs(b.Root, &wf))
			rcancel()
			var ie *runner.InputError
			if errors.As(err, &ie) {
				failed++ // Respect counts a workflow it cannot start as failed
				continue
			}
			if err != nil {
				t.Errorf("%s/%s: the runner refused a valid document: %v", name, wf.WorkflowID, err)
				continue
			}
			for _, r := range rec.rejected {
				if expectsRejection(&wf) {
					t.Logf("%s/%s: the mock rejected a request the workflow expects to be rejected: %s", name, wf.WorkflowID, r)
					continue
				}
				t.Errorf("%s/%s: the mock rejected a request: %s", name, wf.WorkflowID, r)
			}
			if res.Status == runner.StatusSucceeded {
				passed++
			} else {
				failed++
				t.Logf("%s/%s: failed: %s", name, wf.WorkflowID, deref(res.Error))
			}
		}
		compared++
		verdict := "differs"
		if passed == wantPassed && failed == wantFailed {
			agreed++
			verdict = "same"
		}
		table = append(table, fmt.Sprintf("%-48s snapshot %d passed %d failed; ohi on the mock %d passed %d failed: %s",
			name, wantPassed, wantFailed, passed, failed, verdict))
	}
	sort.Strings(table)
	t.Logf("Respect e2e fixtures on the Cafe API, %d compared, %d with the snapshot's counts:\n  %s", compared, agreed, strings.Join(table, "\n  "))
	if compared == 0 {
		t.Fatal("no fixture compared")
	}
}
