package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"
	"github.com/aws/smithy-go"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/blob/s3blob"
	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/internal/app"
	"github.com/openhealthimaging/ohi/internal/miclient"
	"github.com/openhealthimaging/ohi/internal/s3test"
	"github.com/openhealthimaging/ohi/internal/testdb"
	"github.com/openhealthimaging/ohi/synth"
)

const (
	testAK     = "AKIDOHITEST"
	testSecret = "ohi-test-secret"
	roleARN    = "arn:aws:iam::123456789012:role/ImportRole"
)

// testLogger discards server logs unless OHI_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("OHI_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testServer struct {
	t       *testing.T
	app     *app.App
	srv     *httptest.Server
	dataDir string
	client  *mi.Client
}

func newClient(url, ak, secret string) *mi.Client { return miclient.New(url, ak, secret) }

func startServer(t *testing.T, dataDir string) *testServer {
	t.Helper()
	return startServerDelay(t, dataDir, 50*time.Millisecond)
}

// backend is the storage the tests run on: OHI_TEST_BACKEND=embedded
// (SQLite and files, the default) or "postgres" (PostgreSQL from
// internal/testdb and frames in a real S3-compatible server on loopback).
type backend struct {
	database string
	blobs    ohi.BlobStore
}

var backends sync.Map // data directory → *backend, so a restart finds the same storage

func backendFor(t *testing.T, dataDir string) *backend {
	t.Helper()
	if b, ok := backends.Load(dataDir); ok {
		return b.(*backend)
	}
	b := &backend{}
	switch os.Getenv("OHI_TEST_BACKEND") {
	case "", "embedded":
	case "postgres":
		b.database = testdb.Postgres(t)
		srv := s3test.Start(t, "ohi-blobs")
		b.blobs = s3blob.New(srv.Client(), "ohi-blobs", "test/")
	default:
		t.Fatalf("unknown OHI_TEST_BACKEND %q", os.Getenv("OHI_TEST_BACKEND"))
	}
	backends.Store(dataDir, b)
	return b
}

// startServerDelay starts a server whose asynchronous operations settle
// after delay.
func startServerDelay(t *testing.T, dataDir string, delay time.Duration) *testServer {
	t.Helper()
	ctx := context.Background()
	be := backendFor(t, dataDir)
	a, err := app.New(ctx, app.Config{DataDir: dataDir, Database: be.database, Blobs: be.blobs, Credentials: map[string]string{testAK: testSecret},
		TransitionDelay: delay, JobPoll: 100 * time.Millisecond, ImportWorkers: 2,
		Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	ts := &testServer{t: t, app: a, srv: srv, dataDir: dataDir, client: newClient(srv.URL, testAK, testSecret)}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	if ts.srv != nil {
		ts.srv.Close()
		ts.srv = nil
	}
	if ts.app != nil {
		_ = ts.app.Close()
		ts.app = nil
	}
}

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

// waitFor polls cond every 20ms for at most 20s.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (ts *testServer) createDatastore(name string) string {
	t := ts.t
	t.Helper()
	ctx := context.Background()
	out, err := ts.client.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	id := *out.DatastoreId
	waitFor(t, "data store ACTIVE", func() (bool, error) {
		g, err := ts.client.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: &id})
		if err != nil {
			return false, err
		}
		return g.DatastoreProperties.DatastoreStatus == types.DatastoreStatusActive, nil
	})
	return id
}

