// Package storetest is a conformance suite for ohi.BlobStore
// implementations. Every backend's tests call BlobStore with a constructor
// for empty stores; backends that map keys to file paths also call
// FileSystemKeys.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi"
)

// BlobStore runs the conformance suite. newStore must return a new, empty
// store for each call; it registers its own cleanup with t.
func BlobStore(t *testing.T, newStore func(t *testing.T) ohi.BlobStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s ohi.BlobStore)
	}{
		{"PutOpen", testPutOpen},
		{"ZeroLength", testZeroLength},
		{"UnknownSize", testUnknownSize},
		{"Overwrite", testOverwrite},
		{"OpenDuringOverwrite", testOpenDuringOverwrite},
		{"Stat", testStat},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"ListOrderAndPrefix", testList},
		{"ListStopsOnError", testListStops},
		{"SizeMismatch", testSizeMismatch},
		{"CanceledPut", testCanceledPut},
		{"ConcurrentPut", testConcurrentPut},
		{"Large", testLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

func put(t *testing.T, s ohi.BlobStore, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// Read returns the object under key and checks that Size agrees with it;
// it stops the test on any error.
func Read(t *testing.T, s ohi.BlobStore, key string) []byte {
	t.Helper()
	o, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	if o.Size() != int64(len(b)) {
		t.Fatalf("Open(%q).Size() = %d, read %d bytes", key, o.Size(), len(b))
	}
	return b
}

func list(t *testing.T, s ohi.BlobStore, prefix string) []ohi.ObjectInfo {
	t.Helper()
	var got []ohi.ObjectInfo
	if err := s.List(context.Background(), prefix, func(oi ohi.ObjectInfo) error {
		got = append(got, oi)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return got
}

func keys(infos []ohi.ObjectInfo) []string {
	ks := make([]string, len(infos))
	for i, oi := range infos {
		ks[i] = oi.Key
	}
	return ks
}

func testPutOpen(t *testing.T, s ohi.BlobStore) {
	data := []byte("hello, DICOM")
	put(t, s, "study/series/instance.dcm", data)
	if got := Read(t, s, "study/series/instance.dcm"); !bytes.Equal(got, data) {
		t.Fatalf("read %q, want %q", got, data)
	}
}

func testZeroLength(t *testing.T, s ohi.BlobStore) {
	put(t, s, "empty", nil)
	if err := s.Put(context.Background(), "empty-unknown", onlyReader{bytes.NewReader(nil)}, -1); err != nil {
		t.Fatalf("Put unknown size: %v", err)
	}
	for _, k := range []string{"empty", "empty-unknown"} {
		if got := Read(t, s, k); len(got) != 0 {
			t.Errorf("%s: read %d bytes", k, len(got))
		}
		oi, err := s.Stat(context.Background(), k)
		if err != nil || oi.Size != 0 || oi.Key != k {
			t.Errorf("Stat(%q) = %+v, %v", k, oi, err)
		}
	}
}

// onlyReader hides every method but Read (Seek, WriteTo, Len…).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func testUnknownSize(t *testing.T, s ohi.BlobStore) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	if err := s.Put(context.Background(), "unknown", onlyReader{bytes.NewReader(data)}, -1); err != nil {
		t.Fatal(err)
	}
	if got := Read(t, s, "unknown"); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, want %d", len(got), len(data))
	}
}

func testOverwrite(t *testing.T, s ohi.BlobStore) {
	put(t, s, "k", []byte("first"))
	put(t, s, "k", []byte("the second version"))
	if got := string(Read(t, s, "k")); got != "the second version" {
		t.Fatalf("read %q", got)
	}
	oi, err := s.Stat(context.Background(), "k")
	if err != nil || oi.Size != int64(len("the second version")) {
		t.Fatalf("Stat = %+v, %v", oi, err)
	}
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("List = %q", got)
	}
}

