package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi"
)

func TestTimeJSON(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1679592510, 753e6), "1679592510.753"},
		{time.Unix(1679592510, 0), "1679592510"},
		{time.Unix(1679592510, 50e6), "1679592510.05"},
		{time.Unix(-1, 500e6), "-0.5"},
	} {
		b, err := json.Marshal(Time{tc.t})
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.t, b, err, tc.want)
		}
	}
	var tm Time
	if err := json.Unmarshal([]byte("1672531200.5"), &tm); err != nil || tm.UnixMilli() != 1672531200500 {
		t.Errorf("Unmarshal float = %v, %v", tm, err)
	}
	if err := json.Unmarshal([]byte("1710169205"), &tm); err != nil || tm.Unix() != 1710169205 {
		t.Errorf("Unmarshal int = %v, %v", tm, err)
	}
	for _, bad := range []string{`"2024-01-01T00:00:00Z"`, `null`, `1e300`, `true`} {
		if err := json.Unmarshal([]byte(bad), &tm); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
}

func TestPatterns(t *testing.T) {
	tagKey := newPattern(`(?!aws:)[a-zA-Z+-=._:/]+`)
	for s, want := range map[string]bool{"team": true, "a:b/c=d": true, "aws:x": false, "AWS:x": true, "sp ace": false, "": false} {
		if got := tagKey.match(s); got != want {
			t.Errorf("TagKey %q = %v, want %v", s, got, want)
		}
	}
	tok := newPattern(`\p{ASCII}{0,8192}`)
	if !tok.match("abc.DEF_-") || tok.match("é") || tok.match(strings.Repeat("a", 8193)) {
		t.Error("NextToken pattern")
	}
	id := newPattern(`[0-9a-z]{32}`)
	if !id.match(strings.Repeat("a", 32)) || id.match(strings.Repeat("a", 33)) || id.match("x"+strings.Repeat("a", 32)) {
		t.Error("ID pattern must match the whole string")
	}
}

