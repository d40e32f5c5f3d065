package dicomweb

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/importer"
)

// recordingStorer answers every instance as failed, after checking that
// its spooled file exists.
type recordingStorer struct {
	t     *testing.T
	calls int
	sizes []int64
}

func (s *recordingStorer) StoreInstances(_ context.Context, _, _ string, files []importer.StowFile) ([]importer.StowResult, error) {
	s.calls++
	var out []importer.StowResult
	for _, f := range files {
		if _, err := os.Stat(f.Path); err != nil {
			s.t.Errorf("spooled file: %v", err)
		}
		s.sizes = append(s.sizes, f.Size)
		out = append(out, importer.StowResult{Failure: "not DICOM", FailureCode: 0xC000})
	}
	return out, nil
}

// TestStoreRequestStatus checks that every malformed STOW-RS request gets
// its status with a JSON message, reaches the storer only when well
// formed, and leaves no spooled file behind.
func TestStoreRequestStatus(t *testing.T) {
	const b = "XyZ"
	part := func(hdr, body string) string { return "--" + b + "\r\n" + hdr + "\r\n\r\n" + body + "\r\n" }
	for _, tc := range []struct {
		name   string
		ct     string
		body   string
		status int
		word   string
		parts  int // instances the storer gets
	}{
		{"no content type", "", "x", 415, "Content-Type", 0},
		{"garbage content type", "&&&/;;", "x", 415, "Content-Type", 0},
		{"json", "application/json", "{}", 415, "application/json", 0},
		{"single", "application/dicom", "DICM", 409, "", 1},
		{"empty single", "application/dicom", "", 409, "", 1},
		{"no boundary", `multipart/related; type="application/dicom"`, "", 400, "boundary", 0},
		{"other type", `multipart/related; type="image/jpeg"; boundary=` + b, "", 415, "image/jpeg", 0},
		{"two parts", `multipart/related; type="application/dicom"; boundary=` + b,
			part("Content-Type: application/dicom", "A") + part("Content-Type: application/dicom", "BB") + "--" + b + "--\r\n", 409, "", 2},
		{"part without type", `multipart/related; boundary=` + b, part("X-A: 1", "A") + "--" + b + "--", 409, "", 1},
		{"nested multipart", `multipart/related; type="application/dicom"; boundary=` + b,
			part(`Content-Type: multipart/related; boundary=inner`, "--inner\r\n\r\nA\r\n--inner--") + "--" + b + "--", 415, "part 1", 0},
		{"garbage part type", `multipart/related; type="application/dicom"; boundary=` + b,
			part("Content-Type: ;;;", "A") + "--" + b + "--", 415, "part 1", 0},
		{"too many parts", `multipart/related; boundary=` + b, strings.Repeat(part("", ""), MaxStowParts+1) + "--" + b + "--", 413, "instances", 0},
		{"no parts", `multipart/related; type="application/dicom"; boundary=` + b, "--" + b + "--\r\n", 400, "no instance", 0},
		{"not multipart", `multipart/related; type="application/dicom"; boundary=` + b, "plain bytes", 400, "malformed", 0},
		{"truncated", `multipart/related; type="application/dicom"; boundary=` + b, part("Content-Type: application/dicom", "A")[:20], 400, "", 0},
		{"unterminated header", `multipart/related; type="application/dicom"; boundary=` + b, "--" + b + "\r\nContent-Type: application/dicom", 400, "closing boundary", 0},
		{"second header cut", `multipart/related; type="application/dicom"; boundary=` + b, part("Content-Type: application/dicom", "A") + "--" + b + "\r\nContent-Type: appl", 400, "closing boundary", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			st := &recordingStorer{t: t}
			h := New(Config{Storer: st, TempDir: tmp})
			req := httptest.NewRequest("POST", "/datastore/0123456789abcdef0123456789abcdef/studies", strings.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status >= 400 && tc.status != 409 {
				var m map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["message"] == "" || !strings.Contains(m["message"], tc.word) {
					t.Errorf("body %q: want a JSON message naming %q", rec.Body, tc.word)
				}
			}
			if len(st.sizes) != tc.parts {
				t.Errorf("storer got %d instances, want %d", len(st.sizes), tc.parts)
			}
			left, _ := os.ReadDir(tmp)
			if len(left) != 0 {
				t.Errorf("%d spooled entries left behind", len(left))
			}
		})
	}
}

