package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/synth"
)

// TestAWSCLIImageSetOperations drives the image-set write operations
// (UpdateImageSetMetadata, CopyImageSet, DeleteImageSet) and the paging of
// ListImageSetVersions and ListDICOMImportJobs through the AWS CLI; with
// TestAWSCLI it covers all 18 operations of the API.
func TestAWSCLIImageSetOperations(t *testing.T) {
	t.Parallel()
	bin := lookClient(t, "aws")
	dir := t.TempDir()
	srv := startServer(t, serverOpts{DataDir: dir})
	cli := &awsCLI{t: t, bin: bin, endpoint: srv.Endpoint, env: cleanEnv(
		"AWS_DISABLE_HOST_PREFIX_INJECTION=true", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"), "AWS_PROFILE=ohi", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")}
	g := writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "ops"), synth.Config{Series: 1, Instances: 3, Rows: 32, Cols: 32, Seed: 21})

	var created cliDatastore
	cli.ok(&created, "create-datastore", "--datastore-name", "cli-ops")
	ds := created.DatastoreID
	waitCLI(t, "data store ACTIVE", func() bool {
		var got struct{ DatastoreProperties cliDatastore }
		cli.ok(&got, "get-datastore", "--datastore-id", ds)
		return got.DatastoreProperties.DatastoreStatus == "ACTIVE"
	})
	// Three imports of the same series: three jobs, three versions.
	var jobIDs []string
	for i := 0; i < 3; i++ {
		var started cliJob
		cli.ok(&started, "start-dicom-import-job", "--datastore-id", ds, "--data-access-role-arn", roleARN,
			"--input-s3-uri", "s3://dicom-in/ops/", "--output-s3-uri", "s3://dicom-out/ops/")
		jobIDs = append(jobIDs, started.JobID)
		waitCLI(t, "import COMPLETED", func() bool {
			var got struct{ JobProperties cliJob }
			cli.ok(&got, "get-dicom-import-job", "--datastore-id", ds, "--job-id", started.JobID)
			return got.JobProperties.JobStatus == "COMPLETED"
		})
	}
	// ListDICOMImportJobs, one per page: the CLI follows nextToken.
	var jobs struct {
		JobSummaries []struct {
			JobID string `json:"jobId"`
		} `json:"jobSummaries"`
	}
	cli.ok(&jobs, "list-dicom-import-jobs", "--datastore-id", ds, "--page-size", "1", "--max-items", "10")
	if len(jobs.JobSummaries) != 3 || jobs.JobSummaries[0].JobID != jobIDs[2] {
		t.Fatalf("list-dicom-import-jobs (newest first) = %+v, want %v reversed", jobs.JobSummaries, jobIDs)
	}

	var search struct {
		ImageSetsMetadataSummaries []struct {
			ImageSetID string `json:"imageSetId"`
			Version    int    `json:"version"`
		} `json:"imageSetsMetadataSummaries"`
	}
	cli.ok(&search, "search-image-sets", "--datastore-id", ds)
	if len(search.ImageSetsMetadataSummaries) != 1 || search.ImageSetsMetadataSummaries[0].Version != 3 {
		t.Fatalf("search = %+v, want one image set at version 3", search)
	}
	is := search.ImageSetsMetadataSummaries[0].ImageSetID

	// UpdateImageSetMetadata; AWS CLI v1 base64-encodes blob members itself
	// (v2 needs --cli-binary-format raw-in-base64-out for the same call).
	type imageSet struct {
		VersionID      string `json:"versionId"`
		LatestVersion  string `json:"latestVersionId"`
		State          string `json:"imageSetState"`
		WorkflowStatus string `json:"imageSetWorkflowStatus"`
		Message        string `json:"message"`
	}
	var upd imageSet
	cli.ok(&upd, "update-image-set-metadata", "--datastore-id", ds, "--image-set-id", is, "--latest-version-id", "3",
		"--update-image-set-metadata-updates", `{"DICOMUpdates":{"updatableAttributes":"{\"SchemaVersion\":1.1,\"Study\":{\"DICOM\":{\"StudyDescription\":\"CLI UPDATED\"}}}"}}`)
	if upd.LatestVersion != "4" || upd.State != "LOCKED" || upd.WorkflowStatus != "UPDATING" {
		t.Fatalf("update-image-set-metadata = %+v", upd)
	}
	waitSet := func(id, state, status string) imageSet {
		var got imageSet
		waitCLI(t, id+" "+state+"/"+status, func() bool {
			cli.ok(&got, "get-image-set", "--datastore-id", ds, "--image-set-id", id)
			return got.State == state && got.WorkflowStatus == status
		})
		return got
	}
	waitSet(is, "ACTIVE", "UPDATED")
	cli.fail(nil, "ConflictException", "update-image-set-metadata", "--datastore-id", ds, "--image-set-id", is, "--latest-version-id", "3",
		"--update-image-set-metadata-updates", `{"revertToVersionId":"1"}`)
	cli.fail(nil, "ValidationException", "update-image-set-metadata", "--datastore-id", ds, "--image-set-id", is, "--latest-version-id", "4",
		"--update-image-set-metadata-updates", `{"DICOMUpdates":{"updatableAttributes":"{\"Study\":{\"DICOM\":{\"PatientName\":\"X\"}}}"}}`)
	cli.ok(&upd, "update-image-set-metadata", "--datastore-id", ds, "--image-set-id", is, "--latest-version-id", "4",
		"--update-image-set-metadata-updates", `{"revertToVersionId":"1"}`)
	waitSet(is, "ACTIVE", "UPDATED")

	// ListImageSetVersions, two per page.
	var vers struct {
		ImageSetPropertiesList []struct {
			VersionID string `json:"versionId"`
			Status    string `json:"ImageSetWorkflowStatus"`
		} `json:"imageSetPropertiesList"`
	}
	cli.ok(&vers, "list-image-set-versions", "--datastore-id", ds, "--image-set-id", is, "--page-size", "2", "--max-items", "10")
	var got []string
	for _, v := range vers.ImageSetPropertiesList {
		got = append(got, v.VersionID+":"+v.Status)
	}
	if strings.Join(got, ",") != "5:UPDATED,4:UPDATED,3:IMPORTED,2:IMPORTED,1:CREATED" {
		t.Fatalf("list-image-set-versions = %v", got)
	}

	// CopyImageSet of one instance to a new image set, then DeleteImageSet.
	series := g.SeriesUID(synth.Ref{})
	sop := g.SOPInstanceUID(synth.Ref{})
	var cp struct {
		Source      imageSet `json:"sourceImageSetProperties"`
		Destination struct {
			ImageSetID string `json:"imageSetId"`
			imageSet
		} `json:"destinationImageSetProperties"`
	}
	cli.ok(&cp, "copy-image-set", "--datastore-id", ds, "--source-image-set-id", is, "--copy-image-set-information",
		`{"sourceImageSet":{"latestVersionId":"5","DICOMCopies":{"copiableAttributes":"{\"SchemaVersion\":\"1.1\",\"Study\":{\"Series\":{\"`+series+`\":{\"Instances\":{\"`+sop+`\":{}}}}}}"}}}`)
	if cp.Source.State != "LOCKED" || cp.Source.WorkflowStatus != "COPYING_WITH_READ_ONLY_ACCESS" || cp.Destination.WorkflowStatus != "COPYING" {
		t.Fatalf("copy-image-set = %+v", cp)
	}
	dest := cp.Destination.ImageSetID
	waitSet(dest, "ACTIVE", "COPIED")
	waitSet(is, "ACTIVE", "UPDATED")
	var del imageSet
	cli.ok(&del, "delete-image-set", "--datastore-id", ds, "--image-set-id", dest)
	if del.State != "LOCKED" || del.WorkflowStatus != "DELETING" {
		t.Fatalf("delete-image-set = %+v", del)
	}
	waitSet(dest, "DELETED", "DELETED")
	cli.fail(nil, "ResourceNotFoundException", "get-image-set-metadata", "--datastore-id", ds, "--image-set-id", dest, filepath.Join(dir, "gone.json.gz"))
	cli.ok(nil, "delete-image-set", "--datastore-id", ds, "--image-set-id", is)
	waitSet(is, "DELETED", "DELETED")
	var dd cliDatastore
	cli.ok(&dd, "delete-datastore", "--datastore-id", ds)
	if dd.DatastoreStatus != "DELETING" {
		t.Fatalf("delete-datastore = %+v", dd)
	}
}

// waitCLI polls cond every 200ms for at most 30s.
func waitCLI(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
