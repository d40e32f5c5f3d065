package s3test_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openhealthimaging/ohi/internal/s3test"
)

func TestStartCreatesBucketsAndStops(t *testing.T) {
	var endpoint string
	t.Run("server", func(t *testing.T) {
		srv := s3test.Start(t, "bucket-one", "bucket-two")
		endpoint = srv.Endpoint
		out, err := srv.Client().ListBuckets(context.Background(), &s3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, b := range out.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
		if len(names) != 2 || names[0] != "bucket-one" || names[1] != "bucket-two" {
			t.Fatalf("buckets = %q", names)
		}
	})
	if endpoint == "" {
		return // skipped
	}
	client := &http.Client{Timeout: 2 * time.Second}
	if resp, err := client.Get(endpoint + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("server still answers at %s after the test ended", endpoint)
	}
}
