// Package fileblob implements ohi.BlobStore on a local directory.
//
// Every key maps to the file of the same relative path under the store's
// root. Keys are validated (no "..", ".", empty segments, absolute paths,
// NUL bytes or backslashes) and all access goes through an os.Root, so no
// key, symbolic link or concurrent rename can reach a file outside the root.
//
// Writes are atomic and durable: Put writes a temporary file in the target
// directory, syncs it, renames it over the key and syncs the directory.
// PutBatched leaves the directory sync to a later SyncBatch, which one
// sync serves for many files.
// Because keys are file paths, a store cannot hold both "a" and "a/b".
package fileblob

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/openhealthimaging/ohi"
)

const (
	// tempPrefix starts the names of files being written. Keys with a
	// segment that starts with it are invalid, and List skips such files.
	tempPrefix = ".ohi-tmp-"

	maxKeyLen     = 1024 // bytes, as in S3
	maxSegmentLen = 255  // bytes, NAME_MAX on common file systems

	dirPerm  = 0o750
	filePerm = 0o640
)

// Store is an ohi.BlobStore on a local directory. It is safe for
// concurrent use.
type Store struct {
	root *os.Root

	// dirs caches handles on the directories Put writes to, so that a
	// write resolves its directory once rather than component by
	// component on every call (imports put thousands of frames into one
	// directory). Delete may remove a cached directory: operations in it
	// then fail with ENOENT and Put drops the handle and resolves again.
	mu   sync.Mutex
	dirs map[string]*os.Root
}

// maxCachedDirs bounds Store.dirs; when it is full, adding a directory
// drops another.
const maxCachedDirs = 64

var _ ohi.BlobStore = (*Store)(nil)

// New returns a store rooted at dir, creating the directory if needed.
// Close releases it.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("fileblob: create root: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("fileblob: open root: %w", err)
	}
	return &Store{root: r}, nil
}

// Dir returns the store's root directory.
func (s *Store) Dir() string { return s.root.Name() }

// Close releases the store's handles on its directories.
func (s *Store) Close() error {
	s.mu.Lock()
	for _, r := range s.dirs {
		r.Close()
	}
	s.dirs = nil
	s.mu.Unlock()
	return s.root.Close()
}

// dir returns a handle on directory dir (a valid key prefix, or "."),
// creating the directory if needed.
func (s *Store) dir(dir string) (*os.Root, error) {
	if dir == "." {
		return s.root, nil
	}
	if r := s.cachedDir(dir); r != nil {
		return r, nil
	}
	if err := s.root.MkdirAll(dir, dirPerm); err != nil {
		return nil, err
	}
	r, err := s.root.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return s.cacheDir(dir, r), nil
}

// existingDir is dir without creating the directory: a missing one gives
// an error isNotFound accepts. cached reports whether the handle came from
// the cache, and so may be stale.
func (s *Store) existingDir(dir string) (r *os.Root, cached bool, err error) {
	if dir == "." {
		return s.root, false, nil
	}
	if r := s.cachedDir(dir); r != nil {
		return r, true, nil
	}
	if r, err = s.root.OpenRoot(dir); err != nil {
		// os.Root reports a file where a directory is expected with an
		// error of its own rather than ENOTDIR.
		if fi, serr := s.root.Stat(dir); serr == nil && !fi.IsDir() {
			err = &fs.PathError{Op: "open", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil, false, err
	}
	return s.cacheDir(dir, r), false, nil
}

func (s *Store) cachedDir(dir string) *os.Root {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirs[dir]
}

// cacheDir adds the handle r on dir to the cache and returns the cached
// handle (an earlier one, if another call cached dir meanwhile).
func (s *Store) cacheDir(dir string, r *os.Root) *os.Root {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.dirs[dir]; old != nil {
		r.Close()
		return old
	}
	if s.dirs == nil {
		s.dirs = map[string]*os.Root{}
	}
	if len(s.dirs) >= maxCachedDirs {
		// One entry makes room. An os.Root counts the operations in
		// flight, so closing one that another call still uses is safe:
		// its next operation fails with ErrClosed and that call resolves
		// the directory again.
		for k, old := range s.dirs {
			old.Close()
			delete(s.dirs, k)
			break
		}
	}
	s.dirs[dir] = r
	return r
}

// inDir runs fn on the handle of key's directory and key's last segment,
// for a valid key; a missing directory gives an error isNotFound accepts.
// A handle that another call closed meanwhile (to make room in the cache),
// or a cached one whose directory was removed, is replaced and fn runs
// again; after a few attempts fn runs on the root and the whole key.
func (s *Store) inDir(key string, fn func(d *os.Root, name string) error) error {
	dir, base := path.Split(key)
	dir = path.Clean(dir)
	for attempt := 0; attempt < 3; attempt++ {
		d, cached, err := s.existingDir(dir)
		if err != nil {
			return err
		}
		err = fn(d, base)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, os.ErrClosed):
		case cached && isStale(err):
			s.forgetDir(dir, d)
		default:
			return err
		}
	}
	return fn(s.root, key)
}

