// Package s3blob implements ohi.BlobStore on Amazon S3 or an S3-compatible
// service, through the AWS SDK for Go v2.
//
// Objects are streamed: Put buffers at most one part (16 MiB, or more for
// objects so large that 10,000 parts would not hold them) and uses a
// multipart upload for large or unknown-size bodies; Open streams GetObject.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/blob/fileblob"
)

const (
	// DefaultPartSize is the multipart upload part size, and the largest
	// object that Put uploads with a single PutObject.
	DefaultPartSize = 16 << 20
	maxParts        = 10000
	maxKeyLen       = 1024 // bytes, as in S3
	abortTimeout    = 30 * time.Second
)

// Store is an ohi.BlobStore on one S3 bucket, optionally below a key
// prefix. It is safe for concurrent use.
type Store struct {
	client   *s3.Client
	bucket   string
	prefix   string
	partSize int64
	pageSize int32 // ListObjectsV2 MaxKeys; 0 leaves the server default
}

var _ ohi.BlobStore = (*Store)(nil)

// New returns a store for the objects in bucket whose keys start with
// prefix. prefix is prepended verbatim to every key (so it normally ends in
// "/") and stripped from listed keys.
func New(client *s3.Client, bucket, prefix string) *Store {
	return &Store{client: client, bucket: bucket, prefix: prefix, partSize: DefaultPartSize}
}

// NewClient returns an S3 client configured from the standard AWS chain
// (environment, shared config and credentials files, instance roles). A
// non-empty endpoint replaces the AWS endpoint and selects path-style
// addressing, as S3-compatible services require; a non-empty region
// overrides the configured one, and "us-east-1" is used when none is
// configured at all.
func NewClient(ctx context.Context, endpoint, region string) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3blob: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	}), nil
}

// Buckets resolves bucket names to stores on one S3 client.
type Buckets struct {
	Client *s3.Client
}

var _ ohi.Buckets = Buckets{}

// Bucket returns the store for the named bucket. It returns an error
// wrapping ohi.ErrInvalidKey when name is not a valid S3 bucket name.
func (b Buckets) Bucket(name string) (ohi.BlobStore, error) {
	if err := fileblob.CheckBucketName(name); err != nil {
		return nil, err
	}
	return New(b.Client, name, ""), nil
}

func (s *Store) checkKey(key string) error {
	reason := ""
	switch {
	case key == "":
		reason = "empty key"
	case len(s.prefix)+len(key) > maxKeyLen:
		reason = fmt.Sprintf("longer than %d bytes with the store's prefix", maxKeyLen)
	case !utf8.ValidString(key):
		reason = "not valid UTF-8"
	case strings.IndexByte(key, 0) >= 0:
		reason = "contains a NUL byte"
	default:
		return nil
	}
	if len(key) > 128 {
		key = key[:128] + "…"
	}
	return fmt.Errorf("s3blob: %w %q: %s", ohi.ErrInvalidKey, key, reason)
}

// isNotFound reports whether err is S3's answer for a missing object or
// bucket.
func isNotFound(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == 404
}

func (s *Store) wrap(op, key string, err error) error {
	if isNotFound(err) {
		return &ohi.Error{Kind: ohi.ErrNotFound, Message: fmt.Sprintf("object %q not found in bucket %q: %v", key, s.bucket, err)}
	}
	return fmt.Errorf("s3blob: %s s3://%s/%s%s: %w", op, s.bucket, s.prefix, key, err)
}

// Put stores r under key. Bodies of known size up to the part size go up
// with one PutObject; larger or unknown-size bodies use a multipart upload,
// which S3 makes visible only when it completes.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	partSize := s.partSize
	if size >= 0 && size <= partSize {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return s.wrap("put", key, fmt.Errorf("reading body of declared size %d: %w", size, err))
		}
		if err := expectEOF(r, size); err != nil {
			return s.wrap("put", key, err)
		}
		return s.putObject(ctx, key, buf)
	}
	if size > 0 {
		// Keep within S3's 10,000-part limit.
		partSize = max(partSize, (size+maxParts-1)/maxParts)
		r = io.LimitReader(r, size+1) // one extra byte detects a long body
	}
	buf := make([]byte, partSize)
	n, err := io.ReadFull(r, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		// An unknown-size body that fits in one part.
		return s.putObject(ctx, key, buf[:n])
	}
	if err != nil {
		return s.wrap("put", key, err)
	}
	return s.multipart(ctx, key, r, buf, size)
}

