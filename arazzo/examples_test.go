package arazzo_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/arazzo"
	"go.yaml.in/yaml/v3"
)

// exampleResult is the validation of one third-party document.
type exampleResult struct {
	Path     string
	WantFail bool // the document is in a fail/invalid/negative/bad directory
	// Structure holds parse errors and the errors of ValidateStructure:
	// the verdict of the official JSON Schema, which is what schema
	// fixtures' pass/fail directories encode.
	Structure []string
	// Semantic holds the further errors of Validate (unresolvable
	// operations, runtime expressions outside the grammar, outputs of
	// steps that do not declare them).
	Semantic  []string
	SourceErr string // its sources could not be loaded (validated alone)
}

// mismatch describes how r contradicts its expectation, or "". An
// expected-fail document must have an error of any kind; an expected-pass
// one must have no structure error, and with strict also no semantic one.
func (r exampleResult) mismatch(strict bool) string {
	switch {
	case r.WantFail && len(r.Structure)+len(r.Semantic) == 0:
		return "expected to fail validation, but has no error"
	case !r.WantFail && len(r.Structure) > 0:
		return "expected to pass validation, but has structure errors:\n    " + strings.Join(r.Structure, "\n    ")
	case !r.WantFail && strict && len(r.Semantic) > 0:
		return "expected to pass validation, but has semantic errors:\n    " + strings.Join(r.Semantic, "\n    ")
	}
	return ""
}

// offline refuses every request, so that documents whose sources are URLs
// are validated alone instead of waiting for a network that is not there.
type offline struct{}

func (offline) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, errors.New("network access is disabled in this test")
}

// expectFail reports whether rel (a path relative to the examples root)
// lies in a directory of documents that must fail validation.
func expectFail(rel string) bool {
	for _, part := range strings.Split(filepath.ToSlash(filepath.Dir(rel)), "/") {
		switch strings.ToLower(part) {
		case "fail", "invalid", "negative", "bad":
			return true
		}
	}
	return false
}

// isArazzo reports whether data is a YAML or JSON object with an "arazzo"
// member (OpenAPI documents and other files beside the examples are not).
func isArazzo(data []byte) bool {
	var top map[string]any
	if yaml.Unmarshal(data, &top) != nil {
		return false
	}
	_, ok := top["arazzo"]
	return ok
}

