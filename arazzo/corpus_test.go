package arazzo_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/arazzo"
)

// corpusDir locates ../shared/arazzo-corpus from the repository root, or
// skips the test with a message saying where it looked.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared", "arazzo-corpus")
			if _, err := os.Stat(filepath.Join(p, "INDEX.md")); err != nil {
				t.Skipf("the shared Arazzo corpus is absent (%s: %v); it is read from ../shared, never copied into the project", p, err)
			}
			return p
		}
		dir = filepath.Dir(dir)
	}
	t.Skip("repository root (go.mod) not found")
	return ""
}

// Expected validation outcomes.
const (
	expectUnknown = iota // the origin project states nothing ohi can check
	expectValid          // no error
	expectInvalid        // at least one error
	expectFlagged        // at least one error or warning
)

// corpusEntry is one row of the corpus INDEX.md.
type corpusEntry struct {
	Path     string // relative to the corpus directory
	Version  string
	Sources  string // e.g. "1 (openapi) L1/R0"
	Schema   string // the JSON Schema verdict: "ok..." or "N err: ..."
	Notes    string // the origin project's expectation
	Expect   int
	Features string
}

// readCorpusIndex parses the document tables of INDEX.md.
func readCorpusIndex(t testing.TB, dir string) []corpusEntry {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, "INDEX.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []corpusEntry
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 6 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		path := cells[0]
		if path == "document" || !strings.Contains(path, "/") || strings.Contains(path, " ") {
			continue
		}
		e := corpusEntry{Path: path, Version: cells[1], Sources: cells[2], Schema: cells[3], Notes: cells[4], Features: cells[5]}
		e.Expect = expectation(e)
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// expectation derives a document's expected validation outcome from its
// folder in the OAI schema test suite, else from the INDEX.md notes and
// the JSON Schema verdict.
func expectation(e corpusEntry) int {
	n := e.Notes
	switch {
	case strings.Contains(e.Path, "/tests/schema/fail/"):
		return expectInvalid
	case strings.Contains(n, "semantically wrong"):
		// OAI characterization tests: in the pass folder, but a semantic
		// validator SHOULD reject them; ohi flags them.
		return expectFlagged
	case strings.Contains(e.Path, "/tests/schema/pass/"):
		return expectValid
	case strings.HasPrefix(n, "Redocly lint: VALID"):
		return expectValid
	case strings.Contains(n, "type but no context"), strings.Contains(n, "Expression Type Object but no context"):
		// The specification asks for a context whenever type is given;
		// a simple condition does not use one, so ohi warns (and fails
		// with --strict).
		return expectFlagged
	case strings.HasPrefix(n, "runtime:"), strings.HasPrefix(n, "parse fixture"):
		// Expectations about a run, or about parsing only.
		return expectUnknown
	case strings.Contains(n, "INVALID"), strings.Contains(n, "INTENTIONALLY"),
		strings.Contains(n, "invalid by design"), strings.Contains(n, "deliberately malformed"),
		strings.Contains(n, "spec-invalid shape"):
		return expectInvalid
	case strings.HasPrefix(e.Schema, "ok"):
		return expectValid
	}
	return expectUnknown
}

// localSources reports whether none of the document's sources is a URL or
// a missing file.
func (e corpusEntry) localSources() bool {
	return !strings.Contains(e.Sources, "M:") && !strings.Contains(e.Sources, "/R1") &&
		!strings.Contains(e.Sources, "/R2") && !strings.Contains(e.Sources, "/R3") && !strings.Contains(e.Sources, "/R5")
}

// disputed lists documents whose INDEX.md verdict comes only from the JSON
// Schema ("ok") although they are broken in a way the schema cannot see;
// ohi must report an error for each.
var disputed = map[string]string{
	"api-flows-openapi-workflow-parser/src/test/resources/1.0.0/simple.workflow.yaml":   "operationId loginUser is not in its OpenAPI description",
	"api-flows-openapi-workflow-parser/src/test/resources/1.0.0/workflow.json":          "operationId loginUser is not in its OpenAPI description",
	"usearazzo-arazzo-toolkit/packages/runner/test/fixtures/cross-document.arazzo.yaml": "its last workflows name a missing source and missing workflows on purpose (the runner's error tests)",
}

// corpusResult is the validation of one corpus document.
type corpusResult struct {
	corpusEntry
	Errors       []string
	Warnings     []string
	StrictErrors int // errors with ValidateOptions.Strict
}

func (r corpusResult) agrees() bool {
	switch r.Expect {
	case expectValid:
		return len(r.Errors) == 0
	case expectInvalid:
		return len(r.Errors) > 0
	case expectFlagged:
		return len(r.Errors)+len(r.Warnings) > 0 && r.StrictErrors > 0
	}
	return true
}

// validateCorpus validates every indexed document as `ohi workflow
// validate` does, with the network disabled: remote sources are not
// fetched.
func validateCorpus(t *testing.T, dir string, entries []corpusEntry) []corpusResult {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	f := &arazzo.Fetcher{Client: &http.Client{Transport: offline{}}}
	var out []corpusResult
	for _, e := range entries {
		path := filepath.Join(dir, filepath.FromSlash(e.Path))
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: listed in INDEX.md but absent: %v", e.Path, err)
			continue
		}
		r := corpusResult{corpusEntry: e}
		ds, err := f.ValidateFile(ctx, path, arazzo.ValidateOptions{})
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
		}
		for _, d := range ds {
			s := strings.TrimPrefix(d.String(), path)
			if d.Severity == arazzo.SeverityError {
				r.Errors = append(r.Errors, s)
			} else {
				r.Warnings = append(r.Warnings, s)
			}
		}
		if reason, ok := disputed[e.Path]; ok {
			r.Expect, r.Notes = expectInvalid, reason
		}
		if r.Expect == expectFlagged {
			sds, err := f.ValidateFile(ctx, path, arazzo.ValidateOptions{Strict: true})
			if err != nil || arazzo.HasErrors(sds) {
				r.StrictErrors = 1
			}
		}
		out = append(out, r)
	}
	return out
}

