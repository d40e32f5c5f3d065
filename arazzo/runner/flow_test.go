package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/runner"
)

func failTimes(n, status int, retryAfter string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, i int) {
		if i < n {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			jsonReply(status, `{"ok":false}`)(w, r, i)
			return
		}
		jsonReply(200, `{"ok":true}`)(w, r, i)
	}
}

func TestRetryAfterAndLimit(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){"GET /v1/flaky": failTimes(2, 503, "")})
	start := time.Now()
	res := runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - stepId: f
    operationId: flaky
    successCriteria: [{condition: $statusCode == 200}]
    onFailure:
    - {name: again, type: retry, retryAfter: 0.06, retryLimit: 3, criteria: [{condition: $statusCode == 503}]}
`, runCfg{})
	if res.Status != runner.StatusSucceeded {
		t.Fatalf("status %s: %v", res.Status, deref(res.Error))
	}
	if n := s.count("GET /v1/flaky"); n != 3 {
		t.Fatalf("calls = %d, want 3", n)
	}
	calls := s.callsTo("GET /v1/flaky")
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].at.Sub(calls[i-1].at); gap < 60*time.Millisecond {
			t.Errorf("retry %d after %v, want >= 60ms", i, gap)
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v", el)
	}
	if got := actions(res); got != "f:retry f:retry f:next" {
		t.Errorf("actions = %q", got)
	}
	if res.Steps[2].Attempt != 3 {
		t.Errorf("attempt = %d, want 3", res.Steps[2].Attempt)
	}
}

func TestRetryAfterHeaderOverrides(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){"GET /v1/flaky": failTimes(1, 429, "1")})
	res := runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - stepId: f
    operationId: flaky
    successCriteria: [{condition: $statusCode == 200}]
    onFailure: [{name: again, type: retry, retryAfter: 0}]
`, runCfg{})
	if res.Status != runner.StatusSucceeded {
		t.Fatalf("status %s: %v", res.Status, deref(res.Error))
	}
	calls := s.callsTo("GET /v1/flaky")
	if len(calls) != 2 {
		t.Fatalf("calls = %d, want 2", len(calls))
	}
	if gap := calls[1].at.Sub(calls[0].at); gap < 950*time.Millisecond {
		t.Errorf("Retry-After: 1 honoured? second call after %v", gap)
	}
}

func TestRetryDefaultLimitAndFallThrough(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /v1/flaky": failTimes(100, 500, ""),
		"GET /v1/other": jsonReply(200, `{}`),
	})
	// Without retryLimit exactly one retry happens; then the workflow fails.
	res := runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - stepId: f
    operationId: flaky
    successCriteria: [{condition: $statusCode == 200}]
    onFailure: [{name: again, type: retry}]
`, runCfg{})
	if res.Status != runner.StatusFailed || s.count("GET /v1/flaky") != 2 {
		t.Fatalf("status %s, calls %d; want failed after 2 calls", res.Status, s.count("GET /v1/flaky"))
	}
	// An exhausted retry falls through to the next matching action.
	res = runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - stepId: f
    operationId: flaky
    successCriteria: [{condition: $statusCode == 200}]
    onFailure:
    - {name: again, type: retry, retryLimit: 2}
    - {name: recover, type: goto, stepId: fallback}
  - stepId: unreachable
    operationId: flaky
  - stepId: fallback
    operationId: other
`, runCfg{})
	if res.Status != runner.StatusSucceeded {
		t.Fatalf("status %s: %v", res.Status, deref(res.Error))
	}
	if n := s.count("GET /v1/flaky"); n != 2+3 {
		t.Fatalf("flaky calls = %d, want 5 (2 before, 3 now)", n)
	}
	if got := actions(res); got != "f:retry f:retry f:goto fallback fallback:next" {
		t.Errorf("actions = %q", got)
	}
}

func TestRetryRunsTargetStepFirst(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /v1/flaky": failTimes(1, 401, ""),
		"GET /v1/other": jsonReply(200, `{"token":"t2"}`),
	})
	res := runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - stepId: f
    operationId: flaky
    successCriteria: [{condition: $statusCode == 200}]
    onFailure: [{name: refresh, type: retry, stepId: login, retryAfter: 0}]
  - stepId: login
    operationId: other
