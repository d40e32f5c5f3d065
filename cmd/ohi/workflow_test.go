package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/openhealthimaging/ohi/internal/miclient"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/openhealthimaging/ohi/arazzo/runner"
	"github.com/openhealthimaging/ohi/internal/app"
	"github.com/openhealthimaging/ohi/synth"
)

const (
	wfAccessKey = "AKIDOHIWORKFLOWTEST"
	wfSecret    = "ohi-workflow-test-secret-4f1d"
	wfRegion    = "us-east-1"
	wfRoleARN   = "arn:aws:iam::123456789012:role/ImportRole"
)

// seedDir returns the directory of the shared seed workflows, or skips the
// test when the shared material is absent.
func seedDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "healthimaging", "arazzo"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared seed workflows not found at %s (../shared is absent): %v", dir, err)
	}
	return dir
}

// hiServer is the real HealthImaging server, in-process, with SigV4 on.
type hiServer struct {
	url     string
	dataDir string
	client  *mi.Client
}

func startHI(t *testing.T) *hiServer {
	t.Helper()
	dataDir := t.TempDir()
	ctx := context.Background()
	a, err := app.New(ctx, app.Config{DataDir: dataDir, Credentials: map[string]string{wfAccessKey: wfSecret},
		TransitionDelay: 50 * time.Millisecond, JobPoll: 50 * time.Millisecond, ImportWorkers: 2,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		a.Close()
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("closing the server: %v", err)
		}
	})
	client := mi.New(mi.Options{
		Region:       wfRegion,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(wfAccessKey, wfSecret, ""),
		APIOptions:   []func(*middleware.Stack) error{miclient.DisableHostPrefix},
		Retryer:      aws.NopRetryer{},
	})
	return &hiServer{url: srv.URL, dataDir: dataDir, client: client}
}

