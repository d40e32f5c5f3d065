package app_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"

	"github.com/openhealthimaging/ohi/synth"
)

// TestPanicDuringImportFailsOneFile: a panic while the server imports one
// file fails that file as a server error naming the panic; the job
// completes with the other files, and the server carries on with the
// next job.
func TestPanicDuringImportFailsOneFile(t *testing.T) {
	ts := startServer(t, t.TempDir())
	dsID := ts.createDatastore("panics")
	var hit atomic.Bool
	ts.app.Importer.TestHook = func(point, key string) {
		if point == "frame" && hit.CompareAndSwap(false, true) {
			panic("injected frame bug")
		}
	}
	for _, prefix := range []string{"a", "b"} {
		writeStudy(t, filepath.Join(ts.dataDir, "buckets", "dicom-in", prefix), synth.Config{Series: 1, Instances: 3, Rows: 16, Cols: 16, Seed: 3})
	}
	props := ts.importDir(dsID, "dicom-in", "a/")
	if props.JobStatus != types.JobStatusCompleted {
		t.Fatalf("job = %s (%s), want COMPLETED", props.JobStatus, aws.ToString(props.Message))
	}
	out := aws.ToString(props.OutputS3Uri)
	var m manifest
	if err := json.Unmarshal(ts.bucketFile(out+"job-output-manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	if js := m.JobSummary; js.NumberOfScannedFiles != 3 || js.NumberOfImportedFiles != 2 || js.NumberOfFilesWithServerError != 1 {
		t.Fatalf("manifest summary = %+v", js)
	}
	failure := string(ts.bucketFile(out + "FAILURE/failure.ndjson"))
	if !strings.Contains(failure, "InternalServerException") || !strings.Contains(failure, "panic: injected frame bug") {
		t.Fatalf("failure.ndjson = %s", failure)
	}
	if props := ts.importDir(dsID, "dicom-in", "b/"); props.JobStatus != types.JobStatusCompleted {
		t.Fatalf("next job = %s (%s)", props.JobStatus, aws.ToString(props.Message))
	}
}