func testOpenDuringOverwrite(t *testing.T, s ohi.BlobStore) {
	ctx := context.Background()
	put(t, s, "k", []byte("old contents"))
	o, err := s.Open(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	put(t, s, "k", []byte("new contents, longer"))
	b, err := io.ReadAll(o)
	if err != nil || string(b) != "old contents" {
		t.Fatalf("open object read %q, %v after overwrite", b, err)
	}
}

func testStat(t *testing.T, s ohi.BlobStore) {
	before := time.Now().Add(-time.Hour)
	put(t, s, "dir/obj", []byte("12345"))
	oi, err := s.Stat(context.Background(), "dir/obj")
	if err != nil {
		t.Fatal(err)
	}
	if oi.Key != "dir/obj" || oi.Size != 5 || oi.ModTime.Before(before) || oi.ModTime.After(time.Now().Add(time.Hour)) {
		t.Fatalf("Stat = %+v", oi)
	}
}

func testNotFound(t *testing.T, s ohi.BlobStore) {
	ctx := context.Background()
	put(t, s, "a/b", []byte("x"))
	for _, k := range []string{"missing", "a", "a/b/c", "a/bb", "b/a"} {
		if o, err := s.Open(ctx, k); !errors.Is(err, ohi.ErrNotFound) {
			if o != nil {
				o.Close()
			}
			t.Errorf("Open(%q) error = %v, want ErrNotFound", k, err)
		}
		if _, err := s.Stat(ctx, k); !errors.Is(err, ohi.ErrNotFound) {
			t.Errorf("Stat(%q) error = %v, want ErrNotFound", k, err)
		}
		if err := s.Delete(ctx, k); err != nil {
			t.Errorf("Delete(%q) of a missing key: %v", k, err)
		}
	}
	if got := string(Read(t, s, "a/b")); got != "x" {
		t.Fatalf("a/b damaged: %q", got)
	}
}

func testDelete(t *testing.T, s ohi.BlobStore) {
	ctx := context.Background()
	put(t, s, "x/y/z", []byte("1"))
	put(t, s, "x/w", []byte("2"))
	if err := s.Delete(ctx, "x/y/z"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, "x/y/z"); !errors.Is(err, ohi.ErrNotFound) {
		t.Fatalf("Open after Delete: %v", err)
	}
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"x/w"}) {
		t.Fatalf("List after Delete = %q", got)
	}
	if err := s.Delete(ctx, "x/w"); err != nil {
		t.Fatal(err)
	}
	if got := list(t, s, ""); len(got) != 0 {
		t.Fatalf("List after deleting everything = %v", got)
	}
	// The same keys can be written again after their directories went away.
	put(t, s, "x/y/z", []byte("3"))
	if got := string(Read(t, s, "x/y/z")); got != "3" {
		t.Fatalf("read %q", got)
	}
}

func testList(t *testing.T, s ohi.BlobStore) {
	all := []string{
		"a-c", "a/b", "a/c/d", "a0", "b", "stu", "study/1/x.dcm", "study/10/y",
		"study/2/z", "études/1", "A", "a.b/c", "a_b",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := slices.Clone(all)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i, k := range shuffled {
		put(t, s, k, bytes.Repeat([]byte{'x'}, i))
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)

	infos := list(t, s, "")
	if got := keys(infos); !slices.Equal(got, sorted) {
		t.Fatalf("List(\"\") =\n%q\nwant\n%q", got, sorted)
	}
	for _, oi := range infos {
		if want := int64(slices.Index(shuffled, oi.Key)); oi.Size != want {
			t.Errorf("List: %s has size %d, want %d", oi.Key, oi.Size, want)
		}
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"stu", []string{"stu", "study/1/x.dcm", "study/10/y", "study/2/z"}},
		{"study/", []string{"study/1/x.dcm", "study/10/y", "study/2/z"}},
		{"study/1", []string{"study/1/x.dcm", "study/10/y"}},
		{"study/1/", []string{"study/1/x.dcm"}},
		{"study/1/x.dcm", []string{"study/1/x.dcm"}},
		{"study/1/x.dcmz", nil},
		{"a", []string{"a-c", "a.b/c", "a/b", "a/c/d", "a0", "a_b"}},
		{"a/", []string{"a/b", "a/c/d"}},
		{"a/c", []string{"a/c/d"}},
		{"é", []string{"études/1"}},
		{"b", []string{"b"}},
		{"b/", nil},
		{"zzz", nil},
		{"/", nil},
		{"../", nil},
		{"a//", nil},
	} {
		if got := keys(list(t, s, tc.prefix)); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func testListStops(t *testing.T, s ohi.BlobStore) {
	for _, k := range []string{"1", "2", "3", "4"} {
		put(t, s, k, []byte(k))
	}
	stop := errors.New("stop")
	var calls int
	err := s.List(context.Background(), "", func(ohi.ObjectInfo) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("List returned %v after %d calls, want the callback's error after 2", err, calls)
	}
}

func testSizeMismatch(t *testing.T, s ohi.BlobStore) {
	ctx := context.Background()
	if err := s.Put(ctx, "short", bytes.NewReader([]byte("12345")), 10); err == nil {
		t.Error("Put with a body shorter than size succeeded")
	}
	if err := s.Put(ctx, "long", bytes.NewReader([]byte("12345")), 3); err == nil {
		t.Error("Put with a body longer than size succeeded")
	}
	if got := list(t, s, ""); len(got) != 0 {
		t.Errorf("failed Puts left objects: %v", got)
	}
}

// failingReader yields n bytes, then fails.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("source failed")
	}
	m := min(len(p), f.n)
	clear(p[:m])
	f.n -= m
	return m, nil
}

func testCanceledPut(t *testing.T, s ohi.BlobStore) {
	put(t, s, "k", []byte("original"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "k", bytes.NewReader([]byte("replacement")), 11); err == nil {
		t.Error("Put with a canceled context succeeded")
	}
	if err := s.Put(context.Background(), "k", &failingReader{n: 1000}, -1); err == nil {
		t.Error("Put from a failing reader succeeded")
	}
	if got := string(Read(t, s, "k")); got != "original" {
		t.Fatalf("failed Puts changed the object to %q", got)
	}
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("failed Puts left %q", got)
	}
}