// writeStudy writes a small synthetic study to s3://dicom-in/<prefix>/.
func (s *hiServer) writeStudy(t *testing.T, prefix string, seed int64) {
	t.Helper()
	g, err := synth.New(synth.Config{Series: 1, Instances: 3, Rows: 32, Cols: 32, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(filepath.Join(s.dataDir, "buckets", "dicom-in", prefix)); err != nil {
		t.Fatal(err)
	}
}

// setAWSEnv gives the workflow runner credentials through the environment
// only: no profile, no shared files, no instance metadata.
func setAWSEnv(t *testing.T, secret string) {
	t.Setenv("AWS_ACCESS_KEY_ID", wfAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", wfRegion)
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}

// cliRun is what `ohi workflow run` did: the exit status main would give,
// stdout, and stderr including main's "ohi: <error>" line.
type cliRun struct {
	code           int
	stdout, stderr string
}

// runWorkflowCLI parses args with the real command tree (so defaults and
// flag handling are those of the binary), runs the `workflow run` command
// body with captured output, and maps the error to an exit status as main
// does.
func runWorkflowCLI(t *testing.T, args ...string) cliRun {
	t.Helper()
	var c cli
	parser, err := kong.New(&c, kong.Name("ohi"), kong.Exit(func(code int) { t.Fatalf("kong exit %d", code) }))
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	if kctx.Command() != "workflow run <file>" {
		t.Fatalf("parsed command %q", kctx.Command())
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = c.Workflow.Run.run(ctx, &stdout, &stderr, false)
	code := 0
	if err != nil {
		code = 1
		var ee *ExitError
		if errors.As(err, &ee) {
			code = ee.Code
			if ee.Err != nil {
				stderr.WriteString("ohi: " + ee.Err.Error() + "\n")
			}
		} else {
			stderr.WriteString("ohi: " + err.Error() + "\n")
		}
	}
	return cliRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func decodeResult(t *testing.T, r cliRun) *runner.Result {
	t.Helper()
	var res runner.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("stdout is not one JSON result: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return &res
}

func steps(res *runner.Result) string {
	var b strings.Builder
	for _, s := range res.Steps {
		b.WriteString("\n  " + s.StepID + " " + s.Outcome + " " + s.Action + " " + s.Error)
	}
	return b.String()
}

// TestSeedWorkflowsRealServer runs both shared seed workflows, unmodified,
// through `ohi workflow run` against the real server with SigV4 on: the
// onboarding workflow creates a data store and imports a study; the import
// and search workflow imports a second study into it and finds the image
// sets.
func TestSeedWorkflowsRealServer(t *testing.T) {
	dir := seedDir(t)
	hi := startHI(t)
	hi.writeStudy(t, "onboard", 11)
	hi.writeStudy(t, "search", 12)
	setAWSEnv(t, wfSecret)
	ctx := context.Background()
	common := []string{"--server", "healthImagingApi=" + hi.url, "--output", "json",
		"--poll-interval", "50ms", "--timeout", "45s", "--max-steps", "500"}

	// Onboard: CreateDatastore, poll to ACTIVE, import, poll to COMPLETED.
	args := append([]string{"workflow", "run", filepath.Join(dir, "amazon-healthimaging-onboard-datastore-and-import-workflow.yml"),
		"--input", "datastoreName=wf-onboard", "--input", "datastoreClientToken=ds-" + t.Name(),
		"--input", "dataAccessRoleArn=" + wfRoleARN, "--input", "importClientToken=imp-onboard",
		"--input", "inputS3Uri=s3://dicom-in/onboard/", "--input", "outputS3Uri=s3://dicom-out/onboard/"}, common...)
	r := runWorkflowCLI(t, args...)
	res := decodeResult(t, r)
	if r.code != 0 || res.Status != runner.StatusSucceeded {
		t.Fatalf("onboard: exit %d, status %s, error %v%s\nstderr: %s", r.code, res.Status, res.Error, steps(res), r.stderr)
	}
	if res.Outputs["jobStatus"] != "COMPLETED" {
		t.Errorf("onboard jobStatus = %v, want COMPLETED", res.Outputs["jobStatus"])
	}
	dsID, _ := res.Outputs["datastoreId"].(string)
	if dsID == "" {
		t.Fatalf("onboard datastoreId output = %v", res.Outputs["datastoreId"])
	}
	ds, err := hi.client.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: &dsID})
	if err != nil {
		t.Fatalf("GetDatastore %s: %v", dsID, err)
	}
	if ds.DatastoreProperties.DatastoreStatus != types.DatastoreStatusActive {
		t.Errorf("data store %s is %s, want ACTIVE", dsID, ds.DatastoreProperties.DatastoreStatus)
	}
	jobID, _ := res.Outputs["jobId"].(string)
	job, err := hi.client.GetDICOMImportJob(ctx, &mi.GetDICOMImportJobInput{DatastoreId: &dsID, JobId: &jobID})
	if err != nil {
		t.Fatalf("GetDICOMImportJob %s: %v", jobID, err)
	}
	if job.JobProperties.JobStatus != types.JobStatusCompleted {
		t.Errorf("server reports job %s as %s", jobID, job.JobProperties.JobStatus)
	}
	// The workflow polled the data store at least once before importing.
	if n := countStep(res, "pollDatastore"); n < 1 {
		t.Errorf("pollDatastore ran %d times", n)
	}

	// Import and search, into the data store the onboarding created.
	args = append([]string{"workflow", "run", filepath.Join(dir, "amazon-healthimaging-import-dicom-and-search-workflow.yml"),
		"--input", "datastoreId=" + dsID, "--input", "dataAccessRoleArn=" + wfRoleARN,
		"--input", "clientToken=imp-search", "--input", "jobName=wf-search",
		"--input", "inputS3Uri=s3://dicom-in/search/", "--input", "outputS3Uri=s3://dicom-out/search/"}, common...)
	r = runWorkflowCLI(t, args...)
	res = decodeResult(t, r)
	if r.code != 0 || res.Status != runner.StatusSucceeded {
		t.Fatalf("import-and-search: exit %d, status %s, error %v%s\nstderr: %s", r.code, res.Status, res.Error, steps(res), r.stderr)
	}
	if res.Outputs["jobStatus"] != "COMPLETED" {
		t.Errorf("import-and-search jobStatus = %v, want COMPLETED", res.Outputs["jobStatus"])
	}
	isID, _ := res.Outputs["firstImageSetId"].(string)
	if isID == "" {
		t.Fatalf("firstImageSetId output = %v", res.Outputs["firstImageSetId"])
	}
	is, err := hi.client.GetImageSet(ctx, &mi.GetImageSetInput{DatastoreId: &dsID, ImageSetId: &isID})
	if err != nil {
		t.Fatalf("GetImageSet %s: %v", isID, err)
	}
	if aws.ToString(is.ImageSetId) != isID {
		t.Errorf("GetImageSet returned %s, want %s", aws.ToString(is.ImageSetId), isID)
	}
	// Two studies were imported, so the search must see two image sets.
	sums, _ := res.Outputs["imageSetsMetadataSummaries"].([]any)
	if len(sums) != 2 {
		t.Errorf("search found %d image sets, want 2", len(sums))
	}
	if n := countStep(res, "searchImageSets"); n != 1 {
		t.Errorf("searchImageSets ran %d times, want 1", n)
	}
}

func countStep(res *runner.Result, id string) int {
	n := 0
	for _, s := range res.Steps {
		if s.StepID == id {
			n++
		}
	}
	return n
}

// TestSeedWorkflowWrongSecret: with a wrong secret the server refuses the
// first request; the run must fail with exit status 1, name the error the
// server returned, and never print a secret.
func TestSeedWorkflowWrongSecret(t *testing.T) {
	dir := seedDir(t)
	hi := startHI(t)
	const wrong = "definitely-not-the-secret-9c2e"
	setAWSEnv(t, wrong)
	for _, output := range []string{"json", "text"} {
		t.Run(output, func(t *testing.T) {
			r := runWorkflowCLI(t, "workflow", "run", filepath.Join(dir, "amazon-healthimaging-onboard-datastore-and-import-workflow.yml"),
				"--server", "healthImagingApi="+hi.url, "--output", output, "--poll-interval", "50ms", "-v",
				"--input", "datastoreName=wf-denied", "--input", "datastoreClientToken=ds-denied",
				"--input", "dataAccessRoleArn="+wfRoleARN, "--input", "importClientToken=imp-denied",
				"--input", "inputS3Uri=s3://dicom-in/x/", "--input", "outputS3Uri=s3://dicom-out/x/")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			all := r.stdout + r.stderr
			for _, want := range []string{"403", "InvalidSignatureException", "createDatastore"} {
				if !strings.Contains(all, want) {
					t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", want, r.stdout, r.stderr)
				}
			}
			for _, secret := range []string{wrong, wfSecret} {
				if strings.Contains(all, secret) {
					t.Errorf("output contains a secret %q", secret)
				}
			}
			if output == "json" {
				res := decodeResult(t, r)
				if res.Status != runner.StatusFailed || res.Error == nil {
					t.Fatalf("status %s, error %v", res.Status, res.Error)
				}
				if len(res.Steps) != 1 || res.Steps[0].StatusCode != 403 || res.Steps[0].Action != "fail" {
					t.Errorf("steps %+v, want one failed createDatastore with 403", res.Steps)
				}
			}
		})
	}
	// Nothing was created.
	out, err := hi.client.ListDatastores(context.Background(), &mi.ListDatastoresInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.DatastoreSummaries) != 0 {
		t.Errorf("%d data stores exist after refused requests", len(out.DatastoreSummaries))
	}
}