`, runCfg{})
	if res.Status != runner.StatusSucceeded {
		t.Fatalf("status %s: %v", res.Status, deref(res.Error))
	}
	// f fails, login runs, f is retried and succeeds, then login runs in order.
	if got := actions(res); got != "f:retry login:retry f f:next login:next" {
		t.Errorf("actions = %q", got)
	}
}

func TestPollingLoopWaitsWithBackoff(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /v1/status": func(w http.ResponseWriter, r *http.Request, n int) {
			st := "PENDING"
			if n >= 3 {
				st = "DONE"
			}
			jsonReply(200, `{"state":"`+st+`"}`)(w, r, n)
		},
	})
	const poll = 30 * time.Millisecond
	res := runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - stepId: poll
    operationId: getStatus
    successCriteria: [{condition: $statusCode == 200}]
    outputs: {state: $response.body#/state}
    onSuccess:
    - name: again
      type: goto
      stepId: poll
      criteria: [{context: $response.body, type: jsonpath, condition: $.state == "PENDING"}]
  outputs: {state: $steps.poll.outputs.state}
`, runCfg{opts: runner.Options{PollInterval: poll, MaxPollInterval: time.Second}})
	if res.Status != runner.StatusSucceeded || res.Outputs["state"] != "DONE" {
		t.Fatalf("status %s outputs %v: %v", res.Status, res.Outputs, deref(res.Error))
	}
	calls := s.callsTo("GET /v1/status")
	if len(calls) != 4 {
		t.Fatalf("calls = %d, want 4", len(calls))
	}
	want := []time.Duration{poll, poll * 3 / 2, poll * 9 / 4} // 1.5x backoff
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].at.Sub(calls[i-1].at); gap < want[i-1] {
			t.Errorf("poll %d after %v, want >= %v", i, gap, want[i-1])
		}
	}
}

func TestRunawayGuards(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){"GET /v1/status": jsonReply(200, `{}`)})
	loop := docHead + `workflows:
- workflowId: w
  steps:
  - stepId: poll
    operationId: getStatus
    onSuccess: [{name: forever, type: goto, stepId: poll}]
`
	res := runDoc(t, s, loop, runCfg{opts: runner.Options{MaxSteps: 7, PollInterval: time.Millisecond, MaxPollInterval: time.Millisecond}})
	if res.Status != runner.StatusFailed || !strings.Contains(deref(res.Error), "max-steps") {
		t.Fatalf("status %s error %q; want max steps failure", res.Status, deref(res.Error))
	}
	if n := s.count("GET /v1/status"); n != 7 {
		t.Errorf("calls = %d, want 7", n)
	}
	start := time.Now()
	res = runDoc(t, s, loop, runCfg{timeout: 300 * time.Millisecond, opts: runner.Options{PollInterval: 20 * time.Millisecond, MaxPollInterval: 20 * time.Millisecond}})
	if res.Status != runner.StatusFailed || !strings.Contains(deref(res.Error), "deadline") {
		t.Fatalf("status %s error %q; want timeout", res.Status, deref(res.Error))
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("timeout took %v", el)
	}
}

