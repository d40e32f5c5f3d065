package importer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/blob/fileblob"
	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/importer"
	"github.com/openhealthimaging/ohi/sqlstore"
	"github.com/openhealthimaging/ohi/synth"
)

const htj2kRPCL = "1.2.840.10008.1.2.4.202"

// writeHTJ2KFile writes a DICOM file whose one 16x16 frame is an HTJ2K
// codestream, and returns its pixels.
func writeHTJ2KFile(t *testing.T, path, sop string) []byte {
	t.Helper()
	px, _ := writeHTJ2KFileSeed(t, path, sop, 13)
	return px
}

// writeHTJ2KFileSeed is writeHTJ2KFile with pixels that depend on seed; it
// also returns the codestream.
func writeHTJ2KFileSeed(t *testing.T, path, sop string, seed int) (pixels, codestream []byte) {
	t.Helper()
	px := &codec.Pixels{Width: 16, Height: 16, Components: 1, BitsStored: 12, BytesPerSample: 2, Data: make([]byte, 16*16*2)}
	for i := 0; i < 256; i++ {
		v := uint16(i * seed % 4096)
		px.Data[2*i], px.Data[2*i+1] = byte(v), byte(v>>8)
	}
	cs, err := codec.EncodeHTJ2K(px)
	if err != nil {
		t.Fatal(err)
	}
	ds := synth.DataSet{
		{Tag: 0x00080016, VR: "UI", Value: synth.CTImageStorage},
		{Tag: 0x00080018, VR: "UI", Value: sop},
		{Tag: 0x00080060, VR: "CS", Value: "CT"},
		{Tag: 0x00100020, VR: "LO", Value: "HT1"},
		{Tag: 0x0020000D, VR: "UI", Value: "1.2.826.0.1.77.1"},
		{Tag: 0x0020000E, VR: "UI", Value: "1.2.826.0.1.77.1.1"},
		{Tag: 0x00280002, VR: "US", Value: 1},
		{Tag: 0x00280004, VR: "CS", Value: "MONOCHROME2"},
		{Tag: 0x00280010, VR: "US", Value: 16},
		{Tag: 0x00280011, VR: "US", Value: 16},
		{Tag: 0x00280100, VR: "US", Value: 16},
		{Tag: 0x00280101, VR: "US", Value: 12},
		{Tag: 0x00280102, VR: "US", Value: 11},
		{Tag: 0x00280103, VR: "US", Value: 0},
		{Tag: 0x7FE00010, VR: "OB", Value: synth.Encapsulated{Frames: [][][]byte{{cs}}, BOT: true}},
	}
	var buf bytes.Buffer
	if err := synth.WriteP10(&buf, ds, synth.CTImageStorage, sop, htj2kRPCL, false); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return px.Data, cs
}

// testEnv is an importer over SQLite and a file blob store in a temporary
// directory, with one ACTIVE HTJ2K data store; input files go under
// Dir/buckets/input/.
type testEnv struct {
	Dir     string
	Store   *sqlstore.Store
	Blobs   *fileblob.Store
	Buckets *fileblob.Buckets
	DS      *ohi.Datastore
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "ohi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := fileblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	buckets := &fileblob.Buckets{Root: filepath.Join(dir, "buckets")}
	t.Cleanup(func() { buckets.Close() })
	now := time.Now()
	ds := &ohi.Datastore{ID: ohi.NewID(), Name: "d", Status: ohi.DatastoreActive, LosslessStorageFormat: "HTJ2K", CreatedAt: now, UpdatedAt: now}
	if _, _, err := store.DatastoreCreate(ctx, ds, "", "", 10); err != nil {
		t.Fatal(err)
	}
	return &testEnv{Dir: dir, Store: store, Blobs: blobs, Buckets: buckets, DS: ds}
}

// job records an import job of s3://input/<prefix>/ in the data store.
func (e *testEnv) job(t *testing.T, prefix string) *ohi.ImportJob {
	t.Helper()
	job := &ohi.ImportJob{ID: ohi.NewID(), DatastoreID: e.DS.ID, Name: "j", Status: ohi.JobSubmitted, DataAccessRoleARN: "arn:aws:iam::123456789012:role/x",
		InputS3URI: "s3://input/" + prefix + "/", OutputS3URI: "s3://output/o/", SubmittedAt: time.Now()}
	if _, _, err := e.Store.ImportJobCreate(context.Background(), job, "t", "h"); err != nil {
		t.Fatal(err)
	}
	return job
}

