package dicomweb

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
)

// FuzzRequestParsing feeds untrusted request parts to the parsers: Accept
// negotiation, frame lists, QIDO-RS query strings and the stored data set
// splitter. None may panic; accepted frame lists stay in range.
func FuzzRequestParsing(f *testing.F) {
	f.Add(`multipart/related; type="application/octet-stream"; transfer-syntax=*`, "1,3,2", "PatientID=A*&StudyDate=20200101-&limit=10&includefield=all", []byte{8, 0, 0x18, 0, 'U', 'I', 2, 0, '1', 0})
	f.Add(`image/jphc;ts=4.202, application/dicom`, "0", "00100010=Doe%5E*&fuzzymatching=true", []byte{})
	f.Fuzz(func(t *testing.T, accept, frames, query string, header []byte) {
		_ = negotiate(accept, "application/octet-stream", tsHTJ2KRPCL)
		_ = negotiate(accept, mtDICOM, tsExplicitLE)
		if list, err := parseFrameList(frames, 5); err == nil {
			for _, n := range list {
				if n < 1 || n > 5 {
					t.Fatalf("frame %d accepted of 5", n)
				}
			}
		}
		r := httptest.NewRequest("GET", "/datastore/x/studies", nil)
		r.URL.RawQuery = url.Values{"q": {query}}.Encode()[2:]
		r.SetPathValue("datastoreId", "0123456789abcdef0123456789abcdef")
		for _, level := range []string{"study", "series", "instance"} {
			_, _ = parseQuery(r, level)
		}
		_, _, _ = headerElements(header)
	})
}

// FuzzStoreBody feeds untrusted STOW-RS bodies and Content-Types to the
// handler: every answer is a store response or a 4xx (never a 500), and no
// spooled file is left behind.
func FuzzStoreBody(f *testing.F) {
	f.Add(`multipart/related; type="application/dicom"; boundary=b`, []byte("--b\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--b--\r\n"))
	f.Add(`multipart/related; boundary=b`, []byte("--b\r\n\r\nA\r\n--b\r\nContent-Type: multipart/related; boundary=c\r\n\r\n--c--\r\n--b--"))
	f.Add(`application/dicom`, []byte{})
	f.Add(`multipart/related; boundary="a b"`, []byte("--a b\r\nContent-Type: application/dicom\r\n"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		tmp := t.TempDir()
		st := &recordingStorer{t: t}
		h := New(Config{Storer: st, TempDir: tmp, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		req := httptest.NewRequest("POST", "/datastore/0123456789abcdef0123456789abcdef/studies", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || (rec.Code != 409 && rec.Code < 400) {
			t.Fatalf("Content-Type %q: status %d %s", ct, rec.Code, rec.Body)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("%d spooled entries left", len(left))
		}
	})
}