// TestOpenPoints pins ohi's answers to the questions the spec leaves open
// (arazzo.md §1.8.4).
func TestOpenPoints(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /v1/flaky":  failTimes(1, 500, ""),
		"GET /v1/other":  jsonReply(200, `{"v":1}`),
		"GET /v1/status": jsonReply(404, `{}`),
		"POST /v1/items": jsonReply(204, ``),
	})
	t.Run("1 workflow actions merge by name", func(t *testing.T) {
		// The step's onFailure has a non-matching action; the workflow's
		// retry still applies (a step cannot remove workflow actions).
		res := runDoc(t, s, docHead+`workflows:
- workflowId: w
  failureActions: [{name: wfRetry, type: retry, retryAfter: 0, retryLimit: 1}]
  steps:
  - stepId: f
    operationId: flaky
    successCriteria: [{condition: $statusCode == 200}]
    onFailure: [{name: onlyFor418, type: end, criteria: [{condition: $statusCode == 418}]}]
`, runCfg{})
		if res.Status != runner.StatusSucceeded || actions(res) != "f:retry f:next" {
			t.Fatalf("status %s actions %q", res.Status, actions(res))
		}
		// A step action with the same name overrides the workflow's one.
		res = runDoc(t, s, docHead+`workflows:
- workflowId: w
  failureActions: [{name: handler, type: retry, retryAfter: 0}]
  steps:
  - stepId: s
    operationId: getStatus
    successCriteria: [{condition: $statusCode == 200}]
    onFailure: [{name: handler, type: goto, stepId: o}]
  - stepId: o
    operationId: other
`, runCfg{})
		if res.Status != runner.StatusSucceeded || actions(res) != "s:goto o o:next" {
			t.Fatalf("status %s actions %q", res.Status, actions(res))
		}
	})
	t.Run("2 no successCriteria means 2xx", func(t *testing.T) {
		res := runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - {stepId: created, operationId: createItem}
  - {stepId: missing, operationId: getStatus}
`, runCfg{})
		if res.Status != runner.StatusFailed || len(res.Steps) != 2 || res.Steps[0].Outcome != runner.OutcomeSuccess || res.Steps[1].Outcome != runner.OutcomeFailure {
			t.Fatalf("status %s steps %+v", res.Status, res.Steps)
		}
	})
	t.Run("3 end in onFailure fails, in onSuccess succeeds", func(t *testing.T) {
		res := runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
    successCriteria: [{condition: $statusCode == 200}]
    onFailure: [{name: stop, type: end}]
  - {stepId: never, operationId: other}
`, runCfg{})
		if res.Status != runner.StatusFailed || len(res.Steps) != 1 {
			t.Fatalf("status %s steps %d", res.Status, len(res.Steps))
		}
		res = runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - stepId: s
    operationId: other
    onSuccess: [{name: stop, type: end}]
  - {stepId: never, operationId: getStatus}
`, runCfg{})
		if res.Status != runner.StatusSucceeded || len(res.Steps) != 1 {
			t.Fatalf("status %s steps %d", res.Status, len(res.Steps))
		}
	})
	t.Run("4 goto workflow runs it and ends the caller", func(t *testing.T) {
		res := runDoc(t, s, docHead+`workflows:
- workflowId: main
  steps:
  - stepId: a
    operationId: other
    onSuccess: [{name: jump, type: goto, workflowId: second}]
  - {stepId: never, operationId: getStatus}
  outputs: {fromSecond: $workflows.second.outputs.v}
- workflowId: second
  steps:
  - stepId: b
    operationId: other
    outputs: {v: $response.body#/v}
  outputs: {v: $steps.b.outputs.v}
`, runCfg{workflow: "main"})
		if res.Status != runner.StatusSucceeded || actions(res) != "a:goto second b:next" {
			t.Fatalf("status %s actions %q", res.Status, actions(res))
		}
		if v, _ := json.Marshal(res.Outputs["fromSecond"]); string(v) != "1" {
			t.Errorf("fromSecond = %s", v)
		}
	})
	t.Run("5 transport errors are step failures", func(t *testing.T) {
		dead := newServer(t, nil)
		dead.srv.Close()
		doc := docHead + `workflows:
- workflowId: w
  steps:
  - stepId: a
    operationId: other
    onFailure: [{name: fallback, type: goto, stepId: b, criteria: [{condition: $statusCode == null}]}]
  - {stepId: b, operationPath: '{$sourceDescriptions.api.url}#/paths/~1status/get', successCriteria: [{condition: $statusCode == 404}]}
`
		path := writeDocs(t, doc, nil)
		f := &arazzo.Fetcher{}
		b, err := f.LoadBundle(t.Context(), path, map[string]string{"api": dead.srv.URL + "/v1"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := runner.New(b, runner.Options{}).Run(t.Context(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Steps[0].Outcome != runner.OutcomeError || res.Steps[0].Action != "goto b" {
			t.Fatalf("steps %+v", res.Steps)
		}
	})
	t.Run("6 outputs are not evaluated on failure", func(t *testing.T) {
		res := runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
    successCriteria: [{condition: $statusCode == 200}]
    outputs: {code: $statusCode}
    onFailure: [{name: stop, type: end}]
  outputs: {code: $steps.s.outputs.code}
`, runCfg{})
		if res.Status != runner.StatusFailed || res.Outputs["code"] != nil {
			t.Fatalf("status %s outputs %v", res.Status, res.Outputs)
		}
	})
}

