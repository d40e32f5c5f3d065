package runner_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAccessKey = "AKIDOHITEST"
	testSecret    = "ohi-test-secret-key"
	testRegion    = "us-east-1"
)

// sharedDir locates the project's shared/ directory (../shared from the
// repository root), or skips the test.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared", "healthimaging")
			if _, err := os.Stat(p); err != nil {
				t.Skipf("shared HealthImaging material not found at %s: %v", p, err)
			}
			return p
		}
		dir = filepath.Dir(dir)
	}
	t.Skip("repository root (go.mod) not found")
	return ""
}

// setAWSEnv gives the SigV4 signer static test credentials and keeps the
// SDK away from any network credential source.
func setAWSEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", testAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", testRegion)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_PROFILE", "")
}

// verifySigV4 recomputes the SigV4 signature of a received request from
// the signed headers only, the raw escaped path and the body, and compares
// it with the one sent.
func verifySigV4(r *http.Request, body []byte, service string) error {
	auth := r.Header.Get("Authorization")
	const alg = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, alg) {
		return errors.New("missing SigV4 Authorization header")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(auth[len(alg):], ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] != testAccessKey || scope[2] != testRegion || scope[3] != service {
		return fmt.Errorf("bad credential scope %q", fields["Credential"])
	}
	t, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %v", err)
	}
	if d := time.Since(t); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("signature time skew")
	}
	fresh, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	fresh.URL.RawPath = r.URL.RawPath
	fresh.ContentLength = 0
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		switch h {
		case "host":
		case "content-length":
			fresh.ContentLength = r.ContentLength
		default:
			fresh.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, fresh, hex.EncodeToString(sum[:]), service, testRegion, t); err != nil {
		return err
	}
	want := fresh.Header.Get("Authorization")
	i := strings.Index(want, "Signature=")
	j := strings.Index(auth, "Signature=")
	if i < 0 || j < 0 || !hmac.Equal([]byte(want[i:]), []byte(auth[j:])) {
		return errors.New("signature mismatch")
	}
	return nil
}

// fakeHI is a minimal AWS HealthImaging look-alike: it verifies SigV4 on
// every call and walks data stores CREATING→ACTIVE and import jobs
// SUBMITTED→IN_PROGRESS→COMPLETED, one state per poll.
type fakeHI struct {
	mu       sync.Mutex
	calls    map[string]int
	times    map[string][]time.Time
	sigErrs  []string
	dsPolls  int
	jobPolls int
	bodies   map[string]any
}

func newFakeHI() *fakeHI {
	return &fakeHI{calls: map[string]int{}, times: map[string][]time.Time{}, bodies: map[string]any{}}
}

const (
	fakeDatastoreID = "0123456789abcdef0123456789abcdef"
	fakeJobID       = "fedcba9876543210fedcba9876543210"
	fakeImageSetID  = "aaaabbbbccccddddeeeeffff00001111"
)

func (f *fakeHI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := verifySigV4(r, body, "medical-imaging"); err != nil {
		f.sigErrs = append(f.sigErrs, r.Method+" "+r.URL.Path+": "+err.Error())
		w.Header().Set("X-Amzn-ErrorType", "InvalidSignatureException")
		http.Error(w, `{"message":"bad signature"}`, http.StatusForbidden)
		return
	}
	var op string
	var resp any
	p := r.URL.Path
	switch {
	case r.Method == "POST" && p == "/datastore":
		op = "CreateDatastore"
		resp = map[string]any{"datastoreId": fakeDatastoreID, "datastoreStatus": "CREATING"}
	case r.Method == "GET" && p == "/datastore/"+fakeDatastoreID:
		op = "GetDatastore"
		f.dsPolls++
		status := "CREATING"
		if f.dsPolls >= 3 {
			status = "ACTIVE"
		}
		resp = map[string]any{"datastoreProperties": map[string]any{"datastoreId": fakeDatastoreID, "datastoreName": "demo", "datastoreStatus": status}}
	case r.Method == "POST" && p == "/startDICOMImportJob/datastore/"+fakeDatastoreID:
		op = "StartDICOMImportJob"
		resp = map[string]any{"datastoreId": fakeDatastoreID, "jobId": fakeJobID, "jobStatus": "SUBMITTED", "submittedAt": 1.7e9}
	case r.Method == "GET" && p == "/getDICOMImportJob/datastore/"+fakeDatastoreID+"/job/"+fakeJobID:
		op = "GetDICOMImportJob"
		f.jobPolls++
		status := [...]string{"SUBMITTED", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"}[min(f.jobPolls-1, 3)]
		resp = map[string]any{"jobProperties": map[string]any{"jobId": fakeJobID, "jobName": "j", "jobStatus": status, "datastoreId": fakeDatastoreID}}
	case r.Method == "POST" && p == "/datastore/"+fakeDatastoreID+"/searchImageSets":
		op = "SearchImageSets"
		if r.URL.Query().Get("maxResults") != "50" {
			http.Error(w, `{"message":"maxResults"}`, http.StatusBadRequest)
			return
		}
		resp = map[string]any{"imageSetsMetadataSummaries": []any{map[string]any{"imageSetId": fakeImageSetID, "version": 1}}}
	default:
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
		return
	}
	f.calls[op]++
	f.times[op] = append(f.times[op], time.Now())
	if len(body) > 0 {
		var v any
		_ = json.Unmarshal(body, &v)
		f.bodies[op] = v
	}
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	if op == "SearchImageSets" {
		// Answer compressed without being asked, as AWS does for
		// GetImageSetMetadata.
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(b)
		zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		b = zb.Bytes()
	}
	w.Write(b)
}

func startFakeHI(t *testing.T) (*fakeHI, *httptest.Server) {
	f := newFakeHI()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}