// expectEOF checks that r has no more data after size bytes.
func expectEOF(r io.Reader, size int64) error {
	var extra [1]byte
	n, err := io.ReadFull(r, extra[:])
	if n > 0 {
		return fmt.Errorf("body is longer than the declared %d bytes", size)
	}
	if err != io.EOF {
		return err
	}
	return nil
}

func (s *Store) putObject(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + key),
		Body:          bytes.NewReader(data), // seekable: the SDK hashes it over plain HTTP
		ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// multipart uploads buf (a full first part) and the rest of r. size is the
// declared size or -1.
func (s *Store) multipart(ctx context.Context, key string, r io.Reader, buf []byte, size int64) (err error) {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(s.prefix + key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return s.wrap("put", key, err)
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
			defer cancel()
			s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
				Bucket:   aws.String(s.bucket),
				Key:      aws.String(s.prefix + key),
				UploadId: created.UploadId,
			})
		}
	}()
	var (
		parts []types.CompletedPart
		total int64
		n     = len(buf)
		last  bool
	)
	for num := int32(1); ; num++ {
		if num > maxParts {
			return s.wrap("put", key, fmt.Errorf("body needs more than %d parts of %d bytes", maxParts, len(buf)))
		}
		if size >= 0 && total+int64(n) > size {
			return s.wrap("put", key, fmt.Errorf("body is longer than the declared %d bytes", size))
		}
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(s.bucket),
			Key:               aws.String(s.prefix + key),
			UploadId:          created.UploadId,
			PartNumber:        aws.Int32(num),
			Body:              bytes.NewReader(buf[:n]),
			ContentLength:     aws.Int64(int64(n)),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return s.wrap("put", key, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num), ChecksumCRC32: out.ChecksumCRC32})
		total += int64(n)
		if last {
			break
		}
		var rerr error
		n, rerr = io.ReadFull(r, buf)
		if rerr == io.EOF {
			break
		}
		if rerr == io.ErrUnexpectedEOF {
			last = true
		} else if rerr != nil {
			return s.wrap("put", key, rerr)
		}
	}
	if size >= 0 && total != size {
		return s.wrap("put", key, fmt.Errorf("body has %d bytes, want %d: %w", total, size, io.ErrUnexpectedEOF))
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(s.prefix + key),
		UploadId:        created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// object is an open GetObject response body.
type object struct {
	io.ReadCloser
	size int64
}

func (o *object) Size() int64 { return o.size }

// Open streams the object stored under key.
func (s *Store) Open(ctx context.Context, key string) (ohi.Object, error) {
	if err := s.checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return nil, s.wrap("open", key, err)
	}
	return &object{ReadCloser: out.Body, size: aws.ToInt64(out.ContentLength)}, nil
}

// Stat returns the object's size and modification time (HeadObject).
func (s *Store) Stat(ctx context.Context, key string) (ohi.ObjectInfo, error) {
	if err := s.checkKey(key); err != nil {
		return ohi.ObjectInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return ohi.ObjectInfo{}, s.wrap("stat", key, err)
	}
	return ohi.ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Delete removes the object stored under key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil && !isNotFound(err) {
		return s.wrap("delete", key, err)
	}
	return nil
}

// List calls fn for every object whose key starts with prefix, in S3's
// lexical (UTF-8 byte) order, paging through ListObjectsV2.
func (s *Store) List(ctx context.Context, prefix string, fn func(ohi.ObjectInfo) error) error {
	in := &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	}
	if s.pageSize > 0 {
		in.MaxKeys = aws.Int32(s.pageSize)
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3blob: list s3://%s/%s%s: %w", s.bucket, s.prefix, prefix, err)
		}
		for _, obj := range page.Contents {
			k, ok := strings.CutPrefix(aws.ToString(obj.Key), s.prefix)
			if !ok {
				continue
			}
			if err := fn(ohi.ObjectInfo{Key: k, Size: aws.ToInt64(obj.Size), ModTime: aws.ToTime(obj.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}
