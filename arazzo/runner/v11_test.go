package runner_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/runner"
)

// doc11Head is docHead for an Arazzo 1.1 document.
var doc11Head = strings.Replace(docHead, "arazzo: 1.0.1", "arazzo: 1.1.0\n$self: https://example.invalid/flows/flow.arazzo.yaml", 1)

// TestArazzo11Features runs the 1.1 additions for OpenAPI sources: step
// dependsOn ordering, querystring parameters, Selector Objects in
// parameter values, payloads, replacements and outputs, JSONPath
// replacement targets, action parameters and $self.
func TestArazzo11Features(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /v1/items/7":   jsonReply(200, `{"data":{"items":[{"id":"a1","qty":2},{"id":"b2","qty":5}]},"next":"k9"}`),
		"GET /v1/status":    jsonReply(200, `{"state":"done"}`),
		"POST /v1/items":    jsonReply(201, `{"ok":true}`),
		"GET /v1/other":     jsonReply(500, `{}`),
		"GET /v1/items/k9":  jsonReply(200, `{"data":{"items":[]}}`),
		"GET /v1/items/sub": jsonReply(200, `{}`),
	})
	res := runDoc(t, s, doc11Head+`workflows:
- workflowId: main
  steps:
  - stepId: post
    operationId: createItem
    dependsOn: [status, get]
    requestBody:
      contentType: application/json
      payload:
        first:
          context: $steps.get.outputs.body
          selector: $.data.items[0].id
          type: jsonpath
        items: [{sku: x, qty: 0}, {sku: y, qty: 0}]
      replacements:
      - target: $.items[*].qty
        targetSelectorType: jsonpath
        value: {context: $steps.get.outputs.body, selector: /data/items/1/qty, type: jsonpointer}
      - {target: /self, value: $self}
    successCriteria: [{condition: $statusCode == 201}]
  - stepId: get
    operationId: getItem
    parameters:
    - {name: id, in: path, value: '7'}
    - {name: q, in: querystring, value: 'a=1&b={$inputs.b}'}
    outputs:
      body: $response.body
      second: {context: $response.body, selector: '$.data.items[?@.qty > 3].id', type: {type: jsonpath, version: rfc9535}}
      next: $response.body.next
  - stepId: status
    operationId: getStatus
    dependsOn: [get]
    successCriteria:
    - {context: $response.body, condition: '$[?@ == "{$inputs.want}"]', type: jsonpath}
  - stepId: fail
    operationId: other
    onFailure:
    - name: toSub
      type: goto
      workflowId: sub
      parameters:
      - {name: id, value: {context: $steps.get.outputs.body, selector: $.next, type: jsonpath}}
  outputs:
    second: $steps.get.outputs.second
    next: $steps.get.outputs.next
- workflowId: sub
  inputs: {type: object, properties: {id: {type: string}}}
  steps:
  - stepId: one
    operationId: getItem
    parameters: [{name: id, in: path, value: $inputs.id}]
`, runCfg{workflow: "main", inputs: map[string]any{"b": "x y", "want": "done"}})
	if got, want := actions(res), "get:next status:next post:next fail:goto sub one:next"; got != want {
		t.Fatalf("actions %q, want %q (steps %+v)", got, want, res.Steps)
	}
	if res.Outputs["second"] != "b2" || res.Outputs["next"] != "k9" {
		t.Errorf("outputs %v, want second b2 (selector) and next k9 (dot path)", res.Outputs)
	}
	calls := s.callsTo("GET /v1/items/7")
	if len(calls) != 1 || calls[0].query != "a=1&b=x y" && calls[0].query != "a=1&b=x%20y" {
		t.Errorf("querystring: calls %+v", calls)
	}
	post := s.callsTo("POST /v1/items")
	if len(post) != 1 {
		t.Fatalf("POST calls %d", len(post))
	}
	for _, want := range []string{`"first":"a1"`, `{"qty":5,"sku":"x"}`, `{"qty":5,"sku":"y"}`, `"self":"https://example.invalid/flows/flow.arazzo.yaml"`} {
		if !strings.Contains(post[0].body, want) {
			t.Errorf("POST body %s lacks %s", post[0].body, want)
		}
	}
	if s.count("GET /v1/items/k9") != 1 {
		t.Errorf("the goto action's parameter did not become the sub-workflow's input id")
	}
}

