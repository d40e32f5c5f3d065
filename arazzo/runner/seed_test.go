package runner_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/runner"
)

// TestSeedWorkflows runs the two shared HealthImaging workflows, unmodified,
// against a fake HealthImaging server that checks SigV4.
func TestSeedWorkflows(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "arazzo")
	setAWSEnv(t)
	tests := []struct {
		file   string
		inputs map[string]any
		want   map[string]int // calls per operation
	}{{
		file: "amazon-healthimaging-import-dicom-and-search-workflow.yml",
		inputs: map[string]any{
			"datastoreId": fakeDatastoreID, "dataAccessRoleArn": "arn:aws:iam::123456789012:role/r",
			"clientToken": "tok-1", "inputS3Uri": "s3://in/", "outputS3Uri": "s3://out/",
		},
		want: map[string]int{"StartDICOMImportJob": 1, "GetDICOMImportJob": 4, "SearchImageSets": 1},
	}, {
		file: "amazon-healthimaging-onboard-datastore-and-import-workflow.yml",
		inputs: map[string]any{
			"datastoreName": "demo", "datastoreClientToken": "tok-ds", "dataAccessRoleArn": "arn:aws:iam::123456789012:role/r",
			"importClientToken": "tok-imp", "inputS3Uri": "s3://in/", "outputS3Uri": "s3://out/",
		},
		want: map[string]int{"CreateDatastore": 1, "GetDatastore": 3, "StartDICOMImportJob": 1, "GetDICOMImportJob": 4},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			fake, srv := startFakeHI(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f := &arazzo.Fetcher{}
			b, err := f.LoadBundle(ctx, filepath.Join(dir, tt.file), map[string]string{"healthImagingApi": srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			if ds := arazzo.Validate(b.Root, b); arazzo.HasErrors(ds) {
				t.Fatalf("seed does not validate: %v", ds)
			}
			const poll = 20 * time.Millisecond
			r := runner.New(b, runner.Options{Client: &http.Client{Timeout: 5 * time.Second}, PollInterval: poll, MaxPollInterval: 40 * time.Millisecond})
			res, err := r.Run(ctx, "", tt.inputs)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != runner.StatusSucceeded {
				t.Fatalf("status %s, error %v, steps %+v", res.Status, deref(res.Error), res.Steps)
			}
			if len(fake.sigErrs) > 0 {
				t.Fatalf("SigV4 failures: %v", fake.sigErrs)
			}
			if got := res.Outputs["jobStatus"]; got != "COMPLETED" {
				t.Errorf("jobStatus = %v, want COMPLETED", got)
			}
			if _, ok := tt.inputs["datastoreId"]; ok {
				if got := res.Outputs["firstImageSetId"]; got != fakeImageSetID {
					t.Errorf("firstImageSetId = %v, want %s", got, fakeImageSetID)
				}
				// The optional jobName input was not given: the payload
				// must leave it out rather than send null.
				body := fake.bodies["StartDICOMImportJob"].(map[string]any)
				if _, has := body["jobName"]; has {
					t.Errorf("StartDICOMImportJob body has jobName %v", body["jobName"])
				}
				if body["clientToken"] != "tok-1" {
					t.Errorf("clientToken = %v", body["clientToken"])
				}
			} else if got := res.Outputs["datastoreId"]; got != fakeDatastoreID {
				t.Errorf("datastoreId = %v", got)
			}
			for op, n := range tt.want {
				if fake.calls[op] != n {
					t.Errorf("%s called %d times, want %d", op, fake.calls[op], n)
				}
			}
			// Polling must wait at least the poll interval between calls.
			ts := fake.times["GetDICOMImportJob"]
			for i := 1; i < len(ts); i++ {
				if gap := ts[i].Sub(ts[i-1]); gap < poll {
					t.Errorf("poll %d came %v after the previous one, want >= %v", i, gap, poll)
				}
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