// validateExamples validates every Arazzo document (.yaml, .yml, .json)
// under dir, as `ohi workflow validate` does: with its source descriptions
// when they load, else alone. Files in expected-fail directories are all
// treated as Arazzo documents (a broken one may lack the arazzo member);
// elsewhere, files without an arazzo member are skipped.
func validateExamples(ctx context.Context, dir string) ([]exampleResult, error) {
	f := &arazzo.Fetcher{Client: &http.Client{Transport: offline{}}}
	var out []exampleResult
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		r := exampleResult{Path: rel, WantFail: expectFail(rel)}
		if !r.WantFail && !isArazzo(data) {
			return nil
		}
		doc, err := arazzo.Parse(data, path)
		if err != nil {
			r.Structure = append(r.Structure, err.Error())
			out = append(out, r)
			return nil
		}
		structural := map[string]bool{}
		for _, d := range arazzo.ValidateStructure(doc) {
			if d.Severity == arazzo.SeverityError {
				r.Structure = append(r.Structure, d.String())
				structural[d.String()] = true
			}
		}
		var ds []arazzo.Diagnostic
		if b, err := f.LoadBundle(ctx, path, nil); err == nil {
			ds = arazzo.Validate(b.Root, b)
		} else {
			r.SourceErr = err.Error()
			ds = arazzo.Validate(doc, nil)
		}
		for _, d := range ds {
			if d.Severity == arazzo.SeverityError && !structural[d.String()] {
				r.Semantic = append(r.Semantic, d.String())
			}
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

func checkExamples(t *testing.T, dir string, strict bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	rs, err := validateExamples(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		t.Fatalf("no Arazzo documents under %s", dir)
	}
	pass, fail, semantic := 0, 0, 0
	for _, r := range rs {
		if m := r.mismatch(strict); m != "" {
			t.Errorf("%s: %s", r.Path, m)
		} else if !r.WantFail && len(r.Semantic) > 0 {
			semantic++
			t.Logf("%s: passes the schema; semantic errors (OHI_ARAZZO_EXAMPLES_STRICT=1 fails on them):\n    %s",
				r.Path, strings.Join(r.Semantic, "\n    "))
		}
		if r.SourceErr != "" {
			t.Logf("%s: sources not loaded, operations not checked: %s", r.Path, r.SourceErr)
		}
		if r.WantFail {
			fail++
		} else {
			pass++
		}
	}
	t.Logf("%s: %d documents expected to pass (%d of them with semantic errors), %d expected to fail", dir, pass, semantic, fail)
}

// TestThirdPartyExamples validates a directory of third-party Arazzo
// documents named by OHI_ARAZZO_EXAMPLES (for example a checkout of the
// OAI examples or schema fixtures). Documents under a directory named
// fail, invalid, negative or bad must have at least one error; all others
// must have no structure error, and with OHI_ARAZZO_EXAMPLES_STRICT=1 no
// semantic error either. The shared corpus is checked by
// TestCorpusValidation; this test is for any other directory a developer
// has, and is skipped without one.
func TestThirdPartyExamples(t *testing.T) {
	dir := os.Getenv("OHI_ARAZZO_EXAMPLES")
	if dir == "" {
		t.Skip("set OHI_ARAZZO_EXAMPLES=DIR to validate another directory of Arazzo documents (the shared corpus is TestCorpusValidation's)")
	}
	checkExamples(t, dir, os.Getenv("OHI_ARAZZO_EXAMPLES_STRICT") == "1")
}

// TestExamplesHarness checks the harness of TestThirdPartyExamples on a
// directory built here, and runs it on the shared seed workflows.
func TestExamplesHarness(t *testing.T) {
	good := `arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions: [{name: a, url: ./a.yaml, type: openapi}]
workflows:
- workflowId: w
  steps: [{stepId: s, operationId: getPet, parameters: [{name: id, in: path, value: 1}]}]
`
	dir := t.TempDir()
	files := map[string]string{
		"pass/a.yaml":             api,                                                               // OpenAPI: skipped
		"pass/good.yaml":          good,                                                              // valid
		"pass/remote.yaml":        strings.Replace(good, "./a.yaml", "http://127.0.0.1:9/a.yaml", 1), // sources not loadable
		"pass/wrong.yaml":         strings.Replace(good, "getPet", "nope", 1),                        // semantic error
		"pass/bad-structure.yaml": strings.Replace(good, "in: path", "in: body", 1),                  // enum violation
		"fail/a.yaml":             api,                                                               // no arazzo member: an error
		"fail/missing-info.yaml":  strings.Replace(good, "info: {title: t, version: \"1\"}\n", "", 1),
		"fail/broken.json":        `{"arazzo": "1.0.1", `,
		"fail/still-valid.yaml":   good,
		"notes.txt":               "not a document",
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := validateExamples(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]exampleResult{}
	for _, r := range rs {
		got[filepath.ToSlash(r.Path)] = r
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"fail/a.yaml", "fail/broken.json", "fail/missing-info.yaml", "fail/still-valid.yaml",
		"pass/bad-structure.yaml", "pass/good.yaml", "pass/remote.yaml", "pass/wrong.yaml"}
	if !slices.Equal(names, want) {
		t.Fatalf("validated %q, want %q", names, want)
	}
	for name, want := range map[string][2]bool{ // mismatch without, with strict
		"pass/good.yaml": {false, false}, "pass/remote.yaml": {false, false},
		"pass/wrong.yaml": {false, true}, "pass/bad-structure.yaml": {true, true},
		"fail/a.yaml": {false, false}, "fail/missing-info.yaml": {false, false},
		"fail/broken.json": {false, false}, "fail/still-valid.yaml": {true, true},
	} {
		for i, strict := range []bool{false, true} {
			if m := got[name].mismatch(strict); (m != "") != want[i] {
				t.Errorf("%s (strict %v): mismatch %q, want a mismatch: %v (result %+v)", name, strict, m, want[i], got[name])
			}
		}
	}
	if r := got["pass/wrong.yaml"]; len(r.Structure) != 0 || len(r.Semantic) != 1 {
		t.Errorf("pass/wrong.yaml: structure %q, semantic %q; want one semantic error", r.Structure, r.Semantic)
	}
	if got["pass/remote.yaml"].SourceErr == "" {
		t.Error("pass/remote.yaml: the unloadable source is not reported")
	}

	// The shared seed workflows are real documents that must pass.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	seeds := filepath.Join(wd, "..", "..", "shared", "healthimaging", "arazzo")
	if _, err := os.Stat(seeds); err != nil {
		t.Logf("shared seed workflows absent (%v); skipping them", err)
		return
	}
	checkExamples(t, seeds, true)
}
