package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openhealthimaging/ohi/internal/s3test"
	"github.com/openhealthimaging/ohi/synth"
)

// s3Env is the environment `ohi serve --s3-endpoint` needs for moto: the
// standard AWS credential chain from environment variables only.
func s3Env(endpoint string) []string {
	return []string{
		"OHI_S3_ENDPOINT=" + endpoint,
		"AWS_ACCESS_KEY_ID=" + s3test.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + s3test.SecretAccessKey,
		"AWS_REGION=" + s3test.Region, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

func putObject(t testing.TB, c *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callLimit)
	defer cancel()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

func getObject(t testing.TB, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callLimit)
	defer cancel()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read s3://%s/%s: %v", bucket, key, err)
	}
	return b
}

// TestImportFromS3 imports from, and writes the job output to, a real
// S3-compatible server (moto) on loopback.
func TestImportFromS3(t *testing.T) {
	t.Parallel()
	moto := s3test.Start(t, "dicom-in", "dicom-out")
	s3c := moto.Client()

	// Two series of four instances, a non-DICOM object and a folder marker
	// (which S3 consoles create and an import ignores).
	gen := t.TempDir()
	cfg := synth.Config{Series: 2, Instances: 4, Rows: 32, Cols: 40, Seed: 21}
	g := writeStudy(t, gen, cfg)
	want := map[string]bool{}
	for _, rel := range relFiles(t, gen) {
		key := "batch/" + rel
		putObject(t, s3c, "dicom-in", key, readFile(t, filepath.Join(gen, filepath.FromSlash(rel))))
		want[key] = true
	}
	if len(want) != 8 {
		t.Fatalf("generated %d files, want 8", len(want))
	}
	putObject(t, s3c, "dicom-in", "batch/notes/readme.txt", []byte("not a DICOM file\n"))
	putObject(t, s3c, "dicom-in", "batch/empty-folder/", nil)

	dir := t.TempDir()
	srv := startServer(t, serverOpts{DataDir: dir, Args: authArgs, Env: s3Env(moto.Endpoint)})
	c := newClient(srv.Endpoint, testAK, testSecret)
	ds := createDatastore(t, c, "s3-e2e")
	jobID := startImport(t, c, ds, "s3://dicom-in/batch/", "s3://dicom-out/results/")
	p := waitJob(t, c, ds, jobID, 90*time.Second)
	wantCompleted(t, p, "s3://dicom-out/results/", ds)

	prefix := "results/" + ds + "-DicomImport-" + jobID + "/"
	m := parseManifest(t, getObject(t, s3c, "dicom-out", prefix+"job-output-manifest.json"))
	if m.NumberOfScannedFiles != 9 || m.NumberOfImportedFiles != 8 || m.NumberOfFilesWithCustomerError != 1 ||
		m.NumberOfFilesWithServerError != 0 || m.NumberOfGeneratedImageSets != 2 || len(m.ImageSetsSummary) != 2 {
		t.Fatalf("manifest summary = %+v", m)
	}
	if m.JobID != jobID || m.DatastoreID != ds || m.InputS3URI != "s3://dicom-in/batch/" || m.OutputS3URI != "s3://dicom-out/"+prefix {
		t.Fatalf("manifest header = %+v", m)
	}
	for _, s := range m.ImageSetsSummary {
		if !s.IsPrimary || s.ImageSetVersion != 1 || s.NumberOfMatchedSOPInstances != 4 {
			t.Fatalf("image set summary = %+v", s)
		}
	}
	succ := ndjson[successLine](t, "success.ndjson", getObject(t, s3c, "dicom-out", prefix+"SUCCESS/success.ndjson"))
	var got []string
	for _, l := range succ {
		got = append(got, l.InputFile)
		if len(l.ImportResponse.ImageSetID) != 32 || !l.ImportResponse.IsPrimary {
			t.Fatalf("success line %+v", l)
		}
	}
	if !sameSet(got, want) {
		sort.Strings(got)
		t.Fatalf("success.ndjson lists %v, want %v", got, keys(want))
	}
	fail := ndjson[failureLine](t, "failure.ndjson", getObject(t, s3c, "dicom-out", prefix+"FAILURE/failure.ndjson"))
	if len(fail) != 1 || fail[0].InputFile != "batch/notes/readme.txt" || fail[0].Exception.ExceptionType != "ValidationException" || fail[0].Exception.Message == "" {
		t.Fatalf("failure.ndjson = %+v", fail)
	}

	// Nothing went to the embedded buckets, and the frames read from S3 are
	// the generated pixels.
	if _, err := os.Stat(filepath.Join(dir, "buckets")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s/buckets exists with --s3-endpoint set (err %v)", dir, err)
	}
	var setID string
	for _, l := range succ {
		if strings.HasSuffix(l.InputFile, "/1.dcm") && strings.Contains(l.InputFile, g.SeriesUID(synth.Ref{})) {
			setID = l.ImportResponse.ImageSetID
		}
	}
	doc := getMetadata(t, c, ds, setID)
	for i := 0; i < cfg.Instances; i++ {
		ref := synth.Ref{Instance: i}
		inst, ok := doc.Study.Series[g.SeriesUID(ref)].Instances[g.SOPInstanceUID(ref)]
		if !ok || len(inst.ImageFrames) != 1 {
			t.Fatalf("instance %d missing from image set %s", i, setID)
		}
		if got := decoded(t, getFrame(t, c, ds, setID, inst.ImageFrames[0].ID)); !bytes.Equal(got, pixels(t, g, ref)) {
			t.Fatalf("frame of instance %d (%d bytes) is not the generated pixels", i, len(got))
		}
	}
	if !srv.Stop() || srv.waitErr != nil {
		t.Fatalf("ohi serve did not exit cleanly on SIGTERM: %v", srv.waitErr)
	}
}

// TestServeS3EndpointFlag checks the documented flag name --s3-endpoint.
func TestServeS3EndpointFlag(t *testing.T) {
	moto := s3test.Start(t, "dicom-in")
	srv := startServer(t, serverOpts{DataDir: t.TempDir(), Args: append([]string{"--s3-endpoint", moto.Endpoint}, authArgs...),
		Env: s3Env(moto.Endpoint)[1:]}) // credentials only: the endpoint comes from the flag
	c := newClient(srv.Endpoint, testAK, testSecret)
	ds := createDatastore(t, c, "flag")
	// An input that exists only in moto: the job fails with "no files" if
	// the server reads the embedded buckets instead.
	putObject(t, moto.Client(), "dicom-in", "flag/notes.txt", []byte("x"))
	p := waitJob(t, c, ds, startImport(t, c, ds, "s3://dicom-in/flag/", "s3://dicom-in/out/"), 60*time.Second)
	wantCompleted(t, p, "s3://dicom-in/out/", ds)
}
