package e2e

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Bounds of the corpora test.
const (
	corporaSampleSets = 40  // image sets whose metadata and frames are read
	corporaMaxFrames  = 600 // frames fetched in all
)

// TestImportCorpora imports every file of the installed DICOM test corpora
// (testdata/corpora, see scripts/install-corpora.sh) in one job and checks
// that each file gets exactly one outcome, that no outcome is a server
// error, that the server survives, and that the image sets it made read
// back.
func TestImportCorpora(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow: imports the DICOM test corpora")
	}
	// The corpora may be a symbolic link to a shared copy.
	root := filepath.Join(moduleRoot, "testdata", "corpora")
	src, err := filepath.EvalSymlinks(root)
	if fi, serr := os.Stat(src); err != nil || serr != nil || !fi.IsDir() {
		t.Skipf("%s is not installed: run scripts/install-corpora.sh to fetch the DICOM test corpora", root)
	}
	files := relFiles(t, src)
	if len(files) == 0 {
		t.Skipf("%s holds no files: run scripts/install-corpora.sh", src)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "buckets", "corpora-in", "all")
	want := map[string]bool{}
	for _, rel := range files {
		copyFile(t, filepath.Join(src, filepath.FromSlash(rel)), filepath.Join(in, filepath.FromSlash(rel)))
		want["all/"+rel] = true
	}
	args := append([]string{"--max-files-per-job", fmt.Sprint(max(5000, len(files)+1))}, authArgs...)
	srv := startServer(t, serverOpts{DataDir: dir, Args: args})
	c := newClient(srv.Endpoint, testAK, testSecret)
	ds := createDatastore(t, c, "corpora")
	jobID := startImport(t, c, ds, "s3://corpora-in/all/", "s3://corpora-out/jobs/")
	p := waitJob(t, c, ds, jobID, 100*time.Second)
	if srv.Exited() {
		t.Fatalf("the server exited during the import: %v", srv.waitErr)
	}
	wantCompleted(t, p, "s3://corpora-out/jobs/", ds)

	out := filepath.Join(dir, "buckets", "corpora-out", "jobs", ds+"-DicomImport-"+jobID)
	m := parseManifest(t, readFile(t, filepath.Join(out, "job-output-manifest.json")))
	succ := ndjson[successLine](t, "success.ndjson", readFile(t, filepath.Join(out, "SUCCESS", "success.ndjson")))
	fail := ndjson[failureLine](t, "failure.ndjson", readFile(t, filepath.Join(out, "FAILURE", "failure.ndjson")))
	t.Logf("%d files: imported %d, customer errors %d, server errors %d, image sets %d",
		len(files), m.NumberOfImportedFiles, m.NumberOfFilesWithCustomerError, m.NumberOfFilesWithServerError, m.NumberOfGeneratedImageSets)
	if m.NumberOfScannedFiles != len(files) ||
		m.NumberOfImportedFiles+m.NumberOfFilesWithCustomerError+m.NumberOfFilesWithServerError != m.NumberOfScannedFiles ||
		m.NumberOfImportedFiles != len(succ) || m.NumberOfFilesWithCustomerError+m.NumberOfFilesWithServerError != len(fail) {
		t.Errorf("manifest %+v does not add up: %d files copied, %d success lines, %d failure lines", m, len(files), len(succ), len(fail))
	}

	// Every input file has exactly one outcome.
	outcome := map[string]string{}
	note := func(key, kind string) {
		if prev, ok := outcome[key]; ok {
			t.Errorf("%s is listed twice (%s and %s)", key, prev, kind)
		}
		if !want[key] {
			t.Errorf("%s file %q is not an input file", kind, key)
		}
		outcome[key] = kind
	}
	for _, l := range succ {
		note(l.InputFile, "success")
		if len(l.ImportResponse.ImageSetID) != 32 {
			t.Errorf("success line for %s has image set id %q", l.InputFile, l.ImportResponse.ImageSetID)
		}
	}
	var serverErrors []string
	for _, l := range fail {
		note(l.InputFile, "failure")
		if l.Exception.Message == "" || l.Exception.ExceptionType == "" {
			t.Errorf("failure line for %s has no exception type or message: %+v", l.InputFile, l.Exception)
		}
		if l.Exception.ExceptionType == "InternalServerException" {
			serverErrors = append(serverErrors, l.InputFile+": "+l.Exception.Message)
		}
	}
	for key := range want {
		if _, ok := outcome[key]; !ok {
			t.Errorf("input file %s is in neither success.ndjson nor failure.ndjson", key)
		}
	}
	if len(serverErrors) > 0 || m.NumberOfFilesWithServerError != 0 {
		t.Errorf("%d server errors (bugs), manifest counts %d:\n%s", len(serverErrors), m.NumberOfFilesWithServerError, strings.Join(serverErrors, "\n"))
	}

	// A sample of image sets reads back: metadata parses and every frame
	// of it is retrievable, with the size the metadata announces.
	ids := make([]string, 0, len(m.ImageSetsSummary))
	for _, s := range m.ImageSetsSummary {
		ids = append(ids, s.ImageSetID)
	}
	sort.Strings(ids)
	if step := len(ids) / corporaSampleSets; step > 1 {
		var sample []string
		for i := 0; i < len(ids); i += step {
			sample = append(sample, ids[i])
		}
		ids = sample
	}
	frames := 0
	for _, id := range ids {
		doc := getMetadata(t, c, ds, id)
		for _, ser := range doc.Study.Series {
			for sop, inst := range ser.Instances {
				if len(inst.ImageFrames) == 0 {
					continue // instances without pixel data are valid
				}
				for _, f := range inst.ImageFrames {
					if frames == corporaMaxFrames {
						break
					}
					frames++
					b := getFrame(t, c, ds, id, f.ID)
					if len(b) == 0 || (f.FrameSizeInBytes != 0 && len(b) != f.FrameSizeInBytes) {
						t.Errorf("image set %s instance %s frame %s: %d bytes, metadata says %d", id, sop, f.ID, len(b), f.FrameSizeInBytes)
					}
				}
			}
		}
	}
	t.Logf("read the metadata of %d image sets and %d frames (at most %d)", len(ids), frames, corporaMaxFrames)
	t.Run("DICOMwebRoundTrip", func(t *testing.T) { dicomwebRoundTrip(t, srv.Endpoint, ds, in, succ) })
	if srv.Exited() {
		t.Fatalf("the server exited: %v", srv.waitErr)
	}
	if _, err := c.ListDatastores(callCtx(t), nil); err != nil {
		t.Fatalf("the server does not answer after the import: %v", err)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	err := func() error {
		r, err := os.Open(from)
		if err != nil {
			return err
		}
		defer r.Close()
		w, err := os.Create(to)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, r)
		return errors.Join(err, w.Close())
	}()
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}
