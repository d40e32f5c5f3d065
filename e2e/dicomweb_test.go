package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/synth"
)

// dwGet sends a DICOMweb GET signed with aws-sdk-go-v2's SigV4 signer
// (service medical-imaging) and returns the status and body.
func dwGet(t testing.TB, endpoint, path, accept string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", endpoint+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	sum := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret},
		req, hex.EncodeToString(sum[:]), "medical-imaging", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// pydicomPython returns a python3 that imports pydicom and numpy (the
// Debian python3-pydicom one when the first python3 on PATH has none).
func pydicomPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(p); err == nil {
			if exec.Command(path, "-c", "import pydicom, numpy").Run() == nil {
				return path
			}
		}
	}
	skipClient(t, "no python3 with pydicom and numpy (Debian python3-pydicom, installed by scripts/setup.sh)")
	return ""
}

// dicomwebRoundTrip retrieves every imported corpus file with WADO-RS
// GetDICOMInstance, in explicit VR little endian (the default) and in the
// stored transfer syntax, and has pydicom check that each carries every
// attribute of the original and its pixels. in is the import's input
// directory; succ its success lines.
func dicomwebRoundTrip(t *testing.T, endpoint, ds, in string, succ []successLine) {
	python := pydicomPython(t)
	out := t.TempDir()
	if keep := os.Getenv("OHI_E2E_DICOMWEB_OUT"); keep != "" {
		out = keep // keep the retrieved files for inspection
	}
	type item struct{ orig, sop, label string }
	bySOP := map[string][]string{}
	var items []item
	var tsv bytes.Buffer
	retrieved, skippedDup := 0, 0
	for _, l := range succ {
		orig := filepath.Join(in, filepath.FromSlash(strings.TrimPrefix(l.InputFile, "all/")))
		f, err := os.Open(orig)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		inst, err := dicom.Read(f, fi.Size(), dicom.Options{})
		if err != nil {
			f.Close()
			t.Fatalf("%s was imported but does not parse: %v", l.InputFile, err)
		}
		uids := []string{inst.StudyInstanceUID, inst.SeriesInstanceUID, inst.SOPInstanceUID}
		inst.Close()
		f.Close()
		key := strings.Join(uids, "/") + "@" + l.ImportResponse.ImageSetID
		bySOP[key] = append(bySOP[key], l.InputFile)
		items = append(items, item{orig: orig, sop: key, label: l.InputFile})
	}
	for i, it := range items {
		if len(bySOP[it.sop]) > 1 {
			skippedDup++ // several files with one SOP Instance UID: the last one imported is served
			continue
		}
		uids, isID, _ := strings.Cut(it.sop, "@")
		u := strings.Split(uids, "/")
		path := fmt.Sprintf("/datastore/%s/studies/%s/series/%s/instances/%s?imageSetId=%s", ds, u[0], u[1], u[2], isID)
		for _, accept := range []string{"", "application/dicom; transfer-syntax=*"} {
			code, body := dwGet(t, endpoint, path, accept)
			if code != 200 {
				t.Errorf("%s (Accept %q): %d %.300s", it.label, accept, code, body)
				continue
			}
			name := filepath.Join(out, fmt.Sprintf("%d-%d.dcm", i, len(accept)))
			if err := os.WriteFile(name, body, 0o644); err != nil {
				t.Fatal(err)
			}
			mode := map[bool]string{true: "ELE", false: "stored"}[accept == ""]
			fmt.Fprintf(&tsv, "%s\t%s\t%s (%s)\t%s\n", it.orig, name, it.label, mode, mode)
			retrieved++
		}
	}
	pairs := filepath.Join(out, "pairs.tsv")
	if err := os.WriteFile(pairs, tsv.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join(moduleRoot, "e2e", "clients", "p10_roundtrip.py"), pairs)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("p10_roundtrip.py: %v\n%s", err, stderr.String())
	}
	var r struct {
		Files             int
		PixelsCompared    int
		PixelsUndecodable []string
		Problems          []string
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatalf("p10_roundtrip.py answered %q: %v", res, err)
	}
	t.Logf("DICOMweb round trip: %d retrievals of %d imported files checked by pydicom (%d files sharing a SOP Instance UID skipped); pixels compared in %d, %d originals pydicom cannot decode",
		r.Files, len(succ), skippedDup, r.PixelsCompared, len(r.PixelsUndecodable))
	if r.Files != retrieved || r.Files == 0 {
		t.Errorf("pydicom checked %d of %d retrieved files", r.Files, retrieved)
	}
	for _, p := range r.Problems {
		t.Error(p)
	}
}

