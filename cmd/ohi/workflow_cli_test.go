package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/runner"
)

const pollAPI = `openapi: 3.0.3
info: {title: jobs, version: "1"}
servers: [{url: http://127.0.0.1:9/api}]
paths:
  /jobs:
    post:
      operationId: startJob
      parameters: [{name: X-Token, in: header, schema: {type: string}}]
      security: [{bearer: []}]
  /jobs/{id}:
    get:
      operationId: getJob
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
`

// pollFlow starts a job and polls it until it is done; it uses a
// deviation (a dot path) that is a warning, and a second, broken workflow
// that the run of poll cannot reach.
const pollFlow = `arazzo: 1.1.0
info: {title: poll, version: "1"}
sourceDescriptions: [{name: jobs, url: ./api.yaml, type: openapi}]
workflows:
- workflowId: poll
  steps:
  - stepId: start
    operationId: startJob
    requestBody: {contentType: application/json, payload: {kind: scan}}
    outputs: {id: $response.body.id}
  - stepId: wait
    operationId: getJob
    parameters: [{name: id, in: path, value: $steps.start.outputs.id}]
    successCriteria: [{condition: $statusCode == 200}]
    onSuccess:
    - {name: again, type: goto, stepId: wait, criteria: [{condition: $response.body#/state == 'RUNNING'}]}
    outputs: {state: $response.body#/state}
  outputs: {state: $steps.wait.outputs.state}
- workflowId: broken
  steps:
  - {stepId: x, operationId: noSuchOperation}
`

func writeFlow(t *testing.T) string {
	dir := t.TempDir()
	for name, body := range map[string]string{"api.yaml": pollAPI, "flow.yaml": pollFlow} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "flow.yaml")
}

func jobServer(t *testing.T, polls int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/jobs":
			w.Write([]byte(`{"id":"j1"}`))
		case r.Method == http.MethodGet && r.URL.Path == "/jobs/j1":
			if int(n.Add(1)) < polls {
				w.Write([]byte(`{"state":"RUNNING"}`))
				return
			}
			w.Write([]byte(`{"state":"DONE"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// runCmd parses args as the binary does and runs `workflow run`, with
// stderr as a terminal when tty is set.
func runCmd(t *testing.T, tty bool, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var c cli
	parser, err := kong.New(&c, kong.Name("ohi"), kong.Exit(func(code int) { t.Fatalf("kong exit %d", code) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = c.Workflow.Run.run(ctx, &out, &errb, tty)
	if err != nil {
		code = 1
		if ee, ok := err.(*ExitError); ok {
			code = ee.Code
			if ee.Err != nil {
				errb.WriteString("ohi: " + ee.Err.Error() + "\n")
			}
		}
	}
	return code, out.String(), errb.String()
}

// TestRunJSONIsStable checks the JSON result CI jobs read: the format tag,
// the fields always present, the warnings of the document, and that an
// error in a workflow the run cannot reach does not stop it.
func TestRunJSONIsStable(t *testing.T) {
	srv, _ := jobServer(t, 2)
	t.Setenv("OHI_AUTH_BEARER", "tok-secret")
	code, stdout, stderr := runCmd(t, false, "workflow", "run", writeFlow(t), "-w", "poll", "--server", "jobs="+srv.URL,
		"--output", "json", "--poll-interval", "1ms")
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if got["format"] != runner.ResultFormat || got["status"] != "succeeded" || got["error"] != nil {
		t.Errorf("format %v, status %v, error %v", got["format"], got["status"], got["error"])
	}
	for _, k := range []string{"workflowId", "outputs", "steps", "warnings"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON result lacks %q", k)
		}
	}
	ws, _ := json.Marshal(got["warnings"])
	for _, want := range []string{`"severity":"warning"`, "dot path", "noSuchOperation"} {
		if !strings.Contains(string(ws), want) {
			t.Errorf("warnings %s lack %s", ws, want)
		}
	}
	if out, _ := got["outputs"].(map[string]any); out["state"] != "DONE" {
		t.Errorf("outputs %v", got["outputs"])
	}
	// The broken workflow itself is refused.
	code, _, stderr = runCmd(t, false, "workflow", "run", writeFlow(t), "-w", "broken", "--server", "jobs="+srv.URL)
	if code != 2 || !strings.Contains(stderr, "noSuchOperation") {
		t.Errorf("broken workflow: exit %d, stderr %s", code, stderr)
	}
	// --strict refuses the deviation.
	code, _, stderr = runCmd(t, false, "workflow", "run", writeFlow(t), "-w", "poll", "--server", "jobs="+srv.URL, "--strict")
	if code != 2 || !strings.Contains(stderr, "dot path") {
		t.Errorf("--strict: exit %d, stderr %s", code, stderr)
	}
}

// TestRunDryRun checks that --dry-run prints the requests, credentials
// redacted, and sends none.
func TestRunDryRun(t *testing.T) {
	srv, polls := jobServer(t, 2)
	var posts atomic.Int32
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posts.Add(1) })
	t.Setenv("OHI_AUTH_BEARER", "tok-secret")
	code, stdout, stderr := runCmd(t, false, "workflow", "run", writeFlow(t), "-w", "poll", "--server", "jobs="+srv.URL, "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if posts.Load() != 0 || polls.Load() != 0 {
		t.Fatalf("a dry run sent %d requests", posts.Load()+polls.Load())
	}
	for _, want := range []string{"dry run: 2 request(s), none sent", "POST " + srv.URL + "/jobs", `{"kind":"scan"}`,
		"Authorization: REDACTED", "GET " + srv.URL + "/jobs/{id}", `no value for path parameter "id"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "tok-secret") {
		t.Errorf("dry-run output shows the credential:\n%s", stdout)
	}
}

// TestRunPollingProgress checks that a polling loop is one rewritten line
// on a terminal, with its count, instead of a line per poll.
func TestRunPollingProgress(t *testing.T) {
	srv, _ := jobServer(t, 5)
	code, stdout, stderr := runCmd(t, true, "workflow", "run", writeFlow(t), "-w", "poll", "--server", "jobs="+srv.URL, "--poll-interval", "1ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	var polls []string
	for _, l := range lines {
		if strings.Contains(l, "⟳") {
			polls = append(polls, l)
		}
	}
	if len(polls) != 1 {
		t.Fatalf("want one poll line, got %d in:\n%q", len(polls), stderr)
	}
	if !strings.Contains(polls[0], "polled 5×") || !strings.Contains(polls[0], "done") {
		t.Errorf("poll line %q lacks the count of 5 polls", polls[0])
	}
	if strings.Count(stderr, "✓ poll/wait") != 1 {
		t.Errorf("want one final line for poll/wait:\n%q", stderr)
	}
}

// TestValidateJSONAndStrict checks validate's JSON output and --strict.
func TestValidateJSONAndStrict(t *testing.T) {
	ds, err := (&arazzo.Fetcher{}).ValidateFile(t.Context(), writeFlow(t), arazzo.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ds)
	var back []arazzo.Diagnostic
	if err := json.Unmarshal(b, &back); err != nil || len(back) != len(ds) || !strings.Contains(string(b), `"hint"`) {
		t.Fatalf("diagnostics do not round-trip through JSON: %v\n%s", err, b)
	}
}