// importDir runs an import job of s3://bucket/prefix and waits for its end.
func (ts *testServer) importDir(dsID, bucket, prefix string) *types.DICOMImportJobProperties {
	t := ts.t
	t.Helper()
	ctx := context.Background()
	start, err := ts.client.StartDICOMImportJob(ctx, &mi.StartDICOMImportJobInput{
		DatastoreId: &dsID, DataAccessRoleArn: aws.String(roleARN),
		InputS3Uri: aws.String("s3://" + bucket + "/" + prefix), OutputS3Uri: aws.String("s3://ohi-output/jobs/"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var props *types.DICOMImportJobProperties
	waitFor(t, "import job end", func() (bool, error) {
		g, err := ts.client.GetDICOMImportJob(ctx, &mi.GetDICOMImportJobInput{DatastoreId: &dsID, JobId: start.JobId})
		if err != nil {
			return false, err
		}
		props = g.JobProperties
		return props.JobStatus == types.JobStatusCompleted || props.JobStatus == types.JobStatusFailed, nil
	})
	return props
}

// bucketFile reads s3://bucket/key from the embedded buckets directory.
func (ts *testServer) bucketFile(uri string) []byte {
	ts.t.Helper()
	rest := strings.TrimPrefix(uri, "s3://")
	b, err := os.ReadFile(filepath.Join(ts.dataDir, "buckets", filepath.FromSlash(rest)))
	if err != nil {
		ts.t.Fatal(err)
	}
	return b
}

func writeStudy(t *testing.T, dir string, cfg synth.Config) *synth.Generator {
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

type manifest struct {
	JobSummary struct {
		NumberOfScannedFiles           int
		NumberOfImportedFiles          int
		NumberOfFilesWithCustomerError int
		NumberOfFilesWithServerError   int
		NumberOfGeneratedImageSets     int
		ImageSetsSummary               []struct {
			ImageSetID                  string `json:"imageSetId"`
			ImageSetVersion             int    `json:"imageSetVersion"`
			IsPrimary                   bool   `json:"isPrimary"`
			NumberOfMatchedSOPInstances int    `json:"numberOfMatchedSOPInstances"`
		} `json:"imageSetsSummary"`
	} `json:"jobSummary"`
}

func TestDatastoreLifecycle(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client

	out, err := c.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String("first"), ClientToken: aws.String("tok-1"),
		Tags: map[string]string{"team": "imaging"}})
	if err != nil {
		t.Fatal(err)
	}
	if out.DatastoreStatus != types.DatastoreStatusCreating {
		t.Fatalf("status right after create = %s, want CREATING", out.DatastoreStatus)
	}
	id := *out.DatastoreId
	// Same token and request: the same data store.
	again, err := c.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String("first"), ClientToken: aws.String("tok-1"),
		Tags: map[string]string{"team": "imaging"}})
	if err != nil || *again.DatastoreId != id {
		t.Fatalf("idempotent create = %v, %v; want %s", again, err, id)
	}
	// Same token, different request: rejected.
	_, err = c.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String("other"), ClientToken: aws.String("tok-1")})
	wantCode(t, err, "ConflictException")

	waitFor(t, "ACTIVE", func() (bool, error) {
		g, err := c.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: &id})
		if err != nil {
			return false, err
		}
		p := g.DatastoreProperties
		if *p.DatastoreName != "first" || p.LosslessStorageFormat != types.LosslessStorageFormatHtj2k ||
			*p.DatastoreArn != "arn:aws:medical-imaging:us-east-1:123456789012:datastore/"+id || p.CreatedAt == nil {
			t.Fatalf("unexpected properties %+v", p)
		}
		return p.DatastoreStatus == types.DatastoreStatusActive, nil
	})
	tags, err := c.ListTagsForResource(ctx, &mi.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:medical-imaging:us-east-1:123456789012:datastore/" + id)})
	if err != nil || tags.Tags["team"] != "imaging" {
		t.Fatalf("tags = %v, %v", tags, err)
	}

	// Pagination over 3 data stores, 2 per page.
	ids := map[string]bool{id: true}
	for _, n := range []string{"second", "third"} {
		o, err := c.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String(n)})
		if err != nil {
			t.Fatal(err)
		}
		ids[*o.DatastoreId] = true
	}
	seen := map[string]bool{}
	pages := 0
	p := mi.NewListDatastoresPaginator(c, &mi.ListDatastoresInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range page.DatastoreSummaries {
			if seen[*s.DatastoreId] {
				t.Fatalf("data store %s listed twice", *s.DatastoreId)
			}
			seen[*s.DatastoreId] = true
		}
	}
	if pages != 2 || len(seen) != 3 {
		t.Fatalf("pages=%d seen=%d, want 2 pages and 3 data stores", pages, len(seen))
	}
	for k := range ids {
		if !seen[k] {
			t.Fatalf("data store %s not listed", k)
		}
	}

	// Validation, not found, tampered token.
	_, err = c.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: aws.String("short")})
	wantCode(t, err, "ValidationException")
	if !strings.Contains(err.Error(), "datastoreId") {
		t.Fatalf("validation message does not name the field: %v", err)
	}
	_, err = c.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: aws.String(strings.Repeat("0", 32))})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = c.ListDatastores(ctx, &mi.ListDatastoresInput{MaxResults: aws.Int32(51)})
	wantCode(t, err, "ValidationException")
	_, err = c.ListDatastores(ctx, &mi.ListDatastoresInput{NextToken: aws.String("not-a-token")})
	wantCode(t, err, "ValidationException")
	_, err = c.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String("bad name!")})
	wantCode(t, err, "ValidationException")
	_, err = c.TagResource(ctx, &mi.TagResourceInput{ResourceArn: aws.String("arn:aws:medical-imaging:us-east-1:123456789012:datastore/" + id),
		Tags: map[string]string{"aws:reserved": "x"}})
	wantCode(t, err, "ValidationException")

	// Delete: DELETING, then DELETED.
	del, err := c.DeleteDatastore(ctx, &mi.DeleteDatastoreInput{DatastoreId: &id})
	if err != nil || del.DatastoreStatus != types.DatastoreStatusDeleting {
		t.Fatalf("delete = %v, %v", del, err)
	}
	waitFor(t, "DELETED", func() (bool, error) {
		g, err := c.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: &id})
		if err != nil {
			return false, err
		}
		return g.DatastoreProperties.DatastoreStatus == types.DatastoreStatusDeleted, nil
	})
	_, err = c.StartDICOMImportJob(ctx, &mi.StartDICOMImportJobInput{DatastoreId: &id, DataAccessRoleArn: aws.String(roleARN),
		InputS3Uri: aws.String("s3://input/x/"), OutputS3Uri: aws.String("s3://output/x/")})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestSignatures(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	_, err := newClient(ts.srv.URL, testAK, "wrong-secret").ListDatastores(ctx, &mi.ListDatastoresInput{})
	wantCode(t, err, "InvalidSignatureException")
	_, err = newClient(ts.srv.URL, "AKIDUNKNOWN", testSecret).ListDatastores(ctx, &mi.ListDatastoresInput{})
	wantCode(t, err, "UnrecognizedClientException")
	// A data-plane call with a bad signature.
	_, err = newClient(ts.srv.URL, testAK, "wrong-secret").SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: aws.String(strings.Repeat("a", 32))})
	wantCode(t, err, "InvalidSignatureException")
	if _, err := ts.client.ListDatastores(ctx, &mi.ListDatastoresInput{}); err != nil {
		t.Fatal(err)
	}
}

