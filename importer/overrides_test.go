package importer_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/synth"
)

// TestMetadataMappingsResume imports two studies with importConfiguration
// mappings (one applied, one to a missing file, one matching nothing), then
// runs Finish again as a coordinator that resumes a job interrupted after
// grouping does: the output must be the same, with no applied mapping
// reported as unused and no file counted twice.
func TestMetadataMappingsResume(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	in := filepath.Join(env.Dir, "buckets", "input", "mapped")
	g, err := synth.New(synth.Config{Studies: 2, Instances: 2, Rows: 16, Cols: 16, Seed: 71})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(in); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "a.json"), []byte(`{"00081030": {"vr": "LO", "Value": ["mapped"]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	job := env.job(t, "mapped")
	cfg, _ := json.Marshal(map[string]any{"dicomJsonMetadataImportConfiguration": map[string]any{"dicomMetadataMappings": []map[string]string{
		{"studyInstanceUID": g.StudyUID(synth.Ref{Study: 0}), "metadataFilePath": "a.json"},
		{"studyInstanceUID": g.StudyUID(synth.Ref{Study: 1}), "metadataFilePath": "missing.json"},
		{"studyInstanceUID": "1.2.3.4", "metadataFilePath": "a.json"},
	}}})
	job.ImportConfiguration = string(cfg)
	if err := env.Store.ImportJobUpdate(ctx, job); err != nil {
		t.Fatal(err)
	}
	im := env.importer()
	if err := im.Run(ctx, job); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(env.Dir, "buckets", "output", "o", env.DS.ID+"-DicomImport-"+job.ID)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first := [3]string{read("job-output-manifest.json"), read("FAILURE/failure.ndjson"), read("WARNING/warning.ndjson")}
	if job.Status != ohi.JobCompleted {
		t.Fatalf("job %s: %s", job.Status, job.Message)
	}
	if !strings.Contains(first[0], `"numberOfScannedFiles": 4`) || !strings.Contains(first[0], `"numberOfImportedFiles": 2`) ||
		!strings.Contains(first[0], `"numberOfFilesWithCustomerError": 2`) {
		t.Errorf("manifest:\n%s", first[0])
	}
	if n := strings.Count(first[1], "dicomMetadataMappings[1]"); n != 2 || strings.Contains(first[1], `"mappings"`) {
		t.Errorf("failures (want 2 naming mapping 1, without the internal mappings field):\n%s", first[1])
	}
	if strings.Count(first[2], "UnusedMetadataMapping") != 1 || !strings.Contains(first[2], "dicomMetadataMappings[2]") {
		t.Errorf("warnings (want mapping 2 alone unused):\n%s", first[2])
	}

	// A resumed coordinator runs Finish again over the recorded items.
	job.Status = ohi.JobInProgress
	if err := im.Finish(ctx, job); err != nil {
		t.Fatal(err)
	}
	again := [3]string{read("job-output-manifest.json"), read("FAILURE/failure.ndjson"), read("WARNING/warning.ndjson")}
	if again != first {
		t.Errorf("the resumed Finish wrote different output:\n%v\nthen\n%v", first, again)
	}
}
