package ohi

import (
	"context"
	"io"
	"time"
)

// BlobStore is a flat namespace of immutable-by-convention objects addressed
// by slash-separated keys. It backs both the server's own storage area
// (frames, metadata documents) and the s3:// buckets that import jobs read
// from and write their output to.
//
// Keys are untrusted: implementations reject keys they cannot store safely
// with an error wrapping ErrInvalidKey (a file system store rejects "..",
// absolute paths, NUL bytes and empty segments) and never touch anything
// outside their root.
type BlobStore interface {
	// Put stores r under key, replacing any existing object. The write is
	// atomic: a concurrent or later Open sees either the old object or the
	// whole new one, never a partial write, also across a crash. size is the
	// number of bytes r yields, or -1 when unknown.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Open returns the object stored under key. It returns an error wrapping
	// ErrNotFound when there is none. The caller closes the object.
	Open(ctx context.Context, key string) (Object, error)
	// Stat returns the object's information, or an error wrapping
	// ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes the object under key. Deleting a missing key is not an
	// error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix (a plain
	// string prefix, as in S3 ListObjectsV2), in lexical key order. It stops
	// at and returns the first error fn returns.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
}

// Object is an open stored object. Implementations backed by local files
// also implement io.ReaderAt, io.Seeker and io.WriterTo so callers can read
// at random offsets and serve the bytes without copying them through memory.
type Object interface {
	io.ReadCloser
	// Size returns the object's length in bytes.
	Size() int64
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Buckets resolves S3 bucket names (as written in s3://BUCKET/KEY URIs) to
// blob stores. The embedded default maps a bucket to a directory under the
// data directory; with an S3 endpoint configured it maps to real buckets.
type Buckets interface {
	// Bucket returns the store for the named bucket. It returns an error
	// wrapping ErrInvalidKey for a name that is not a valid bucket name.
	Bucket(name string) (BlobStore, error)
}

// BatchSyncer is implemented by blob stores in which a batch of writes can
// share part of the work that makes each one durable (the file system
// store: one sync of a directory for all the files renamed into it, instead
// of one per file).
type BatchSyncer interface {
	// PutBatched is Put, except that a crash may lose the new object
	// (never leave part of it) until SyncBatch has returned for the
	// directory prefix of its key.
	PutBatched(ctx context.Context, key string, r io.Reader, size int64) error
	// SyncBatch makes durable every object that PutBatched stored directly
	// under prefix, a key prefix ending in "/" ("" for the top level). A
	// prefix under which nothing was stored is not an error.
	SyncBatch(ctx context.Context, prefix string) error
}

// TempRemover is implemented by blob stores whose interrupted writes can
// leave temporary files behind (the file system store). RemoveTemp removes
// them from the directory dir, where no write may be in progress.
type TempRemover interface {
	RemoveTemp(ctx context.Context, dir string) error
}
