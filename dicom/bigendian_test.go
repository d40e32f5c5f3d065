package dicom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/internal/testenv"
	"github.com/openhealthimaging/ohi/synth"
)

// decodeFile reads a file and decodes every frame with codec.Decode, as
// the importer does.
func decodeFile(t testing.TB, path string) (*Instance, []*codec.Pixels) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	in, err := Read(f, st.Size(), Options{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer in.Close()
	px := make([]*codec.Pixels, len(in.Frames))
	for i, fr := range in.Frames {
		b, err := io.ReadAll(fr.Reader(in.Source))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != fr.Size() {
			t.Fatalf("%s frame %d: read %d bytes, Size says %d", path, i, len(b), fr.Size())
		}
		img := codec.Image{Rows: in.Rows, Columns: in.Columns, SamplesPerPixel: in.SamplesPerPixel, BitsAllocated: in.BitsAllocated,
			BitsStored: in.BitsStored, PixelRepresentation: in.PixelRepresentation, PlanarConfiguration: in.PlanarConfiguration,
			Photometric: in.PhotometricInterpretation, BitOffset: fr.BitOffset}
		if px[i], err = codec.Decode(b, in.TransferSyntaxUID, img); err != nil {
			t.Fatalf("%s frame %d: %v", path, i, err)
		}
	}
	return in, px
}

// reverseEach reverses the bytes of every n-byte group of b in place.
func reverseEach(b []byte, n int) {
	for i := 0; i+n <= len(b); i += n {
		for l, r := i, i+n-1; l < r; l, r = l+1, r-1 {
			b[l], b[r] = b[r], b[l]
		}
	}
}

// firstDiff returns the index of the first differing byte (or the shorter
// length).
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// beCase is one pixel data layout of the audit.
type beCase struct {
	bits, spp, planar, rows, cols, frames int
	vr                                    string
	little                                bool // Explicit VR Little Endian instead of Big Endian
}

func (c beCase) String() string {
	order := "be"
	if c.little {
		order = "le"
	}
	return fmt.Sprintf("%s-%dbit-%s-spp%d-pc%d-%dx%d-%dframes", order, c.bits, c.vr, c.spp, c.planar, c.cols, c.rows, c.frames)
}

// beCases lists every byte order x bit depth x VR x samples per pixel x
// frame count, in sizes whose frames start on even and on odd bytes (and
// bits).
func beCases() []beCase {
	var cs []beCase
	for _, little := range []bool{false, true} {
		for _, bits := range []int{1, 8, 16, 32} {
			for _, vr := range []string{"OB", "OW"} {
				for _, spp := range []int{1, 3} {
					if bits == 1 && spp == 3 {
						continue
					}
					for _, size := range [][2]int{{4, 4}, {3, 5}} {
						for _, frames := range []int{1, 3} {
							cs = append(cs, beCase{bits: bits, spp: spp, rows: size[0], cols: size[1], frames: frames, vr: vr, little: little})
						}
					}
				}
			}
		}
		// Planar configuration 1 of an odd-sized multi-frame colour image.
		cs = append(cs, beCase{bits: 8, spp: 3, planar: 1, rows: 3, cols: 5, frames: 3, vr: "OW", little: little},
			beCase{bits: 16, spp: 3, planar: 1, rows: 3, cols: 5, frames: 3, vr: "OW", little: little})
	}
	return cs
}

// beFile writes the case as an Explicit VR Big Endian file and returns it
// with the pixels every frame must decode to (Pixels.Data layout).
func beFile(t *testing.T, c beCase, seed uint64) ([]byte, [][]byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, uint64(c.bits)))
	bps := max(c.bits/8, 1)
	n := c.rows * c.cols * c.spp
	maxVal := uint64(1)<<min(c.bits, 24) - 1 // 32-bit values stay encodable
	want := make([][]byte, c.frames)
	var logical []byte // the pixel data value in sample order, little endian samples
	var bitsBuf []byte
	for f := range want {
		want[f] = make([]byte, n*bps)
		for i := 0; i < n; i++ {
			v := r.Uint64() & maxVal
			for b := 0; b < bps; b++ {
				want[f][i*bps+b] = byte(v >> (8 * b))
			}
		}
		if c.bits == 1 {
			for i := 0; i < n; i++ {
				want[f][i] &= 1
				bitsBuf = append(bitsBuf, want[f][i])
			}
			continue
		}
		stored := want[f]
		if c.spp == 3 && c.planar == 1 {
			stored = make([]byte, len(want[f]))
			px := c.rows * c.cols
			for i := 0; i < px; i++ {
				for s := 0; s < 3; s++ {
					copy(stored[(s*px+i)*bps:(s*px+i+1)*bps], want[f][(i*3+s)*bps:(i*3+s+1)*bps])
				}
			}
		}
		logical = append(logical, stored...)
	}
	if c.bits == 1 {
		logical = make([]byte, (len(bitsBuf)+7)/8)
		for i, b := range bitsBuf {
			logical[i/8] |= b << (i % 8)
		}
	}
	// The value as Explicit VR Big Endian stores it: samples of 16 and 32
	// bits big endian; 1 and 8-bit samples in OW as 16-bit big endian
	// words, in OB as bytes.
	val := bytes.Clone(logical)
	if len(val)%2 == 1 {
		val = append(val, 0)
	}
	switch {
	case c.little:
	case c.bits >= 16:
		reverseEach(val, bps)
	case c.vr == "OW":
		reverseEach(val, 2)
	}
	pi := "MONOCHROME2"
	if c.spp == 3 {
		pi = "RGB"
	}
	ds := synth.DataSet{
		{Tag: 0x00080016, VR: "UI", Value: "1.2.840.10008.5.1.4.1.1.7"},
		{Tag: 0x00080018, VR: "UI", Value: "1.2.826.0.1.3680043.10.1452.7.3"},
		{Tag: 0x0020000D, VR: "UI", Value: "1.2.826.0.1.3680043.10.1452.7.1"},
		{Tag: 0x0020000E, VR: "UI", Value: "1.2.826.0.1.3680043.10.1452.7.2"},
		{Tag: 0x00280002, VR: "US", Value: c.spp},
		{Tag: 0x00280004, VR: "CS", Value: pi},
		{Tag: 0x00280008, VR: "IS", Value: c.frames},
		{Tag: 0x00280010, VR: "US", Value: c.rows},
		{Tag: 0x00280011, VR: "US", Value: c.cols},
		{Tag: 0x00280100, VR: "US", Value: c.bits},
		{Tag: 0x00280101, VR: "US", Value: c.bits},
		{Tag: 0x00280102, VR: "US", Value: c.bits - 1},
		{Tag: 0x00280103, VR: "US", Value: 0},
		{Tag: 0x7FE00010, VR: c.vr, Value: val},
	}
	if c.spp == 3 {
		ds = append(ds, synth.Element{Tag: 0x00280006, VR: "US", Value: c.planar})
	}
	ts := ExplicitVRBigEndian
	if c.little {
		ts = ExplicitVRLittleEndian
	}
	var b bytes.Buffer
	if err := synth.WriteP10(&b, ds, "1.2.840.10008.5.1.4.1.1.7", "1.2.826.0.1.3680043.10.1452.7.3", ts, false); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), want
}

