package s3blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/blob/s3blob"
	"github.com/openhealthimaging/ohi/internal/s3test"
	"github.com/openhealthimaging/ohi/internal/storetest"
)

// TestS3 runs every S3 test against one moto_server.
func TestS3(t *testing.T) {
	srv := s3test.Start(t)
	client := srv.Client()
	ctx := context.Background()
	var n atomic.Int64
	newBucket := func(t *testing.T) string {
		name := fmt.Sprintf("ohi-test-%d", n.Add(1))
		srv.CreateBucket(t, name)
		return name
	}

	t.Run("Conformance", func(t *testing.T) {
		storetest.BlobStore(t, func(t *testing.T) ohi.BlobStore {
			return s3blob.New(client, newBucket(t), "")
		})
	})

	t.Run("ConformanceWithPrefix", func(t *testing.T) {
		storetest.BlobStore(t, func(t *testing.T) ohi.BlobStore {
			bucket := newBucket(t)
			// Objects outside the prefix must stay invisible.
			for _, k := range []string{"outside", "pfx", "pfx-other/x", "pf"} {
				if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
					t.Fatal(err)
				}
			}
			return s3blob.New(client, bucket, "pfx/")
		})
	})

	t.Run("PrefixMapsKeys", func(t *testing.T) {
		bucket := newBucket(t)
		s := s3blob.New(client, bucket, "data/")
		if err := s.Put(ctx, "a/b", strings.NewReader("hi"), 2); err != nil {
			t.Fatal(err)
		}
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("data/a/b")})
		if err != nil {
			t.Fatalf("object not stored under the prefix: %v", err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "hi" {
			t.Fatalf("got %q", b)
		}
	})

	t.Run("ListPaging", func(t *testing.T) {
		s := s3blob.New(client, newBucket(t), "")
		s.SetPageSize(3)
		var want []string
		for i := range 10 {
			k := fmt.Sprintf("k/%02d", i)
			want = append(want, k)
			if err := s.Put(ctx, k, strings.NewReader(k), int64(len(k))); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		if err := s.List(ctx, "k/", func(oi ohi.ObjectInfo) error { got = append(got, oi.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("List = %q, want %q", got, want)
		}
	})

	t.Run("FailedMultipartIsAborted", func(t *testing.T) {
		bucket := newBucket(t)
		s := s3blob.New(client, bucket, "")
		body := io.MultiReader(bytes.NewReader(make([]byte, 20<<20)), errReader{})
		if err := s.Put(ctx, "big", body, -1); err == nil {
			t.Fatal("Put from a failing reader succeeded")
		}
		ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		if len(ups.Uploads) != 0 {
			t.Fatalf("%d multipart uploads left open", len(ups.Uploads))
		}
		if _, err := s.Stat(ctx, "big"); !errors.Is(err, ohi.ErrNotFound) {
			t.Fatalf("Stat after failed Put: %v", err)
		}
	})

	t.Run("MissingBucket", func(t *testing.T) {
		s := s3blob.New(client, "no-such-bucket", "")
		if _, err := s.Open(ctx, "k"); !errors.Is(err, ohi.ErrNotFound) {
			t.Fatalf("Open in a missing bucket: %v", err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		s := s3blob.New(client, newBucket(t), "")
		for _, k := range []string{"", "nul\x00", "\xff", strings.Repeat("k", 1025)} {
			if err := s.Put(ctx, k, strings.NewReader("x"), 1); !errors.Is(err, ohi.ErrInvalidKey) {
				t.Errorf("Put(%q) error = %v, want ErrInvalidKey", k, err)
			}
			if _, err := s.Open(ctx, k); !errors.Is(err, ohi.ErrInvalidKey) {
				t.Errorf("Open(%q) error = %v, want ErrInvalidKey", k, err)
			}
		}
	})

	t.Run("Buckets", func(t *testing.T) {
		bucket := newBucket(t)
		b := s3blob.Buckets{Client: client}
		for _, name := range []string{"", "UPPER", "a", "a..b", "bad_name"} {
			if _, err := b.Bucket(name); !errors.Is(err, ohi.ErrInvalidKey) {
				t.Errorf("Bucket(%q) error = %v, want ErrInvalidKey", name, err)
			}
		}
		s, err := b.Bucket(bucket)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "study/1.dcm", strings.NewReader("DICM"), 4); err != nil {
			t.Fatal(err)
		}
		if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("study/1.dcm")}); err != nil {
			t.Fatalf("s3://%s/study/1.dcm not written: %v", bucket, err)
		}
	})

	t.Run("NewClient", func(t *testing.T) {
		bucket := newBucket(t)
		t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretAccessKey)
		t.Setenv("AWS_CONFIG_FILE", "/dev/null")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
		t.Setenv("AWS_REGION", "")
		t.Setenv("AWS_DEFAULT_REGION", "")
		t.Setenv("AWS_ENDPOINT_URL", "")
		t.Setenv("AWS_ENDPOINT_URL_S3", "")
		c, err := s3blob.NewClient(ctx, srv.Endpoint, "")
		if err != nil {
			t.Fatal(err)
		}
		s := s3blob.New(c, bucket, "")
		if err := s.Put(ctx, "x", strings.NewReader("y"), 1); err != nil {
			t.Fatalf("Put through NewClient: %v", err)
		}
		if oi, err := s.Stat(ctx, "x"); err != nil || oi.Size != 1 {
			t.Fatalf("Stat = %+v, %v", oi, err)
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("source failed") }
