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
	"github.com/openhealthimaging/ohi/synth"
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

// TestUndecodableFrameFailsStoredAsReceivedFile: pydicom's two-frame 32-bit
// RLE file is stored as received (its samples are too deep for the
// codecs), but with its second frame spoiled it must fail, whichever frame
// finishes first. With one worker the first frame used to end the file's
// transcoding before the second was decoded, and the file was stored.
func TestUndecodableFrameFailsStoredAsReceivedFile(t *testing.T) {
	src := corpusFile(t, "pydicom/SC_rgb_rle_32bit_2frame.dcm")
	env := newTestEnv(t)
	im := env.importer()
	im.Workers = 1
	dir := filepath.Join(env.Dir, "buckets", "input", "deep")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "good.dcm"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.dcm"), spoilFrames(t, src, 64, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	job := runJob(t, env, im, "deep", 30*time.Second)
	good, bad := string(itemResult(t, env, job, "deep/good.dcm")), string(itemResult(t, env, job, "deep/bad.dcm"))
	if !strings.Contains(good, "StoredAsReceived") {
		t.Errorf("good.dcm: %s, want stored as received", good)
	}
	if it, err := env.Store.ImportItemGet(context.Background(), job.ID, "deep/bad.dcm"); err != nil || it.State != "failed" ||
		!strings.Contains(bad, "frame 2 cannot be decoded") {
		t.Errorf("bad.dcm: %v %s, want failed on frame 2", err, bad)
	}
}

// writeUIDFile writes a one-frame native file whose SeriesInstanceUID is
// series, byte for byte.
func writeUIDFile(t *testing.T, path, sop, series string) {
	t.Helper()
	ds := synth.DataSet{
		{Tag: 0x00080016, VR: "UI", Value: synth.CTImageStorage},
		{Tag: 0x00080018, VR: "UI", Value: sop},
		{Tag: 0x00080060, VR: "CS", Value: "CT"},
		{Tag: 0x00100020, VR: "LO", Value: "UID1"},
		{Tag: 0x0020000D, VR: "UI", Value: "1.2.826.0.1.77.9"},
		{Tag: 0x0020000E, VR: "UI", Value: series},
		{Tag: 0x00280002, VR: "US", Value: 1},
		{Tag: 0x00280004, VR: "CS", Value: "MONOCHROME2"},
		{Tag: 0x00280010, VR: "US", Value: 4},
		{Tag: 0x00280011, VR: "US", Value: 4},
		{Tag: 0x00280100, VR: "US", Value: 8},
		{Tag: 0x00280101, VR: "US", Value: 8},
		{Tag: 0x00280102, VR: "US", Value: 7},
		{Tag: 0x00280103, VR: "US", Value: 0},
		{Tag: 0x7FE00010, VR: "OB", Value: make([]byte, 16)},
	}
	var buf bytes.Buffer
	if err := synth.WriteP10(&buf, ds, synth.CTImageStorage, sop, "1.2.840.10008.1.2.1", false); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOddSeriesUIDsImportTwice: a series whose UID the metadata normalises
// (a NUL before the padding) is found again by the next import, which
// appends to its primary image set; the lookup used the raw UID and the
// image set the normalised one, so the next import conflicted with the
// primary image set it could not find, forever. A UID that is not UTF-8
// fails its file.
func TestOddSeriesUIDsImportTwice(t *testing.T) {
	env := newTestEnv(t)
	im := env.importer()
	for run := range 2 {
		prefix := fmt.Sprintf("odd%d", run)
		dir := filepath.Join(env.Dir, "buckets", "input", prefix)
		writeUIDFile(t, filepath.Join(dir, "nul.dcm"), "1.2.826.0.1.77.9.1.1", "1.2.826.0.1.77.9.1\x00 ")
		writeUIDFile(t, filepath.Join(dir, "latin1.dcm"), "1.2.826.0.1.77.9.2.1", "1.2.826.0.1.77.9.2\xff\xff")
		job := runJob(t, env, im, prefix, 30*time.Second)
		if it, err := env.Store.ImportItemGet(context.Background(), job.ID, prefix+"/nul.dcm"); err != nil || it.State != "committed" {
			t.Fatalf("import %d: nul.dcm %v %+v", run+1, err, it)
		}
		res := string(itemResult(t, env, job, prefix+"/latin1.dcm"))
		if !strings.Contains(res, "SeriesInstanceUID") || !strings.Contains(res, "ValidationException") {
			t.Fatalf("import %d: latin1.dcm %s, want refused for its SeriesInstanceUID", run+1, res)
		}
	}
}