// pydicomReader decodes files with pydicom (Debian python3-pydicom and
// python3-numpy, in the system Python) and prints, per file, the SHA-256 of
// every frame's samples laid out like Pixels.Data.
const pydicomReader = `
import hashlib, json, sys
import numpy as np
import pydicom
out = {}
for path in sys.argv[1:]:
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames == 1:
        arr = arr[np.newaxis]
    bps = 1 if ds.BitsAllocated <= 8 else ds.BitsAllocated // 8
    out[path] = [hashlib.sha256(np.ascontiguousarray(f).astype("<u%d" % bps).tobytes()).hexdigest() for f in arr]
json.dump(out, sys.stdout)
`

// pydicomHashes runs pydicomReader on paths.
func pydicomHashes(t *testing.T, paths []string) map[string][]string {
	t.Helper()
	py := testenv.NeedTool(t, "/usr/bin/python3", "python3")
	if err := exec.Command(py, "-c", "import pydicom, numpy").Run(); err != nil {
		if os.Getenv(testenv.RequireEnv) == "1" {
			t.Fatalf("pydicom or numpy missing from /usr/bin/python3 (Debian python3-pydicom, python3-numpy) and %s=1", testenv.RequireEnv)
		}
		t.Skip("pydicom or numpy missing from /usr/bin/python3 (Debian python3-pydicom, python3-numpy; run scripts/setup.sh)")
	}
	cmd := exec.Command(py, append([]string{"-c", pydicomReader}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pydicom: %v\n%s", err, stderr.Bytes())
	}
	var h map[string][]string
	if err := json.Unmarshal(out, &h); err != nil {
		t.Fatalf("pydicom output: %v", err)
	}
	return h
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestBigEndianAudit writes Explicit VR Big and Little Endian files of
// every bit depth (1, 8, 16, 32) in OB and OW, 1 and 3 samples (planar 0
// and 1), 1 and 3 frames of even and odd sizes (so frames start inside a
// 16-bit word), and checks the pixels ohi decodes: against the values
// written, after the HTJ2K round trip that GetImageFrame serves, against
// DCMTK and against pydicom. DCMTK converts each big endian file to little
// endian (read back through ohi's little endian path) and each little endian
// file to big endian (read back through ohi's big endian path, so the big
// endian layouts DCMTK writes are read too).
//
// The readers differ where the standard leaves room: pydicom 2.3 does not
// swap the 16-bit words of big endian 1 and 8-bit OW data (so it is not
// asked about those), and DCMTK swaps OW as 16-bit words whatever
// BitsAllocated says, and OB never, so it is asked about 1 and 8-bit data
// and 16-bit OW only (it reads 32-bit OW and 16 and 32-bit OB otherwise).
// ohi reads 16 and 32-bit samples as big endian values whatever the VR, as
// pydicom does and as the corpora's big endian twins of little endian files
// (rtdose_expb, MR_small_bigendian) require.
func TestBigEndianAudit(t *testing.T) {
	dir := t.TempDir()
	dcmconv := testenv.NeedTool(t, "dcmconv", "dcmtk")
	type file struct {
		c          beCase
		path, le   string
		want       [][]byte
		dcmtk, pyd bool
	}
	var files []file
	for i, c := range beCases() {
		b, want := beFile(t, c, uint64(i))
		f := file{c: c, path: filepath.Join(dir, c.String()+".dcm"), want: want,
			dcmtk: c.bits <= 8 || (c.bits == 16 && c.vr == "OW"),
			pyd:   c.little || c.bits >= 16 || c.vr == "OB"}
		if err := os.WriteFile(f.path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	var pyPaths []string
	for _, f := range files {
		if f.pyd {
			pyPaths = append(pyPaths, f.path)
		}
	}
	pyd := pydicomHashes(t, pyPaths)
	for _, f := range files {
		_, got := decodeFile(t, f.path)
		for i, p := range got {
			if !bytes.Equal(p.Data, f.want[i]) {
				t.Errorf("%s frame %d: decoded pixels differ from the values written at byte %d", f.c, i, firstDiff(p.Data, f.want[i]))
				continue
			}
			st, err := codec.Transcode(p, codec.FormatHTJ2K)
			if err != nil {
				t.Errorf("%s frame %d: Transcode: %v", f.c, i, err)
				continue
			}
			back, err := codec.DecodeHTJ2K(st.Codestream, 0)
			if err != nil || !bytes.Equal(back.Data, f.want[i]) {
				t.Errorf("%s frame %d: the stored frame does not decode to the pixels (%v)", f.c, i, err)
			}
			if f.pyd && (len(pyd[f.path]) <= i || pyd[f.path][i] != sha(p.Data)) {
				t.Errorf("%s frame %d: pydicom reads other pixels", f.c, i)
			}
		}
		if f.dcmtk {
			conv, flag, ts := strings.TrimSuffix(f.path, ".dcm")+".le.dcm", "+te", ExplicitVRLittleEndian
			if f.c.little {
				conv, flag, ts = strings.TrimSuffix(f.path, ".dcm")+".be.dcm", "+tb", ExplicitVRBigEndian
			}
			testenv.RunTool(t, dcmconv, flag, f.path, conv)
			in, ref := decodeFile(t, conv)
			if in.TransferSyntaxUID != ts || len(ref) != len(got) {
				t.Fatalf("%s: dcmconv wrote %s with %d frames", f.c, in.TransferSyntaxUID, len(ref))
			}
			for i := range ref {
				if !bytes.Equal(ref[i].Data, got[i].Data) {
					t.Errorf("%s frame %d: DCMTK reads other pixels (byte %d)", f.c, i, firstDiff(ref[i].Data, got[i].Data))
				}
			}
		}
	}
	t.Logf("%d files, %d checked with pydicom", len(files), len(pyPaths))
}

// TestBigEndianPaletteUS converts the corpora's 10-frame palette colour
// ultrasound (RLE) to Explicit VR Big Endian with DCMTK, which writes its
// 8-bit samples as OW words, and checks that every frame decodes to the
// RLE original's pixels.
func TestBigEndianPaletteUS(t *testing.T) {
	dcmdrle := testenv.NeedTool(t, "dcmdrle", "dcmtk")
	dcmconv := testenv.NeedTool(t, "dcmconv", "dcmtk")
	src := filepath.Join(corpusDir, "dicomweb-client", "US-PAL-8-10x-echo.dcm")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("corpora not installed (%v); run scripts/install-corpora.sh", err)
	}
	dir := t.TempDir()
	le, be := filepath.Join(dir, "le.dcm"), filepath.Join(dir, "be.dcm")
	testenv.RunTool(t, dcmdrle, src, le)
	testenv.RunTool(t, dcmconv, "+tb", le, be)
	_, want := decodeFile(t, src)
	in, got := decodeFile(t, be)
	if in.TransferSyntaxUID != ExplicitVRBigEndian || len(got) != len(want) || len(got) < 2 {
		t.Fatalf("%s with %d frames, want %d", in.TransferSyntaxUID, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("frame %d differs from the RLE original at byte %d", i, firstDiff(got[i].Data, want[i].Data))
		}
	}
}