// TestCorpusValidation validates every document of the shared Arazzo
// corpus and compares the verdict with the expected outcome INDEX.md and
// the OAI schema suite's pass and fail folders record: documents expected
// to be valid must have no error, negative fixtures at least one.
func TestCorpusValidation(t *testing.T) {
	dir := corpusDir(t)
	entries := readCorpusIndex(t, dir)
	if len(entries) < 100 {
		t.Fatalf("read only %d documents from INDEX.md", len(entries))
	}
	rs := validateCorpus(t, dir, entries)
	type tally struct{ agree, total int }
	groups := map[string]*tally{}
	var suite tally
	for _, r := range rs {
		g := strings.SplitN(r.Path, "/", 2)[0]
		if groups[g] == nil {
			groups[g] = &tally{}
		}
		if r.Expect == expectUnknown {
			t.Logf("%s: no stated expectation; %d error(s), %d warning(s)", r.Path, len(r.Errors), len(r.Warnings))
			continue
		}
		groups[g].total++
		inSuite := strings.Contains(r.Path, "/tests/schema/")
		if inSuite {
			suite.total++
		}
		if r.agrees() && strings.Contains(r.Path, "/tests/schema/fail/") && !namesProblem(r) {
			t.Errorf("%s: no error names the problem the file name states:\n    %s", r.Path, strings.Join(r.Errors, "\n    "))
			continue
		}
		if r.agrees() {
			groups[g].agree++
			if inSuite {
				suite.agree++
			}
			continue
		}
		switch r.Expect {
		case expectValid:
			t.Errorf("%s: expected valid, got errors:\n    %s", r.Path, strings.Join(r.Errors, "\n    "))
		case expectInvalid:
			t.Errorf("%s: expected an error (%s), got none; warnings: %q", r.Path, r.Notes, r.Warnings)
		default:
			t.Errorf("%s: expected an error or a warning (%s), got none", r.Path, r.Notes)
		}
	}
	if out := os.Getenv("OHI_CORPUS_VERDICTS"); out != "" {
		writeVerdicts(t, out, rs)
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, g := range names {
		fmt.Fprintf(&b, "\n  %-40s %3d/%3d", g, groups[g].agree, groups[g].total)
	}
	t.Logf("agreement with the stated expectations:%s\n  OAI 1.1 schema suite: %d/%d", b.String(), suite.agree, suite.total)
}

// namesProblem reports whether an error of r names the problem of an OAI
// schema fail test, which the test's file name states: one of the file
// name's words (the fields and rules involved) appears in an error.
func namesProblem(r corpusResult) bool {
	name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(r.Path), ".yaml"), ".arazzo")
	skip := map[string]bool{"invalid": true, "async": true, "openapi": true, "workflow": true, "with": true, "without": true,
		"and": true, "both": true, "for": true, "is": true, "non": true, "step": true, "an": true, "object": true, "not": true,
		"on": true, "arazzo": true, "missing": true, "values": true, "id": true, "type": true, "expression": true, "operation": true}
	alias := map[string]string{"depends": "dependson", "correlation": "correlationid", "channelpath": "channelpath",
		"self": "$self", "empty": "at least", "duplicate": "duplicate", "reference": "dependson", "target": "a step needs",
		"success": "at least", "criteria": "at least", "version": "arazzo must"}
	text := strings.ToLower(strings.Join(r.Errors, "\n"))
	words := 0
	for _, w := range strings.Split(strings.ToLower(name), "-") {
		if skip[w] {
			continue
		}
		words++
		if a, ok := alias[w]; ok {
			w = a
		}
		if strings.Contains(text, w) {
			return true
		}
	}
	// A name of generic words only ("invalid-async") states no field.
	return words == 0 && len(r.Errors) > 0
}

// writeVerdicts writes one line per document, for bench/arazzo-corpus-peers.sh:
// path, expected outcome (valid, invalid, flagged or unknown), and ohi's
// error and warning counts, tab-separated.
func writeVerdicts(t *testing.T, path string, rs []corpusResult) {
	var b strings.Builder
	for _, r := range rs {
		exp := [...]string{"unknown", "valid", "invalid", "flagged"}[r.Expect]
		fmt.Fprintf(&b, "%s\t%s\t%d\t%d\n", r.Path, exp, len(r.Errors), len(r.Warnings))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
