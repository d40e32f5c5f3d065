package sigv4_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/openhealthimaging/ohi/internal/miclient"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"
	"github.com/aws/smithy-go"

	"github.com/openhealthimaging/ohi/sigv4"
)

const (
	testAK      = "AKIDEXAMPLE"
	testSK      = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testRegion  = "us-east-1"
	testService = "medical-imaging"
	datastoreID = "0123456789abcdef0123456789abcdef"
	resourceARN = "arn:aws:medical-imaging:us-east-1:123456789012:datastore/" + datastoreID
)

// emptySHA256 is the SHA-256 of an empty payload.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// escapedARN is resourceARN escaped the way the SDK and botocore put it in
// a path.
var escapedARN = strings.NewReplacer(":", "%3A", "/", "%2F").Replace(resourceARN)

// sessionCreds accepts testAK with testSK, and the temporary key "ASIATEMP"
// only together with the session token "token-1".
type sessionCreds struct{ sigv4.StaticCredentials }

func (c sessionCreds) SessionSecret(id, token string) (string, bool) {
	if id == "ASIATEMP" && token == "token-1" {
		return "temp-secret", true
	}
	return "", false
}

type seen struct {
	key, method, path, query, body string
}

// fixture is an HTTP server whose handler sits behind the verifier's
// middleware and records every request that passed verification.
type fixture struct {
	t   *testing.T
	v   *sigv4.Verifier
	srv *httptest.Server

	mu   sync.Mutex
	reqs []seen
}

func newFixture(t *testing.T, now func() time.Time) *fixture {
	t.Helper()
	f := &fixture{t: t, v: &sigv4.Verifier{
		Service:      testService,
		Region:       testRegion,
		Credentials:  sessionCreds{sigv4.StaticCredentials{testAK: testSK}},
		Now:          now,
		MaxBodyBytes: 1 << 20,
	}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := sigv4.AccessKeyID(r.Context())
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{key, r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(body)})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/datastore":
			io.WriteString(w, `{"datastoreSummaries":[]}`)
		case strings.HasSuffix(r.URL.Path, "/searchImageSets"):
			io.WriteString(w, `{"imageSetsMetadataSummaries":[]}`)
		case strings.HasPrefix(r.URL.Path, "/tags/"):
			io.WriteString(w, `{"tags":{}}`)
		default:
			io.WriteString(w, `{}`)
		}
	})
	f.srv = httptest.NewServer(f.v.Middleware(h, sigv4.WriteError))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) seen() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// newRequest builds a client request to the fixture.
func (f *fixture) newRequest(method, pathAndQuery string, body []byte) *http.Request {
	f.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+pathAndQuery, r)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

type signOpts struct {
	ak, sk, token, region, service string
	at                             time.Time
	payloadHash                    string
}

func signReq(t *testing.T, req *http.Request, body []byte, o signOpts) {
	t.Helper()
	if o.ak == "" {
		o.ak, o.sk = testAK, testSK
	}
	if o.region == "" {
		o.region = testRegion
	}
	if o.service == "" {
		o.service = testService
	}
	if o.at.IsZero() {
		o.at = time.Now()
	}
	if o.payloadHash == "" {
		o.payloadHash = sha(body)
	}
	creds := aws.Credentials{AccessKeyID: o.ak, SecretAccessKey: o.sk, SessionToken: o.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, o.payloadHash, o.service, o.region, o.at); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	status        int
	code, message string
}

func do(t *testing.T, req *http.Request) result {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := result{status: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("error body %q: %v", body, err)
		}
		if got := resp.Header.Get("X-Amzn-ErrorType"); got != e.Type {
			t.Errorf("X-Amzn-ErrorType %q, body __type %q", got, e.Type)
		}
		res.code, res.message = e.Type, e.Message
	}
	return res
}