// forgetDir drops the cached handle r on dir after an operation through it
// failed (the directory was removed, or the handle closed).
func (s *Store) forgetDir(dir string, r *os.Root) {
	if r == s.root {
		return
	}
	s.mu.Lock()
	if s.dirs[dir] == r {
		delete(s.dirs, dir)
		r.Close()
	}
	s.mu.Unlock()
}

// isStale reports whether err comes from a directory handle that no longer
// leads to the directory: removed (ENOENT) or closed by the cache.
func isStale(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrClosed)
}

// Object is an open stored file. It embeds *os.File, so it implements
// io.ReaderAt, io.Seeker and io.WriterTo (which lets net/http and io.Copy
// use sendfile).
type Object struct {
	*os.File
	size int64
}

// Size returns the object's length in bytes.
func (o *Object) Size() int64 { return o.size }

func invalidKey(key, reason string) error {
	if len(key) > 128 {
		key = key[:128] + "…"
	}
	return fmt.Errorf("fileblob: %w %q: %s", ohi.ErrInvalidKey, key, reason)
}

// checkKey reports whether key can be stored as a file under the root.
func checkKey(key string) error {
	switch {
	case key == "":
		return invalidKey(key, "empty key")
	case len(key) > maxKeyLen:
		return invalidKey(key, fmt.Sprintf("longer than %d bytes", maxKeyLen))
	case !utf8.ValidString(key):
		return invalidKey(key, "not valid UTF-8")
	case strings.IndexByte(key, 0) >= 0:
		return invalidKey(key, "contains a NUL byte")
	case strings.IndexByte(key, '\\') >= 0:
		return invalidKey(key, "contains a backslash")
	case key[0] == '/':
		return invalidKey(key, "absolute path")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if reason := checkSegment(seg); reason != "" {
			return invalidKey(key, reason)
		}
	}
	return nil
}

// checkSegment returns why seg cannot be a path segment, or "".
func checkSegment(seg string) string {
	switch {
	case seg == "":
		return "empty path segment"
	case seg == "." || seg == "..":
		return "'.' or '..' path segment"
	case strings.HasPrefix(seg, tempPrefix):
		return "path segment starts with the reserved prefix " + tempPrefix
	case len(seg) > maxSegmentLen:
		return fmt.Sprintf("path segment longer than %d bytes", maxSegmentLen)
	}
	return ""
}

// isNotFound reports whether err means that name, or one of its parent
// directories, does not exist (a parent that is a file gives ENOTDIR).
func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func notFound(key string) error {
	return ohi.NotFoundf("object %q not found", key)
}

// Put stores r under key, atomically replacing any existing object.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return s.put(ctx, key, r, size, true)
}

var _ ohi.BatchSyncer = (*Store)(nil)

// PutBatched is Put without the sync of the key's directory: the object is
// complete once it is visible, but a crash may lose it until SyncBatch has
// synced its directory.
func (s *Store) PutBatched(ctx context.Context, key string, r io.Reader, size int64) error {
	return s.put(ctx, key, r, size, false)
}

// SyncBatch syncs the directory that prefix names (a key prefix ending in
// "/", or "" for the root), which makes the objects PutBatched renamed into
// it durable. A directory that does not exist is not an error.
func (s *Store) SyncBatch(ctx context.Context, prefix string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := "."
	if prefix != "" {
		if !strings.HasSuffix(prefix, "/") {
			return invalidKey(prefix, "a batch prefix ends with '/'")
		}
		dir = strings.TrimSuffix(prefix, "/")
		if err := checkKey(dir); err != nil {
			return err
		}
	}
	if err := s.syncDir(dir); err != nil && !isNotFound(err) {
		return fmt.Errorf("fileblob: sync %q: %w", prefix, err)
	}
	return nil
}