// importer returns an importer over the environment.
func (e *testEnv) importer() *importer.Importer {
	return &importer.Importer{Store: e.Store, Blobs: e.Blobs, Buckets: e.Buckets, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TempDir: e.Dir}
}

// TestDecoderCrashLoopBreaker: a file whose decoding stopped the process
// twice (recorded as "decoding" attempts) fails instead of being decoded a
// third time, while the other files of the job import normally.
func TestDecoderCrashLoopBreaker(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	store, blobs, dir := env.Store, env.Blobs, env.Dir
	pixels := writeHTJ2KFile(t, filepath.Join(dir, "buckets", "input", "ht", "good.dcm"), "1.2.826.0.1.77.1.1.1")
	writeHTJ2KFile(t, filepath.Join(dir, "buckets", "input", "ht", "poison.dcm"), "1.2.826.0.1.77.1.1.2")
	job := env.job(t, "ht")
	// Two earlier attempts at poison.dcm ended with the process gone.
	if err := store.ImportItemsPut(ctx, &ohi.ImportItem{JobID: job.ID, Key: "ht/poison.dcm", State: "decoding", Result: []byte(`{"decodingAttempts":2}`)}); err != nil {
		t.Fatal(err)
	}
	im := env.importer()
	if err := im.Run(ctx, job); err != nil {
		t.Fatal(err)
	}
	if job.Status != ohi.JobCompleted {
		t.Fatalf("job %s: %s", job.Status, job.Message)
	}
	items, err := store.ImportItems(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, it := range items {
		states[it.Key] = it.State + " " + string(it.Result)
	}
	if !strings.HasPrefix(states["ht/poison.dcm"], "failed") || !strings.Contains(states["ht/poison.dcm"], "stopped the server 2 times") {
		t.Fatalf("poison.dcm: %s", states["ht/poison.dcm"])
	}
	if !strings.HasPrefix(states["ht/good.dcm"], "committed") {
		t.Fatalf("good.dcm: %s", states["ht/good.dcm"])
	}
	// The HTJ2K input was decoded and stored as verified HTJ2K.
	var c struct{ ImageSetID string }
	for _, it := range items {
		if it.Key == "ht/good.dcm" {
			_ = json.Unmarshal(it.Result, &c)
		}
	}
	is, err := store.ImageSetGet(ctx, job.DatastoreID, c.ImageSetID)
	if err != nil {
		t.Fatal(err)
	}
	if is.Tags.InstanceCount != 1 {
		t.Fatalf("image set has %d instances", is.Tags.InstanceCount)
	}
	var frameKeys []string
	_ = blobs.List(ctx, "datastores/"+job.DatastoreID+"/frames/", func(o ohi.ObjectInfo) error {
		if strings.HasSuffix(o.Key, importer.HeaderSuffix) {
			return nil // the instance's stored header (DICOMweb)
		}
		frameKeys = append(frameKeys, o.Key)
		return nil
	})
	if len(frameKeys) != 1 {
		t.Fatalf("%d frames stored, want 1", len(frameKeys))
	}
	obj, err := blobs.Open(ctx, frameKeys[0])
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := io.ReadAll(obj)
	obj.Close()
	got, err := codec.DecodeHTJ2K(cs, 0)
	if err != nil || !bytes.Equal(got.Data, pixels) {
		t.Fatalf("stored frame does not decode to the source pixels: %v", err)
	}
}

// TestMultiFrameHeapBounded imports one multi-frame file and samples the
// live heap while the job runs: the frames' codestreams must not stay
// reachable until the instance is recorded (the 2 GB import of
// bench/bigfile.sh once peaked at 1.4 GB that way). 400 frames of 256x256
// give about 20 MB of HTJ2K, far above the allowed growth.
func TestMultiFrameHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 400 frames")
	}
	ctx := context.Background()
	env := newTestEnv(t)
	g, err := synth.New(synth.Config{Rows: 256, Cols: 256, Frames: 400, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(filepath.Join(env.Dir, "buckets", "input", "mf")); err != nil {
		t.Fatal(err)
	}
	job := env.job(t, "mf")

	live := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := live()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if h := live(); h > peak.Load() {
					peak.Store(h)
				}
			}
		}
	}()
	err = env.importer().Run(ctx, job)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != ohi.JobCompleted {
		t.Fatalf("job %s: %s", job.Status, job.Message)
	}
	var stored int64
	n := 0
	if err := env.Blobs.List(ctx, "datastores/"+env.DS.ID+"/frames/", func(o ohi.ObjectInfo) error {
		if strings.HasSuffix(o.Key, importer.HeaderSuffix) {
			return nil
		}
		stored += o.Size
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 400 {
		t.Fatalf("%d frames stored, want 400", n)
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("live heap: %d KB before, peak %d KB during the import; %d KB of frames stored", base>>10, peak.Load()>>10, stored>>10)
	if growth > stored/2 {
		t.Fatalf("live heap grew by %d KB while importing %d KB of frames: the frames stay reachable", growth>>10, stored>>10)
	}
}

// syncRecorder is a file blob store that records which frames PutBatched
// stored and which of them a SyncBatch has made durable since.
type syncRecorder struct {
	*fileblob.Store
	mu      sync.Mutex
	pending map[string]bool // stored, not yet synced
	synced  map[string]bool
	puts    int
	syncs   int
}

func (r *syncRecorder) PutBatched(ctx context.Context, key string, body io.Reader, size int64) error {
	err := r.Store.PutBatched(ctx, key, body, size)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.pending[key] = true
		r.puts++
	}
	return err
}

func (r *syncRecorder) SyncBatch(ctx context.Context, prefix string) error {
	// Only what was stored before the sync started counts as synced.
	r.mu.Lock()
	var before []string
	for k := range r.pending {
		if rest, ok := strings.CutPrefix(k, prefix); ok && !strings.Contains(rest, "/") {
			before = append(before, k)
		}
	}
	r.mu.Unlock()
	err := r.Store.SyncBatch(ctx, prefix)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		for _, k := range before {
			delete(r.pending, k)
			r.synced[k] = true
		}
		r.syncs++
	}
	return err
}