// TestCloseScanner checks that the closing delimiter is seen across reads
// of any size, and only when present.
func TestCloseScanner(t *testing.T) {
	for _, tc := range []struct {
		body string
		seen bool
	}{
		{"--b\r\n\r\nA\r\n--b--", true},
		{"--b\r\n\r\nA\r\n--b--\r\nepilogue", true},
		{"--b\r\n\r\nA\r\n--b-", false},
		{"--b\r\n\r\nA\r\n--b\r\n", false},
	} {
		for _, one := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.body)
			if one {
				r = iotest.OneByteReader(r)
			}
			c := &closeScanner{r: r, delim: []byte("--b--")}
			if _, err := io.Copy(io.Discard, c); err != nil {
				t.Fatal(err)
			}
			if c.seen != tc.seen {
				t.Errorf("%q (one byte reads %v): seen %v", tc.body, one, c.seen)
			}
		}
	}
}

type failingStorer struct{}

func (failingStorer) StoreInstances(context.Context, string, string, []importer.StowFile) ([]importer.StowResult, error) {
	return nil, errors.New("open /var/lib/ohi/secret/blob: permission denied")
}

// TestInternalErrorHidesCause checks that a 500 names the request but not
// the internal cause.
func TestInternalErrorHidesCause(t *testing.T) {
	h := New(Config{Storer: failingStorer{}, TempDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	req := httptest.NewRequest("POST", "/datastore/0123456789abcdef0123456789abcdef/studies", strings.NewReader("DICM"))
	req.Header.Set("Content-Type", "application/dicom")
	info := &api.RequestInfo{ID: "req-1"}
	req = req.WithContext(api.WithRequestInfo(req.Context(), info))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "/var/lib") || !strings.Contains(rec.Body.String(), "req-1") {
		t.Fatalf("%d %s: want 500 naming the request, not the cause", rec.Code, rec.Body)
	}
	if info.Err == nil || !strings.Contains(info.Err.Error(), "permission denied") {
		t.Fatalf("the cause is not kept for the log: %v", info.Err)
	}
}

// TestStoreResponseEscapesUIDs: UIDs read from stored files cannot turn
// the RetrieveURL of the store response into another path or query.
func TestStoreResponseEscapesUIDs(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/datastore/0123456789abcdef0123456789abcdef/studies", nil)
	err := writeStoreResponse(rec, req, "0123456789abcdef0123456789abcdef", "", []importer.StowResult{
		{StudyInstanceUID: "1.2/../../../x", SeriesInstanceUID: "1.3?imageSetId=evil", SOPInstanceUID: "1.4#f", ImageSetID: "a&b=c"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]struct {
		Value []map[string]struct{ Value []string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	u := out["00081199"].Value[0]["00081190"].Value[0]
	want := "http://example.com/datastore/0123456789abcdef0123456789abcdef/studies/1.2%2F..%2F..%2F..%2Fx/series/1.3%3FimageSetId=evil/instances/1.4%23f?imageSetId=a%26b%3Dc"
	if u != want {
		t.Fatalf("RetrieveURL %s, want %s", u, want)
	}
}

type ctxStorer struct{}

func (ctxStorer) StoreInstances(ctx context.Context, _, _ string, _ []importer.StowFile) ([]importer.StowResult, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestAbandonedRequestIsNotAServerError: a STOW-RS request whose client
// goes away is logged as abandoned, not as a server error.
func TestAbandonedRequestIsNotAServerError(t *testing.T) {
	var log strings.Builder
	h := New(Config{Storer: ctxStorer{}, TempDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&log, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("POST", "/datastore/0123456789abcdef0123456789abcdef/studies", strings.NewReader("DICM")).WithContext(ctx)
	req.Header.Set("Content-Type", "application/dicom")
	cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "abandoned") || rec.Body.Len() != 0 {
		t.Fatalf("log %q, body %q", log.String(), rec.Body)
	}
}
