package fileblob

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/openhealthimaging/ohi"
)

// Buckets maps S3 bucket names to stores in directories under Root: the
// object s3://BUCKET/KEY is the file Root/BUCKET/KEY. Use it by pointer;
// the zero value with Root set is ready to use. A bucket's directory is
// created the first time the bucket is resolved.
type Buckets struct {
	Root string

	mu     sync.Mutex
	stores map[string]*Store
}

var _ ohi.Buckets = (*Buckets)(nil)

// Bucket returns the store for the named bucket. It returns an error
// wrapping ohi.ErrInvalidKey when name is not a valid S3 bucket name.
func (b *Buckets) Bucket(name string) (ohi.BlobStore, error) {
	if err := CheckBucketName(name); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.stores[name]; ok {
		return s, nil
	}
	s, err := New(filepath.Join(b.Root, name))
	if err != nil {
		return nil, err
	}
	if b.stores == nil {
		b.stores = make(map[string]*Store)
	}
	b.stores[name] = s
	return s, nil
}

// Close closes every store that Bucket returned.
func (b *Buckets) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var first error
	for name, s := range b.stores {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
		delete(b.stores, name)
	}
	return first
}

// CheckBucketName returns an error wrapping ohi.ErrInvalidKey unless name
// follows the S3 bucket naming rules: 3 to 63 characters from [a-z0-9.-],
// starting and ending with a letter or digit, without "..", and not shaped
// like an IPv4 address.
func CheckBucketName(name string) error {
	bad := func(reason string) error {
		if len(name) > 80 {
			name = name[:80] + "…"
		}
		return fmt.Errorf("%w: invalid bucket name %q: %s", ohi.ErrInvalidKey, name, reason)
	}
	if len(name) < 3 || len(name) > 63 {
		return bad("must be 3 to 63 characters long")
	}
	digitsAndDots := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		switch {
		case alnum:
		case c == '.' || c == '-':
			if i == 0 || i == len(name)-1 {
				return bad("must start and end with a lower-case letter or digit")
			}
			if c == '.' && name[i-1] == '.' {
				return bad("must not contain \"..\"")
			}
		default:
			return bad("may contain only lower-case letters, digits, '.' and '-'")
		}
		if c != '.' && !('0' <= c && c <= '9') {
			digitsAndDots = false
		}
	}
	if digitsAndDots && strings.Count(name, ".") == 3 {
		return bad("must not be formatted as an IP address")
	}
	return nil
}