// runClient runs a client program and decodes its last stdout line.
func runClient(t *testing.T, argv, env []string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = t.TempDir()
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s\nstdout:\n%s", strings.Join(argv, " "), err, tail(stderr.Bytes(), 40), tail(stdout.Bytes(), 10))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), out); err != nil {
		t.Fatalf("%s printed %q: %v", filepath.Base(argv[len(argv)-1]), lines[len(lines)-1], err)
	}
}

// TestDICOMwebClients drives the DICOMweb routes with the clients the
// field uses: the npm dicomweb-client (STOW, QIDO, WADO metadata, frames
// and instance) and Python requests signed by botocore's SigV4Auth.
func TestDICOMwebClients(t *testing.T) {
	t.Parallel()
	node := lookClient(t, "node")
	prefix := npmInstall(t)
	dir := t.TempDir()
	g := writeStudy(t, filepath.Join(dir, "stow"), synth.Config{Series: 1, Instances: 3, Rows: 24, Cols: 20, Seed: 41, PatientID: "JS%04d"})
	srv := startServer(t, serverOpts{DataDir: dir, Args: authArgs})
	c := newClient(srv.Endpoint, testAK, testSecret)
	ds := createDatastore(t, c, "dicomweb-clients")
	var files []string
	for i := range 3 {
		files = append(files, filepath.Join(dir, "stow", filepath.FromSlash(g.Path(synth.Ref{Instance: i}))))
	}
	var js struct {
		OK                                  bool
		Client, Version                     string
		Stored, Studies, Series, Instances  int
		StudyInstanceUID, SeriesInstanceUID string
		SeriesMetadata, Rows, Columns       int
		FrameBytes, StoredFrameBytes        []int
		InstanceBytes                       int
	}
	runClient(t, []string{node, filepath.Join(moduleRoot, "e2e", "clients", "dicomweb.mjs")}, clientEnv(srv, dir,
		"OHI_DATASTORE_ID="+ds, "OHI_STOW_FILES="+strings.Join(files, ","), "OHI_SDKJS_PREFIX="+prefix), &js)
	t.Logf("dicomweb-client %s: %+v", js.Version, js)
	if !js.OK || js.Stored != 3 || js.Studies != 1 || js.Series != 1 || js.Instances != 3 || js.SeriesMetadata != 3 ||
		js.StudyInstanceUID != g.StudyUID(synth.Ref{}) || js.SeriesInstanceUID != g.SeriesUID(synth.Ref{}) || js.Rows != 24 || js.Columns != 20 {
		t.Fatalf("dicomweb-client summary %+v", js)
	}
	if len(js.FrameBytes) != 1 || js.FrameBytes[0] != 24*20*2 || len(js.StoredFrameBytes) != 1 || js.StoredFrameBytes[0] == 0 ||
		js.StoredFrameBytes[0] >= js.FrameBytes[0] || js.InstanceBytes < 24*20*2 {
		t.Fatalf("frames %v (uncompressed) and %v (stored), instance %d bytes", js.FrameBytes, js.StoredFrameBytes, js.InstanceBytes)
	}

	// Python requests with botocore's signer.
	python := lookClient(t, "python3")
	if err := exec.Command(python, "-c", "import botocore, requests").Run(); err != nil {
		skipClient(t, "%s has no botocore and requests: %v", python, err)
	}
	g2 := writeStudy(t, filepath.Join(dir, "py"), synth.Config{Series: 1, Instances: 1, Rows: 16, Cols: 12, Seed: 42, PatientID: "PY%04d"})
	var py struct {
		OK                           bool
		Client, Botocore, Sop, Study string
		Rows, Columns                int
		FramesResponseBytes          int
		InstanceBytes, JpegStatus    int
		JpegMessage                  string
	}
	runClient(t, []string{python, filepath.Join(moduleRoot, "e2e", "clients", "dicomweb.py")}, clientEnv(srv, dir,
		"OHI_DATASTORE_ID="+ds, "OHI_STOW_FILE="+filepath.Join(dir, "py", filepath.FromSlash(g2.Path(synth.Ref{})))), &py)
	t.Logf("requests+botocore %s: %+v", py.Botocore, py)
	if !py.OK || py.Sop != g2.SOPInstanceUID(synth.Ref{}) || py.Study != g2.StudyUID(synth.Ref{}) || py.Rows != 16 || py.Columns != 12 ||
		py.FramesResponseBytes < 16*12*2 || py.JpegStatus != 406 || !strings.Contains(py.JpegMessage, "transfer-syntax=*") {
		t.Fatalf("requests+botocore summary %+v", py)
	}
}