func TestSDKSignerSuccess(t *testing.T) {
	arnPath := "/tags/" + escapedARN
	if !strings.Contains(arnPath, "%3A") || !strings.Contains(arnPath, "%2F") {
		t.Fatalf("ARN path not escaped: %s", arnPath)
	}
	jsonBody := []byte(`{"searchCriteria":{"filters":[{"values":[{"DICOMPatientId":"P 1/ü"}],"operator":"EQUAL"}]}}`)
	cases := []struct {
		name, method, target string
		body                 []byte
		opts                 signOpts
		wantKey              string
	}{
		{"get", "GET", "/datastore?datastoreStatus=ACTIVE&maxResults=10", nil, signOpts{}, testAK},
		{"post json", "POST", "/datastore/" + datastoreID + "/searchImageSets?maxResults=5", jsonBody, signOpts{}, testAK},
		{"arn path", "GET", arnPath, nil, signOpts{}, testAK},
		{"delete repeated query", "DELETE", arnPath + "?tagKeys=a&tagKeys=b%20c", nil, signOpts{}, testAK},
		{"session token", "GET", "/datastore", nil, signOpts{ak: "ASIATEMP", sk: "temp-secret", token: "token-1"}, "ASIATEMP"},
		{"unsigned payload", "POST", "/datastore", jsonBody, signOpts{payloadHash: "UNSIGNED-PAYLOAD"}, testAK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			req := f.newRequest(tc.method, tc.target, tc.body)
			if tc.opts.payloadHash == "UNSIGNED-PAYLOAD" {
				req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			}
			signReq(t, req, tc.body, tc.opts)
			if res := do(t, req); res.status != 200 {
				t.Fatalf("status %d %s: %s", res.status, res.code, res.message)
			}
			got := f.seen()
			if len(got) != 1 {
				t.Fatalf("handler saw %d requests", len(got))
			}
			if got[0].key != tc.wantKey || got[0].body != string(tc.body) || got[0].method != tc.method {
				t.Errorf("handler saw %+v", got[0])
			}
		})
	}
}

func TestContentSHA256Header(t *testing.T) {
	body := []byte(`{"datastoreName":"x"}`)
	f := newFixture(t, nil)
	req := f.newRequest("POST", "/datastore", body)
	req.Header.Set("X-Amz-Content-Sha256", sha(body))
	signReq(t, req, body, signOpts{})
	if res := do(t, req); res.status != 200 {
		t.Fatalf("status %d %s: %s", res.status, res.code, res.message)
	}
}