// put is Put, and PutBatched when syncParent is false.
func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64, syncParent bool) error {
	if err := checkKey(key); err != nil {
		return err
	}
	dir, base := path.Split(key)
	dir = path.Clean(dir)
	d, f, tmp, err := s.createTemp(dir)
	if err != nil {
		return fmt.Errorf("fileblob: put %q: %w", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			// The cache may have closed d meanwhile: the temporary file
			// must not outlive the failed write all the same.
			if err := d.Remove(tmp); errors.Is(err, os.ErrClosed) {
				s.root.Remove(path.Join(dir, tmp))
			}
		}
	}()
	if err := copyBody(ctx, f, r, size); err != nil {
		return fmt.Errorf("fileblob: put %q: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fileblob: put %q: sync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fileblob: put %q: close: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fileblob: put %q: %w", key, err)
	}
	if err := d.Rename(tmp, base); err != nil {
		// The handle may have been closed by the cache meanwhile; the
		// directory itself cannot have gone, as it holds the file.
		if !errors.Is(err, os.ErrClosed) {
			return fmt.Errorf("fileblob: put %q: %w", key, err)
		}
		if err := s.root.Rename(path.Join(dir, tmp), key); err != nil {
			return fmt.Errorf("fileblob: put %q: %w", key, err)
		}
	}
	committed = true
	if !syncParent {
		return nil
	}
	if err := s.syncDir(dir); err != nil {
		return fmt.Errorf("fileblob: put %q: sync directory: %w", key, err)
	}
	return nil
}

// createTemp creates a new temporary file in dir, creating dir first, and
// returns the handle on dir and the file's name in it. A concurrent Delete
// may prune dir between the two steps (ENOENT), so it retries a few times.
func (s *Store) createTemp(dir string) (*os.Root, *os.File, string, error) {
	var err error
	for range 5 {
		var d *os.Root
		if d, err = s.dir(dir); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, nil, "", err
		}
		var rnd [12]byte
		rand.Read(rnd[:])
		name := tempPrefix + hex.EncodeToString(rnd[:])
		var f *os.File
		f, err = d.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if err == nil {
			return d, f, name, nil
		}
		if !isStale(err) {
			return nil, nil, "", err
		}
		s.forgetDir(dir, d)
	}
	return nil, nil, "", err
}

// copyBufs recycles copyBody's buffers: every streamed Put would allocate
// one otherwise.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// copyBody copies r to w, checking ctx between reads. With size >= 0 the
// body must be exactly size bytes long. A body already in memory (a
// *bytes.Reader of that size) is written in one call.
func copyBody(ctx context.Context, w io.Writer, r io.Reader, size int64) error {
	if br, ok := r.(*bytes.Reader); ok && size >= 0 && int64(br.Len()) == size {
		_, err := br.WriteTo(w)
		return err
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	// The writer is wrapped so that io.CopyBuffer uses the pooled buffer
	// rather than w's ReadFrom, which would allocate its own (its
	// zero-copy paths never apply to a ctxReader).
	w = struct{ io.Writer }{w}
	cr := &ctxReader{ctx: ctx, r: r}
	if size < 0 {
		_, err := io.CopyBuffer(w, cr, *bp)
		return err
	}
	n, err := io.CopyBuffer(w, io.LimitReader(cr, size), *bp)
	if err != nil {
		return err
	}
	if n < size {
		return fmt.Errorf("body has %d bytes, want %d: %w", n, size, io.ErrUnexpectedEOF)
	}
	var extra [1]byte
	if m, err := io.ReadFull(cr, extra[:]); m > 0 {
		return fmt.Errorf("body is longer than the declared %d bytes", size)
	} else if err != nil && err != io.EOF {
		return err
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// syncDir syncs directory dir (a valid key prefix without its final "/",
// or "."). It does not create it: a missing directory gives an error
// isNotFound accepts.
func (s *Store) syncDir(dir string) error {
	r := s.cachedDir(dir)
	if dir == "." {
		r = s.root
	}
	if r != nil {
		if d, err := r.Open("."); err == nil {
			defer d.Close()
			return d.Sync()
		}
	}
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lstat returns the regular file stored under key.
func (s *Store) lstat(key string) (fs.FileInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	var fi fs.FileInfo
	err := s.inDir(key, func(d *os.Root, base string) (err error) {
		fi, err = d.Lstat(base)
		return err
	})
	if isNotFound(err) || err == nil && !fi.Mode().IsRegular() {
		return nil, notFound(key)
	}
	if err != nil {
		return nil, fmt.Errorf("fileblob: stat %q: %w", key, err)
	}
	return fi, nil
}

// Open returns the object stored under key. Symbolic links are not
// followed: a key that names one is reported as not found.
func (s *Store) Open(ctx context.Context, key string) (ohi.Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	var obj *Object
	err := s.inDir(key, func(d *os.Root, base string) error {
		fi, err := d.Lstat(base)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fs.ErrNotExist
		}
		f, err := d.Open(base)
		if err != nil {
			return err
		}
		// The name may have changed between the two calls: what was
		// opened must still be a regular file.
		if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
			f.Close()
			return cmp.Or(err, fs.ErrNotExist)
		}
		obj = &Object{File: f, size: fi.Size()}
		return nil
	})
	if isNotFound(err) {
		return nil, notFound(key)
	}
	if err != nil {
		return nil, fmt.Errorf("fileblob: open %q: %w", key, err)
	}
	return obj, nil
}

// Stat returns information about the object stored under key.
func (s *Store) Stat(ctx context.Context, key string) (ohi.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ohi.ObjectInfo{}, err
	}
	fi, err := s.lstat(key)
	if err != nil {
		return ohi.ObjectInfo{}, err
	}
	return ohi.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the object stored under key, then removes the parent
// directories that became empty (never the root). A missing key is not an
// error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.lstat(key); err != nil {
		if errors.Is(err, ohi.ErrNotFound) {
			return nil
		}
		return err
	}
	if err := s.root.Remove(key); err != nil && !isNotFound(err) {
		return fmt.Errorf("fileblob: delete %q: %w", key, err)
	}
	// Prune empty parents; Remove fails on a non-empty directory, which
	// ends the walk.
	for dir := path.Dir(key); dir != "."; dir = path.Dir(dir) {
		if s.root.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// List calls fn for every object whose key starts with prefix, in lexical
// key order. The prefix is a plain string prefix: "stu" matches
// "study/a.dcm". Temporary files and symbolic links are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(ohi.ObjectInfo) error) error {
	dir, namePrefix := ".", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir, namePrefix = prefix[:i], prefix[i+1:]
		if checkKey(dir) != nil {
			return nil // no valid key starts with this prefix
		}
	}
	return s.walk(ctx, dir, namePrefix, fn)
}