// commitChecker is a metadata store that checks, whenever files are
// recorded, that their frames were synced first.
type commitChecker struct {
	ohi.MetadataStore
	rec      *syncRecorder
	mu       sync.Mutex
	problems []string
	frames   int
}

func (c *commitChecker) ImportItemsPut(ctx context.Context, items ...*ohi.ImportItem) error {
	c.rec.mu.Lock()
	c.mu.Lock()
	for _, it := range items {
		if it.State != "parsed" {
			continue
		}
		var p struct {
			Frames []struct{ Key string }
			Header *struct{ Key string }
		}
		if err := json.Unmarshal(it.Result, &p); err != nil {
			c.problems = append(c.problems, it.Key+": "+err.Error())
		}
		if p.Header != nil {
			p.Frames = append(p.Frames, *p.Header)
		}
		for _, f := range p.Frames {
			c.frames++
			if !c.rec.synced[f.Key] {
				c.problems = append(c.problems, it.Key+": frame "+f.Key+" recorded before it was synced")
			}
		}
	}
	c.mu.Unlock()
	c.rec.mu.Unlock()
	return c.MetadataStore.ImportItemsPut(ctx, items...)
}

// TestFramesSyncedBeforeRecorded imports native files (recorded once their
// task is read) and HTJ2K files (recorded one by one, after the decoding
// attempt is marked) through a blob store that batches directory syncs:
// every frame must be synced before the file it belongs to is recorded,
// with far fewer syncs than frames.
func TestFramesSyncedBeforeRecorded(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	g, err := synth.New(synth.Config{Instances: 40, Rows: 64, Cols: 64, Frames: 3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(filepath.Join(env.Dir, "buckets", "input", "mix", "native")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		writeHTJ2KFile(t, filepath.Join(env.Dir, "buckets", "input", "mix", "ht", fmt.Sprintf("%d.dcm", i)), fmt.Sprintf("1.2.826.0.1.77.2.1.%d", i+1))
	}
	job := env.job(t, "mix")
	rec := &syncRecorder{Store: env.Blobs, pending: map[string]bool{}, synced: map[string]bool{}}
	checker := &commitChecker{MetadataStore: env.Store, rec: rec}
	im := env.importer()
	im.Blobs, im.Store = rec, checker
	if err := im.Run(ctx, job); err != nil {
		t.Fatal(err)
	}
	if job.Status != ohi.JobCompleted {
		t.Fatalf("job %s: %s", job.Status, job.Message)
	}
	for _, p := range checker.problems {
		t.Error(p)
	}
	if want := 40*3 + 3 + 43; checker.frames != want || rec.puts != want {
		t.Fatalf("%d frames recorded and %d stored with PutBatched, want %d (frames and the 43 instances' headers)", checker.frames, rec.puts, want)
	}
	t.Logf("%d frames, %d directory syncs", rec.puts, rec.syncs)
	if rec.syncs > rec.puts/4 {
		t.Fatalf("%d directory syncs for %d frames: not batched", rec.syncs, rec.puts)
	}
}