func TestFailures(t *testing.T) {
	body := []byte(`{"datastoreName":"abc"}`)
	other := []byte(`{"datastoreName":"xyz"}`)
	signAt := time.Now()
	cases := []struct {
		name    string
		now     func() time.Time
		build   func(f *fixture) *http.Request
		code    string
		status  int
		message string // substring
	}{
		{"wrong secret", nil, func(f *fixture) *http.Request {
			r := f.newRequest("POST", "/datastore", body)
			signReq(t, r, body, signOpts{ak: testAK, sk: "not-the-secret"})
			return r
		}, "InvalidSignatureException", 403, "The Canonical String for this request should have been"},
		{"unknown key", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{ak: "AKIDUNKNOWN", sk: testSK})
			return r
		}, "UnrecognizedClientException", 403, "security token included in the request is invalid"},
		{"missing header", nil, func(f *fixture) *http.Request {
			return f.newRequest("GET", "/datastore", nil)
		}, "MissingAuthenticationTokenException", 403, "Missing Authentication Token"},
		{"malformed header", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{})
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:strings.Index(h, ", SignedHeaders=")]+h[strings.Index(h, ", Signature="):])
			return r
		}, "IncompleteSignatureException", 403, "Authorization header requires 'SignedHeaders' parameter"},
		{"garbage header", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			r.Header.Set("Authorization", "Bearer abc")
			return r
		}, "IncompleteSignatureException", 403, "Unsupported signature algorithm"},
		{"sigv4a", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{})
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
			return r
		}, "IncompleteSignatureException", 403, "AWS4-ECDSA-P256-SHA256"},
		{"missing x-amz-date", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{})
			r.Header.Del("X-Amz-Date")
			return r
		}, "IncompleteSignatureException", 403, "X-Amz-Date"},
		{"expired", func() time.Time { return signAt.Add(16 * time.Minute) }, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{at: signAt})
			return r
		}, "InvalidSignatureException", 403, "Signature expired: " + signAt.UTC().Format("20060102T150405Z") + " is now earlier than"},
		{"not yet current", func() time.Time { return signAt.Add(-16 * time.Minute) }, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{at: signAt})
			return r
		}, "InvalidSignatureException", 403, "Signature not yet current"},
		{"wrong region", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{region: "us-west-2"})
			return r
		}, "InvalidSignatureException", 403, "Credential should be scoped to a valid region, not 'us-west-2'."},
		{"wrong service", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{service: "s3"})
			return r
		}, "InvalidSignatureException", 403, "Credential should be scoped to correct service: 'medical-imaging'."},
		{"tampered body", nil, func(f *fixture) *http.Request {
			r := f.newRequest("POST", "/datastore", body)
			signReq(t, r, body, signOpts{})
			r.Body = io.NopCloser(bytes.NewReader(other))
			return r
		}, "InvalidSignatureException", 403, "does not match the signature you provided"},
		{"tampered path", nil, func(f *fixture) *http.Request {
			r := f.newRequest("POST", "/datastore/"+datastoreID+"/searchImageSets", body)
			signReq(t, r, body, signOpts{})
			r.URL.Path = "/datastore/" + strings.Repeat("f", 32) + "/searchImageSets"
			return r
		}, "InvalidSignatureException", 403, "does not match the signature you provided"},
		{"tampered escaped path", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/tags/"+escapedARN, nil)
			signReq(t, r, nil, signOpts{})
			r.URL.RawPath = "" // sends ':' and '/' unescaped: a different canonical URI
			return r
		}, "InvalidSignatureException", 403, "does not match the signature you provided"},
		{"tampered query", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore?maxResults=5", nil)
			signReq(t, r, nil, signOpts{})
			r.URL.RawQuery = "maxResults=50"
			return r
		}, "InvalidSignatureException", 403, "does not match the signature you provided"},
		{"tampered signed header", nil, func(f *fixture) *http.Request {
			r := f.newRequest("POST", "/datastore", body)
			signReq(t, r, body, signOpts{})
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, "InvalidSignatureException", 403, "does not match the signature you provided"},
		{"bad content sha", nil, func(f *fixture) *http.Request {
			r := f.newRequest("POST", "/datastore", body)
			r.Header.Set("X-Amz-Content-Sha256", sha(other))
			signReq(t, r, body, signOpts{payloadHash: sha(other)})
			return r
		}, "XAmzContentSHA256Mismatch", 400, "does not match what was computed"},
		{"streaming payload", nil, func(f *fixture) *http.Request {
			r := f.newRequest("POST", "/datastore", body)
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
			signReq(t, r, body, signOpts{payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"})
			return r
		}, "NotImplemented", 501, "Streaming payloads"},
		{"body too large", nil, func(f *fixture) *http.Request {
			big := bytes.Repeat([]byte("a"), 1<<20+1)
			r := f.newRequest("POST", "/datastore", big)
			signReq(t, r, big, signOpts{})
			return r
		}, "RequestEntityTooLarge", 413, "larger than the limit"},
		{"unsigned security token", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{ak: "ASIATEMP", sk: "temp-secret"})
			r.Header.Set("X-Amz-Security-Token", "token-1")
			return r
		}, "IncompleteSignatureException", 403, "X-Amz-Security-Token"},
		{"wrong session token", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{ak: "ASIATEMP", sk: "temp-secret", token: "token-2"})
			return r
		}, "UnrecognizedClientException", 403, "security token"},
		{"host not signed", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{})
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=host;", "SignedHeaders=", 1))
			return r
		}, "IncompleteSignatureException", 403, "'Host' or ':authority' must be a 'SignedHeader'"},
		{"scope date mismatch", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore", nil)
			signReq(t, r, nil, signOpts{})
			d := r.Header.Get("X-Amz-Date")
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/"+d[:8]+"/", "/20000101/", 1))
			return r
		}, "InvalidSignatureException", 403, "Date in Credential scope does not match"},
		{"both auth forms", nil, func(f *fixture) *http.Request {
			r := f.newRequest("GET", "/datastore?X-Amz-Algorithm=AWS4-HMAC-SHA256", nil)
			signReq(t, r, nil, signOpts{})
			return r
		}, "IncompleteSignatureException", 403, "Only one auth mechanism allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.now)
			res := do(t, tc.build(f))
			if res.code != tc.code || res.status != tc.status || !strings.Contains(res.message, tc.message) {
				t.Errorf("got %d %s %q, want %d %s containing %q", res.status, res.code, res.message, tc.status, tc.code, tc.message)
			}
			if n := len(f.seen()); n != 0 {
				t.Errorf("handler ran %d times for a rejected request", n)
			}
		})
	}
}

