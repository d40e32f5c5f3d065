package importer_test

import (
	"bytes"
	"context"
	"errors"
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

// TestStoreInstances stores files the way STOW-RS does: they land in the
// series' primary image set with their stored headers, a file of another
// study fails when the request names one, a non-DICOM file fails, and
// SweepStow later removes only old uncommitted storage.
func TestStoreInstances(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	dir := filepath.Join(env.Dir, "stow")
	g, err := synth.New(synth.Config{Series: 1, Instances: 3, Rows: 16, Cols: 16, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(dir); err != nil {
		t.Fatal(err)
	}
	var files []importer.StowFile
	for i := range 3 {
		p := filepath.Join(dir, filepath.FromSlash(g.Path(synth.Ref{Instance: i})))
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, importer.StowFile{Path: p, Size: fi.Size()})
	}
	junk := filepath.Join(dir, "junk.dcm")
	if err := os.WriteFile(junk, []byte("not DICOM"), 0o644); err != nil {
		t.Fatal(err)
	}
	im := env.importer()
	res, err := im.StoreInstances(ctx, env.DS.ID, "", append(files, importer.StowFile{Path: junk, Size: 9}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 || res[3].Failure == "" || res[3].FailureCode != importer.FailureCannotRead {
		t.Fatalf("results %+v", res)
	}
	set := res[0].ImageSetID
	for _, r := range res[:3] {
		if r.Failure != "" || r.ImageSetID != set || !r.IsPrimary {
			t.Fatalf("result %+v", r)
		}
	}
	is, err := env.Store.ImageSetGet(ctx, env.DS.ID, set)
	if err != nil || is.Tags.InstanceCount != 3 {
		t.Fatalf("image set %+v, %v", is, err)
	}
	loc, err := env.Store.DICOMInstanceFind(ctx, ohi.DICOMInstanceRef{DatastoreID: env.DS.ID, StudyInstanceUID: g.StudyUID(synth.Ref{}),
		SeriesInstanceUID: g.SeriesUID(synth.Ref{}), SOPInstanceUID: g.SOPInstanceUID(synth.Ref{})})
	if err != nil || loc.Header == nil || !strings.HasSuffix(loc.Header.ID, importer.HeaderSuffix) {
		t.Fatalf("instance %+v, %v", loc, err)
	}
	res, err = im.StoreInstances(ctx, env.DS.ID, "1.2.3", files[:1])
	if err != nil || res[0].FailureCode != importer.FailureNoMatch {
		t.Fatalf("another study: %+v, %v", res, err)
	}

	// Leftovers of an interrupted request: an old uncommitted frame goes,
	// a new one and the committed frames stay.
	old := "datastores/" + env.DS.ID + "/frames/stow-crashed/" + ohi.NewID()
	fresh := "datastores/" + env.DS.ID + "/frames/stow-running/" + ohi.NewID()
	for _, k := range []string{old, fresh} {
		if err := env.Blobs.Put(ctx, k, bytes.NewReader([]byte("x")), 1); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * importer.StowLeftoverAge)
	if err := os.Chtimes(filepath.Join(env.Dir, "blobs", filepath.FromSlash(old)), past, past); err != nil {
		t.Fatal(err)
	}
	committed := 0
	_ = env.Blobs.List(ctx, "datastores/"+env.DS.ID+"/frames/", func(o ohi.ObjectInfo) error {
		committed++
		return nil
	})
	n, err := im.SweepStow(ctx)
	if err != nil || n != 1 {
		t.Fatalf("SweepStow removed %d, %v", n, err)
	}
	if _, err := env.Blobs.Stat(ctx, old); err == nil {
		t.Fatal("the old leftover is still there")
	}
	left := 0
	_ = env.Blobs.List(ctx, "datastores/"+env.DS.ID+"/frames/", func(o ohi.ObjectInfo) error {
		left++
		return nil
	})
	if left != committed-1 {
		t.Fatalf("%d objects left of %d", left, committed)
	}
}

// TestStoreInstancesAbandonedLeavesNothing: a STOW-RS request whose
// client goes away while its instances are stored returns the context's
// error and leaves none of their frames or headers stored.
func TestStoreInstancesAbandonedLeavesNothing(t *testing.T) {
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	im := env.importer()
	im.Workers = 1
	var stored atomic.Int32
	im.TestHook = func(point, _ string) {
		// The second instance's frames: the first one's are stored.
		if point == "frame" && stored.Add(1) == 2 {
			cancel()
		}
	}
	if _, err := im.StoreInstances(ctx, env.DS.ID, "", files); !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned request: %v, want context.Canceled", err)
	}
	if stored.Load() < 2 {
		t.Fatalf("only %d instances reached their frames", stored.Load())
	}
	var left []string
	_ = env.Blobs.List(context.Background(), "datastores/"+env.DS.ID+"/", func(o ohi.ObjectInfo) error {
		left = append(left, o.Key)
		return nil
	})
	if len(left) != 0 {
		t.Fatalf("%d objects left: %v", len(left), left)
	}
}

// TestStoreInstancesServerFailureHidesCause: a processing failure (here the
// spooled file cannot be opened) fails the instance without telling the
// client local paths.
func TestStoreInstancesServerFailureHidesCause(t *testing.T) {
	env := newTestEnv(t)
	gone := filepath.Join(env.Dir, "secret-spool", "part-1.dcm")
	res, err := env.importer().StoreInstances(context.Background(), env.DS.ID, "", []importer.StowFile{{Path: gone, Size: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].FailureCode != importer.FailureProcessing || res[0].Failure == "" || strings.Contains(res[0].Failure, "secret-spool") {
		t.Fatalf("results %+v", res)
	}
}
