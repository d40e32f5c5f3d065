package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/codec/codecproc"
	"github.com/openhealthimaging/ohi/synth"
)

// TestImportStallTimeout: with a fault injected that makes the decoder
// process hang on every HTJ2K frame, `ohi serve --import-stall-timeout 1s`
// fails those files as stuck in their decoder, logs each with its stage,
// and completes the job with the native files imported.
func TestImportStallTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Every codestream of ours holds a TLM marker segment.
	env := []string{codecproc.HangEnv + "=\xff\x55"}
	args := append([]string{"--import-stall-timeout", "1s", "--import-workers", "2"}, authArgs...)
	srv := startServer(t, serverOpts{DataDir: dir, Args: args, Env: env})
	c := newClient(srv.Endpoint, testAK, testSecret)
	writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "stall", "ht"),
		synth.Config{Series: 1, Instances: 2, Rows: 32, Cols: 32, Seed: 51, TransferSyntax: synth.HTJ2KLosslessRPCL})
	writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "stall", "native"),
		synth.Config{Series: 1, Instances: 2, Rows: 32, Cols: 32, Seed: 52})
	ds := createDatastore(t, c, "stall")
	start := time.Now()
	job := startImport(t, c, ds, "s3://dicom-in/stall/", "s3://dicom-out/stall/")
	p := waitJob(t, c, ds, job, 60*time.Second)
	wantCompleted(t, p, "s3://dicom-out/stall/", ds)
	t.Logf("job completed in %s", time.Since(start).Round(time.Millisecond))
	base := filepath.Join(dir, "buckets", "dicom-out", "stall", ds+"-DicomImport-"+job)
	m := parseManifest(t, readFile(t, filepath.Join(base, "job-output-manifest.json")))
	fail := ndjson[failureLine](t, "failure.ndjson", readFile(t, filepath.Join(base, "FAILURE", "failure.ndjson")))
	if m.NumberOfImportedFiles != 2 || len(fail) != 2 {
		t.Fatalf("manifest %+v, %d failure lines, want 2 imported and 2 failed", m, len(fail))
	}
	for _, l := range fail {
		if !strings.Contains(l.InputFile, "/ht/") || !strings.Contains(l.Exception.Message, "stuck in decode of frame 1 for ") {
			t.Errorf("failure line %+v", l)
		}
		if srv.Log.Count("key="+l.InputFile) == 0 || srv.Log.Count(`stage="decode of frame 1"`) == 0 {
			t.Errorf("the server log does not name %s and its stage", l.InputFile)
		}
	}
}