// TestMismatchMessageHasNoSecret checks that the debugging detail in a
// mismatch error never contains either secret.
func TestMismatchMessageHasNoSecret(t *testing.T) {
	f := newFixture(t, nil)
	req := f.newRequest("GET", "/datastore", nil)
	signReq(t, req, nil, signOpts{sk: "client-side-secret", ak: testAK})
	res := do(t, req)
	if res.code != "InvalidSignatureException" {
		t.Fatalf("got %+v", res)
	}
	for _, s := range []string{testSK, "client-side-secret"} {
		if strings.Contains(res.message, s) {
			t.Fatalf("message leaks a secret: %q", res.message)
		}
	}
	if !strings.Contains(res.message, "GET\n/datastore\n") || !strings.Contains(res.message, "AWS4-HMAC-SHA256\n") {
		t.Errorf("message lacks the canonical request or string to sign: %q", res.message)
	}
}

// presign returns a presigned URL; expires 0 leaves X-Amz-Expires out, and
// payloadHash "" signs UNSIGNED-PAYLOAD.
func presign(t *testing.T, f *fixture, method, target string, at time.Time, expires int, sk string, payloadHash ...string) string {
	t.Helper()
	req := f.newRequest(method, target, nil)
	if expires > 0 {
		q := req.URL.Query()
		q.Set("X-Amz-Expires", strconv.Itoa(expires))
		req.URL.RawQuery = q.Encode()
	}
	hash := "UNSIGNED-PAYLOAD"
	if len(payloadHash) > 0 {
		hash = payloadHash[0]
	}
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: testAK, SecretAccessKey: sk}, req, hash, testService, testRegion, at)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPresigned(t *testing.T) {
	at := time.Now().Add(-time.Minute)
	arnPath := "/tags/" + escapedARN
	cases := []struct {
		name    string
		now     func() time.Time
		mutate  func(u string) string
		target  string
		expires int
		sk      string
		code    string
		message string
		// payloadHash is the hash the URL is signed with ("": UNSIGNED-PAYLOAD).
		payloadHash string
	}{
		{name: "ok", target: "/datastore?maxResults=3", expires: 300},
		{name: "ok arn path", target: arnPath, expires: 300},
		{name: "expired", target: "/datastore", expires: 30, now: func() time.Time { return at.Add(31 * time.Second) },
			code: "InvalidSignatureException", message: "Request has expired"},
		{name: "future", target: "/datastore", expires: 30, now: func() time.Time { return at.Add(-time.Hour) },
			code: "InvalidSignatureException", message: "not yet valid"},
		{name: "wrong secret", target: "/datastore", expires: 300, sk: "nope",
			code: "InvalidSignatureException", message: "does not match"},
		{name: "tampered query", target: "/datastore?maxResults=3", expires: 300,
			mutate: func(u string) string { return strings.Replace(u, "maxResults=3", "maxResults=4", 1) },
			code:   "InvalidSignatureException", message: "does not match"},
		{name: "tampered expires", target: "/datastore", expires: 300,
			mutate: func(u string) string { return strings.Replace(u, "X-Amz-Expires=300", "X-Amz-Expires=600", 1) },
			code:   "InvalidSignatureException", message: "does not match"},
		{name: "expires too long", target: "/datastore", expires: 604801,
			code: "IncompleteSignatureException", message: "X-Amz-Expires"},
		{name: "expires removed", target: "/datastore", expires: 300,
			mutate: func(u string) string { return strings.Replace(u, "X-Amz-Expires=300", "", 1) },
			code:   "InvalidSignatureException", message: "does not match"},
		{name: "expires twice", target: "/datastore", expires: 300,
			mutate: func(u string) string { return u + "&X-Amz-Expires=300" },
			code:   "IncompleteSignatureException", message: "more than one X-Amz-Expires"},
		{name: "signature missing", target: "/datastore", expires: 300,
			mutate: func(u string) string {
				return regexp.MustCompile(`&?X-Amz-Signature=[0-9a-f]+`).ReplaceAllString(u, "")
			},
			code: "IncompleteSignatureException", message: "must include"},
		// Amplify's signUrl (AWS's HealthImaging viewer sample) sets no
		// X-Amz-Expires and signs the empty payload's hash, as botocore
		// does for every service but S3.
		{name: "no expires, payload hash", target: "/datastore?maxResults=2", payloadHash: emptySHA256},
		{name: "no expires, unsigned payload", target: "/datastore"},
		{name: "no expires, old", target: "/datastore", payloadHash: emptySHA256, now: func() time.Time { return at.Add(17 * time.Minute) },
			code: "InvalidSignatureException", message: "Signature expired"},
		{name: "payload hash with expires", target: arnPath, expires: 300, payloadHash: emptySHA256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.now)
			sk := tc.sk
			if sk == "" {
				sk = testSK
			}
			var hash []string
			if tc.payloadHash != "" {
				hash = []string{tc.payloadHash}
			}
			u := presign(t, f, "GET", tc.target, at, tc.expires, sk, hash...)
			if tc.mutate != nil {
				u = tc.mutate(u)
			}
			req, err := http.NewRequest("GET", u, nil)
			if err != nil {
				t.Fatal(err)
			}
			res := do(t, req)
			if tc.code == "" {
				if res.status != 200 || len(f.seen()) != 1 || f.seen()[0].key != testAK {
					t.Fatalf("got %+v, handler saw %+v", res, f.seen())
				}
				return
			}
			if res.code != tc.code || !strings.Contains(res.message, tc.message) {
				t.Errorf("got %d %s %q, want %s containing %q", res.status, res.code, res.message, tc.code, tc.message)
			}
		})
	}
}

