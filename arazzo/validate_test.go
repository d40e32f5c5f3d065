package arazzo_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/arazzo"
)

const api = `openapi: 3.0.3
info: {title: a, version: "1"}
paths:
  /pets/{id}:
    get: {operationId: getPet}
    delete: {operationId: deletePet}
  /pets:
    get: {operationId: listPets}
`

func write(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestValidateDiagnostics(t *testing.T) {
	doc := `arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions:
- {name: a, url: ./a.yaml, type: openapi}
workflows:
- workflowId: w
  steps:
  - stepId: s1
    operationId: nope
    successCriteria:
    - condition: $statusCode = 200
    onSuccess:
    - {name: g, type: goto, stepId: missing}
    outputs:
      x: $response.body#/x
  - stepId: s1
    operationPath: '{$sourceDescriptions.a.url}#/paths/~1pets~1{id}'
    parameters:
    - {name: id, value: $inputs.id}
    outputs:
      y: $steps.s9.outputs.x
      z: $steps.s1.outputs.nothere
      bad: $inputs.x}
  - stepId: s3
    workflowId: ghost
    onFailure:
    - {name: r, type: retry, retryLimit: -1}
    - {name: r, type: end, stepId: s3}
- workflowId: w
  steps:
  - {stepId: ok, operationId: getPet, extra: 1}
`
	dir := write(t, map[string]string{"a.yaml": api, "flow.yaml": doc})
	f := &arazzo.Fetcher{}
	b, err := f.LoadBundle(t.Context(), filepath.Join(dir, "flow.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Structure errors come first (semantic checks need a sound structure).
	ds := arazzo.Validate(b.Root, b)
	want := []struct {
		line int
		msg  string
	}{
		{19, `a parameter of an operation step needs "in"`},
		{27, "must not be negative"},
		{28, "an end action takes no workflowId or stepId"},
		{31, `unknown field "extra"`},
	}
	checkDiags(t, ds, want)

	// Fix the structural errors and look at the semantic ones.
	doc = strings.Replace(doc, "retryLimit: -1", "retryLimit: 1", 1)
	doc = strings.Replace(doc, "type: end, stepId: s3", "type: end", 1)
	doc = strings.Replace(doc, ", extra: 1", "", 1)
	doc = strings.Replace(doc, "{name: id, value:", "{name: id, in: path, value:", 1)
	dir = write(t, map[string]string{"a.yaml": api, "flow.yaml": doc})
	b, err = f.LoadBundle(t.Context(), filepath.Join(dir, "flow.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ds = arazzo.Validate(b.Root, b)
	checkDiags(t, ds, []struct {
		line int
		msg  string
	}{
		{9, "operationId nope: not found"},
		{11, "invalid"},
		{13, `no step "missing"`},
		{16, `duplicate stepId "s1"`},
		{17, "points at a path item with 2 operations"},
		{21, `no step "s9"`},
		{22, `has no output "nothere"`},
		{23, "unexpected"},
		{25, "workflowId ghost"},
		{28, `duplicate action name "r"`},
		{29, `duplicate workflowId "w"`},
	})
	if !arazzo.HasErrors(ds) {
		t.Fatal("no errors")
	}
}

func TestValidateSemantics(t *testing.T) {
	doc := `arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions:
- {name: a, url: ./a.yaml, type: openapi}
workflows:
- workflowId: w
  steps:
  - stepId: s1
    operationId: getPet
    parameters:
    - {name: id, in: path, value: 1}
    - {name: id, in: path, value: 2}
    outputs:
      y: $steps.s9.outputs.x
      z: $steps.s1.outputs.nothere
      bad: $inputs.x}
  - stepId: s1
    workflowId: ghost
    onFailure:
    - {name: r, type: retry}
    - {name: r, type: end}
  outputs:
    o: $components.parameters.none
- workflowId: w
  dependsOn: [nobody]
  steps:
  - {stepId: ok, operationId: $sourceDescriptions.a.listPets}
`
	dir := write(t, map[string]string{"a.yaml": api, "flow.yaml": doc})
	b, err := (&arazzo.Fetcher{}).LoadBundle(t.Context(), filepath.Join(dir, "flow.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkDiags(t, arazzo.Validate(b.Root, b), []struct {
		line int
		msg  string
	}{
		{12, `duplicate parameter "id"`},
		{14, `no step "s9"`},
		{15, `has no output "nothere"`},
		{16, "unexpected"},
		{17, `duplicate stepId "s1"`},
		{18, "workflowId ghost"},
		{21, `duplicate action name "r"`},
		{23, "no such component"},
		{24, `duplicate workflowId "w"`},
		{25, "workflowId nobody"},
	})
}

func checkDiags(t *testing.T, ds []arazzo.Diagnostic, want []struct {
	line int
	msg  string
}) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, d := range ds {
			if d.Line == w.line && strings.Contains(d.Msg, w.msg) && d.Col > 0 && strings.HasSuffix(d.File, "flow.yaml") {
				found = true
			}
		}
		if !found {
			t.Errorf("no diagnostic at line %d containing %q", w.line, w.msg)
		}
	}
	if len(ds) != len(want) || t.Failed() {
		for _, d := range ds {
			t.Log(d)
		}
		t.Errorf("%d diagnostics, want %d", len(ds), len(want))
	}
}

func TestAmbiguousOperationID(t *testing.T) {
	doc := `arazzo: 1.0.0
info: {title: t, version: "1"}
sourceDescriptions:
- {name: a, url: ./a.yaml}
- {name: b, url: ./a.yaml, type: openapi}
workflows:
- workflowId: w
  steps:
  - {stepId: s, operationId: getPet}
  - {stepId: t, operationId: $sourceDescriptions.b.getPet}
`
	dir := write(t, map[string]string{"a.yaml": api, "flow.yaml": doc})
	b, err := (&arazzo.Fetcher{}).LoadBundle(t.Context(), filepath.Join(dir, "flow.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ResolveOperationID(b.Root, "getPet"); !errors.Is(err, arazzo.ErrAmbiguous) {
		t.Fatalf("err = %v, want ErrAmbiguous", err)
	}
	op, err := b.ResolveOperationID(b.Root, "$sourceDescriptions.b.getPet")
	if err != nil || op.Source.Name != "b" || op.Method != "GET" || op.Path != "/pets/{id}" {
		t.Fatalf("op = %+v, %v", op, err)
	}
	ds := arazzo.Validate(b.Root, b)
	if !arazzo.HasErrors(ds) || !strings.Contains(ds[0].Msg+ds[len(ds)-1].Msg, "ambiguous") {
		t.Fatalf("diagnostics = %v", ds)
	}
}

func TestParseErrors(t *testing.T) {
	for name, src := range map[string]string{
		"yaml":  "arazzo: [1\n",
		"type":  "arazzo: 1.0.1\nworkflows: 3\n",
		"empty": "",
		"array": "- 1\n",
	} {
		_, err := arazzo.Parse([]byte(src), "x.yaml")
		var pe *arazzo.ParseError
		if !errors.As(err, &pe) || pe.File != "x.yaml" {
			t.Errorf("%s: err = %v, want ParseError", name, err)
		}
	}
}

// TestTimestampsStayText checks that an unquoted YAML date in a payload is
// the text written, not a re-formatted timestamp.
func TestTimestampsStayText(t *testing.T) {
	doc, err := arazzo.Parse([]byte(`arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions: [{name: a, url: ./a.yaml}]
workflows:
- workflowId: w
  steps:
  - stepId: s
    operationId: op
    requestBody: {payload: {ticketDate: 2023-09-07, at: 2023-09-07T10:00:00Z, n: 5}}
`), "flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := doc.Workflows[0].Steps[0].RequestBody.Payload.(map[string]any)
	if p["ticketDate"] != "2023-09-07" || p["at"] != "2023-09-07T10:00:00Z" {
		t.Errorf("payload %#v: dates must stay as written", p)
	}
}
