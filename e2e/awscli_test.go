package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/synth"
)

// awsCLI runs the AWS CLI against one endpoint.
type awsCLI struct {
	t        *testing.T
	bin      string
	endpoint string
	env      []string
}

const cliTimeout = 60 * time.Second // one CLI invocation

// run runs `aws medical-imaging args...` and returns its output and exit
// code; env entries override the CLI's environment.
func (a *awsCLI) run(env []string, args ...string) (stdout, stderr []byte, code int) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	full := append([]string{"--endpoint-url", a.endpoint, "--output", "json", "medical-imaging"}, args...)
	cmd := exec.CommandContext(ctx, a.bin, full...)
	cmd.Env = append(append([]string(nil), a.env...), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	default:
		a.t.Fatalf("aws medical-imaging %s: %v\n%s", strings.Join(args, " "), err, errb.Bytes())
	}
	return out.Bytes(), errb.Bytes(), code
}

// ok runs a call that must succeed and decodes its JSON output into v
// (nil: output ignored).
func (a *awsCLI) ok(v any, args ...string) {
	a.t.Helper()
	out, errb, code := a.run(nil, args...)
	if code != 0 {
		a.t.Fatalf("aws medical-imaging %s: exit %d\n%s", strings.Join(args, " "), code, errb)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(out, v); err != nil {
		a.t.Fatalf("aws medical-imaging %s: output is not JSON (%v): %.1000s", args[0], err, out)
	}
}

// fail runs a call that must fail with the AWS error code and returns its
// stderr. The CLI exits 254 (service error) or 255 (other error, older
// releases) and names the code as "An error occurred (Code)".
func (a *awsCLI) fail(env []string, errCode string, args ...string) string {
	a.t.Helper()
	_, errb, code := a.run(env, args...)
	if code != 254 && code != 255 {
		a.t.Fatalf("aws medical-imaging %s: exit %d, want 254 or 255\n%s", strings.Join(args, " "), code, errb)
	}
	if !strings.Contains(string(errb), "An error occurred ("+errCode+")") {
		a.t.Fatalf("aws medical-imaging %s: stderr does not name %s:\n%s", strings.Join(args, " "), errCode, errb)
	}
	return string(errb)
}

// CLI output shapes (only the fields the test reads).
type (
	cliDatastore struct {
		DatastoreID     string `json:"datastoreId"`
		DatastoreName   string `json:"datastoreName"`
		DatastoreStatus string `json:"datastoreStatus"`
		DatastoreArn    string `json:"datastoreArn"`
	}
	cliJob struct {
		JobID       string   `json:"jobId"`
		JobName     string   `json:"jobName"`
		JobStatus   string   `json:"jobStatus"`
		DatastoreID string   `json:"datastoreId"`
		OutputS3URI string   `json:"outputS3Uri"`
		EndedAt     *float64 `json:"endedAt"`
		Message     string   `json:"message"`
	}
	cliSummary struct {
		ImageSetID string  `json:"imageSetId"`
		Version    int     `json:"version"`
		CreatedAt  float64 `json:"createdAt"`
		IsPrimary  bool    `json:"isPrimary"`
		DICOMTags  struct {
			DICOMPatientID         string `json:"DICOMPatientId"`
			DICOMStudyInstanceUID  string `json:"DICOMStudyInstanceUID"`
			DICOMSeriesInstanceUID string `json:"DICOMSeriesInstanceUID"`
		} `json:"DICOMTags"`
	}
	cliSearch struct {
		ImageSetsMetadataSummaries []cliSummary `json:"imageSetsMetadataSummaries"`
		Sort                       *struct {
			SortField string `json:"sortField"`
			SortOrder string `json:"sortOrder"`
		} `json:"sort"`
		NextToken string `json:"NextToken"` // the CLI's own pagination token
	}
)

// TestAWSCLI drives the whole HealthImaging surface with the unmodified
// AWS CLI (v1) against `ohi serve` and its generated key pair.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	bin := lookClient(t, "aws")
	dir := t.TempDir()
	srv := startServer(t, serverOpts{DataDir: dir})
	credFile := filepath.Join(dir, "credentials")
	if _, err := os.Stat(credFile); err != nil {
		t.Fatalf("ohi serve without credentials flags did not write %s: %v", credFile, err)
	}
	cli := &awsCLI{t: t, bin: bin, endpoint: srv.Endpoint, env: cleanEnv(
		"AWS_DISABLE_HOST_PREFIX_INJECTION=true", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE="+credFile, "AWS_PROFILE=ohi", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")}

	// Two series of three 64x48 instances in s3://dicom-in/cli/.
	cfg := synth.Config{Series: 2, Instances: 3, Rows: 64, Cols: 48, Seed: 11, PatientID: "CLI%04d"}
	g := writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "cli"), cfg)
	const patient = "CLI0001"

	// CreateDatastore, GetDatastore until ACTIVE.
	var created cliDatastore
	cli.ok(&created, "create-datastore", "--datastore-name", "cli-e2e", "--tags", "team=imaging")
	ds := created.DatastoreID
	if len(ds) != 32 || created.DatastoreStatus != "CREATING" {
		t.Fatalf("create-datastore = %+v", created)
	}
	var dsArn string
	for i := 0; ; i++ {
		var got struct{ DatastoreProperties cliDatastore }
		cli.ok(&got, "get-datastore", "--datastore-id", ds)
		p := got.DatastoreProperties
		if p.DatastoreID != ds || p.DatastoreName != "cli-e2e" {
			t.Fatalf("get-datastore = %+v", p)
		}
		if p.DatastoreStatus == "ACTIVE" {
			dsArn = p.DatastoreArn
			break
		}
		if i == 30 {
			t.Fatalf("data store still %s after %d polls", p.DatastoreStatus, i)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if dsArn != "arn:aws:medical-imaging:us-east-1:123456789012:datastore/"+ds {
		t.Fatalf("datastoreArn = %q", dsArn)
	}

	// StartDICOMImportJob, GetDICOMImportJob until COMPLETED.
	var started cliJob
	cli.ok(&started, "start-dicom-import-job", "--datastore-id", ds, "--job-name", "cli-import",
		"--data-access-role-arn", roleARN, "--input-s3-uri", "s3://dicom-in/cli/", "--output-s3-uri", "s3://dicom-out/cli/")
	if started.JobStatus != "SUBMITTED" || started.DatastoreID != ds || len(started.JobID) != 32 {
		t.Fatalf("start-dicom-import-job = %+v", started)
	}
	var job cliJob
	for i := 0; ; i++ {
		var got struct{ JobProperties cliJob }
		cli.ok(&got, "get-dicom-import-job", "--datastore-id", ds, "--job-id", started.JobID)
		job = got.JobProperties
		if job.JobStatus == "COMPLETED" || job.JobStatus == "FAILED" {
			break
		}
		if i == 60 {
			t.Fatalf("import job still %s after %d polls", job.JobStatus, i)
		}
		time.Sleep(250 * time.Millisecond)
	}
	wantOut := "s3://dicom-out/cli/" + ds + "-DicomImport-" + started.JobID + "/"
	if job.JobStatus != "COMPLETED" || job.JobName != "cli-import" || job.OutputS3URI != wantOut || job.EndedAt == nil {
		t.Fatalf("get-dicom-import-job = %+v, want COMPLETED with outputS3Uri %s", job, wantOut)
	}
	m := parseManifest(t, readFile(t, filepath.Join(dir, "buckets", "dicom-out", "cli", ds+"-DicomImport-"+started.JobID, "job-output-manifest.json")))
	if m.NumberOfScannedFiles != 6 || m.NumberOfImportedFiles != 6 || m.NumberOfGeneratedImageSets != 2 {
		t.Fatalf("manifest = %+v", m)
	}

	// ListDICOMImportJobs.
	var jobs struct{ JobSummaries []cliJob }
	cli.ok(&jobs, "list-dicom-import-jobs", "--datastore-id", ds, "--job-status", "COMPLETED")
	if len(jobs.JobSummaries) != 1 || jobs.JobSummaries[0].JobID != started.JobID || jobs.JobSummaries[0].JobStatus != "COMPLETED" {
		t.Fatalf("list-dicom-import-jobs = %+v", jobs)
	}

	// SearchImageSets: a patient filter sorted both ways, then a series filter.
	var byPatient [2]cliSearch
	for i, order := range []string{"ASC", "DESC"} {
		crit := fmt.Sprintf(`{"filters":[{"values":[{"DICOMPatientId":%q}],"operator":"EQUAL"}],"sort":{"sortField":"createdAt","sortOrder":%q}}`, patient, order)
		cli.ok(&byPatient[i], "search-image-sets", "--datastore-id", ds, "--search-criteria", crit)
		res := byPatient[i]
		if len(res.ImageSetsMetadataSummaries) != 2 || res.Sort == nil || res.Sort.SortField != "createdAt" || res.Sort.SortOrder != order {
			t.Fatalf("search-image-sets %s = %+v", crit, res)
		}
		a, b := res.ImageSetsMetadataSummaries[0], res.ImageSetsMetadataSummaries[1]
		if (order == "ASC" && a.CreatedAt > b.CreatedAt) || (order == "DESC" && a.CreatedAt < b.CreatedAt) {
			t.Fatalf("search-image-sets sorted %s: createdAt %v then %v", order, a.CreatedAt, b.CreatedAt)
		}
		for _, s := range res.ImageSetsMetadataSummaries {
			if s.DICOMTags.DICOMPatientID != patient || s.Version != 1 || !s.IsPrimary || s.DICOMTags.DICOMStudyInstanceUID != g.StudyUID(synth.Ref{}) {
				t.Fatalf("search-image-sets summary %+v", s)
			}
		}
	}
	asc, desc := byPatient[0].ImageSetsMetadataSummaries, byPatient[1].ImageSetsMetadataSummaries
	if asc[0].CreatedAt != asc[1].CreatedAt && (asc[0].ImageSetID != desc[1].ImageSetID || asc[1].ImageSetID != desc[0].ImageSetID) {
		t.Fatalf("ASC and DESC orders are not reversed: %+v / %+v", byPatient[0], byPatient[1])
	}
	var none cliSearch
	cli.ok(&none, "search-image-sets", "--datastore-id", ds, "--search-criteria",
		`{"filters":[{"values":[{"DICOMPatientId":"NOBODY"}],"operator":"EQUAL"}]}`)
	if len(none.ImageSetsMetadataSummaries) != 0 {
		t.Fatalf("search for an unknown patient found %+v", none)
	}
	series := g.SeriesUID(synth.Ref{Series: 1})
	var bySeries cliSearch
	cli.ok(&bySeries, "search-image-sets", "--datastore-id", ds, "--search-criteria",
		fmt.Sprintf(`{"filters":[{"values":[{"DICOMSeriesInstanceUID":%q}],"operator":"EQUAL"}]}`, series))
	if len(bySeries.ImageSetsMetadataSummaries) != 1 || bySeries.ImageSetsMetadataSummaries[0].DICOMTags.DICOMSeriesInstanceUID != series {
		t.Fatalf("search by series = %+v", bySeries)
	}
	setID := bySeries.ImageSetsMetadataSummaries[0].ImageSetID

	// GetImageSet.
	var set struct {
		DatastoreID            string `json:"datastoreId"`
		ImageSetID             string `json:"imageSetId"`
		VersionID              string `json:"versionId"`
		ImageSetState          string `json:"imageSetState"`
		ImageSetWorkflowStatus string `json:"imageSetWorkflowStatus"`
		ImageSetArn            string `json:"imageSetArn"`
	}
	cli.ok(&set, "get-image-set", "--datastore-id", ds, "--image-set-id", setID)
	if set.DatastoreID != ds || set.ImageSetID != setID || set.VersionID != "1" || set.ImageSetState != "ACTIVE" ||
		set.ImageSetWorkflowStatus != "CREATED" || set.ImageSetArn != dsArn+"/imageset/"+setID {
		t.Fatalf("get-image-set = %+v", set)
	}

	// GetImageSetMetadata: the outfile is the gzip document.
	mdFile := filepath.Join(dir, "metadata.json.gz")
	var mdOut struct {
		ContentType     string `json:"contentType"`
		ContentEncoding string `json:"contentEncoding"`
	}
	cli.ok(&mdOut, "get-image-set-metadata", "--datastore-id", ds, "--image-set-id", setID, mdFile)
	if mdOut.ContentType != "application/json" || mdOut.ContentEncoding != "gzip" {
		t.Fatalf("get-image-set-metadata output = %+v", mdOut)
	}
	gz := readFile(t, mdFile)
	if len(gz) < 2 || gz[0] != 0x1f || gz[1] != 0x8b {
		t.Fatalf("metadata outfile is not gzip: % x", gz[:min(len(gz), 16)])
	}
	raw, err := gunzip(gz)
	if err != nil {
		t.Fatalf("gunzip metadata outfile: %v", err)
	}
	var doc metadataDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("metadata is not JSON: %v", err)
	}
	if doc.SchemaVersion != "1.1" || doc.DatastoreID != ds || doc.ImageSetID != setID {
		t.Fatalf("metadata header: %q %q %q", doc.SchemaVersion, doc.DatastoreID, doc.ImageSetID)
	}
	if pid, _ := doc.Patient.DICOM["PatientID"].(string); strings.TrimRight(pid, " ") != patient {
		t.Fatalf("Patient level: %v", doc.Patient.DICOM)
	}
	if doc.Study.DICOM["StudyInstanceUID"] != g.StudyUID(synth.Ref{}) || len(doc.Study.Series) != 1 {
		t.Fatalf("Study level: %v with %d series", doc.Study.DICOM, len(doc.Study.Series))
	}
	ser, ok := doc.Study.Series[series]
	if !ok || strings.TrimRight(fmt.Sprint(ser.DICOM["Modality"]), " ") != "CT" || len(ser.Instances) != cfg.Instances {
		t.Fatalf("Series level: %v with %d instances", ser.DICOM, len(ser.Instances))
	}
	for uid, inst := range ser.Instances {
		if len(inst.ImageFrames) == 0 {
			t.Fatalf("instance %s has no ImageFrames", uid)
		}
		for _, f := range inst.ImageFrames {
			if len(f.ID) != 32 {
				t.Fatalf("instance %s has a frame without a proper ID: %+v", uid, f)
			}
		}
	}

	// GetImageFrame: the frame equals the generated pixels (the SDK tests
	// read every frame; one CLI call proves the outfile path).
	for i := 0; i < 1; i++ {
		ref := synth.Ref{Series: 1, Instance: i}
		inst, ok := ser.Instances[g.SOPInstanceUID(ref)]
		if !ok || len(inst.ImageFrames) != 1 {
			t.Fatalf("instance %d of series 1 missing from the metadata or not single-frame", i)
		}
		frameFile := filepath.Join(dir, fmt.Sprintf("frame%d.bin", i))
		var fr struct {
			ContentType string `json:"contentType"`
		}
		cli.ok(&fr, "get-image-frame", "--datastore-id", ds, "--image-set-id", setID,
			"--image-frame-information", "imageFrameId="+inst.ImageFrames[0].ID, frameFile)
		if fr.ContentType != "image/jph" {
			t.Fatalf("get-image-frame contentType = %q", fr.ContentType)
		}
		if got, want := decoded(t, readFile(t, frameFile)), pixels(t, g, ref); !bytes.Equal(got, want) {
			t.Fatalf("frame of instance %d: %d bytes, not the %d generated pixel bytes", i, len(got), len(want))
		}
		// An unknown frame, image set or data store: each named in the
		// ResourceNotFoundException's message.
		zeros := strings.Repeat("0", 32)
		for _, c := range []struct{ ds, set, frame, want string }{
			{ds, setID, zeros, "image frame " + zeros + " does not exist"},
			{ds, zeros, inst.ImageFrames[0].ID, "image set " + zeros + " does not exist"},
			{zeros, setID, inst.ImageFrames[0].ID, "data store " + zeros + " does not exist"},
		} {
			msg := cli.fail(nil, "ResourceNotFoundException", "get-image-frame", "--datastore-id", c.ds, "--image-set-id", c.set,
				"--image-frame-information", "imageFrameId="+c.frame, filepath.Join(dir, "missing.bin"))
			if !strings.Contains(msg, c.want) {
				t.Fatalf("get-image-frame of a missing resource: %s, want %q", msg, c.want)
			}
		}
	}

	// ListImageSetVersions.
	var vers struct {
		ImageSetPropertiesList []struct {
			ImageSetID    string `json:"imageSetId"`
			VersionID     string `json:"versionId"`
			ImageSetState string `json:"imageSetState"`
		} `json:"imageSetPropertiesList"`
	}
	cli.ok(&vers, "list-image-set-versions", "--datastore-id", ds, "--image-set-id", setID)
	if len(vers.ImageSetPropertiesList) != 1 || vers.ImageSetPropertiesList[0].VersionID != "1" || vers.ImageSetPropertiesList[0].ImageSetID != setID {
		t.Fatalf("list-image-set-versions = %+v", vers)
	}

	// Tags on the image set; the data store keeps its creation tag.
	type tagList struct {
		Tags map[string]string `json:"tags"`
	}
	cli.ok(nil, "tag-resource", "--resource-arn", set.ImageSetArn, "--tags", "a=1,b=2")
	var tl tagList
	cli.ok(&tl, "list-tags-for-resource", "--resource-arn", set.ImageSetArn)
	if len(tl.Tags) != 2 || tl.Tags["a"] != "1" || tl.Tags["b"] != "2" {
		t.Fatalf("tags after tag-resource = %v", tl.Tags)
	}
	cli.ok(nil, "untag-resource", "--resource-arn", set.ImageSetArn, "--tag-keys", "a")
	tl = tagList{}
	cli.ok(&tl, "list-tags-for-resource", "--resource-arn", set.ImageSetArn)
	if len(tl.Tags) != 1 || tl.Tags["b"] != "2" {
		t.Fatalf("tags after untag-resource = %v", tl.Tags)
	}
	tl = tagList{}
	cli.ok(&tl, "list-tags-for-resource", "--resource-arn", dsArn)
	if len(tl.Tags) != 1 || tl.Tags["team"] != "imaging" {
		t.Fatalf("data store tags = %v", tl.Tags)
	}

	// DeleteDatastore while image sets exist.
	cli.fail(nil, "ConflictException", "delete-datastore", "--datastore-id", ds)

	// Pagination: the CLI follows nextToken with one item per page.
	want := map[string]bool{ds: true}
	for _, name := range []string{"cli-e2e-2", "cli-e2e-3"} {
		var c cliDatastore
		cli.ok(&c, "create-datastore", "--datastore-name", name)
		want[c.DatastoreID] = true
	}
	listed := paginate(cli, srv, "ListDatastores", len(want), func(extra []string) ([]string, string) {
		var page struct {
			DatastoreSummaries []cliDatastore `json:"datastoreSummaries"`
			NextToken          string
		}
		cli.ok(&page, append([]string{"list-datastores", "--max-items", "1", "--page-size", "1"}, extra...)...)
		var ids []string
		for _, d := range page.DatastoreSummaries {
			ids = append(ids, d.DatastoreID)
		}
		return ids, page.NextToken
	})
	if !sameSet(listed, want) {
		t.Fatalf("list-datastores pages listed %v, want %v", listed, keys(want))
	}
	wantSets := map[string]bool{}
	for _, s := range byPatient[0].ImageSetsMetadataSummaries {
		wantSets[s.ImageSetID] = true
	}
	found := paginate(cli, srv, "SearchImageSets", len(wantSets), func(extra []string) ([]string, string) {
		var page cliSearch
		cli.ok(&page, append([]string{"search-image-sets", "--datastore-id", ds, "--max-items", "1", "--page-size", "1"}, extra...)...)
		var ids []string
		for _, s := range page.ImageSetsMetadataSummaries {
			ids = append(ids, s.ImageSetID)
		}
		return ids, page.NextToken
	})
	if !sameSet(found, wantSets) {
		t.Fatalf("search-image-sets pages found %v, want %v", found, keys(wantSets))
	}

	// Errors: validation, not found, a wrong secret.
	msg := cli.fail(nil, "ValidationException", "list-datastores", "--max-results", "100")
	if !strings.Contains(msg, "maxResults") {
		t.Fatalf("the validation error does not name maxResults: %s", msg)
	}
	cli.fail(nil, "ResourceNotFoundException", "get-datastore", "--datastore-id", strings.Repeat("0", 32))
	cli.fail(nil, "ResourceNotFoundException", "get-image-set", "--datastore-id", ds, "--image-set-id", strings.Repeat("0", 32))
	cli.fail(nil, "ResourceNotFoundException", "get-dicom-import-job", "--datastore-id", ds, "--job-id", strings.Repeat("0", 32))
	good := string(readFile(t, credFile))
	var ak string
	for _, line := range strings.Split(good, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "aws_access_key_id" {
			ak = strings.TrimSpace(v)
		}
	}
	if ak == "" {
		t.Fatalf("no aws_access_key_id in %s:\n%s", credFile, good)
	}
	wrong := filepath.Join(dir, "wrong-credentials")
	if err := os.WriteFile(wrong, []byte("[ohi]\naws_access_key_id = "+ak+"\naws_secret_access_key = not-the-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli.fail([]string{"AWS_SHARED_CREDENTIALS_FILE=" + wrong}, "InvalidSignatureException", "list-datastores")
	cli.fail([]string{"AWS_SHARED_CREDENTIALS_FILE=" + wrong}, "InvalidSignatureException", "get-image-set", "--datastore-id", ds, "--image-set-id", setID)
}

// paginate calls page (with --starting-token after the first page) until
// the CLI returns no NextToken, at most want+2 times, checks that every
// page held one item and that the server answered at least one request of
// op per item, and returns the items.
func paginate(cli *awsCLI, srv *serverProc, op string, want int, page func(extra []string) ([]string, string)) []string {
	t := cli.t
	t.Helper()
	before := countOp(srv, op)
	var all []string
	var extra []string
	for i := 0; ; i++ {
		if i > want+1 {
			t.Fatalf("%s: still a NextToken after %d pages of one item", op, i)
		}
		ids, next := page(extra)
		if len(ids) == 0 && next == "" && i > 0 {
			break // a server may end with an empty page
		}
		if len(ids) != 1 {
			t.Fatalf("%s page %d with --max-items 1 holds %d items", op, i+1, len(ids))
		}
		all = append(all, ids...)
		if next == "" {
			break
		}
		extra = []string{"--starting-token", next}
	}
	waitFor(t, "server-side pages of "+op, 5*time.Second, 20*time.Millisecond, func() (bool, error) {
		return countOp(srv, op)-before >= want, nil
	})
	return all
}

// countOp counts the server's access log lines of operation op.
func countOp(srv *serverProc, op string) int {
	n := 0
	for _, l := range srv.Log.Lines() {
		if strings.Contains(l, "op="+op+" ") || strings.HasSuffix(l, "op="+op) {
			n++
		}
	}
	return n
}

func sameSet(got []string, want map[string]bool) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, id := range got {
		if !want[id] || seen[id] {
			return false
		}
		seen[id] = true
	}
	return true
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