// TestStepDependsOnCycleAndAsync checks that a dependsOn cycle is a
// validation error and that an AsyncAPI step is refused before any
// request is sent.
func TestStepDependsOnCycleAndAsync(t *testing.T) {
	cyc := doc11Head + `workflows:
- workflowId: w
  steps:
  - {stepId: a, operationId: getStatus, dependsOn: [b]}
  - {stepId: b, operationId: getStatus, dependsOn: [a]}
`
	path := writeDocs(t, cyc, nil)
	b, err := (&arazzo.Fetcher{}).LoadBundle(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds := arazzo.Validate(b.Root, b)
	if !arazzo.HasErrors(ds) || !strings.Contains((&arazzo.ValidationError{Diagnostics: ds}).Error(), "cycle") {
		t.Errorf("dependsOn cycle: diagnostics %v, want a cycle error", ds)
	}

	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){"GET /v1/status": jsonReply(200, `{}`)})
	async := `arazzo: 1.1.0
info: {title: t, version: "1"}
sourceDescriptions:
- {name: api, url: ./api.yaml, type: openapi}
- {name: events, url: ./events.yaml, type: asyncapi}
workflows:
- workflowId: w
  steps:
  - {stepId: first, operationId: $sourceDescriptions.api.getStatus}
  - {stepId: wait, channelPath: '{$sourceDescriptions.events.url}#/channels/done', action: receive, timeout: 1000}
`
	path = writeDocs(t, async, map[string]string{"events.yaml": `asyncapi: 3.0.0
info: {title: e, version: "1"}
channels:
  done: {address: done}
operations:
  onDone: {action: receive, channel: {$ref: '#/channels/done'}}
`})
	b, err = (&arazzo.Fetcher{}).LoadBundle(t.Context(), path, map[string]string{"api": s.srv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if ds := arazzo.Validate(b.Root, b); arazzo.HasErrors(ds) {
		t.Fatalf("the AsyncAPI document does not validate: %v", ds)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = runner.New(b, runner.Options{}).Run(ctx, "w", nil)
	if err == nil || !strings.Contains(err.Error(), "AsyncAPI step") {
		t.Fatalf("Run = %v, want the AsyncAPI step refused", err)
	}
	if n := s.count("GET /v1/status"); n != 0 {
		t.Errorf("%d requests sent before the AsyncAPI step was refused", n)
	}
}

// TestStepTimeout checks the 1.1 step timeout on an OpenAPI step: the
// request is abandoned and the step fails into its failure actions.
func TestStepTimeout(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /v1/status": func(w http.ResponseWriter, r *http.Request, n int) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		},
		"GET /v1/other": jsonReply(200, `{}`),
	})
	start := time.Now()
	res := runDoc(t, s, doc11Head+`workflows:
- workflowId: w
  steps:
  - stepId: slow
    operationId: getStatus
    timeout: 50
    onFailure: [{name: fallback, type: goto, stepId: fast}]
  - stepId: fast
    operationId: other
`, runCfg{})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the run took %s; the step timeout is 50ms", d)
	}
	if got := actions(res); got != "slow:goto fast fast:next" || !strings.Contains(res.Steps[0].Error, "step timeout of 50ms") {
		t.Errorf("actions %q, first error %q", got, res.Steps[0].Error)
	}
}

// TestXPathCriteriaAndSelectors runs an xpath criterion and an xpath
// Selector Object on an XML response.
func TestXPathCriteriaAndSelectors(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /v1/status": func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Content-Type", "application/xml")
			w.Write([]byte(`<job><state>DONE</state><id>j-9</id></job>`))
		},
	})
	res := runDoc(t, s, doc11Head+`workflows:
- workflowId: w
  steps:
  - stepId: get
    operationId: getStatus
    successCriteria:
    - {context: $response.body, condition: "/job/state = 'DONE'", type: {type: xpath, version: xpath-31}}
    outputs:
      id: {context: $response.body, selector: /job/id, type: xpath}
  outputs: {id: $steps.get.outputs.id}
`, runCfg{})
	if res.Status != runner.StatusSucceeded || res.Outputs["id"] != "j-9" {
		t.Fatalf("status %s, outputs %v, error %v", res.Status, res.Outputs, deref(res.Error))
	}
}

// TestXPathReplacements sets nodes of an XML payload by XPath targets,
// explicit and by default for an XML content type.
func TestXPathReplacements(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){"POST /v1/items": jsonReply(201, `{}`)})
	runDoc(t, s, doc11Head+`workflows:
- workflowId: w
  steps:
  - stepId: post
    operationId: createItem
    requestBody:
      contentType: application/xml
      payload: '<order><customer id="0">x</customer><qty>1</qty></order>'
      replacements:
      - {target: /order/qty, value: 3}
      - {target: /order/customer/@id, targetSelectorType: {type: xpath, version: xpath-10}, value: c-7}
`, runCfg{})
	c := s.callsTo("POST /v1/items")
	if len(c) != 1 || !strings.Contains(c[0].body, `<qty>3</qty>`) || !strings.Contains(c[0].body, `id="c-7"`) {
		t.Fatalf("calls %+v", c)
	}
	if ct := c[0].header.Get("Content-Type"); ct != "application/xml" {
		t.Errorf("Content-Type %q", ct)
	}
}
