package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"

	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/internal/miclient"
	"github.com/openhealthimaging/ohi/synth"
)

const (
	testAK     = "AKIDOHIE2ETEST"
	testSecret = "ohi-e2e-test-secret"
	roleARN    = "arn:aws:iam::123456789012:role/ImportRole"
	callLimit  = 30 * time.Second // one API call
	maxMDBytes = 64 << 20         // one decompressed metadata document
)

// authArgs are the serve flags for the fixed test key pair.
var authArgs = []string{"--access-key-id", testAK, "--secret-access-key", testSecret}

// newClient returns a HealthImaging client for endpoint without retries.
func newClient(endpoint, ak, secret string) *mi.Client { return miclient.New(endpoint, ak, secret) }

func callCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callLimit)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond every interval until it returns true, failing the test
// after timeout or on an error.
func waitFor(t testing.TB, what string, timeout, interval time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(interval)
	}
}

// createDatastore creates a data store and waits until it is ACTIVE.
func createDatastore(t testing.TB, c *mi.Client, name string) string {
	t.Helper()
	out, err := c.CreateDatastore(callCtx(t), &mi.CreateDatastoreInput{DatastoreName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateDatastore: %v", err)
	}
	id := *out.DatastoreId
	waitFor(t, "data store ACTIVE", 20*time.Second, 50*time.Millisecond, func() (bool, error) {
		g, err := c.GetDatastore(callCtx(t), &mi.GetDatastoreInput{DatastoreId: &id})
		if err != nil {
			return false, err
		}
		return g.DatastoreProperties.DatastoreStatus == types.DatastoreStatusActive, nil
	})
	return id
}

// startImport starts an import job and returns its id.
func startImport(t testing.TB, c *mi.Client, dsID, input, output string) string {
	t.Helper()
	out, err := c.StartDICOMImportJob(callCtx(t), &mi.StartDICOMImportJobInput{
		DatastoreId: &dsID, DataAccessRoleArn: aws.String(roleARN),
		InputS3Uri: aws.String(input), OutputS3Uri: aws.String(output),
	})
	if err != nil {
		t.Fatalf("StartDICOMImportJob: %v", err)
	}
	return *out.JobId
}

// waitJob polls the job until it ends (COMPLETED or FAILED). Call errors
// are tolerated until the deadline (a restarted server may not answer yet).
func waitJob(t testing.TB, c *mi.Client, dsID, jobID string, timeout time.Duration) *types.DICOMImportJobProperties {
	t.Helper()
	var props *types.DICOMImportJobProperties
	var lastErr error
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		g, err := c.GetDICOMImportJob(callCtx(t), &mi.GetDICOMImportJobInput{DatastoreId: &dsID, JobId: &jobID})
		lastErr = err
		if err == nil {
			props = g.JobProperties
			if props.JobStatus == types.JobStatusCompleted || props.JobStatus == types.JobStatusFailed {
				return props
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	status := types.JobStatus("unknown")
	if props != nil {
		status = props.JobStatus
	}
	t.Fatalf("import job %s did not end within %v: last status %s, last error %v", jobID, timeout, status, lastErr)
	return nil
}

// wantCompleted fails the test unless the job COMPLETED and reports the
// output prefix AWS HealthImaging uses.
func wantCompleted(t testing.TB, p *types.DICOMImportJobProperties, outputBase, dsID string) {
	t.Helper()
	if p.JobStatus != types.JobStatusCompleted {
		t.Fatalf("import job %s is %s (%s), want COMPLETED", *p.JobId, p.JobStatus, aws.ToString(p.Message))
	}
	want := outputBase + dsID + "-DicomImport-" + *p.JobId + "/"
	if got := aws.ToString(p.OutputS3Uri); got != want {
		t.Fatalf("job outputS3Uri = %s, want %s", got, want)
	}
	if p.EndedAt == nil {
		t.Fatalf("COMPLETED job %s has no endedAt", *p.JobId)
	}
}

// jobSummary is the jobSummary object of job-output-manifest.json.
type jobSummary struct {
	JobID                          string `json:"jobId"`
	DatastoreID                    string `json:"datastoreId"`
	InputS3URI                     string `json:"inputS3Uri"`
	OutputS3URI                    string `json:"outputS3Uri"`
	NumberOfScannedFiles           int    `json:"numberOfScannedFiles"`
	NumberOfImportedFiles          int    `json:"numberOfImportedFiles"`
	NumberOfFilesWithCustomerError int    `json:"numberOfFilesWithCustomerError"`
	NumberOfFilesWithServerError   int    `json:"numberOfFilesWithServerError"`
	NumberOfGeneratedImageSets     int    `json:"numberOfGeneratedImageSets"`
	ImageSetsSummary               []struct {
		ImageSetID                  string `json:"imageSetId"`
		ImageSetVersion             int    `json:"imageSetVersion"`
		IsPrimary                   bool   `json:"isPrimary"`
		NumberOfMatchedSOPInstances int    `json:"numberOfMatchedSOPInstances"`
	} `json:"imageSetsSummary"`
}

func parseManifest(t testing.TB, b []byte) jobSummary {
	t.Helper()
	var m struct {
		JobSummary *jobSummary `json:"jobSummary"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.JobSummary == nil {
		t.Fatalf("job-output-manifest.json is not a manifest (%v): %.500s", err, b)
	}
	return *m.JobSummary
}

// successLine and failureLine are lines of SUCCESS/success.ndjson and
// FAILURE/failure.ndjson.
type successLine struct {
	InputFile      string `json:"inputFile"`
	ImportResponse struct {
		ImageSetID string `json:"imageSetId"`
		IsPrimary  bool   `json:"isPrimary"`
	} `json:"importResponse"`
}

type failureLine struct {
	InputFile string `json:"inputFile"`
	Exception struct {
		ExceptionType string `json:"exceptionType"`
		Message       string `json:"message"`
	} `json:"exception"`
}

// ndjson decodes every non-empty line of b into a T.
func ndjson[T any](t testing.TB, name string, b []byte) []T {
	t.Helper()
	var out []T
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var v T
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s line %d: %v: %s", name, i+1, err, line)
		}
		out = append(out, v)
	}
	return out
}

// metadataDoc is the part of an image set metadata document the tests read.
type metadataDoc struct {
	SchemaVersion string
	DatastoreID   string
	ImageSetID    string
	Patient       struct{ DICOM map[string]any }
	Study         struct {
		DICOM  map[string]any
		Series map[string]struct {
			DICOM     map[string]any
			Instances map[string]struct {
				DICOM                   map[string]any
				StoredTransferSyntaxUID string
				ImageFrames             []struct {
					ID               string
					FrameSizeInBytes int
				}
			}
		}
	}
}

// gunzip decompresses b, reading at most maxMDBytes.
func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxMDBytes+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxMDBytes {
		return nil, fmt.Errorf("metadata larger than %d bytes", maxMDBytes)
	}
	return out, nil
}

// getMetadata fetches and decodes the latest metadata of an image set. The
// body is gunzipped when the transport left it compressed.
func getMetadata(t testing.TB, c *mi.Client, dsID, setID string) metadataDoc {
	t.Helper()
	out, err := c.GetImageSetMetadata(callCtx(t), &mi.GetImageSetMetadataInput{DatastoreId: &dsID, ImageSetId: &setID})
	if err != nil {
		t.Fatalf("GetImageSetMetadata %s: %v", setID, err)
	}
	defer out.ImageSetMetadataBlob.Close()
	raw, err := io.ReadAll(io.LimitReader(out.ImageSetMetadataBlob, maxMDBytes+1))
	if err != nil {
		t.Fatalf("read metadata of %s: %v", setID, err)
	}
	if len(raw) > 1 && raw[0] == 0x1f && raw[1] == 0x8b {
		if raw, err = gunzip(raw); err != nil {
			t.Fatalf("metadata of %s: %v", setID, err)
		}
	}
	var doc metadataDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("metadata of %s is not JSON: %v", setID, err)
	}
	if doc.SchemaVersion != "1.1" || doc.DatastoreID != dsID || doc.ImageSetID != setID {
		t.Fatalf("metadata header of %s: SchemaVersion %q DatastoreID %q ImageSetID %q", setID, doc.SchemaVersion, doc.DatastoreID, doc.ImageSetID)
	}
	return doc
}

// getFrame fetches one frame's bytes.
func getFrame(t testing.TB, c *mi.Client, dsID, setID, frameID string) []byte {
	t.Helper()
	out, err := c.GetImageFrame(callCtx(t), &mi.GetImageFrameInput{DatastoreId: &dsID, ImageSetId: &setID,
		ImageFrameInformation: &types.ImageFrameInformation{ImageFrameId: &frameID}})
	if err != nil {
		t.Fatalf("GetImageFrame %s/%s: %v", setID, frameID, err)
	}
	defer out.ImageFrameBlob.Close()
	b, err := io.ReadAll(out.ImageFrameBlob)
	if err != nil {
		t.Fatalf("read frame %s: %v", frameID, err)
	}
	return b
}

// searchAll returns every image set of the data store, following nextToken
// (at most maxPages pages).
func searchAll(t testing.TB, c *mi.Client, dsID string) []types.ImageSetsMetadataSummary {
	t.Helper()
	const maxPages = 1000
	var all []types.ImageSetsMetadataSummary
	p := mi.NewSearchImageSetsPaginator(c, &mi.SearchImageSetsInput{DatastoreId: &dsID, MaxResults: aws.Int32(50)})
	for pages := 0; p.HasMorePages(); pages++ {
		if pages == maxPages {
			t.Fatalf("SearchImageSets: more than %d pages", maxPages)
		}
		page, err := p.NextPage(callCtx(t))
		if err != nil {
			t.Fatalf("SearchImageSets: %v", err)
		}
		all = append(all, page.ImageSetsMetadataSummaries...)
	}
	return all
}

// writeStudy generates a synthetic study into dir.
func writeStudy(t testing.TB, dir string, cfg synth.Config) *synth.Generator {
	t.Helper()
	g, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(dir); err != nil {
		t.Fatal(err)
	}
	return g
}

// pixels returns the native pixel data of a synthetic single-frame
// instance: the last element of the file, rows*cols*2 bytes at 16 bits.
func pixels(t testing.TB, g *synth.Generator, r synth.Ref) []byte {
	t.Helper()
	file, err := g.Instance(r)
	if err != nil {
		t.Fatal(err)
	}
	cfg := g.Config()
	n := cfg.Rows * cfg.Cols * cfg.Bits / 8
	if len(file) < n {
		t.Fatalf("instance %+v is %d bytes, shorter than its %d pixel bytes", r, len(file), n)
	}
	return file[len(file)-n:]
}

// decoded returns the pixels of a frame GetImageFrame returned: frames of
// native input are stored as lossless HTJ2K (image/jph).
func decoded(t testing.TB, frame []byte) []byte {
	t.Helper()
	px, err := codec.DecodeHTJ2K(frame, 0)
	if err != nil {
		t.Fatalf("frame (%d bytes) is not HTJ2K: %v", len(frame), err)
	}
	return px.Data
}

// relFiles returns the slash-separated paths of the regular files under
// dir, relative to dir.
func relFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	// The trailing separator makes a symlinked dir walked too.
	err := filepath.WalkDir(dir+string(filepath.Separator), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
