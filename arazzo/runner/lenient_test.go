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

const swaggerAPI = `swagger: "2.0"
info: {title: legacy, version: "1"}
host: legacy.example.invalid
basePath: /v1
schemes: [https]
paths:
  /pets/{petId}:
    get:
      operationId: getPet
      parameters:
      - {name: petId, in: path, required: true, type: string}
      - {name: X-Api-Version, in: header, required: true, type: string, default: "2"}
      responses: {"200": {description: ok}}
securityDefinitions:
  token: {type: oauth2, flow: application, tokenUrl: "https://auth.example.invalid/token", scopes: {}}
security: [{token: []}]
`

// brokenAPI has a malformed path item that the workflow does not use.
const brokenAPI = `openapi: 3.0.3
info: {title: partly broken, version: "1"}
paths:
  /ok:
    get: {operationId: okOp, responses: {"200": {description: ok}}}
  /broken:
    get:
      operationId: brokenOp
      parameters: not-a-list
`

// TestLenientSources runs a workflow over a Swagger 2.0 description
// (converted, with a warning) and one over a description with a malformed
// unused path item (left out, with a warning), and the runtime leniencies:
// a required parameter filled from its default, an OAuth 2 token from the
// environment, wso2's $dependencies and the outputs of a sub-workflow read
// through the workflow step.
func TestLenientSources(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /v1/pets/p1": jsonReply(200, `{"name":"rex"}`),
		"GET /v1/ok":      jsonReply(200, `{"v":1}`),
	})
	doc := `arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions:
- {name: legacy, url: ./legacy.yaml, type: openapi}
- {name: partial, url: ./partial.yaml, type: openapi}
workflows:
- workflowId: setup
  steps:
  - stepId: ok
    operationId: $sourceDescriptions.partial.okOp
    outputs: {v: $response.body#/v}
  outputs: {v: $steps.ok.outputs.v}
- workflowId: main
  dependsOn: [setup]
  steps:
  - stepId: pet
    operationId: $sourceDescriptions.legacy.getPet
    parameters:
    - {name: petId, in: path, value: p1}
    - {name: X-V, in: header, value: $dependencies.setup.v}
    outputs: {name: $response.body#/name}
  - stepId: sub
    workflowId: setup
  outputs:
    name: $steps.pet.outputs.name
    fromSub: $steps.sub.outputs.v
`
	path := writeDocs(t, doc, map[string]string{"legacy.yaml": swaggerAPI, "partial.yaml": brokenAPI})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b, err := (&arazzo.Fetcher{}).LoadBundle(ctx, path, map[string]string{"legacy": s.srv.URL + "/v1", "partial": s.srv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	ds := arazzo.Validate(b.Root, b)
	if arazzo.HasErrors(ds) {
		t.Fatalf("errors: %v", ds)
	}
	all := (&arazzo.ValidationError{Diagnostics: ds}).Error()
	for _, want := range []string{"Swagger 2.0", "left out: paths./broken", "$dependencies.setup.v is not in the grammar",
		"$steps.sub.outputs.v: step sub has no output"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	if strict := arazzo.ValidateWith(b.Root, b, arazzo.ValidateOptions{Strict: true}); !arazzo.HasErrors(strict) {
		t.Error("--strict: the deviations are not errors")
	}
	auth := runner.NewEnvAuth(func(k string) string {
		if k == runner.EnvName("token") {
			return "oauth-access-token"
		}
		return ""
	})
	res, err := runner.New(b, runner.Options{Auth: auth, Client: &http.Client{Timeout: 5 * time.Second}}).Run(ctx, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != runner.StatusSucceeded || res.Outputs["name"] != "rex" || expectNum(res.Outputs["fromSub"]) != 1 {
		t.Fatalf("status %s, outputs %v, error %v, steps %+v", res.Status, res.Outputs, deref(res.Error), res.Steps)
	}
	c := s.callsTo("GET /v1/pets/p1")
	if len(c) != 1 {
		t.Fatalf("calls %+v", c)
	}
	if got := c[0].header.Get("X-Api-Version"); got != "2" {
		t.Errorf("required header X-Api-Version = %q, want its default 2", got)
	}
	if got := c[0].header.Get("X-V"); got != "1" {
		t.Errorf("$dependencies.setup.v sent as %q, want 1", got)
	}
	if got := c[0].header.Get("Authorization"); got != "Bearer oauth-access-token" {
		t.Errorf("Authorization = %q, want the OAuth 2 token as a bearer token", got)
	}
}

func expectNum(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case interface{ Float64() (float64, error) }:
		f, _ := x.Float64()
		return f
	}
	return -1
}

// TestXOperation runs Respect's x-operation extension: a step that names a
// URL and a method instead of an OpenAPI operation (a warning).
func TestXOperation(t *testing.T) {
	s := newServer(t, map[string]func(http.ResponseWriter, *http.Request, int){
		"GET /posts/7": jsonReply(200, `{"id":7}`),
	})
	doc := docHead + `workflows:
- workflowId: w
  steps:
  - stepId: post
    x-operation: {url: '` + s.srv.URL + `/posts/{id}?lang=en', method: get}
    parameters: [{name: id, in: path, value: '7'}, {name: X-T, in: header, value: t}]
    successCriteria: [{condition: $statusCode == 200 && $response.body#/id == 7}]
`
	path := writeDocs(t, doc, nil)
	b, err := (&arazzo.Fetcher{}).LoadBundle(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds := arazzo.Validate(b.Root, b)
	if arazzo.HasErrors(ds) || !strings.Contains((&arazzo.ValidationError{Diagnostics: ds}).Error(), "x-operation is Redocly Respect's extension") {
		t.Fatalf("diagnostics: %v", ds)
	}
	res, err := runner.New(b, runner.Options{}).Run(t.Context(), "w", nil)
	if err != nil || res.Status != runner.StatusSucceeded {
		t.Fatalf("run: %v %+v", err, res)
	}
	c := s.callsTo("GET /posts/7")
	if len(c) != 1 || c[0].query != "lang=en" || c[0].header.Get("X-T") != "t" {
		t.Errorf("calls %+v", c)
	}
	// With another target it is an error.
	bad := strings.Replace(doc, "    x-operation:", "    operationId: getStatus\n    x-operation:", 1)
	b, err = (&arazzo.Fetcher{}).LoadBundle(t.Context(), writeDocs(t, bad, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ds := arazzo.Validate(b.Root, b); !arazzo.HasErrors(ds) {
		t.Errorf("operationId with x-operation: no error")
	}
}
