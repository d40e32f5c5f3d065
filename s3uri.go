package ohi

import (
	"fmt"
	"strings"
)

// ParseS3URI splits s3://BUCKET/KEY-PREFIX into the bucket and the key
// prefix (which may be empty).
func ParseS3URI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URI", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q has no bucket name", uri)
	}
	return bucket, prefix, nil
}
