package sigv4_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/sigv4"
)

// streamServer is a server behind a Verifier with StreamVerify whose
// handler reads the whole body and answers 200 with it, or 422 with the
// read error.
func streamServer(t *testing.T, v *sigv4.Verifier) *httptest.Server {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, err.Error())
			return
		}
		w.Write(b)
	})
	srv := httptest.NewServer(v.Middleware(h, sigv4.WriteError))
	t.Cleanup(srv.Close)
	return srv
}

// TestStreamVerify sends bodies that a StreamVerify Verifier checks while
// the handler reads them: the body that matches its signed hash reads to
// EOF, another body under the same signed hash fails its last read with
// ErrPayloadMismatch, and bodies over MaxBodyBytes are refused (at once
// when their length is declared, with ErrBodyTooLarge when it is not).
func TestStreamVerify(t *testing.T) {
	v := &sigv4.Verifier{Service: testService, Region: testRegion,
		Credentials: sigv4.StaticCredentials{testAK: testSK}, MaxBodyBytes: 1 << 10, StreamVerify: true}
	srv := streamServer(t, v)
	send := func(signed, sent []byte, chunked bool) (int, string) {
		t.Helper()
		var body io.Reader = bytes.NewReader(sent)
		if chunked {
			body = io.MultiReader(body) // no length known: sent chunked
		}
		req, err := http.NewRequest("POST", srv.URL+"/dicomweb/studies", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Content-Sha256", sha(signed))
		signReq(t, req, signed, signOpts{})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := bytes.Repeat([]byte("a"), 600)
	bad := bytes.Repeat([]byte("b"), 600)
	if st, got := send(good, good, false); st != 200 || got != string(good) {
		t.Errorf("matching body: %d %.80q", st, got)
	}
	if st, got := send(good, good, true); st != 200 || got != string(good) {
		t.Errorf("matching chunked body: %d %.80q", st, got)
	}
	if st, got := send(good, bad, false); st != http.StatusUnprocessableEntity || got != sigv4.ErrPayloadMismatch.Error() {
		t.Errorf("other body under the signed hash: %d %q, want the handler's read to fail with ErrPayloadMismatch", st, got)
	}
	large := bytes.Repeat([]byte("c"), 2<<10)
	if st, got := send(large, large, false); st != http.StatusRequestEntityTooLarge || !strings.Contains(got, "RequestEntityTooLarge") {
		t.Errorf("declared length over the limit: %d %q, want 413 before the handler", st, got)
	}
	if st, got := send(large, large, true); st != http.StatusUnprocessableEntity || got != sigv4.ErrBodyTooLarge.Error() {
		t.Errorf("chunked body over the limit: %d %q, want the handler's read to fail with ErrBodyTooLarge", st, got)
	}
}

// TestSpoolBody sends a body larger than SpoolThreshold to a Verifier with
// a SpoolDir: the handler reads it back from the temporary file, and the
// file is gone once the request is answered, whether the signature is
// valid or not, and once a caller of Verify closes the body.
func TestSpoolBody(t *testing.T) {
	dir := t.TempDir()
	v := &sigv4.Verifier{Service: testService, Region: testRegion,
		Credentials: sigv4.StaticCredentials{testAK: testSK}, MaxBodyBytes: 2 * sigv4.SpoolThreshold, SpoolDir: dir}
	spooled := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entries, _ := os.ReadDir(dir)
		spooled = len(entries)
		b, _ := io.ReadAll(r.Body)
		w.Write([]byte(sha(b)))
	})
	srv := httptest.NewServer(v.Middleware(h, sigv4.WriteError))
	defer srv.Close()
	body := bytes.Repeat([]byte("0123456789abcdef"), sigv4.SpoolThreshold/16+1)
	empty := func(when string) {
		t.Helper()
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s: %d files left in the spool directory", when, len(entries))
		}
	}
	for _, sk := range []string{testSK, "wrong-secret"} {
		req, err := http.NewRequest("PUT", srv.URL+"/dicomweb/studies", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		signReq(t, req, body, signOpts{ak: testAK, sk: sk})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if sk == testSK && (resp.StatusCode != 200 || string(got) != sha(body) || spooled != 1) {
			t.Errorf("valid request: %d, handler read sha %.64s with %d spooled files, want %s with 1", resp.StatusCode, got, spooled, sha(body))
		}
		if sk != testSK && resp.StatusCode != http.StatusForbidden {
			t.Errorf("wrong secret: %d", resp.StatusCode)
		}
		empty("after the response (secret " + sk + ")")
	}

	// Verify without Middleware: closing the body removes the file.
	req := httptest.NewRequest("PUT", "http://"+strings.TrimPrefix(srv.URL, "http://")+"/dicomweb/studies", bytes.NewReader(body))
	req.ContentLength = -1
	signReq(t, req, body, signOpts{})
	if _, err := v.Verify(req); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("Verify spooled %d files, want 1", len(entries))
	}
	if b, err := io.ReadAll(req.Body); err != nil || !bytes.Equal(b, body) {
		t.Fatalf("spooled body: %d bytes, %v", len(b), err)
	}
	if err := req.Body.Close(); err != nil || req.Body.Close() != nil {
		t.Fatalf("Close: %v", err)
	}
	empty("after Close")
}