func TestSubWorkflowsDependsOnAndComponents(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /v1/other": jsonReply(200, `{"v":"dep"}`),
		"GET /v1/items/7": func(w http.ResponseWriter, r *http.Request, n int) {
			jsonReply(200, `{"id":"7","page":"`+r.URL.Query().Get("page")+`"}`)(w, r, n)
		},
	})
	res := runDoc(t, s, docHead+`components:
  parameters:
    page: {name: page, in: query, value: 1}
  failureActions:
    stop: {name: stop, type: end}
  inputs:
    child: {type: object, properties: {id: {type: string}}, required: [id]}
workflows:
- workflowId: prep
  steps:
  - {stepId: p, operationId: other, outputs: {v: $response.body#/v}}
  outputs: {v: $steps.p.outputs.v}
- workflowId: child
  inputs: {$ref: '#/components/inputs/child'}
  steps:
  - stepId: get
    operationId: getItem
    parameters:
    - {name: id, in: path, value: $inputs.id}
    - {reference: $components.parameters.page, value: 3}
    onFailure: [{reference: $components.failureActions.stop}]
    outputs: {page: $response.body#/page}
  outputs: {page: $steps.get.outputs.page}
- workflowId: main
  dependsOn: [prep]
  inputs: {type: object, properties: {id: {type: string}}}
  steps:
  - stepId: call
    workflowId: child
    parameters: [{name: id, value: $inputs.id}]
    successCriteria: [{condition: $outputs.page == '3'}]
    outputs: {page: $outputs.page}
  outputs:
    page: $steps.call.outputs.page
    prepared: $workflows.prep.outputs.v
    childPage: $workflows.child.outputs.page
`, runCfg{workflow: "main", inputs: map[string]any{"id": "7"}})
	if res.Status != runner.StatusSucceeded {
		t.Fatalf("status %s: %v (%+v)", res.Status, deref(res.Error), res.Steps)
	}
	want := map[string]any{"page": "3", "prepared": "dep", "childPage": "3"}
	for k, v := range want {
		if res.Outputs[k] != v {
			t.Errorf("output %s = %v, want %v", k, res.Outputs[k], v)
		}
	}
	if got := actions(res); got != "p:next get:next call:next" {
		t.Errorf("actions = %q", got)
	}
}

