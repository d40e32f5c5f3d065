package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/importer"
	"github.com/openhealthimaging/ohi/synth"
)

// writeSynthInput writes n native-pixel instances of one series under
// s3://input/<prefix>/ (their frames are transcoded on import).
func writeSynthInput(t *testing.T, dir string, n int) {
	t.Helper()
	g, err := synth.New(synth.Config{Series: 1, Instances: n, Rows: 16, Cols: 16, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(dir); err != nil {
		t.Fatal(err)
	}
}

// streamBuckets serves the input buckets as streams only (as S3 does), so
// the importer copies each input object to a temporary file.
type streamBuckets struct{ ohi.Buckets }

func (b streamBuckets) Bucket(name string) (ohi.BlobStore, error) {
	s, err := b.Buckets.Bucket(name)
	return streamStore{s}, err
}

type streamStore struct{ ohi.BlobStore }

func (s streamStore) Open(ctx context.Context, key string) (ohi.Object, error) {
	o, err := s.BlobStore.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return struct{ ohi.Object }{o}, nil // no ReadAt
}

// panicOnce returns a test hook that panics the first time point is reached.
func panicOnce(point string) func(string, string) {
	var hit atomic.Bool
	return func(p, key string) {
		if p == point && hit.CompareAndSwap(false, true) {
			panic("injected at " + point)
		}
	}
}

// TestPanicFailsOnlyItsFile: a panic while importing one file (after
// parsing, in a frame's transcoding goroutine, in the application of the
// import configuration's overrides) fails that file with an
// InternalServerException naming the panic; the job completes with the
// other files imported, no codec slot stays held and no temporary copy of
// an input object is left.
func TestPanicFailsOnlyItsFile(t *testing.T) {
	for _, point := range []string{"parse", "frame", "override"} {
		t.Run(point, func(t *testing.T) {
			env := newTestEnv(t)
			writeSynthInput(t, filepath.Join(env.Dir, "buckets", "input", "p"), 4)
			im := env.importer()
			im.Workers = 2
			im.TempDir = t.TempDir()
			im.Buckets = streamBuckets{env.Buckets}
			im.TestHook = panicOnce(point)
			job := runJob(t, env, im, "p", 30*time.Second)
			items, err := env.Store.ImportItems(context.Background(), job.ID)
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, it := range items {
				if it.State == "failed" {
					failed = append(failed, string(it.Result))
				}
			}
			if len(failed) != 1 || !strings.Contains(failed[0], "InternalServerException") || !strings.Contains(failed[0], "panic: injected at "+point) {
				t.Fatalf("failed files %q (states %v)", failed, itemStates(t, env, job))
			}
			if n := itemStates(t, env, job)["committed"]; n != 3 {
				t.Fatalf("states %v, want 3 files committed", itemStates(t, env, job))
			}
			if n := importer.CodecSlotsHeld(im); n != 0 {
				t.Fatalf("%d codec slots held after the job", n)
			}
			if left, err := os.ReadDir(im.TempDir); err != nil || len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}

// TestPanicInJobPhaseFailsJob: a panic while listing the input, grouping
// the files or writing the output ends the job FAILED with a message that
// names the phase and the panic.
func TestPanicInJobPhaseFailsJob(t *testing.T) {
	for point, phase := range map[string]string{"list": "listing the input", "group": "grouping the files", "output": "writing the job output"} {
		t.Run(point, func(t *testing.T) {
			env := newTestEnv(t)
			writeSynthInput(t, filepath.Join(env.Dir, "buckets", "input", "p"), 2)
			im := env.importer()
			im.TestHook = panicOnce(point)
			job := newJob(t, env, "p")
			if err := im.Run(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			got, err := env.Store.ImportJobGet(context.Background(), env.DS.ID, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != ohi.JobFailed || !strings.Contains(got.Message, phase) || !strings.Contains(got.Message, "panic: injected at "+point) {
				t.Fatalf("job %s: %q", got.Status, got.Message)
			}
		})
	}
}

// TestStowPanicFailsOnlyItsInstance: a panic while storing one instance of
// a STOW-RS request fails that instance with a processing failure naming
// the panic, and the others are stored; a panic while committing a group
// fails that group's instances.
func TestStowPanicFailsOnlyItsInstance(t *testing.T) {
	for _, point := range []string{"parse", "frame", "commit"} {
		t.Run(point, func(t *testing.T) {
			env := newTestEnv(t)
			dir := filepath.Join(env.Dir, "stow")
			writeSynthInput(t, dir, 3)
			var files []importer.StowFile
			_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					fi, _ := d.Info()
					files = append(files, importer.StowFile{Path: p, Size: fi.Size()})
				}
				return err
			})
			im := env.importer()
			im.TestHook = panicOnce(point)
			res, err := im.StoreInstances(context.Background(), env.DS.ID, "", files)
			if err != nil {
				t.Fatal(err)
			}
			var failed, stored int
			for _, r := range res {
				switch {
				case r.Failure == "":
					stored++
				case r.FailureCode == importer.FailureProcessing && strings.Contains(r.Failure, "panic: injected at "+point):
					failed++
				default:
					t.Fatalf("result %+v", r)
				}
			}
			wantFailed := 1
			if point == "commit" {
				wantFailed = 3 // the three instances are one image set
			}
			if len(files) != 3 || failed != wantFailed || stored != 3-wantFailed {
				t.Fatalf("%d files: %d stored, %d failed by the panic", len(files), stored, failed)
			}
			if n := importer.CodecSlotsHeld(im); n != 0 {
				t.Fatalf("%d codec slots held", n)
			}
		})
	}
}
