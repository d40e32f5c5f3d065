package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/synth"
)

// text runs a call with --output text and returns its trimmed output.
func (a *awsCLI) text(args ...string) string {
	a.t.Helper()
	out, errb, code := a.run(nil, append(args, "--output", "text")...)
	if code != 0 {
		a.t.Fatalf("aws medical-imaging %s: exit %d\n%s", strings.Join(args, " "), code, errb)
	}
	return strings.TrimSpace(string(out))
}

// TestAWSCLIExamplesAndImportConfiguration runs the AWS CLI the way AWS's
// bash examples do (--output text with --query, first on a server with no
// data stores), then imports a study with an importConfiguration of DICOM
// JSON metadata mappings given on the command line.
func TestAWSCLIExamplesAndImportConfiguration(t *testing.T) {
	t.Parallel()
	bin := lookClient(t, "aws")
	dir := t.TempDir()
	srv := startServer(t, serverOpts{DataDir: dir})
	cli := &awsCLI{t: t, bin: bin, endpoint: srv.Endpoint, env: cleanEnv(
		"AWS_DISABLE_HOST_PREFIX_INJECTION=true", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"), "AWS_PROFILE=ohi", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")}

	// The bash examples' list and get, in text.
	listQuery := "datastoreSummaries[*][datastoreName, datastoreId, datastoreStatus]"
	if got := cli.text("list-datastores", "--query", listQuery); got != "" {
		t.Errorf("list-datastores --query %q on an empty server printed %q, want nothing", listQuery, got)
	}
	ds := cli.text("create-datastore", "--datastore-name", "cli-examples", "--query", "datastoreId")
	if len(ds) != 32 {
		t.Fatalf("create-datastore --query datastoreId printed %q", ds)
	}
	waitCLI(t, "data store ACTIVE", func() bool {
		return cli.text("get-datastore", "--datastore-id", ds, "--query", "datastoreProperties.datastoreStatus") == "ACTIVE"
	})
	fields := strings.Split(cli.text("get-datastore", "--datastore-id", ds, "--query",
		"[ datastoreProperties.datastoreName,  datastoreProperties.datastoreId, datastoreProperties.datastoreStatus, datastoreProperties.datastoreArn,  datastoreProperties.createdAt, datastoreProperties.updatedAt]"), "\t")
	if len(fields) != 6 || fields[0] != "cli-examples" || fields[1] != ds || fields[2] != "ACTIVE" || !strings.HasSuffix(fields[3], ":datastore/"+ds) {
		t.Errorf("get-datastore text fields %q", fields)
	}
	if got := cli.text("list-datastores", "--query", listQuery); got != "cli-examples\t"+ds+"\tACTIVE" {
		t.Errorf("list-datastores text %q", got)
	}

	// importConfiguration on the command line: a study-level mapping to a
	// DICOM JSON file beside the DICOM files.
	in := filepath.Join(dir, "buckets", "dicom-in", "mapped")
	g := writeStudy(t, in, synth.Config{Series: 1, Instances: 2, Rows: 32, Cols: 32, Seed: 61})
	study := g.StudyUID(synth.Ref{})
	meta := `{"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Mapped^By^CLI"}]}, "00081030": {"vr": "LO", "Value": ["from the CLI"]}}`
	if err := os.WriteFile(filepath.Join(in, "study.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `{"dicomJsonMetadataImportConfiguration":{"dicomMetadataMappings":[{"studyInstanceUID":"` + study + `","metadataFilePath":"study.json"}]}}`
	dup := `{"dicomJsonMetadataImportConfiguration":{"dicomMetadataMappings":[{"studyInstanceUID":"1.2","metadataFilePath":"a.json"},{"studyInstanceUID":"1.2","metadataFilePath":"b.json"}]}}`
	common := []string{"start-dicom-import-job", "--datastore-id", ds, "--data-access-role-arn", roleARN,
		"--input-s3-uri", "s3://dicom-in/mapped/", "--output-s3-uri", "s3://dicom-out/mapped/"}
	cli.fail(nil, "ValidationException", append(common, "--import-configuration", dup)...)
	job := cli.text(append(common, "--import-configuration", cfg, "--query", "jobId")...)
	waitCLI(t, "import job end", func() bool {
		s := cli.text("get-dicom-import-job", "--datastore-id", ds, "--job-id", job, "--query", "jobProperties.jobStatus")
		return s == "COMPLETED" || s == "FAILED"
	})
	var props struct {
		JobProperties struct {
			JobStatus           string          `json:"jobStatus"`
			ImportConfiguration json.RawMessage `json:"importConfiguration"`
		} `json:"jobProperties"`
	}
	cli.ok(&props, "get-dicom-import-job", "--datastore-id", ds, "--job-id", job)
	if props.JobProperties.JobStatus != "COMPLETED" {
		t.Fatalf("import job %s", props.JobProperties.JobStatus)
	}
	var sent, echoed any
	_ = json.Unmarshal([]byte(cfg), &sent)
	_ = json.Unmarshal(props.JobProperties.ImportConfiguration, &echoed)
	if a, b := mustJSONString(t, sent), mustJSONString(t, echoed); a != b {
		t.Errorf("get-dicom-import-job importConfiguration = %s, sent %s", b, a)
	}
	m := parseManifest(t, readFile(t, filepath.Join(dir, "buckets", "dicom-out", "mapped", ds+"-DicomImport-"+job, "job-output-manifest.json")))
	if m.NumberOfScannedFiles != 2 || m.NumberOfImportedFiles != 2 {
		t.Errorf("manifest %+v: want the 2 DICOM files scanned and imported, the metadata file left out", m)
	}
	set := cli.text("search-image-sets", "--datastore-id", ds, "--query", "imageSetsMetadataSummaries[0].imageSetId")
	gz := filepath.Join(t.TempDir(), "metadata.json.gz")
	cli.ok(nil, "get-image-set-metadata", "--datastore-id", ds, "--image-set-id", set, gz)
	f, err := os.Open(gz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var doc metadataDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Patient.DICOM["PatientName"] != "Mapped^By^CLI" || doc.Study.DICOM["StudyDescription"] != "from the CLI" {
		t.Errorf("metadata Patient %v, StudyDescription %v", doc.Patient.DICOM, doc.Study.DICOM["StudyDescription"])
	}
	if got := cli.text("search-image-sets", "--datastore-id", ds, "--query", "imageSetsMetadataSummaries[0].DICOMTags.DICOMPatientName"); got != "Mapped^By^CLI" {
		t.Errorf("search DICOMPatientName %q", got)
	}
}

func mustJSONString(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