func newClient(f *fixture, ak, sk string) *medicalimaging.Client {
	cfg := aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
	}
	return medicalimaging.NewFromConfig(cfg, func(o *medicalimaging.Options) {
		o.BaseEndpoint = aws.String(f.srv.URL)
		o.APIOptions = append(o.APIOptions, miclient.DisableHostPrefix)
		o.RetryMaxAttempts = 1
	})
}

func TestMedicalImagingClient(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	c := newClient(f, testAK, testSK)

	if _, err := c.ListDatastores(ctx, &medicalimaging.ListDatastoresInput{MaxResults: aws.Int32(10)}); err != nil {
		t.Fatalf("ListDatastores: %v", err)
	}
	if _, err := c.ListTagsForResource(ctx, &medicalimaging.ListTagsForResourceInput{ResourceArn: aws.String(resourceARN)}); err != nil {
		t.Fatalf("ListTagsForResource: %v", err)
	}
	if _, err := c.CreateDatastore(ctx, &medicalimaging.CreateDatastoreInput{DatastoreName: aws.String("name with spaces")}); err != nil {
		t.Fatalf("CreateDatastore: %v", err)
	}
	_, err := c.SearchImageSets(ctx, &medicalimaging.SearchImageSetsInput{
		DatastoreId: aws.String(datastoreID),
		MaxResults:  aws.Int32(5),
		SearchCriteria: &types.SearchCriteria{Filters: []types.SearchFilter{{
			Operator: types.OperatorEqual,
			Values:   []types.SearchByAttributeValue{&types.SearchByAttributeValueMemberDICOMPatientId{Value: "P1"}},
		}}},
	})
	if err != nil {
		t.Fatalf("SearchImageSets: %v", err)
	}
	got := f.seen()
	if len(got) != 4 {
		t.Fatalf("handler saw %d requests: %+v", len(got), got)
	}
	for _, s := range got {
		if s.key != testAK {
			t.Errorf("request %s %s verified as %q", s.method, s.path, s.key)
		}
	}
	if want := "/tags/" + escapedARN; got[1].path != want {
		t.Errorf("tags path %q, want %q", got[1].path, want)
	}
	if !strings.Contains(got[2].body, `"datastoreName":"name with spaces"`) {
		t.Errorf("CreateDatastore body %q", got[2].body)
	}
	if !strings.Contains(got[3].body, `"DICOMPatientId":"P1"`) || got[3].query != "maxResults=5" {
		t.Errorf("SearchImageSets saw %+v", got[3])
	}

	for _, tc := range []struct{ ak, sk, code string }{
		{testAK, "wrong", "InvalidSignatureException"},
		{"AKIDOTHER", testSK, "UnrecognizedClientException"},
	} {
		_, err := newClient(f, tc.ak, tc.sk).ListTagsForResource(ctx, &medicalimaging.ListTagsForResourceInput{ResourceArn: aws.String(resourceARN)})
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.code {
			t.Errorf("with %s/%s: got %v, want %s", tc.ak, tc.sk, err, tc.code)
		}
	}
	if n := len(f.seen()); n != 4 {
		t.Errorf("handler ran for rejected requests: %d", n)
	}
}

