package dicomweb

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRouteInputStatus checks a sample of each route's bad inputs that are
// refused before any lookup: the status and a JSON message naming the
// problem.
func TestRouteInputStatus(t *testing.T) {
	const ds = "/datastore/0123456789abcdef0123456789abcdef"
	inst := ds + "/studies/1.2/series/1.3/instances/1.4"
	long := strings.Repeat("1", 65)
	h := New(Config{})
	for _, tc := range []struct {
		method, path string
		status       int
		word         string
		allow        string
		accept       string
	}{
		{"GET", ds + "/studies?limit=5000", 406, "SearchDICOMStudies", "", "application/dicom"},
		{"GET", ds + "/studies/1.2/series/1.3/metadata", 406, "GetDICOMSeriesMetadata", "", `multipart/related; type="application/dicom"`},
		{"GET", ds + "/studies/1.x/series/1.3/metadata", 406, "application/dicom+json", "", "application/dicom+json;q=0, */*;q=0.1"},
		{"GET", ds + "/studies?limit=5000", 400, "limit", "", `application/dicom+json, multipart/related; type="application/octet-stream"`},
		{"GET", ds + "/studies?limit=5000", 400, "limit", "", "application/json"},
		{"GET", ds + "/studies?limit=5000", 400, "limit", "", "application/*;q=0.3"},
		{"GET", "/datastore/NOTANID/studies", 400, "datastoreId", "", ""},
		{"GET", "/datastore/NOTANID/studies/1.2/series/1.3/metadata", 400, "datastoreId", "", ""},
		{"GET", ds + "/studies/1.2.abc/series/1.3/metadata", 400, "StudyInstanceUID", "", ""},
		{"GET", ds + "/studies/..%2F..%2Fetc/series/1.3/metadata", 400, "StudyInstanceUID", "", ""},
		{"GET", ds + "/studies/1.2/series/" + long + "/metadata", 400, "SeriesInstanceUID", "", ""},
		{"GET", inst + "?imageSetId=../x", 400, "imageSetId", "", ""},
		{"GET", inst + "/frames/1?imageSetId=ABC", 400, "imageSetId", "", ""},
		{"GET", inst + "/frames/1,x", 400, "frame number", "", ""},
		{"GET", inst + "/frames/2,2", 400, "twice", "", ""},
		{"GET", inst + "/frames/" + strings.Repeat("1,", maxFrameList) + "1", 400, "too many frames", "", ""},
		{"GET", ds + "/studies/1.2/series/1.3/instances/1.4%00/metadata", 400, "SOPInstanceUID", "", ""},
		{"GET", inst + "/bulkdata/00091001?imageSetId=x", 400, "imageSetId", "", ""},
		{"GET", ds + "/studies?limit=5000", 400, "limit", "", ""},
		{"GET", ds + "/series?offset=x", 400, "offset", "", ""},
		{"GET", ds + "/instances?Rows=3", 400, "Rows", "", ""},
		{"GET", ds + "/studies/1.2/series?Modality=" + strings.Repeat("CT,", 200), 400, "Modality", "", ""},
		{"GET", ds + "/studies/1.2/series/1.3/instances?SOPInstanceUID=x", 400, "SOPInstanceUID", "", ""},
		{"GET", ds + "/studies/1.x/instances", 400, "StudyInstanceUID", "", ""},
		{"POST", ds + "/studies", 503, "STOW-RS", "", ""},
		{"POST", ds + "/studies/1.2.x", 400, "StudyInstanceUID", "", ""},
		{"POST", ds + "/series", 405, "POST", "GET", ""},
		{"DELETE", ds + "/studies", 405, "DELETE", "POST, GET", ""},
		{"PUT", inst + "/frames/1", 405, "PUT", "GET", ""},
		{"GET", ds + "/studies/1.2/series/1.3/instances/1.4/frames", 404, "no DICOMweb route", "", ""},
		{"GET", ds + "/nothing", 404, "no DICOMweb route", "", ""},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		h.ServeHTTP(rec, req)
		var m map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		if rec.Code != tc.status || !strings.Contains(m["message"], tc.word) {
			t.Errorf("%s %.80s: %d %s, want %d naming %q", tc.method, tc.path, rec.Code, rec.Body, tc.status, tc.word)
		}
		if got := rec.Header().Get("Allow"); got != tc.allow {
			t.Errorf("%s %.80s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}
