package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGeneratedIsCurrent regenerates package api from the botocore model in
// ../shared and checks that api/zz_generated.go matches, so the wire
// contract never drifts from its one description.
func TestGeneratedIsCurrent(t *testing.T) {
	model, err := os.ReadFile("../../../shared/healthimaging/medical-imaging-service-2.json")
	if os.IsNotExist(err) {
		t.Skip("../shared/healthimaging is not beside the repository; cannot check api/zz_generated.go")
	}
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(model)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../api/zz_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("api/zz_generated.go is out of date: run `make generate`")
	}
	wantSpec, err := OpenAPI(model)
	if err != nil {
		t.Fatal(err)
	}
	gotSpec, err := os.ReadFile("../../api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotSpec, wantSpec) {
		t.Fatal("api/openapi.json is out of date: run `make generate`")
	}
}

func TestGenerateRejectsBadModel(t *testing.T) {
	if _, err := Generate([]byte(`{"operations": 3}`)); err == nil {
		t.Fatal("Generate accepted a malformed model")
	}
}