// TestAWSCLI runs the AWS CLI (botocore), which signs a different header set
// than the Go SDK, against the verifier.
func TestAWSCLI(t *testing.T) {
	aws, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not on PATH; skipping the AWS CLI conformance test")
	}
	f := newFixture(t, nil)
	run := func(sk string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, aws, append([]string{"medical-imaging"}, append(args, "--endpoint-url", f.srv.URL)...)...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env,
			"AWS_ACCESS_KEY_ID="+testAK,
			"AWS_SECRET_ACCESS_KEY="+sk,
			"AWS_DEFAULT_REGION="+testRegion,
			"AWS_DISABLE_HOST_PREFIX_INJECTION=true",
			"AWS_CONFIG_FILE=/dev/null",
			"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			"AWS_MAX_ATTEMPTS=1",
			"AWS_EC2_METADATA_DISABLED=true",
		)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run(testSK, "list-datastores")
	if err != nil || !strings.Contains(out, "datastoreSummaries") {
		t.Fatalf("list-datastores: %v\n%s", err, out)
	}
	if out, err := run(testSK, "list-tags-for-resource", "--resource-arn", resourceARN); err != nil {
		t.Fatalf("list-tags-for-resource: %v\n%s", err, out)
	}
	if out, err := run(testSK, "search-image-sets", "--datastore-id", datastoreID,
		"--search-criteria", `{"filters":[{"values":[{"DICOMPatientId":"P 1"}],"operator":"EQUAL"}]}`); err != nil {
		t.Fatalf("search-image-sets: %v\n%s", err, out)
	}
	got := f.seen()
	if len(got) != 3 {
		t.Fatalf("handler saw %d requests: %+v", len(got), got)
	}
	for _, s := range got {
		if s.key != testAK {
			t.Errorf("%s %s verified as %q", s.method, s.path, s.key)
		}
	}
	if want := "/tags/" + escapedARN; got[1].path != want {
		t.Errorf("tags path %q, want %q", got[1].path, want)
	}
	if got[2].method != "POST" || !strings.Contains(got[2].body, `"DICOMPatientId": "P 1"`) && !strings.Contains(got[2].body, `"DICOMPatientId":"P 1"`) {
		t.Errorf("search-image-sets reached the handler as %+v", got[2])
	}

	out, err = run("wrong-secret", "list-tags-for-resource", "--resource-arn", resourceARN)
	if err == nil || !strings.Contains(out, "InvalidSignatureException") {
		t.Errorf("wrong secret: err=%v output:\n%s", err, out)
	}
	if n := len(f.seen()); n != 3 {
		t.Errorf("handler ran for a rejected request")
	}
}

func TestVerifyErrorType(t *testing.T) {
	v := &sigv4.Verifier{Service: testService, Region: testRegion, Credentials: sigv4.StaticCredentials{}}
	r := httptest.NewRequest("GET", "/datastore", nil)
	id, err := v.Verify(r)
	var e *sigv4.Error
	if id != "" || !errors.As(err, &e) || e.Code != sigv4.CodeMissingAuthenticationToken || e.Status != 403 {
		t.Fatalf("Verify = %q, %v", id, err)
	}
}

// TestPresignedUnsignedPayloadBody sends a body larger than MaxBodyBytes
// with a presigned URL signed as UNSIGNED-PAYLOAD (S3's convention, no
// X-Amz-Content-Sha256 in the query): the signature does not cover the
// body, so the verifier must not read or bound it, and the handler gets it
// whole. The same body under a URL signed with the empty payload's hash
// is refused without reaching the handler.
func TestPresignedUnsignedPayloadBody(t *testing.T) {
	at := time.Now().UTC()
	f := newFixture(t, nil)
	body := bytes.Repeat([]byte("x"), 2<<20) // twice the fixture's MaxBodyBytes
	for _, c := range []struct {
		name, hash string
		status     int
	}{{"unsigned", "", 200}, {"payload hash", emptySHA256, http.StatusRequestEntityTooLarge}} {
		var hash []string
		if c.hash != "" {
			hash = []string{c.hash}
		}
		u := presign(t, f, "POST", "/datastore", at, 300, testSK, hash...)
		before := len(f.seen())
		req, err := http.NewRequest("POST", u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res := do(t, req)
		if res.status != c.status {
			t.Errorf("%s: status %d %s %s, want %d", c.name, res.status, res.code, res.message, c.status)
			continue
		}
		seen := f.seen()
		if c.status == 200 && (len(seen) != before+1 || len(seen[before].body) != len(body)) {
			t.Errorf("%s: the handler did not get the whole body", c.name)
		}
		if c.status != 200 && len(seen) != before {
			t.Errorf("%s: the handler ran", c.name)
		}
	}
}
