package dicomweb

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func statusOfErr(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var he *httpError
	if errors.As(err, &he) {
		return he.status
	}
	return statusOf(err)
}

// TestParseQueryBounds checks that QIDO-RS parameters are bounded and
// that each bad one is a 400 naming it.
func TestParseQueryBounds(t *testing.T) {
	many := strings.Repeat("A,", maxMatchValues) + "A"
	manyUIDs := strings.Repeat("1.2,", maxMatchValues) + "1.2"
	for _, tc := range []struct {
		query  string
		status int
		word   string // in the message
	}{
		{"PatientID=A*&limit=10&offset=5", 200, ""},
		{"PatientID=" + strings.Repeat("A,", maxMatchValues-1) + "A", 200, ""},
		{"PatientID=" + many, 400, "PatientID"},
		{"StudyInstanceUID=" + manyUIDs, 400, "StudyInstanceUID"},
		{"PatientID=" + strings.Repeat("x", maxMatchLen+1), 400, "PatientID"},
		{"AccessionNumber=" + strings.Repeat("x", maxMatchLen*maxMatchValues+1), 400, "AccessionNumber"},
		{"limit=0", 400, "limit"},
		{"limit=1001", 400, "limit"},
		{"limit=99999999999999999999999", 400, "limit"},
		{"offset=-1", 400, "offset"},
		{"offset=1000001", 400, "offset"},
		{"fuzzymatching=maybe", 400, "fuzzymatching"},
		{"NoSuchKeyword=1", 400, "NoSuchKeyword"},
		{"Rows=1", 400, "Rows"},
		{"StudyDate=2020", 400, "StudyDate"},
		{"StudyDate=-", 400, "StudyDate"},
		{"StudyInstanceUID=1.2.x", 400, "StudyInstanceUID"},
		{"SeriesNumber=1e3", 400, "SeriesNumber"},
		{"PatientID=a&PatientID=b", 400, "PatientID"},
		{"PatientID=%zz", 400, "query string"},
		{"includefield=00081115.0020000E,ReferencedSeriesSequence.SeriesInstanceUID,NoSuch,(0010,0010),,00191010&00190010=Philips", 200, ""},
		{"includefield=" + strings.Repeat("PatientID,", maxIncludeNames-1) + "all", 200, ""},
		{"includefield=" + strings.Repeat("PatientID,", maxIncludeNames), 400, "includefield"},
		{"includefield=" + strings.Repeat("Zz,", 100) + "&includefield=" + strings.Repeat("Zz,", 100), 400, "includefield"},
		{"includefield=" + includeMany(), 200, ""},
		{"00091010=x", 400, "00091010"},
	} {
		r := httptest.NewRequest("GET", "/datastore/x/studies", nil)
		r.URL.RawQuery = tc.query
		r.SetPathValue("datastoreId", "0123456789abcdef0123456789abcdef")
		qr, err := parseQuery(r, "study")
		short := tc.query[:min(len(tc.query), 60)]
		if got := statusOfErr(err); got != tc.status {
			t.Errorf("%s: status %d (%v), want %d", short, got, err, tc.status)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), tc.word) {
			t.Errorf("%s: message %q does not name %s", short, err, tc.word)
		}
		if err == nil && strings.Contains(tc.query, "00191010") && (!qr.include["00191010"] || !qr.include["00081115"]) {
			t.Errorf("%s: include %v lacks the private tag or the sequences", short, qr.include)
		}
		if err == nil && strings.HasSuffix(tc.query, "all") && !qr.all {
			t.Errorf("%s: all ignored", short)
		}
		if err == nil && len(qr.include) > maxIncludeTags {
			t.Errorf("%s: %d include tags", short, len(qr.include))
		}
	}
}

// TestParseFrameList checks frame lists: in range, no duplicates, bounded.
func TestParseFrameList(t *testing.T) {
	huge := strings.Repeat("1,", maxFrameList) + "1"
	for _, tc := range []struct {
		list   string
		n      int
		status int
	}{
		{"1", 1, 200},
		{"3,1,2", 3, 200},
		{"4", 3, 404},
		{"0", 3, 400},
		{"-1", 3, 400},
		{"1,1", 3, 400},
		{"", 3, 400},
		{"1,,2", 3, 400},
		{"99999999999999999999999", 3, 400},
		{"1.5", 3, 400},
		{huge, 3, 400},
	} {
		_, err := parseFrameList(tc.list, tc.n)
		if got := statusOfErr(err); got != tc.status {
			t.Errorf("%.30q of %d: status %d (%v), want %d", tc.list, tc.n, got, err, tc.status)
		}
	}
}

// includeMany lists more distinct valid tags than are returned.
func includeMany() string {
	var b []string
	for i := 0; i < maxIncludeNames; i++ {
		b = append(b, fmt.Sprintf("0008%04X", 0x1000+i))
	}
	return strings.Join(b, ",")
}
