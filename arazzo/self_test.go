package arazzo_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/arazzo"
)

// TestSelfAndIdentity checks the 1.1 base-URI rules: a relative $self
// moves the base of relative source URLs, a local copy of a document
// whose $self is an absolute URL resolves beside the file, and an
// absolute source URL equal to a loaded document's $self names that
// document without fetching it.
func TestSelfAndIdentity(t *testing.T) {
	child := `arazzo: 1.1.0
$self: https://flows.example.invalid/child.arazzo.yaml
info: {title: child, version: "1"}
sourceDescriptions:
- {name: parent, url: https://flows.example.invalid/parent.arazzo.yaml, type: arazzo}
- {name: api, url: ../apis/a.yaml, type: openapi}
workflows:
- workflowId: c
  steps: [{stepId: s, operationId: listPets}]
`
	parent := `arazzo: 1.1.0
$self: https://flows.example.invalid/parent.arazzo.yaml
info: {title: parent, version: "1"}
sourceDescriptions:
- {name: child, url: ./child.arazzo.yaml, type: arazzo}
workflows:
- workflowId: p
  steps: [{stepId: s, workflowId: $sourceDescriptions.child.c}]
`
	dir := write(t, map[string]string{"a.yaml": api})
	flows := filepath.Join(dir, "flows")
	writeIn(t, flows, map[string]string{"parent.arazzo.yaml": parent, "child.arazzo.yaml": strings.Replace(child, "../apis/a.yaml", "../a.yaml", 1)})
	f := &arazzo.Fetcher{Client: offlineClient()}
	b, err := f.LoadBundle(t.Context(), filepath.Join(flows, "parent.arazzo.yaml"), nil)
	if err != nil {
		t.Fatalf("the parent's child (and the child's parent, by identity) should load offline: %v", err)
	}
	if ds := arazzo.Validate(b.Root, b); arazzo.HasErrors(ds) {
		t.Fatalf("errors: %v", ds)
	}
	sub := b.ArazzoSource(b.Root, "child")
	if sub == nil || b.ArazzoSource(sub, "parent") != b.Root {
		t.Fatal("the child's absolute source URL was not matched with the parent's $self")
	}

	// A relative $self moves the base: sources resolve against it.
	moved := `arazzo: 1.1.0
$self: ../flows-v2/doc.arazzo.yaml
info: {title: m, version: "1"}
sourceDescriptions: [{name: api, url: ./api.yaml, type: openapi}]
workflows:
- workflowId: w
  steps: [{stepId: s, operationId: listPets}]
`
	writeIn(t, filepath.Join(dir, "flows-v2"), map[string]string{"api.yaml": api})
	writeIn(t, filepath.Join(dir, "docs"), map[string]string{"doc.arazzo.yaml": moved})
	if _, err := f.LoadBundle(t.Context(), filepath.Join(dir, "docs", "doc.arazzo.yaml"), nil); err != nil {
		t.Fatalf("relative $self: %v", err)
	}
}

func writeIn(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func offlineClient() *http.Client { return &http.Client{Transport: offline{}} }