func TestRequestBuilding(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /v1/items/a b/c":             jsonReply(200, `{}`),
		"POST /v1/items":                  jsonReply(201, `{"created":true}`),
		"POST /v1/form":                   jsonReply(200, `{}`),
		"DELETE /v1/tags/arn:aws:x:1:d/z": jsonReply(204, ``),
	})
	res := runDoc(t, s, docHead+`workflows:
- workflowId: w
  inputs:
    type: object
    properties:
      id: {type: string}
      n: {type: integer}
      tags: {type: array}
  parameters:
  - {name: X-Trace, in: header, value: 'wf-{$inputs.n}'}
  steps:
  - stepId: get
    operationId: getItem
    parameters:
    - {name: id, in: path, value: $inputs.id}
    - {name: tags, in: query, value: $inputs.tags}
    - {name: filter, in: query, value: {color: red}}
    - {name: session, in: cookie, value: s1}
    successCriteria: [{condition: $statusCode == 200}]
    outputs:
      url: $url
      trace: $request.header.X-Trace
      pathId: $request.path.id
  - stepId: post
    operationId: createItem
    parameters: [{name: X-Trace, in: header, value: step}]
    requestBody:
      payload:
        name: 'item {$inputs.id}'
        count: $inputs.n
        nested: {keep: true, replaceMe: old}
      replacements:
      - {target: /nested/replaceMe, value: $steps.get.outputs.pathId}
      - {target: /added/deep, value: 5}
    successCriteria: [{condition: $statusCode == 201 && $response.body#/created == true}]
    outputs: {sentCount: $request.body#/count, method: $method}
  - stepId: form
    operationId: postForm
    requestBody:
      payload: {a: 'x y', b: $inputs.n}
  - stepId: untag
    operationId: untag
    parameters: [{name: arn, in: path, value: 'arn:aws:x:1:d/z'}]
  outputs:
    url: $steps.get.outputs.url
    trace: $steps.get.outputs.trace
    sentCount: $steps.post.outputs.sentCount
    method: $steps.post.outputs.method
`, runCfg{inputs: map[string]any{"id": "a b/c", "n": 4, "tags": []any{"x", "y"}}})
	if res.Status != runner.StatusSucceeded {
		t.Fatalf("status %s: %v %+v", res.Status, deref(res.Error), res.Steps)
	}
	get := s.callsTo("GET /v1/items/a b/c")[0]
	if get.rawPath != "/v1/items/a%20b%2Fc" {
		t.Errorf("raw path = %q", get.rawPath)
	}
	if get.query != "tags=x%2Cy&filter%5Bcolor%5D=red" {
		t.Errorf("query = %q", get.query)
	}
	if get.header.Get("X-Trace") != "wf-4" || get.header.Get("Cookie") != "session=s1" {
		t.Errorf("headers = %v", get.header)
	}
	post := s.callsTo("POST /v1/items")[0]
	var body map[string]any
	if err := json.Unmarshal([]byte(post.body), &body); err != nil {
		t.Fatal(err)
	}
	wantBody := `{"added":{"deep":5},"count":4,"name":"item a b/c","nested":{"keep":true,"replaceMe":"a b/c"}}`
	if got, _ := json.Marshal(body); string(got) != wantBody {
		t.Errorf("body = %s, want %s", got, wantBody)
	}
	if post.header.Get("Content-Type") != "application/json" || post.header.Get("X-Trace") != "step" {
		t.Errorf("post headers = %v", post.header)
	}
	if form := s.callsTo("POST /v1/form")[0]; form.body != "a=x%20y&b=4" {
		t.Errorf("form body = %q", form.body)
	}
	if del := s.callsTo("DELETE /v1/tags/arn:aws:x:1:d/z")[0]; del.rawPath != "/v1/tags/arn%3Aaws%3Ax%3A1%3Ad%2Fz" {
		t.Errorf("untag raw path = %q (fragment must be dropped, ARN escaped)", del.rawPath)
	}
	if u, _ := res.Outputs["url"].(string); !strings.HasSuffix(u, "/v1/items/a%20b%2Fc?tags=x%2Cy&filter%5Bcolor%5D=red") {
		t.Errorf("$url = %q", u)
	}
	if res.Outputs["trace"] != "wf-4" || res.Outputs["method"] != "POST" {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if v, _ := json.Marshal(res.Outputs["sentCount"]); string(v) != "4" {
		t.Errorf("sentCount = %s", v)
	}
}

