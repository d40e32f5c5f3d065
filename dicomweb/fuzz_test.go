package dicomweb

import (
	"net/http/httptest"
	"net/url"
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
