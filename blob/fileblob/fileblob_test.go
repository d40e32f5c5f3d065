package fileblob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/blob/fileblob"
	"github.com/openhealthimaging/ohi/internal/storetest"
)

func newStore(t *testing.T) *fileblob.Store {
	t.Helper()
	s, err := fileblob.New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.BlobStore(t, func(t *testing.T) ohi.BlobStore { return newStore(t) })
}

func TestFileSystemKeys(t *testing.T) {
	storetest.FileSystemKeys(t, func(t *testing.T) ohi.BlobStore { return newStore(t) })
}

// tempFiles returns the temporary files left anywhere under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".ohi-tmp-") {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestPutBodies checks Put's two copy paths (a *bytes.Reader of the
// declared size is written in one call, anything else through a pooled
// buffer) against bodies of the declared size, shorter, longer and unknown.
func TestPutBodies(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	big := make([]byte, 300<<10) // several copy buffers
	for i := range big {
		big[i] = byte(i * 7)
	}
	partly := bytes.NewReader(big)
	partly.Seek(1000, io.SeekStart)
	for _, c := range []struct {
		name string
		r    io.Reader
		size int64
		want []byte // nil: Put must fail
	}{
		{"bytes exact", bytes.NewReader(big), int64(len(big)), big},
		{"bytes partly read", partly, int64(len(big) - 1000), big[1000:]},
		{"bytes declared longer", bytes.NewReader(big), int64(len(big)) + 1, nil},
		{"bytes declared shorter", bytes.NewReader(big), int64(len(big)) - 1, nil},
		{"bytes unknown size", bytes.NewReader(big), -1, big},
		{"stream exact", iotest.HalfReader(bytes.NewReader(big)), int64(len(big)), big},
		{"stream declared longer", iotest.HalfReader(bytes.NewReader(big)), int64(len(big)) + 1, nil},
		{"stream declared shorter", iotest.HalfReader(bytes.NewReader(big)), int64(len(big)) - 1, nil},
		{"stream unknown size", iotest.HalfReader(bytes.NewReader(big)), -1, big},
		{"empty", bytes.NewReader(nil), 0, []byte{}},
	} {
		key := "bodies/" + strings.ReplaceAll(c.name, " ", "-")
		err := s.Put(ctx, key, c.r, c.size)
		if c.want == nil {
			if err == nil {
				t.Errorf("%s: Put succeeded", c.name)
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, ohi.ErrNotFound) {
				t.Errorf("%s: failed Put left an object (Stat: %v)", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := storetest.Read(t, s, key); !bytes.Equal(got, c.want) {
			t.Errorf("%s: stored %d bytes, want %d", c.name, len(got), len(c.want))
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(canceled, "bodies/canceled", bytes.NewReader(big), int64(len(big))); err == nil {
		t.Error("canceled Put of an in-memory body succeeded")
	}
	if left := tempFiles(t, s.Dir()); len(left) > 0 {
		t.Fatalf("temporary files left behind: %q", left)
	}
}

// TestPutBatched checks that PutBatched stores like Put (the directory sync
// itself can only be seen in a power cut) and that SyncBatch accepts the
// prefixes of directories, existing or not, and refuses the others.
func TestPutBatched(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for i := range 3 {
		if err := s.PutBatched(ctx, fmt.Sprintf("frames/job/%d", i), strings.NewReader("frame"), 5); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutBatched(ctx, "frames/job/short", strings.NewReader("x"), 2); err == nil {
		t.Fatal("PutBatched accepted a short body")
	}
	for _, prefix := range []string{"frames/job/", "frames/", "", "never/written/"} {
		if err := s.SyncBatch(ctx, prefix); err != nil {
			t.Errorf("SyncBatch(%q): %v", prefix, err)
		}
	}
	for _, prefix := range []string{"frames/job", "../", "frames//", "/abs/", "frames/../"} {
		if err := s.SyncBatch(ctx, prefix); !errors.Is(err, ohi.ErrInvalidKey) {
			t.Errorf("SyncBatch(%q) = %v, want ErrInvalidKey", prefix, err)
		}
	}
	var keys []string
	if err := s.List(ctx, "frames/", func(o ohi.ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"frames/job/0", "frames/job/1", "frames/job/2"}; !slices.Equal(keys, want) {
		t.Fatalf("stored %q, want %q", keys, want)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "never")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("SyncBatch created a directory: %v", err)
	}
	if left := tempFiles(t, s.Dir()); len(left) > 0 {
		t.Fatalf("temporary files left behind: %q", left)
	}
}

// TestDirCache checks reads through the store's cached directory handles:
// a directory removed and created again behind the store's back, and more
// directories than the cache holds, read in turns.
func TestDirCache(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "x/y/k", strings.NewReader("one"), 3); err != nil {
		t.Fatal(err)
	}
	if got := string(storetest.Read(t, s, "x/y/k")); got != "one" {
		t.Fatalf("x/y/k = %q", got)
	}
	// Replaced from outside: the cached handle leads to the removed
	// directory.
	if err := os.RemoveAll(filepath.Join(s.Dir(), "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, "x/y/k"); !errors.Is(err, ohi.ErrNotFound) {
		t.Fatalf("Open of a removed key = %v", err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir(), "x", "y"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "x", "y", "k"), []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := string(storetest.Read(t, s, "x/y/k")); got != "two" {
		t.Fatalf("x/y/k after the directory was made again = %q", got)
	}
	if fi, err := s.Stat(ctx, "x/y/k"); err != nil || fi.Size != 3 {
		t.Fatalf("Stat = %+v, %v", fi, err)
	}
	// Through Delete, which prunes the emptied directories, and Put.
	if err := s.Delete(ctx, "x/y/k"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "x/y/k", strings.NewReader("three"), 5); err != nil {
		t.Fatal(err)
	}
	if got := string(storetest.Read(t, s, "x/y/k")); got != "three" {
		t.Fatalf("x/y/k after Delete and Put = %q", got)
	}
	// Four times as many directories as the cache holds, written and read
	// in turns by concurrent readers.
	const dirs = 256
	for i := range dirs {
		if err := s.Put(ctx, fmt.Sprintf("d%d/e/k", i), strings.NewReader(fmt.Sprint(i)), -1); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range dirs {
				k := fmt.Sprintf("d%d/e/k", (i*7+g)%dirs)
				o, err := s.Open(ctx, k)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(o)
				o.Close()
				if want := fmt.Sprint((i*7 + g) % dirs); err != nil || string(b) != want {
					t.Errorf("%s = %q, %v; want %q", k, b, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestPutLeavesNoTempFiles(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "a/b", strings.NewReader("ok"), 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a/c", strings.NewReader("short"), 10); err == nil {
		t.Fatal("short body accepted")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(canceled, "a/d", strings.NewReader("x"), 1); err == nil {
		t.Fatal("canceled Put succeeded")
	}
	if left := tempFiles(t, s.Dir()); len(left) > 0 {
		t.Fatalf("temporary files left behind: %q", left)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "a", "b")); err != nil {
		t.Fatalf("object is not stored at its path: %v", err)
	}
}

// evictingReader fails after making the store evict every cached
// directory handle, the one of the Put reading it included.
type evictingReader struct {
	t *testing.T
	s *fileblob.Store
}

func (r evictingReader) Read(p []byte) (int, error) {
	// The cache holds 64 handles and evicts one at random when full: 400
	// new directories evict the reader's with a probability above 99%.
	for i := range 400 {
		if err := r.s.PutBatched(context.Background(), fmt.Sprintf("evict/%d/x", i), strings.NewReader("x"), 1); err != nil {
			r.t.Error(err)
		}
	}
	return 0, errors.New("body failed")
}

// TestFailedPutRemovesTempFileAfterEviction: a write that fails after the
// cache closed its directory handle still removes its temporary file.
func TestFailedPutRemovesTempFileAfterEviction(t *testing.T) {
	s := newStore(t)
	if err := s.Put(context.Background(), "a/b", evictingReader{t, s}, 10); err == nil {
		t.Fatal("failing body accepted")
	}
	if left := tempFiles(t, s.Dir()); len(left) > 0 {
		t.Fatalf("temporary files left behind: %q", left)
	}
}

func TestListSkipsTempFiles(t *testing.T) {
	s := newStore(t)
	if err := s.Put(context.Background(), "d/obj", strings.NewReader("1"), 1); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".ohi-tmp-crashed", "d/.ohi-tmp-crashed2"} {
		if err := os.WriteFile(filepath.Join(s.Dir(), p), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	s.List(context.Background(), "", func(oi ohi.ObjectInfo) error { got = append(got, oi.Key); return nil })
	if len(got) != 1 || got[0] != "d/obj" {
		t.Fatalf("List = %q", got)
	}
}

func TestObjectInterfaces(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "f", strings.NewReader("0123456789"), 10); err != nil {
		t.Fatal(err)
	}
	o, err := s.Open(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ra, ok := o.(io.ReaderAt)
	if !ok {
		t.Fatal("object is not an io.ReaderAt")
	}
	if _, ok := o.(io.Seeker); !ok {
		t.Fatal("object is not an io.Seeker")
	}
	if _, ok := o.(io.WriterTo); !ok {
		t.Fatal("object is not an io.WriterTo")
	}
	buf := make([]byte, 3)
	if _, err := ra.ReadAt(buf, 4); err != nil || string(buf) != "456" {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
}

func TestSymlinksStayInside(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(s.Dir(), "filelink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "dirlink")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, "filelink"); !errors.Is(err, ohi.ErrNotFound) {
		t.Errorf("Open through a symlink to a file outside: %v", err)
	}
	if o, err := s.Open(ctx, "dirlink/secret"); err == nil {
		o.Close()
		t.Errorf("Open through a symlinked directory reached a file outside the root")
	}
	if err := s.Put(ctx, "dirlink/new", strings.NewReader("x"), 1); err == nil {
		t.Errorf("Put through a symlinked directory succeeded")
	}
	if err := s.Delete(ctx, "dirlink/secret"); err != nil && !errors.Is(err, ohi.ErrNotFound) {
		t.Logf("Delete through a symlinked directory: %v", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("file outside the root was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Errorf("Put wrote a file outside the root")
	}
	var listed []string
	s.List(ctx, "", func(oi ohi.ObjectInfo) error { listed = append(listed, oi.Key); return nil })
	if len(listed) != 0 {
		t.Errorf("List reported symlinks: %q", listed)
	}
}

// TestOpenOnlyRegularFiles checks that Open reports a symbolic link to an
// object and a FIFO as not found, and returns at once for the FIFO.
func TestOpenOnlyRegularFiles(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "a/real", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(s.Dir(), "a", "alias")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(s.Dir(), "a", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, key := range []string{"a/alias", "a/fifo", "a"} {
			if o, err := s.Open(ctx, key); !errors.Is(err, ohi.ErrNotFound) {
				if err == nil {
					o.Close()
				}
				t.Errorf("Open(%q) = %v, want ErrNotFound", key, err)
			}
		}
		o, err := s.Open(ctx, "a/real")
		if err != nil {
			t.Errorf("Open(a/real): %v", err)
			return
		}
		defer o.Close()
		if b, err := io.ReadAll(o); err != nil || string(b) != "data" || o.Size() != 4 {
			t.Errorf("a/real: %q, size %d, %v", b, o.Size(), err)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Open blocked on a FIFO")
	}
}

func TestDeletePrunesEmptyDirectories(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, k := range []string{"a/b/c/obj", "a/keep"} {
		if err := s.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "a/b/c/obj"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "a", "b")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty directory a/b not pruned: %v", err)
	}
	if err := s.Delete(ctx, "a/keep"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty directory a not pruned: %v", err)
	}
	if _, err := os.Stat(s.Dir()); err != nil {
		t.Errorf("root removed: %v", err)
	}
}

func TestFileDirectoryCollision(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "a/b", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a", strings.NewReader("y"), 1); err == nil {
		t.Error("Put over a directory succeeded")
	}
	if err := s.Put(ctx, "a/b/c", strings.NewReader("z"), 1); err == nil {
		t.Error("Put below a file succeeded")
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete of a directory name: %v", err)
	}
	if o, err := s.Open(ctx, "a/b"); err != nil {
		t.Errorf("a/b lost: %v", err)
	} else {
		o.Close()
	}
}

func TestBuckets(t *testing.T) {
	root := t.TempDir()
	b := &fileblob.Buckets{Root: root}
	t.Cleanup(func() { b.Close() })
	for _, name := range []string{"", "ab", strings.Repeat("a", 64), "Upper", "a_b", "-ab", "ab-", ".ab", "ab.", "a..b", "a/b", "..", "192.168.1.2", "a b"} {
		if _, err := b.Bucket(name); !errors.Is(err, ohi.ErrInvalidKey) {
			t.Errorf("Bucket(%q) error = %v, want ErrInvalidKey", name, err)
		}
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 0 {
		t.Fatalf("invalid names created directories: %v", entries)
	}
	for _, name := range []string{"abc", "my-bucket.v2", strings.Repeat("a", 63), "123", "1.2.3"} {
		if _, err := b.Bucket(name); err != nil {
			t.Errorf("Bucket(%q): %v", name, err)
		}
	}
	s, err := b.Bucket("dicom-in")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "study/1.dcm", bytes.NewReader([]byte("DICM")), 4); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "dicom-in", "study", "1.dcm"))
	if err != nil || string(got) != "DICM" {
		t.Fatalf("s3://dicom-in/study/1.dcm is not at <root>/dicom-in/study/1.dcm: %q, %v", got, err)
	}
	again, _ := b.Bucket("dicom-in")
	if again != s {
		t.Error("Bucket returned a different store for the same name")
	}
}

func TestRemoveTemp(t *testing.T) {
	dir := t.TempDir()
	s, err := fileblob.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Put(ctx, "job/frames/a", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "job", "frames", ".ohi-tmp-crashed")
	if err := os.WriteFile(stale, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveTemp(ctx, "job/frames/"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("temporary file still there: %v", err)
	}
	if _, err := s.Stat(ctx, "job/frames/a"); err != nil {
		t.Fatalf("RemoveTemp removed an object: %v", err)
	}
	if err := s.RemoveTemp(ctx, "../x"); err == nil {
		t.Fatal("RemoveTemp accepted a path outside the store")
	}
}

// TestPutAfterDirectoryRemoved checks Put's directory handle cache: a
// directory removed after a Put (by Delete's pruning, or from outside)
// is created again by the next Put, and concurrent Puts and Deletes in the
// same directories all land.
func TestPutAfterDirectoryRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := fileblob.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(key, body string) {
		t.Helper()
		if err := s.Put(ctx, key, strings.NewReader(body), int64(len(body))); err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
	}
	put("a/b/one", "1")
	if err := s.Delete(ctx, "a/b/one"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Fatalf("a/ was not pruned: %v", err)
	}
	put("a/b/two", "2")
	put("c/d/three", "3")
	if err := os.RemoveAll(filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	put("c/d/four", "4")
	for key, want := range map[string]string{"a/b/two": "2", "c/d/four": "4"} {
		if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key))); err != nil || string(b) != want {
			t.Fatalf("%s: %q, %v", key, b, err)
		}
	}

	// More directories than the cache holds, written and emptied
	// concurrently.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				key := fmt.Sprintf("d%d/k%d", (g*100+i)%97, g)
				body := fmt.Sprint(i)
				if err := s.Put(ctx, key, strings.NewReader(body), int64(len(body))); err != nil {
					errs <- err
					return
				}
				if i%3 == 1 {
					if err := s.Delete(ctx, key); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Each goroutine's last write (i = 99, not deleted) is in place.
	for g := range 8 {
		key := fmt.Sprintf("d%d/k%d", (g*100+99)%97, g)
		if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key))); err != nil || string(b) != "99" {
			t.Fatalf("%s: %q, %v", key, b, err)
		}
	}
}
