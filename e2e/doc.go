// Package e2e holds end-to-end tests of `ohi serve` run as a real process:
// the binary is built once, started on free loopback ports and driven with
// the clients users have — the AWS CLI, the AWS SDKs for Go and JavaScript,
// and boto3 — against the embedded buckets, a loopback S3-compatible server
// and PostgreSQL; it also kills servers mid-import and checks what survives.
// The package has no non-test code besides this comment; the JavaScript and
// Python client programs are in clients/.
package e2e