// testConcurrentPut writes one key from several goroutines while another
// reads it: every read must see one whole version.
func testConcurrentPut(t *testing.T, s ohi.BlobStore) {
	const writers, size = 6, 1 << 20
	ctx := context.Background()
	check := func(b []byte) error {
		if len(b) != size {
			return fmt.Errorf("object has %d bytes, want %d", len(b), size)
		}
		if i := bytes.IndexFunc(b, func(r rune) bool { return byte(r) != b[0] }); i >= 0 {
			return fmt.Errorf("object mixes versions %d and %d at offset %d", b[0], b[i], i)
		}
		return nil
	}
	done := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			o, err := s.Open(ctx, "same")
			if errors.Is(err, ohi.ErrNotFound) {
				time.Sleep(time.Millisecond)
				continue
			}
			if err != nil {
				readErr <- err
				return
			}
			b, err := io.ReadAll(o)
			o.Close()
			if err == nil {
				err = check(b)
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			data := bytes.Repeat([]byte{byte('A' + i)}, size)
			errs <- s.Put(ctx, "same", bytes.NewReader(data), size)
		})
	}
	wg.Wait()
	close(done)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Put: %v", err)
		}
	}
	if err := <-readErr; err != nil {
		t.Errorf("concurrent reader: %v", err)
	}
	if err := check(Read(t, s, "same")); err != nil {
		t.Fatal(err)
	}
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"same"}) {
		t.Fatalf("List = %q", got)
	}
}

// testLarge streams objects larger than 32 MiB, of known and unknown size,
// from a generator that never holds them in memory.
func testLarge(t *testing.T, s ohi.BlobStore) {
	if testing.Short() {
		t.Skip("large objects skipped in -short mode")
	}
	ctx := context.Background()
	for _, tc := range []struct {
		key  string
		size int64
		hide bool // pass size -1
	}{
		{"large/known", 33<<20 + 123, false},
		{"large/unknown", 35<<20 + 7, true},
	} {
		want := sha256.New()
		io.Copy(want, gen(tc.size))
		size := tc.size
		if tc.hide {
			size = -1
		}
		if err := s.Put(ctx, tc.key, onlyReader{gen(tc.size)}, size); err != nil {
			t.Fatalf("Put(%q): %v", tc.key, err)
		}
		o, err := s.Open(ctx, tc.key)
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.New()
		n, err := io.Copy(got, o)
		o.Close()
		if err != nil || n != tc.size || o.Size() != tc.size {
			t.Fatalf("%s: read %d bytes (Size %d), %v; want %d", tc.key, n, o.Size(), err, tc.size)
		}
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatalf("%s: contents differ", tc.key)
		}
	}
}

// gen returns a deterministic pseudo-random stream of n bytes.
func gen(n int64) io.Reader {
	var seed [32]byte
	seed[0] = byte(n)
	return io.LimitReader(rand.NewChaCha8(seed), n)
}

// FileSystemKeys checks that a store which maps keys to file paths rejects
// keys it cannot store safely with ohi.ErrInvalidKey, in every method, and
// that List never reports temporary files.
func FileSystemKeys(t *testing.T, newStore func(t *testing.T) ohi.BlobStore) {
	s := newStore(t)
	ctx := context.Background()
	invalid := []string{
		"", "/abs", "/", "a//b", "a/", "./a", "a/./b", "..", "../x", "a/../b", "a/..",
		"nul\x00byte", `back\slash`, "a/.ohi-tmp-123", ".ohi-tmp-x",
		string(bytes.Repeat([]byte("k"), 1025)), "\xff\xfe",
	}
	for _, k := range invalid {
		if err := s.Put(ctx, k, bytes.NewReader([]byte("x")), 1); !errors.Is(err, ohi.ErrInvalidKey) {
			t.Errorf("Put(%q) error = %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Open(ctx, k); !errors.Is(err, ohi.ErrInvalidKey) {
			t.Errorf("Open(%q) error = %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Stat(ctx, k); !errors.Is(err, ohi.ErrInvalidKey) {
			t.Errorf("Stat(%q) error = %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, ohi.ErrInvalidKey) {
			t.Errorf("Delete(%q) error = %v, want ErrInvalidKey", k, err)
		}
	}
	// Names that merely look unusual are fine.
	valid := []string{"..a", "a..", ".hidden", "a b", "ü/ñ", "x.ohi-tmp-", "-", "a:b"}
	for _, k := range valid {
		put(t, s, k, []byte(k))
		if got := string(Read(t, s, k)); got != k {
			t.Errorf("read(%q) = %q", k, got)
		}
	}
	want := slices.Clone(valid)
	slices.Sort(want)
	if got := keys(list(t, s, "")); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
}
