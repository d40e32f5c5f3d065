package runner_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/runner"
)

// TestRefCycles checks that $ref cycles terminate: OpenAPI schemas that
// reference themselves, each other and across two files that reference
// each other, and workflow input schemas that reference themselves.
func TestRefCycles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a.yaml": `openapi: 3.0.3
info: {title: a, version: "1"}
paths:
  /n:
    post:
      operationId: post
      requestBody: {content: {application/json: {schema: {$ref: '#/components/schemas/Node'}}}}
      responses: {"200": {description: ok, content: {application/json: {schema: {$ref: 'b.yaml#/components/schemas/B'}}}}}
components:
  schemas:
    Node: {type: object, properties: {next: {$ref: '#/components/schemas/Node'}, other: {$ref: '#/components/schemas/Other'}}}
    Other: {type: array, items: {$ref: '#/components/schemas/Node'}}
    A: {type: object, properties: {b: {$ref: 'b.yaml#/components/schemas/B'}}}
`,
		"b.yaml": `openapi: 3.0.3
info: {title: b, version: "1"}
paths: {}
components:
  schemas:
    B: {type: object, properties: {a: {$ref: 'a.yaml#/components/schemas/A'}}}
`,
		"flow.yaml": `arazzo: 1.0.1
info: {title: cycles, version: "1"}
sourceDescriptions: [{name: api, url: ./a.yaml, type: openapi}]
workflows:
- workflowId: w
  inputs: {$ref: '#/components/inputs/tree'}
  steps:
  - {stepId: s, operationId: post, requestBody: {contentType: application/json, payload: $inputs.tree}}
components:
  inputs:
    tree:
      type: object
      properties:
        tree: {$ref: '#/components/inputs/tree'}
        self: {$ref: '#/components/inputs/loop'}
    loop: {$ref: '#/components/inputs/loop'}
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b, err := (&arazzo.Fetcher{}).LoadBundle(t.Context(), filepath.Join(dir, "flow.yaml"), nil)
		if err != nil {
			t.Errorf("load: %v", err)
			return
		}
		_ = arazzo.Validate(b.Root, b)
		deep := map[string]any{}
		for range 2000 {
			deep = map[string]any{"tree": deep}
		}
		err = runner.ValidateInputs(b.Root, &b.Root.Workflows[0], map[string]any{"tree": deep})
		t.Logf("deep inputs: %v", err)
		err = runner.ValidateInputs(b.Root, &b.Root.Workflows[0], map[string]any{"self": 1})
		if err == nil || !strings.Contains(err.Error(), "input") {
			t.Errorf("a schema that is only a reference to itself: err = %v, want an input schema error", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("loading or validating cyclic schemas did not end in 20s")
	}
}
