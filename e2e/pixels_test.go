package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// pixelHashes is run by the system Python (Debian python3-pydicom and
// python3-numpy): for each file it prints its SOPInstanceUID and, when
// asked (a "ref:" prefix), the SHA-256 of every frame's samples laid out as
// ohi decodes them (little endian, 1, 2 or 4 bytes, interleaved).
const pixelHashes = `
import hashlib, json, sys
import numpy as np
import pydicom
out = {}
for arg in sys.argv[1:]:
    ref = arg.startswith("ref:")
    path = arg[4:] if ref else arg
    ds = pydicom.dcmread(path)
    entry = {"sop": str(ds.SOPInstanceUID)}
    if ref:
        arr = ds.pixel_array
        if int(ds.get("NumberOfFrames", 1) or 1) == 1:
            arr = arr[np.newaxis]
        bps = 1 if ds.BitsAllocated <= 8 else ds.BitsAllocated // 8
        entry["frames"] = [hashlib.sha256(np.ascontiguousarray(f).astype("<u%d" % bps).tobytes()).hexdigest() for f in arr]
    out[arg] = entry
json.dump(out, sys.stdout)
`

// TestImportedPixels imports Explicit VR Big Endian files of every sample
// layout the corpora offer and JPEG-LS files, fetches every frame with
// GetImageFrame, decodes it, and compares it with what pydicom reads from
// the same file or from its uncompressed little endian twin: 8-bit palette
// colour samples in OW words (DCMTK's big endian conversion of the corpora's
// 10-frame ultrasound), 16-bit OW, 32-bit OW (15 frames), 8-bit RGB OB in
// planar configuration 1, 1-bit OB, and JPEG-LS from pydicom and from
// DCMTK's encoder.
func TestImportedPixels(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("imports files through a server")
	}
	corpora := filepath.Join(moduleRoot, "testdata", "corpora")
	if _, err := os.Stat(filepath.Join(corpora, "pydicom", "MR_small.dcm")); err != nil {
		t.Skipf("corpora not installed (%v): run scripts/install-corpora.sh", err)
	}
	dcmdrle, dcmconv := lookClient(t, "dcmdrle"), lookClient(t, "dcmconv")
	dcmcjpls, dcmodify := lookClient(t, "dcmcjpls"), lookClient(t, "dcmodify")
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import pydicom, numpy").Run(); err != nil {
		skipClient(t, "%s has no pydicom or numpy (Debian python3-pydicom, python3-numpy: scripts/setup.sh)", py)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
		}
	}
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	in := filepath.Join(dir, "buckets", "px-in", "px")
	for _, d := range []string{work, in} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	corpus := func(rel string) string { return filepath.Join(corpora, filepath.FromSlash(rel)) }
	usLE := filepath.Join(work, "us_le.dcm")
	run(dcmdrle, corpus("dicomweb-client/US-PAL-8-10x-echo.dcm"), usLE)
	mrLE := filepath.Join(work, "mr12_le.dcm")
	copyFile(t, corpus("nibabel/0.dcm"), mrLE)
	// name in the input prefix -> how it is made, and the file whose
	// pixels it must have.
	type input struct{ name, ref string }
	inputs := []input{
		{"us_be_ow8.dcm", usLE},
		{"mr_be_ow16.dcm", corpus("pydicom/MR_small_bigendian.dcm")},
		{"dose_be_ow32.dcm", corpus("pydicom/rtdose_expb.dcm")},
		{"rgb_be_ob8_planar.dcm", corpus("pydicom/ExplVR_BigEnd.dcm")},
		{"liver_be_ob1.dcm", corpus("pydicom/liver_expb_1frame.dcm")},
		{"mr_jpegls.dcm", corpus("pydicom/MR_small.dcm")},
		{"mr12_jpegls_dcmtk.dcm", mrLE},
	}
	for _, f := range inputs {
		dst := filepath.Join(in, f.name)
		switch f.name {
		case "us_be_ow8.dcm":
			run(dcmconv, "+tb", usLE, dst)
		case "mr_jpegls.dcm":
			copyFile(t, corpus("pydicom/MR_small_jpeg_ls_lossless.dcm"), dst)
		case "mr12_jpegls_dcmtk.dcm":
			run(dcmcjpls, mrLE, dst)
		default:
			copyFile(t, f.ref, dst)
		}
		// New UIDs: the MR_small files are one instance in several
		// transfer syntaxes.
		run(dcmodify, "-nb", "-gst", "-gse", "-gin", dst)
	}
	args := []string{"-c", pixelHashes}
	for _, f := range inputs {
		args = append(args, filepath.Join(in, f.name), "ref:"+f.ref)
	}
	out, err := exec.Command(py, args...).Output()
	if err != nil {
		t.Fatalf("pydicom: %v", err)
	}
	var info map[string]struct {
		SOP    string
		Frames []string
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}

	srv := startServer(t, serverOpts{DataDir: dir, Args: authArgs})
	c := newClient(srv.Endpoint, testAK, testSecret)
	ds := createDatastore(t, c, "pixels")
	jobID := startImport(t, c, ds, "s3://px-in/px/", "s3://px-out/jobs/")
	wantCompleted(t, waitJob(t, c, ds, jobID, 60*time.Second), "s3://px-out/jobs/", ds)

	type frames struct {
		set string
		ids []string
	}
	bySOP := map[string]frames{}
	for _, s := range searchAll(t, c, ds) {
		doc := getMetadata(t, c, ds, *s.ImageSetId)
		for _, ser := range doc.Study.Series {
			for sop, inst := range ser.Instances {
				f := frames{set: *s.ImageSetId}
				for _, fr := range inst.ImageFrames {
					f.ids = append(f.ids, fr.ID)
				}
				bySOP[sop] = f
			}
		}
	}
	for _, f := range inputs {
		sop := info[filepath.Join(in, f.name)].SOP
		want := info["ref:"+f.ref].Frames
		got, ok := bySOP[sop]
		if !ok {
			t.Errorf("%s (%s) was not imported", f.name, sop)
			continue
		}
		if len(got.ids) != len(want) || len(want) == 0 {
			t.Errorf("%s: %d frames, pydicom reads %d", f.name, len(got.ids), len(want))
			continue
		}
		for i, id := range got.ids {
			sum := sha256.Sum256(decoded(t, getFrame(t, c, ds, got.set, id)))
			if hex.EncodeToString(sum[:]) != want[i] {
				t.Errorf("%s frame %d: GetImageFrame decodes to other pixels than pydicom reads from %s", f.name, i, filepath.Base(f.ref))
			}
		}
	}
}
