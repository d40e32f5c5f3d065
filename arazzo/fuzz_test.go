package arazzo_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/arazzo"
)

// fuzzDocSeeds are inline seeds for FuzzParseDocument: small documents,
// hostile shapes (alias bombs, deep nesting, odd types) and fragments.
var fuzzDocSeeds = []string{
	`arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions: [{name: api, url: ./api.yaml, type: openapi}]
workflows:
- workflowId: w
  inputs: {type: object, properties: {id: {type: string}}}
  steps:
  - stepId: s
    operationId: get
    parameters: [{name: id, in: path, value: $inputs.id}]
    successCriteria: [{condition: $statusCode == 200}, {context: $response.body, condition: $[?@.a > 1], type: jsonpath}]
    onSuccess: [{name: again, type: goto, stepId: s, criteria: [{condition: $response.body#/state == 'RUNNING'}]}]
    outputs: {state: $response.body#/state}
  outputs: {state: $steps.s.outputs.state}
`,
	`{"arazzo":"1.1.0","$self":"https://example.com/a","info":{"title":"t","version":"1"},"sourceDescriptions":[{"name":"a","url":"x","type":"asyncapi"}],"workflows":[{"workflowId":"w","steps":[{"stepId":"s","workflowId":"$sourceDescriptions.a.w"}]}]}`,
	"a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n",
	"a: &a {x: *a}\n",
	strings.Repeat("[", 5000) + strings.Repeat("]", 5000),
	strings.Repeat("- ", 2000) + "x\n",
	"arazzo: 2023-09-07\ninfo: 5\nworkflows: {a: b}\n",
	"workflows: [{steps: [{requestBody: {payload: {a: !!binary aGk=}, replacements: [{target: /a, value: .nan}]}}]}]\n",
	"---\n...\n", "", "null", "[]", "'", "{", "&a a: *a",
}

// FuzzParseDocument checks that no input makes the document parser or the
// structural and semantic validator panic or run away. Seeds: the inline
// ones and a few documents of ../shared/arazzo-corpus when it is present.
func FuzzParseDocument(f *testing.F) {
	for _, s := range fuzzDocSeeds {
		f.Add([]byte(s))
	}
	for _, p := range corpusSeeds(f, 12) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := arazzo.Parse(data, "fuzz.yaml")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if doc == nil || doc.Raw == nil {
			t.Fatal("nil document without an error")
		}
		_ = arazzo.ValidateStructure(doc)
		_ = arazzo.Validate(doc, nil)
	})
}

// corpusSeeds returns up to n Arazzo documents of the shared corpus, or
// none when it is absent (a fuzz target still runs on its inline seeds).
func corpusSeeds(tb testing.TB, n int) []string {
	dir, err := os.Getwd()
	if err != nil {
		return nil
	}
	for range 6 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		dir = filepath.Dir(dir)
	}
	root := filepath.Join(dir, "..", "shared", "arazzo-corpus")
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || len(out) >= n {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.Contains(p, "arazzo.") && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".json")) {
			out = append(out, p)
		}
		return nil
	})
	return out
}
