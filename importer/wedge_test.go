package importer_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/importer"
)

// corpusFile reads a file of the installed corpora (scripts/install-corpora.sh).
func corpusFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "corpora", rel))
	if err != nil {
		if os.Getenv("OHI_E2E_REQUIRE_CLIENTS") != "" {
			t.Fatalf("corpus file missing: %v", err)
		}
		t.Skipf("corpora not installed (%v); run scripts/install-corpora.sh", err)
	}
	return b
}

// spoilFrames overwrites the first n bytes of every frame of a P10 file
// except those listed in keep.
func spoilFrames(t *testing.T, p10 []byte, n int64, keep ...int) []byte {
	t.Helper()
	inst, err := dicom.Read(bytes.NewReader(p10), int64(len(p10)), dicom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	out := bytes.Clone(p10)
	kept := map[int]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	for i, fr := range inst.Frames {
		if kept[i] {
			continue
		}
		left := n
		for _, s := range fr.Segments {
			m := min(left, s.Length)
			for j := s.Offset; j < s.Offset+m; j++ {
				out[j] = 0xFF
			}
			if left -= m; left == 0 {
				break
			}
		}
	}
	return out
}

// runJob imports s3://input/<prefix>/ with im and fails the test unless the
// job completes within limit.
func runJob(t *testing.T, env *testEnv, im *importer.Importer, prefix string, limit time.Duration) *ohi.ImportJob {
	t.Helper()
	job := newJob(t, env, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- im.Run(ctx, job) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("import of %s did not complete within %s: %v", prefix, limit, err)
		}
	case <-time.After(limit + 5*time.Second):
		t.Fatalf("import of %s did not complete within %s, and did not stop when told to", prefix, limit)
	}
	if job.Status != ohi.JobCompleted {
		t.Fatalf("job %s: %s", job.Status, job.Message)
	}
	return job
}

// newJob records an import job of s3://input/<prefix>/ with its own client
// token (testEnv.job reuses one, which suits one job per test).
func newJob(t *testing.T, env *testEnv, prefix string) *ohi.ImportJob {
	t.Helper()
	job := &ohi.ImportJob{ID: ohi.NewID(), DatastoreID: env.DS.ID, Name: prefix, Status: ohi.JobSubmitted, DataAccessRoleARN: "arn:aws:iam::123456789012:role/x",
		InputS3URI: "s3://input/" + prefix + "/", OutputS3URI: "s3://output/" + prefix + "/", SubmittedAt: time.Now()}
	if _, _, err := env.Store.ImportJobCreate(context.Background(), job, job.ID, job.ID); err != nil {
		t.Fatal(err)
	}
	return job
}

// itemStates counts the job's recorded files by state.
func itemStates(t *testing.T, env *testEnv, job *ohi.ImportJob) map[string]int {
	t.Helper()
	items, err := env.Store.ImportItems(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, it := range items {
		n[it.State]++
	}
	return n
}

// TestFailedFramesReleaseCodecSlots is the reproduction of the importer
// wedge: six copies of pydicom's 15-frame RLE dose whose frames 2 to 15 are
// undecodable, imported three times with two workers. A frame that fails
// cancels its file's other frames; the codec slot the frame loop had just
// won at that moment was never given back, so after a few such files no
// slot was left and every later import waited forever. Every import must
// complete, no slot may stay held, and a clean import must complete after.
func TestFailedFramesReleaseCodecSlots(t *testing.T) {
	src := corpusFile(t, "pydicom/rtdose_rle.dcm")
	bad := spoilFrames(t, src, 64, 0)
	env := newTestEnv(t)
	im := env.importer()
	im.Workers = 2
	for run := range 3 {
		prefix := fmt.Sprintf("bad%d", run)
		dir := filepath.Join(env.Dir, "buckets", "input", prefix)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("rtdose_rle_%d.dcm", i)), bad, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		job := runJob(t, env, im, prefix, 30*time.Second)
		items, err := env.Store.ImportItems(context.Background(), job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 6 {
			t.Fatalf("import %d: %d files recorded, want 6", run+1, len(items))
		}
		for _, it := range items {
			if it.State != "failed" || !strings.Contains(string(it.Result), "cannot be decoded") {
				t.Fatalf("import %d: %s is %s %s, want failed as undecodable", run+1, it.Key, it.State, it.Result)
			}
		}
		if held := importer.CodecSlotsHeld(im); held != 0 {
			t.Fatalf("import %d: %d codec slots still held after the job", run+1, held)
		}
	}
	dir := filepath.Join(env.Dir, "buckets", "input", "clean")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rtdose_rle.dcm"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	job := runJob(t, env, im, "clean", 30*time.Second)
	if n := itemStates(t, env, job); n["committed"] != 1 || len(n) != 1 {
		t.Fatalf("clean import: files by state %v", n)
	}
}
