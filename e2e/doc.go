// Package e2e holds end-to-end tests of `ohi serve` run as a real process:
// the binary is built once, started on a free loopback port and driven with
// the AWS CLI and the AWS SDK for Go, against the embedded buckets and a
// loopback S3-compatible server. The package has no non-test code besides
// this comment.
package e2e