func TestInputs(t *testing.T) {
	path := writeDocs(t, docHead+`workflows:
- workflowId: w
  inputs:
    type: object
    required: [id]
    properties:
      id: {type: string, pattern: '^[0-9a-z]{4}$'}
      max: {type: integer, maximum: 50}
      on: {type: boolean, default: true}
  steps:
  - {stepId: s, operationId: other}
`, nil)
	b, err := (&arazzo.Fetcher{}).LoadBundle(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	wf := b.Root.Workflow("w")
	for in, want := range map[string]any{"max": json.Number("7"), "on": false, "id": "12"} {
		raw := map[string]string{"max": "7", "on": "false", "id": "12"}[in]
		got, err := runner.TypedInput(b.Root, wf, in, raw)
		if err != nil || got != want {
			t.Errorf("TypedInput(%s=%s) = %#v, %v; want %#v", in, raw, got, err, want)
		}
	}
	if _, err := runner.TypedInput(b.Root, wf, "max", "lots"); err == nil {
		t.Error("TypedInput accepted a non-number for an integer input")
	}
	_, err = runner.New(b, runner.Options{}).Run(t.Context(), "w", map[string]any{"id": "BAD!", "max": 500})
	var ie *runner.InputError
	if !errors.As(err, &ie) || len(ie.Problems) != 2 {
		t.Fatalf("err = %v, want InputError with 2 problems", err)
	}
	for _, p := range []string{"inputs.id", "inputs.max"} {
		if !strings.Contains(ie.Error(), p) {
			t.Errorf("error %q does not name %s", ie, p)
		}
	}
	if _, err := runner.New(b, runner.Options{}).Run(t.Context(), "w", map[string]any{}); !errors.As(err, &ie) {
		t.Fatalf("missing required input: err = %v", err)
	}
}

func TestAuthFromEnvironmentIsNotLeaked(t *testing.T) {
	const token, key = "s3cr3t-bearer-token", "s3cr3t-api-key"
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /v1/secure": func(w http.ResponseWriter, r *http.Request, n int) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				jsonReply(401, `{}`)(w, r, n)
				return
			}
			jsonReply(200, `{}`)(w, r, n)
		},
		"GET /v1/keyed": func(w http.ResponseWriter, r *http.Request, n int) {
			if r.URL.Query().Get("api_key") != key {
				jsonReply(401, `{}`)(w, r, n)
				return
			}
			jsonReply(200, `{}`)(w, r, n)
		},
	})
	env := map[string]string{runner.EnvName("bearerAuth"): token, runner.EnvName("apiKeyQ"): key}
	if runner.EnvName("bearerAuth") != "OHI_AUTH_BEARERAUTH" {
		t.Fatalf("EnvName = %s", runner.EnvName("bearerAuth"))
	}
	var logs bytes.Buffer
	res := runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - {stepId: a, operationId: secureOp, outputs: {u: $url}}
  - {stepId: b, operationId: keyedOp}
  outputs: {u: $steps.a.outputs.u}
`, runCfg{logs: &logs, opts: runner.Options{Auth: runner.NewEnvAuth(func(k string) string { return env[k] })}})
	if res.Status != runner.StatusSucceeded {
		t.Fatalf("status %s: %v", res.Status, deref(res.Error))
	}
	out, _ := json.Marshal(res)
	for _, secret := range []string{token, key} {
		if strings.Contains(string(out), secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("secret %q leaked:\n%s\n%s", secret, out, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "api_key=REDACTED") {
		t.Errorf("logs do not show the redacted key: %s", logs.String())
	}
	// Without credentials the request goes out unauthenticated and fails.
	res = runDoc(t, s, docHead+`workflows:
- workflowId: w
  steps:
  - {stepId: a, operationId: secureOp}
`, runCfg{opts: runner.Options{Auth: runner.NewEnvAuth(func(string) string { return "" })}})
	if res.Status != runner.StatusFailed || res.Steps[0].StatusCode != 401 {
		t.Fatalf("status %s steps %+v", res.Status, res.Steps)
	}
}

// TestRetryAfterFromDocumentCapped checks that a document's huge retryAfter
// and retryLimit on a server that never recovers wait at most
// MaxRetryAfter each and stop at max-steps.
func TestRetryAfterFromDocumentCapped(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){"GET /v1/status": jsonReply(503, `{}`)})
	for _, after := range []string{"1e300", "9223372037", ".inf"} {
		doc := docHead + `workflows:
- workflowId: w
  steps:
  - stepId: poll
    operationId: getStatus
    successCriteria: [{condition: $statusCode == 200}]
    onFailure: [{name: again, type: retry, retryAfter: ` + after + `, retryLimit: 1000000000}]
`
		var waits []time.Duration
		res := runDoc(t, s, doc, runCfg{opts: runner.Options{MaxSteps: 5, MaxRetryAfter: 7 * time.Millisecond,
			Sleep: func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return ctx.Err() }}})
		if res.Status != runner.StatusFailed || !strings.Contains(deref(res.Error), "max-steps") {
			t.Errorf("retryAfter %s: status %s error %q; want max steps failure", after, res.Status, deref(res.Error))
		}
		if len(waits) < 4 || len(waits) > 5 {
			t.Errorf("retryAfter %s: %d waits, want one per retry (4 or 5)", after, len(waits))
		}
		for _, d := range waits {
			if d != 7*time.Millisecond {
				t.Errorf("retryAfter %s: waited %v, want the 7ms cap", after, d)
			}
		}
	}
}
