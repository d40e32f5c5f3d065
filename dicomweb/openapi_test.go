package dicomweb

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPI checks that the published description is valid OpenAPI,
// that openapi.json (the copy workflows reference) is current, and that it
// has exactly the routes the handler serves.
func TestOpenAPI(t *testing.T) {
	doc := OpenAPI()
	if os.Getenv("OHI_UPDATE_OPENAPI") == "1" {
		if err := os.WriteFile("openapi.json", doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile("openapi.json")
	if err != nil || !bytes.Equal(committed, doc) {
		t.Fatalf("dicomweb/openapi.json is not current (regenerate with OHI_UPDATE_OPENAPI=1 go test -run TestOpenAPI ./dicomweb): %v", err)
	}
	loader := openapi3.NewLoader()
	spec, err := loader.LoadFromData(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Validate(context.Background()); err != nil {
		t.Fatalf("invalid OpenAPI: %v", err)
	}
	ops := 0
	for _, item := range spec.Paths.Map() {
		ops += len(item.Operations())
	}
	if ops != len(Routes) {
		t.Fatalf("%d operations described, %d routes", ops, len(Routes))
	}
	// Every described operation reaches its own handler (not the mux's
	// fallback), which rejects the placeholder ids.
	h := New(Config{})
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			p := strings.NewReplacer("{datastoreId}", "x", "{StudyInstanceUID}", "1.2", "{SeriesInstanceUID}", "1.3",
				"{SOPInstanceUID}", "1.4", "{frameList}", "1", "{bulkdataUriHash}", "00420011").Replace(path)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, p, nil))
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "datastoreId") {
				t.Errorf("%s %s (%s): %d %s", method, p, op.OperationID, rec.Code, rec.Body.String())
			}
			if !Matches(p) {
				t.Errorf("%s is not routed to DICOMweb", p)
			}
		}
	}
	for _, p := range []string{"/datastore/x", "/datastore/x/imageSet/y/getImageFrame", "/datastore/x/studiesX"} {
		if Matches(p) {
			t.Errorf("%s is routed to DICOMweb", p)
		}
	}
}
