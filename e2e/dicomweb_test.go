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