// walk lists the objects in dir (recursively) whose name in dir starts with
// namePrefix.
func (s *Store) walk(ctx context.Context, dir, namePrefix string, fn func(ohi.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d, err := s.root.Open(dir)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fileblob: list %q: %w", dir, err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if errors.Is(err, syscall.ENOTDIR) {
		return nil // the prefix's directory part names a file
	}
	if err != nil {
		return fmt.Errorf("fileblob: list %q: %w", dir, err)
	}
	type entry struct {
		sortKey string
		e       fs.DirEntry
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, namePrefix) || checkSegment(name) != "" {
			continue
		}
		switch {
		case e.IsDir():
			// Every key below name starts with name+"/", so sorting the
			// directory as name+"/" puts its keys in lexical order
			// relative to its siblings ("a-b" < "a/c").
			list = append(list, entry{name + "/", e})
		case e.Type().IsRegular():
			list = append(list, entry{name, e})
		}
	}
	slices.SortFunc(list, func(a, b entry) int { return cmp.Compare(a.sortKey, b.sortKey) })
	for _, it := range list {
		key := it.e.Name()
		if dir != "." {
			key = dir + "/" + key
		}
		if it.e.IsDir() {
			if err := s.walk(ctx, key, "", fn); err != nil {
				return err
			}
			continue
		}
		fi, err := s.root.Lstat(key)
		if isNotFound(err) || err == nil && !fi.Mode().IsRegular() {
			continue // deleted or replaced since ReadDir
		}
		if err != nil {
			return fmt.Errorf("fileblob: list %q: %w", key, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(ohi.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// RemoveTemp removes the temporary files that writes interrupted by a crash
// left in the directory dir (a key prefix naming a directory, without a
// trailing slash), not recursing. The caller guarantees that no write into
// dir is in progress. It implements ohi.TempRemover.
func (s *Store) RemoveTemp(ctx context.Context, dir string) error {
	dir = strings.TrimSuffix(dir, "/")
	if err := checkKey(dir); err != nil {
		return err
	}
	d, err := s.root.Open(dir)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), tempPrefix) && e.Type().IsRegular() {
			if err := s.root.Remove(dir + "/" + e.Name()); err != nil && !isNotFound(err) {
				return err
			}
		}
	}
	return nil
}

var _ ohi.TempRemover = (*Store)(nil)
