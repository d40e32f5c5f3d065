package e2e

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"

	"github.com/openhealthimaging/ohi/synth"
)

// TestRestartDuringImport kills the server with SIGKILL in the middle of an
// import (while it reads the files, and between two image set commits),
// restarts it on the same data directory and checks that the job completes
// with every instance imported exactly once.
func TestRestartDuringImport(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: imports 400 instances twice, killing the server mid-import")
	}
	t.Run("while-reading", func(t *testing.T) { testRestart(t, false) })
	t.Run("while-committing", func(t *testing.T) { testRestart(t, true) })
}

// Input of one restart test: 16 series of 25 small instances.
var restartInput = synth.Config{Series: 16, Instances: 25, Rows: 64, Cols: 64, Seed: 31}

const (
	committedMsg = `msg="image set committed"`
	completedMsg = `msg="import job completed"`
)

func testRestart(t *testing.T, duringCommits bool) {
	dir := t.TempDir()
	g := writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "big"), restartInput)
	n := restartInput.Series * restartInput.Instances
	args := append([]string{"--import-workers", "2"}, authArgs...)

	opts := serverOpts{DataDir: dir, Args: args}
	if duringCommits {
		// Kill as soon as the first image set is committed, from the
		// goroutine that reads the log: the next commit is milliseconds away.
		opts.OnLine = func(p *serverProc, line string) {
			if strings.Contains(line, committedMsg) {
				p.killNow()
			}
		}
	}
	srv := startServer(t, opts)
	c := newClient(srv.Endpoint, testAK, testSecret)
	ds := createDatastore(t, c, "restart")
	jobID := startImport(t, c, ds, "s3://dicom-in/big/", "s3://dicom-out/big/")
	manifest := filepath.Join(dir, "buckets", "dicom-out", "big", ds+"-DicomImport-"+jobID, "job-output-manifest.json")

	// The job must be seen IN_PROGRESS before the kill.
	inProgress := false
	waitFor(t, "job IN_PROGRESS", 30*time.Second, 10*time.Millisecond, func() (bool, error) {
		g, err := c.GetDICOMImportJob(callCtx(t), &mi.GetDICOMImportJobInput{DatastoreId: &ds, JobId: &jobID})
		if srv.Exited() {
			return true, nil // killed by OnLine
		}
		if err != nil {
			return false, err
		}
		switch s := g.JobProperties.JobStatus; s {
		case types.JobStatusSubmitted:
		case types.JobStatusInProgress:
			inProgress = true
		default:
			t.Fatalf("job is %s before the kill: make the input bigger", s)
		}
		return inProgress, nil
	})
	if !inProgress {
		t.Fatal("the job was not seen IN_PROGRESS before the kill")
	}
	if duringCommits {
		select {
		case <-srv.done:
		case <-time.After(90 * time.Second):
			t.Fatalf("no image set committed within 90s")
		}
	} else {
		// Kill once a quarter of the files have their frames stored
		// (blobs appear under DIR/blobs).
		waitFor(t, "a quarter of the frames stored", 60*time.Second, 2*time.Millisecond, func() (bool, error) {
			return countFiles(filepath.Join(dir, "blobs")) >= n/4, nil
		})
		srv.Kill()
	}
	if !srv.Exited() {
		t.Fatal("the server did not exit after SIGKILL")
	}
	// The kill really happened mid-import.
	if _, err := os.Stat(manifest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the job output manifest existed at kill time (err %v): the import was not interrupted; make the input bigger", err)
	}
	commits := srv.Log.Count(committedMsg)
	if srv.Log.Count(completedMsg) != 0 || commits >= restartInput.Series || (!duringCommits && commits != 0) || (duringCommits && commits == 0) {
		t.Fatalf("the kill did not land where intended: %d image sets committed before it (of %d), completed lines %d",
			commits, restartInput.Series, srv.Log.Count(completedMsg))
	}
	t.Logf("killed with %d of %d image sets committed and %d files under blobs/", commits, restartInput.Series, countFiles(filepath.Join(dir, "blobs")))

	// Restart on the same data directory: the job resumes.
	srv2 := startServer(t, serverOpts{DataDir: dir, Args: args})
	c = newClient(srv2.Endpoint, testAK, testSecret)
	p := waitJob(t, c, ds, jobID, 90*time.Second)
	wantCompleted(t, p, "s3://dicom-out/big/", ds)
	if srv2.Log.Count(`msg="import job resumed"`) != 1 {
		t.Fatalf("the restarted server did not log that it resumed the job")
	}
	checkRestartedImport(t, c, g, ds, readFile(t, manifest))
	// Frames stored by reads the kill interrupted are swept: exactly the
	// referenced frames, the instances' stored headers (one each, kept for
	// DICOMweb's WADO-RS) and the metadata documents remain.
	if got := countFiles(filepath.Join(dir, "blobs")); got != 2*n+restartInput.Series {
		var odd []string
		_ = filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && !strings.Contains(p, "/frames/") {
				odd = append(odd, p)
			}
			return nil
		})
		t.Fatalf("%d files under blobs/ after the import; %d frames, %d headers and %d metadata documents are referenced; non-frame files: %v", got, n, n, restartInput.Series, odd)
	}
}