func TestImportSearchAndRead(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	dsID := ts.createDatastore("imports")

	in := filepath.Join(ts.dataDir, "buckets", "dicom-in", "study1")
	g := writeStudy(t, in, synth.Config{Studies: 1, Series: 2, Instances: 3, Rows: 64, Cols: 48, Seed: 7})
	// Two bad files next to the good ones.
	if err := os.WriteFile(filepath.Join(in, "notes.txt"), []byte("not a DICOM file"), 0o644); err != nil {
		t.Fatal(err)
	}
	good, err := g.Instance(synth.Ref{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "truncated.dcm"), good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	props := ts.importDir(dsID, "dicom-in", "study1/")
	if props.JobStatus != types.JobStatusCompleted {
		t.Fatalf("job = %s (%s), want COMPLETED", props.JobStatus, aws.ToString(props.Message))
	}
	wantOut := "s3://ohi-output/jobs/" + dsID + "-DicomImport-" + *props.JobId + "/"
	if *props.OutputS3Uri != wantOut || props.EndedAt == nil {
		t.Fatalf("outputS3Uri = %s, want %s; endedAt %v", *props.OutputS3Uri, wantOut, props.EndedAt)
	}
	var m manifest
	if err := json.Unmarshal(ts.bucketFile(wantOut+"job-output-manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	js := m.JobSummary
	if js.NumberOfScannedFiles != 8 || js.NumberOfImportedFiles != 6 || js.NumberOfFilesWithCustomerError != 2 ||
		js.NumberOfFilesWithServerError != 0 || js.NumberOfGeneratedImageSets != 2 || len(js.ImageSetsSummary) != 2 {
		t.Fatalf("manifest summary = %+v", js)
	}
	for _, s := range js.ImageSetsSummary {
		if !s.IsPrimary || s.ImageSetVersion != 1 || s.NumberOfMatchedSOPInstances != 3 {
			t.Fatalf("image set summary = %+v", s)
		}
	}
	failures := strings.Split(strings.TrimSpace(string(ts.bucketFile(wantOut+"FAILURE/failure.ndjson"))), "\n")
	if len(failures) != 2 {
		t.Fatalf("failure.ndjson has %d lines: %q", len(failures), failures)
	}
	for _, line := range failures {
		var f struct {
			InputFile string `json:"inputFile"`
			Exception struct{ ExceptionType, Message string }
		}
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(f.InputFile, "study1/") || f.Exception.ExceptionType != "ValidationException" || f.Exception.Message == "" {
			t.Fatalf("failure line %s", line)
		}
	}
	success := strings.Split(strings.TrimSpace(string(ts.bucketFile(wantOut+"SUCCESS/success.ndjson"))), "\n")
	if len(success) != 6 {
		t.Fatalf("success.ndjson has %d lines", len(success))
	}

	// Search everything, one per page.
	var ids []string
	p := mi.NewSearchImageSetsPaginator(c, &mi.SearchImageSetsInput{DatastoreId: &dsID, MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.ImageSetsMetadataSummaries {
			ids = append(ids, *s.ImageSetId)
			tg := s.DICOMTags
			if *s.Version != 1 || !*s.IsPrimary || *tg.DICOMPatientId == "" || *tg.DICOMStudyInstanceUID != g.StudyUID(synth.Ref{}) ||
				tg.DICOMNumberOfStudyRelatedSeries != 2 || tg.DICOMNumberOfStudyRelatedInstances != 6 || *tg.DICOMSeriesModality != "CT" {
				b, _ := json.Marshal(s)
				t.Fatalf("summary %s", b)
			}
		}
	}
	if len(ids) != 2 {
		t.Fatalf("search found %d image sets, want 2", len(ids))
	}
	// Filters.
	series1 := g.SeriesUID(synth.Ref{})
	res, err := c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &dsID, SearchCriteria: &types.SearchCriteria{
		Filters: []types.SearchFilter{{Operator: types.OperatorEqual, Values: []types.SearchByAttributeValue{
			&types.SearchByAttributeValueMemberDICOMSeriesInstanceUID{Value: series1}}}}}})
	if err != nil || len(res.ImageSetsMetadataSummaries) != 1 || *res.ImageSetsMetadataSummaries[0].DICOMTags.DICOMSeriesInstanceUID != series1 {
		t.Fatalf("series filter = %+v, %v", res, err)
	}
	setID := *res.ImageSetsMetadataSummaries[0].ImageSetId
	now := time.Now()
	res, err = c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &dsID, SearchCriteria: &types.SearchCriteria{
		Filters: []types.SearchFilter{{Operator: types.OperatorBetween, Values: []types.SearchByAttributeValue{
			&types.SearchByAttributeValueMemberCreatedAt{Value: now.Add(-time.Hour)}, &types.SearchByAttributeValueMemberCreatedAt{Value: now.Add(time.Hour)}}}},
		Sort: &types.Sort{SortField: types.SortFieldCreatedAt, SortOrder: types.SortOrderAsc}}})
	if err != nil || len(res.ImageSetsMetadataSummaries) != 2 || res.Sort == nil || res.Sort.SortOrder != types.SortOrderAsc {
		t.Fatalf("createdAt BETWEEN = %+v, %v", res, err)
	}
	res, err = c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &dsID, SearchCriteria: &types.SearchCriteria{
		Filters: []types.SearchFilter{{Operator: types.OperatorEqual, Values: []types.SearchByAttributeValue{
			&types.SearchByAttributeValueMemberDICOMPatientId{Value: "NOBODY"}}}}}})
	if err != nil || len(res.ImageSetsMetadataSummaries) != 0 {
		t.Fatalf("unknown patient = %+v, %v", res, err)
	}
	_, err = c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &dsID, SearchCriteria: &types.SearchCriteria{
		Filters: []types.SearchFilter{{Operator: types.OperatorBetween, Values: []types.SearchByAttributeValue{
			&types.SearchByAttributeValueMemberDICOMPatientId{Value: "A"}, &types.SearchByAttributeValueMemberDICOMPatientId{Value: "B"}}}}}})
	wantCode(t, err, "ValidationException")

	// GetImageSet, metadata and frames.
	is, err := c.GetImageSet(ctx, &mi.GetImageSetInput{DatastoreId: &dsID, ImageSetId: &setID})
	if err != nil || *is.VersionId != "1" || is.ImageSetState != types.ImageSetStateActive || is.ImageSetWorkflowStatus != types.ImageSetWorkflowStatusCreated ||
		!*is.IsPrimary || !strings.HasSuffix(*is.ImageSetArn, "/imageset/"+setID) {
		t.Fatalf("GetImageSet = %+v, %v", is, err)
	}
	doc := imageSetMetadata(t, c, dsID, setID, "1")
	if doc.SchemaVersion != "1.1" || doc.DatastoreID != dsID || doc.ImageSetID != setID || len(doc.Study.Series) != 1 {
		t.Fatalf("metadata header %+v", doc)
	}
	ser := doc.Study.Series[series1]
	if len(ser.Instances) != 3 || doc.Patient.DICOM["PatientID"] == nil || ser.DICOM["Modality"] != "CT" {
		t.Fatalf("metadata levels: patient %v series %v instances %d", doc.Patient.DICOM, ser.DICOM, len(ser.Instances))
	}
	for i := 0; i < 3; i++ {
		ref := synth.Ref{Instance: i}
		inst, ok := ser.Instances[g.SOPInstanceUID(ref)]
		if !ok || len(inst.ImageFrames) != 1 {
			t.Fatalf("instance %d missing or without frame", i)
		}
		fr, err := c.GetImageFrame(ctx, &mi.GetImageFrameInput{DatastoreId: &dsID, ImageSetId: &setID,
			ImageFrameInformation: &types.ImageFrameInformation{ImageFrameId: &inst.ImageFrames[0].ID}})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(fr.ImageFrameBlob)
		fr.ImageFrameBlob.Close()
		file, err := g.Instance(ref)
		if err != nil {
			t.Fatal(err)
		}
		// Native pixel data is the last element: the source pixels are the
		// file's tail. The frame is lossless HTJ2K that decodes to them.
		pixels := file[len(file)-64*48*2:]
		if aws.ToString(fr.ContentType) != "image/jph" || inst.StoredTransferSyntaxUID != "1.2.840.10008.1.2.4.202" || len(got) != inst.ImageFrames[0].FrameSizeInBytes {
			t.Fatalf("frame of instance %d: %d bytes, %s, stored as %s", i, len(got), aws.ToString(fr.ContentType), inst.StoredTransferSyntaxUID)
		}
		px, err := codec.DecodeHTJ2K(got, 0)
		if err != nil || !bytes.Equal(px.Data, pixels) {
			t.Fatalf("frame of instance %d does not decode to the source pixels: %v", i, err)
		}
		f := inst.ImageFrames[0]
		sums := f.PixelDataChecksumFromBaseToFullResolution // 64 px and less: one resolution level
		if len(sums) != 1 || sums[len(sums)-1].Checksum != crc32.ChecksumIEEE(pixels) || sums[len(sums)-1].Width != 48 || sums[len(sums)-1].Height != 64 {
			t.Fatalf("checksums of instance %d: %+v", i, sums)
		}
		lo, hi := int64(1<<62), int64(-1)
		for j := 0; j < len(pixels); j += 2 {
			v := int64(pixels[j]) | int64(pixels[j+1])<<8
			lo, hi = min(lo, v), max(hi, v)
		}
		if f.MinPixelValue == nil || *f.MinPixelValue != lo || *f.MaxPixelValue != hi {
			t.Fatalf("pixel range of instance %d: %v..%v, want %d..%d", i, f.MinPixelValue, f.MaxPixelValue, lo, hi)
		}
	}
	_, err = c.GetImageFrame(ctx, &mi.GetImageFrameInput{DatastoreId: &dsID, ImageSetId: &setID,
		ImageFrameInformation: &types.ImageFrameInformation{ImageFrameId: aws.String(strings.Repeat("b", 32))}})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = c.GetImageSet(ctx, &mi.GetImageSetInput{DatastoreId: &dsID, ImageSetId: &setID, VersionId: aws.String("9")})
	wantCode(t, err, "ResourceNotFoundException")

	// Re-import of the same series appends a version; a conflicting patient
	// goes to a non-primary image set.
	again := filepath.Join(ts.dataDir, "buckets", "dicom-in", "again")
	writeStudy(t, again, synth.Config{Studies: 1, Series: 1, Instances: 2, Rows: 64, Cols: 48, Seed: 7})
	other := filepath.Join(ts.dataDir, "buckets", "dicom-in", "conflict")
	writeStudy(t, other, synth.Config{Studies: 1, Series: 1, Instances: 1, Rows: 64, Cols: 48, Seed: 7, PatientID: "OTHER%04d"})
	if p := ts.importDir(dsID, "dicom-in", "again/"); p.JobStatus != types.JobStatusCompleted {
		t.Fatalf("second import %s", p.JobStatus)
	}
	is, err = c.GetImageSet(ctx, &mi.GetImageSetInput{DatastoreId: &dsID, ImageSetId: &setID})
	if err != nil || *is.VersionId != "2" || is.ImageSetWorkflowStatus != types.ImageSetWorkflowStatusImported {
		t.Fatalf("after re-import: %+v, %v", is, err)
	}
	vers, err := c.ListImageSetVersions(ctx, &mi.ListImageSetVersionsInput{DatastoreId: &dsID, ImageSetId: &setID})
	if err != nil || len(vers.ImageSetPropertiesList) != 2 || *vers.ImageSetPropertiesList[0].VersionId != "2" {
		t.Fatalf("versions = %+v, %v", vers, err)
	}
	if p := ts.importDir(dsID, "dicom-in", "conflict/"); p.JobStatus != types.JobStatusCompleted {
		t.Fatalf("conflict import %s", p.JobStatus)
	}
	res, err = c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &dsID, SearchCriteria: &types.SearchCriteria{
		Filters: []types.SearchFilter{{Operator: types.OperatorEqual, Values: []types.SearchByAttributeValue{
			&types.SearchByAttributeValueMemberIsPrimary{Value: false}}}}}})
	if err != nil || len(res.ImageSetsMetadataSummaries) != 1 || *res.ImageSetsMetadataSummaries[0].DICOMTags.DICOMPatientId != "OTHER0001" {
		t.Fatalf("non-primary search = %+v, %v", res, err)
	}

	// Tags on an image set.
	arn := *is.ImageSetArn
	if _, err := c.TagResource(ctx, &mi.TagResourceInput{ResourceArn: &arn, Tags: map[string]string{"a": "1", "b": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &mi.UntagResourceInput{ResourceArn: &arn, TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	tl, err := c.ListTagsForResource(ctx, &mi.ListTagsForResourceInput{ResourceArn: &arn})
	if err != nil || len(tl.Tags) != 1 || tl.Tags["b"] != "2" {
		t.Fatalf("image set tags = %v, %v", tl, err)
	}

	// A data store with image sets cannot be deleted.
	_, err = c.DeleteDatastore(ctx, &mi.DeleteDatastoreInput{DatastoreId: &dsID})
	wantCode(t, err, "ConflictException")

	jobs, err := c.ListDICOMImportJobs(ctx, &mi.ListDICOMImportJobsInput{DatastoreId: &dsID, JobStatus: types.JobStatusCompleted})
	if err != nil || len(jobs.JobSummaries) != 3 {
		t.Fatalf("jobs = %+v, %v", jobs, err)
	}
}

func TestImportJobFailures(t *testing.T) {
	ts := startServer(t, t.TempDir())
	dsID := ts.createDatastore("failures")
	p := ts.importDir(dsID, "empty-bucket", "nothing/")
	if p.JobStatus != types.JobStatusFailed || !strings.Contains(aws.ToString(p.Message), "no files") {
		t.Fatalf("empty prefix: %s %q", p.JobStatus, aws.ToString(p.Message))
	}
	ctx := context.Background()
	_, err := ts.client.StartDICOMImportJob(ctx, &mi.StartDICOMImportJobInput{DatastoreId: &dsID, DataAccessRoleArn: aws.String("not-an-arn"),
		InputS3Uri: aws.String("s3://input/x/"), OutputS3Uri: aws.String("s3://output/x/")})
	wantCode(t, err, "ValidationException")
	_, err = ts.client.StartDICOMImportJob(ctx, &mi.StartDICOMImportJobInput{DatastoreId: &dsID, DataAccessRoleArn: aws.String(roleARN),
		InputS3Uri: aws.String("https://example/x"), OutputS3Uri: aws.String("s3://out/x/")})
	wantCode(t, err, "ValidationException")
	_, err = ts.client.GetDICOMImportJob(ctx, &mi.GetDICOMImportJobInput{DatastoreId: &dsID, JobId: aws.String("abc")})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestImportJobIdempotencyAndVersions(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	dsID := ts.createDatastore("idem")
	writeStudy(t, filepath.Join(ts.dataDir, "buckets", "in-bucket", "s"), synth.Config{Instances: 2, Rows: 16, Cols: 16, Seed: 3})
	in := &mi.StartDICOMImportJobInput{DatastoreId: &dsID, DataAccessRoleArn: aws.String(roleARN), ClientToken: aws.String("job-token"),
		InputS3Uri: aws.String("s3://in-bucket/s/"), OutputS3Uri: aws.String("s3://out-bucket/o/")}
	first, err := c.StartDICOMImportJob(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.StartDICOMImportJob(ctx, in)
	if err != nil || *second.JobId != *first.JobId {
		t.Fatalf("replayed start = %v, %v; want job %s", second, err, *first.JobId)
	}
	in.OutputS3Uri = aws.String("s3://out-bucket/other/")
	_, err = c.StartDICOMImportJob(ctx, in)
	wantCode(t, err, "ConflictException")

	// Three more imports of the same series: versions 2..4 of one image set.
	var setID string
	for i := 0; i < 3; i++ {
		if p := ts.importDir(dsID, "in-bucket", "s/"); p.JobStatus != types.JobStatusCompleted {
			t.Fatalf("import %d: %s", i, p.JobStatus)
		}
	}
	res, err := c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &dsID})
	if err != nil || len(res.ImageSetsMetadataSummaries) != 1 {
		t.Fatalf("search = %+v, %v", res, err)
	}
	setID = *res.ImageSetsMetadataSummaries[0].ImageSetId
	if v := *res.ImageSetsMetadataSummaries[0].Version; v != 4 {
		// The first job may still be running when the others start; all four
		// append to the one primary image set in some order.
		waitFor(t, "version 4", func() (bool, error) {
			g, err := c.GetImageSet(ctx, &mi.GetImageSetInput{DatastoreId: &dsID, ImageSetId: &setID})
			return err == nil && *g.VersionId == "4", err
		})
	}
	var versions []string
	p := mi.NewListImageSetVersionsPaginator(c, &mi.ListImageSetVersionsInput{DatastoreId: &dsID, ImageSetId: &setID, MaxResults: aws.Int32(3)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.ImageSetPropertiesList {
			versions = append(versions, *v.VersionId)
		}
	}
	if strings.Join(versions, ",") != "4,3,2,1" {
		t.Fatalf("versions = %v, want 4,3,2,1", versions)
	}
	for _, v := range []string{"1", "4"} {
		md, err := c.GetImageSetMetadata(ctx, &mi.GetImageSetMetadataInput{DatastoreId: &dsID, ImageSetId: &setID, VersionId: aws.String(v)})
		if err != nil {
			t.Fatal(err)
		}
		md.ImageSetMetadataBlob.Close()
	}
	_, err = c.GetImageSetMetadata(ctx, &mi.GetImageSetMetadataInput{DatastoreId: &dsID, ImageSetId: &setID, VersionId: aws.String("x1")})
	wantCode(t, err, "ValidationException")
	_, err = c.GetImageSetMetadata(ctx, &mi.GetImageSetMetadataInput{DatastoreId: &dsID, ImageSetId: aws.String(strings.Repeat("c", 32))})
	wantCode(t, err, "ResourceNotFoundException")
	// A page token is bound to its request.
	page, err := c.ListImageSetVersions(ctx, &mi.ListImageSetVersionsInput{DatastoreId: &dsID, ImageSetId: &setID, MaxResults: aws.Int32(1)})
	if err != nil || page.NextToken == nil {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	_, err = c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &dsID, NextToken: page.NextToken})
	wantCode(t, err, "ValidationException")
	tampered := *page.NextToken
	tampered = tampered[:len(tampered)-2] + "AA"
	_, err = c.ListImageSetVersions(ctx, &mi.ListImageSetVersionsInput{DatastoreId: &dsID, ImageSetId: &setID, NextToken: &tampered})
	wantCode(t, err, "ValidationException")
}

func TestUnauthenticatedEndpoints(t *testing.T) {
	ts := startServer(t, t.TempDir())
	for path, want := range map[string]string{"/healthz": "ok", "/openapi.json": `"operationId": "SearchImageSets"`} {
		res, err := http.Get(ts.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("GET %s = %d %.100s", path, res.StatusCode, b)
		}
	}
	// Everything else needs a signature.
	res, err := http.Get(ts.srv.URL + "/datastore")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 || res.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" || res.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("unsigned request = %d %v", res.StatusCode, res.Header)
	}
}

// TestJPEG2000StorageFormat checks that a data store can be created with
// losslessStorageFormat JPEG_2000_LOSSLESS and reports it; importing into
// one is TestImportJPEG2000Store.
func TestJPEG2000StorageFormat(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	out, err := ts.client.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String("j2k"), ClientToken: aws.String("tok-j2k"),
		LosslessStorageFormat: types.LosslessStorageFormatJpeg2000Lossless})
	if err != nil {
		t.Fatalf("CreateDatastore with JPEG_2000_LOSSLESS: %v", err)
	}
	id := *out.DatastoreId
	waitFor(t, "data store ACTIVE", func() (bool, error) {
		g, err := ts.client.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: &id})
		if err != nil {
			return false, err
		}
		if f := g.DatastoreProperties.LosslessStorageFormat; f != types.LosslessStorageFormatJpeg2000Lossless {
			t.Fatalf("losslessStorageFormat = %q, want JPEG_2000_LOSSLESS", f)
		}
		return g.DatastoreProperties.DatastoreStatus == types.DatastoreStatusActive, nil
	})
	// The format is part of the request a clientToken stands for.
	_, err = ts.client.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String("j2k"), ClientToken: aws.String("tok-j2k"),
		LosslessStorageFormat: types.LosslessStorageFormatHtj2k})
	wantCode(t, err, "ConflictException")
	// Values outside the enum are refused.
	_, err = ts.client.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String("jxl"), LosslessStorageFormat: "JPEG_XL"})
	wantCode(t, err, "ValidationException")
	if !strings.Contains(err.Error(), "losslessStorageFormat") {
		t.Fatalf("message does not name the field: %v", err)
	}
}