func TestValidateMessages(t *testing.T) {
	in := &CreateDatastoreRequest{DatastoreName: ptr("bad name"), Tags: map[string]string{"aws:k": "v"}}
	err := Validate(in)
	var ve *ohi.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want *ohi.ValidationError", err)
	}
	for _, want := range []string{"3 validation errors detected", "at 'clientToken' failed to satisfy constraint: Member must not be null",
		"Value 'bad name' at 'datastoreName'", "at 'tags.key(aws:k)'"} {
		if !strings.Contains(ve.Reason, want) {
			t.Errorf("message %q lacks %q", ve.Reason, want)
		}
	}
	// Unions need exactly one member; nested list items are named.
	s := &SearchImageSetsRequest{DatastoreId: ptr(strings.Repeat("a", 32)), SearchCriteria: &SearchCriteria{Filters: []SearchFilter{
		{Operator: "LIKE", Values: []SearchByAttributeValue{{DICOMPatientId: ptr("a"), DICOMStudyId: ptr("b")}}}}}}
	err = Validate(s)
	if err == nil || !strings.Contains(err.Error(), "searchCriteria.filters.1.member.values.1.member") ||
		!strings.Contains(err.Error(), "exactly one member") || !strings.Contains(err.Error(), "enum value set: [EQUAL, BETWEEN]") {
		t.Errorf("search validation = %v", err)
	}
	if err := Validate(&GetDatastoreRequest{DatastoreId: ptr(strings.Repeat("0", 32))}); err != nil {
		t.Errorf("valid request rejected: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// fakeService answers GetDatastore and SearchImageSets; every other method
// panics through the nil embedded interface, which the tests never call.
type fakeService struct {
	Service
	gotSearch *SearchImageSetsRequest
	err       error
}

func (f *fakeService) GetDatastore(ctx context.Context, in *GetDatastoreRequest) (*GetDatastoreResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &GetDatastoreResponse{DatastoreProperties: &DatastoreProperties{DatastoreId: in.DatastoreId, DatastoreName: ptr("x"),
		DatastoreStatus: DatastoreStatusActive, CreatedAt: NewTime(time.Unix(100, 0))}}, nil
}

func (f *fakeService) SearchImageSets(ctx context.Context, in *SearchImageSetsRequest) (*SearchImageSetsResponse, error) {
	f.gotSearch = in
	return &SearchImageSetsResponse{ImageSetsMetadataSummaries: []ImageSetsMetadataSummary{}}, nil
}

func do(t *testing.T, h http.Handler, method, path, body string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestHandler(t *testing.T) {
	id := strings.Repeat("a", 32)
	f := &fakeService{}
	h := NewHandler(f)

	res, body := do(t, h, "GET", "/datastore/"+id, "")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(body, `"createdAt":100`) || !strings.Contains(body, `"datastoreStatus":"ACTIVE"`) {
		t.Fatalf("GetDatastore = %d %s", res.StatusCode, body)
	}

	res, body = do(t, h, "GET", "/datastore/BAD", "")
	if res.StatusCode != 400 || res.Header.Get("X-Amzn-ErrorType") != "ValidationException" || !strings.Contains(body, `"__type":"ValidationException"`) {
		t.Fatalf("invalid id = %d %v %s", res.StatusCode, res.Header, body)
	}

	for err, want := range map[error]string{
		ohi.NotFoundf("gone"):               "ResourceNotFoundException 404",
		ohi.Conflictf("busy"):               "ConflictException 409",
		ohi.QuotaExceededf("full"):          "ServiceQuotaExceededException 402",
		errors.New("disk on fire"):          "InternalServerException 500",
		&Error{Code: "ThrottlingException"}: "ThrottlingException 429",
	} {
		f.err = err
		res, body = do(t, h, "GET", "/datastore/"+id, "")
		got := res.Header.Get("X-Amzn-ErrorType") + " " + res.Status[:3]
		if got != want {
			t.Errorf("error %v → %s, want %s", err, got, want)
		}
		if strings.Contains(body, "disk on fire") {
			t.Error("internal error text leaked to the client")
		}
	}
	f.err = nil

	// Payload binding, query binding, and type errors.
	res, body = do(t, h, "POST", "/datastore/"+id+"/searchImageSets?maxResults=5",
		`{"filters":[{"operator":"EQUAL","values":[{"createdAt":1700000000.25}]}]}`)
	if res.StatusCode != 200 || *f.gotSearch.MaxResults != 5 || f.gotSearch.SearchCriteria.Filters[0].Values[0].CreatedAt.UnixMilli() != 1700000000250 {
		t.Fatalf("search binding = %d %s %+v", res.StatusCode, body, f.gotSearch)
	}
	res, body = do(t, h, "POST", "/datastore/"+id+"/searchImageSets?maxResults=abc", `{}`)
	if res.StatusCode != 400 || !strings.Contains(body, "maxResults") {
		t.Fatalf("bad integer = %d %s", res.StatusCode, body)
	}
	res, body = do(t, h, "POST", "/datastore/"+id+"/searchImageSets", `{"filters":"nope"}`)
	if res.StatusCode != 400 || !strings.Contains(body, "filters") {
		t.Fatalf("type mismatch = %d %s", res.StatusCode, body)
	}
	res, body = do(t, h, "POST", "/datastore/"+id+"/searchImageSets", `{"filters":[`)
	if res.StatusCode != 400 || !strings.Contains(body, "not valid JSON") {
		t.Fatalf("bad JSON = %d %s", res.StatusCode, body)
	}
	res, _ = do(t, h, "GET", "/nope", "")
	if res.StatusCode != 404 || res.Header.Get("X-Amzn-ErrorType") != "UnknownOperationException" {
		t.Fatalf("unknown route = %d %v", res.StatusCode, res.Header)
	}
}

func TestOperationsTable(t *testing.T) {
	if len(Operations) != 18 {
		t.Fatalf("%d operations, want 18", len(Operations))
	}
	dataPlane := 0
	for _, op := range Operations {
		if op.HostPrefix == "runtime-" {
			dataPlane++
		}
	}
	if dataPlane != 8 {
		t.Fatalf("%d data-plane operations, want 8", dataPlane)
	}
}

func TestTimestampErrorsNameTheMember(t *testing.T) {
	h := NewHandler(&fakeService{})
	res, body := do(t, h, "POST", "/datastore/"+strings.Repeat("a", 32)+"/searchImageSets",
		`{"filters":[{"operator":"EQUAL","values":[{"createdAt":"2020-01-01"}]}]}`)
	if res.StatusCode != 400 || !strings.Contains(body, "createdAt") || !strings.Contains(body, "seconds since the epoch") {
		t.Fatalf("string timestamp = %d %s", res.StatusCode, body)
	}
}