// checkRestartedImport checks the manifest, the image sets, their versions,
// their metadata and every frame of a restarted import of restartInput.
func checkRestartedImport(t *testing.T, c *mi.Client, g *synth.Generator, ds string, manifest []byte) {
	cfg := g.Config()
	n := cfg.Series * cfg.Instances
	m := parseManifest(t, manifest)
	if m.NumberOfScannedFiles != n || m.NumberOfImportedFiles != n || m.NumberOfFilesWithCustomerError != 0 ||
		m.NumberOfFilesWithServerError != 0 || m.NumberOfGeneratedImageSets != cfg.Series || len(m.ImageSetsSummary) != cfg.Series {
		t.Fatalf("manifest after the restart: scanned %d imported %d customer errors %d server errors %d image sets %d (%d summaries); want %d files, %d image sets",
			m.NumberOfScannedFiles, m.NumberOfImportedFiles, m.NumberOfFilesWithCustomerError, m.NumberOfFilesWithServerError,
			m.NumberOfGeneratedImageSets, len(m.ImageSetsSummary), n, cfg.Series)
	}
	for _, s := range m.ImageSetsSummary {
		if !s.IsPrimary || s.ImageSetVersion != 1 || s.NumberOfMatchedSOPInstances != cfg.Instances {
			t.Errorf("manifest image set summary %+v, want primary, version 1, %d instances", s, cfg.Instances)
		}
	}

	// One primary image set per series, at version 1.
	sets := searchAll(t, c, ds)
	bySeries := map[string]string{}
	for _, s := range sets {
		series := aws.ToString(s.DICOMTags.DICOMSeriesInstanceUID)
		if prev, dup := bySeries[series]; dup {
			t.Errorf("series %s is in two image sets: %s and %s", series, prev, *s.ImageSetId)
		}
		bySeries[series] = *s.ImageSetId
		if aws.ToInt32(s.Version) != 1 || !aws.ToBool(s.IsPrimary) {
			t.Errorf("image set %s: version %d primary %v, want version 1 primary", *s.ImageSetId, aws.ToInt32(s.Version), aws.ToBool(s.IsPrimary))
		}
		v, err := c.ListImageSetVersions(callCtx(t), &mi.ListImageSetVersionsInput{DatastoreId: &ds, ImageSetId: s.ImageSetId})
		if err != nil {
			t.Fatalf("ListImageSetVersions %s: %v", *s.ImageSetId, err)
		}
		if len(v.ImageSetPropertiesList) != 1 {
			t.Errorf("image set %s has %d versions, want 1", *s.ImageSetId, len(v.ImageSetPropertiesList))
		}
	}
	if len(sets) != cfg.Series || len(bySeries) != cfg.Series {
		t.Fatalf("%d image sets over %d series, want %d", len(sets), len(bySeries), cfg.Series)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Every SOP instance exactly once, and every frame is the generated one.
	seen := map[string]int{}
	for si := 0; si < cfg.Series; si++ {
		seriesUID := g.SeriesUID(synth.Ref{Series: si})
		setID, ok := bySeries[seriesUID]
		if !ok {
			t.Fatalf("series %d (%s) has no image set", si, seriesUID)
		}
		doc := getMetadata(t, c, ds, setID)
		for uid, ser := range doc.Study.Series {
			if uid != seriesUID {
				t.Fatalf("image set %s of series %s holds series %s", setID, seriesUID, uid)
			}
			for sop := range ser.Instances {
				seen[sop]++
			}
		}
		for i := 0; i < cfg.Instances; i++ {
			ref := synth.Ref{Series: si, Instance: i}
			inst, ok := doc.Study.Series[seriesUID].Instances[g.SOPInstanceUID(ref)]
			if !ok || len(inst.ImageFrames) != 1 {
				t.Fatalf("instance %+v missing from image set %s or not single-frame", ref, setID)
			}
			if got := decoded(t, getFrame(t, c, ds, setID, inst.ImageFrames[0].ID)); !bytes.Equal(got, pixels(t, g, ref)) {
				t.Fatalf("frame of instance %+v (%d bytes) is not the generated pixels", ref, len(got))
			}
		}
	}
	for sop, k := range seen {
		if k != 1 {
			t.Errorf("SOP instance %s is in the metadata %d times", sop, k)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct SOP instances in the metadata, want %d", len(seen), n)
	}
}

// countFiles counts the regular files under dir (0 if it does not exist).
func countFiles(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}
