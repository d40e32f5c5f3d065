package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/dicom"
)

// corpusDir holds the third-party files installed by scripts/install-corpora.sh.
const corpusDir = "../testdata/corpora"

// lossless lists the transfer syntaxes whose decoded frames are the
// original pixels, so that the HTJ2K round trip must give them back.
var lossless = map[string]bool{
	tsImplicitLE: true, tsExplicitLE: true, tsDeflatedLE: true, tsExplicitBE: true, tsEncapsulatedLE: true,
	tsRLE: true, tsJPEGLossless: true, tsJPEGLosslessSV1: true, tsJPEGLSLossless: true, tsJ2KLossless: true,
	tsJ2KMCLossless: true, tsHTJ2KLossless: true, tsHTJ2KLosslessRPCL: true,
}

type corpusFrame struct {
	rel   string
	inst  *dicom.Instance
	index int
	data  []byte
}

func imageOf(in *dicom.Instance, fr dicom.Frame) Image {
	return Image{Rows: in.Rows, Columns: in.Columns, SamplesPerPixel: in.SamplesPerPixel, BitsAllocated: in.BitsAllocated,
		BitsStored: in.BitsStored, PixelRepresentation: in.PixelRepresentation, PlanarConfiguration: in.PlanarConfiguration,
		Photometric: in.PhotometricInterpretation, BitOffset: fr.BitOffset}
}

// walkCorpus calls fn for every frame of every corpus file dicom.Read accepts.
func walkCorpus(t *testing.T, fn func(rel string, in *dicom.Instance, i int, frame []byte)) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpora not installed (%v); run scripts/install-corpora.sh", err)
	}
	// The trailing separator makes WalkDir follow a symlinked corpora
	// directory (as in a git worktree) instead of reporting the link.
	err := filepath.WalkDir(corpusDir+string(filepath.Separator), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(corpusDir, path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		in, err := dicom.Read(f, st.Size(), dicom.Options{})
		if err != nil {
			return nil // not DICOM or rejected: package dicom's tests cover these
		}
		defer in.Close()
		for i, fr := range in.Frames {
			b, err := io.ReadAll(io.LimitReader(fr.Reader(in.Source), fr.Size()))
			if err != nil {
				return fmt.Errorf("%s frame %d: %w", rel, i, err)
			}
			fn(filepath.ToSlash(rel), in, i, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCorpus decodes every frame of every corpus file. Frames of lossless
// transfer syntaxes must decode, and EncodeHTJ2K followed by OpenJPEG's
// decoder must give the decoded bytes back; frames of lossy ones must
// decode or fail with a typed Unsupported error.
func TestCorpus(t *testing.T) {
	type count struct{ frames, decoded, roundTrips, unsupported, corrupt, notEncodable int }
	counts := map[string]*count{}
	var failures []string
	walkCorpus(t, func(rel string, in *dicom.Instance, i int, frame []byte) {
		ts := in.TransferSyntaxUID
		c := counts[ts]
		if c == nil {
			c = &count{}
			counts[ts] = c
		}
		c.frames++
		if in.FloatPixels != 0 {
			c.unsupported++
			return
		}
		p, err := Decode(frame, ts, imageOf(in, in.Frames[i]))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Code != CodeUnsupported && e.Code != CodeCorrupt) || e.Reason == "" {
				t.Errorf("%s frame %d: error %v (%T) is not a typed *Error", rel, i, err, err)
				return
			}
			if e.Code == CodeUnsupported {
				c.unsupported++
			} else {
				c.corrupt++
			}
			if lossless[ts] && !expectedFailure[rel] {
				failures = append(failures, fmt.Sprintf("%s frame %d (%s): %v", rel, i, ts, err))
			}
			if i == 0 {
				t.Logf("%s (%s): %v", rel, ts, err)
			}
			return
		}
		c.decoded++
		// Photometric is set only when the decoder changed the
		// interpretation, and it is a clean code string (GDCM pads it).
		if pi := p.Photometric; pi != "" && (pi != strings.TrimSpace(pi) || pi == strings.TrimSpace(in.PhotometricInterpretation)) {
			t.Errorf("%s frame %d: Photometric %q, attributes say %q", rel, i, pi, in.PhotometricInterpretation)
		}
		if !lossless[ts] {
			return
		}
		if _, err := EncodeHTJ2K(p); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Code == CodeUnsupported && p.BytesPerSample == 4 {
				c.notEncodable++ // 32-bit samples beyond MaxHTJ2KPrecision
				return
			}
		}
		roundTrip(t, p)
		c.roundTrips++
	})
	var tss []string
	for ts := range counts {
		tss = append(tss, ts)
	}
	sort.Strings(tss)
	for _, ts := range tss {
		c := counts[ts]
		t.Logf("%-26s frames %4d decoded %4d round-trips %4d unsupported %3d corrupt %3d not-encodable %d",
			ts, c.frames, c.decoded, c.roundTrips, c.unsupported, c.corrupt, c.notEncodable)
	}
	for _, f := range failures {
		t.Errorf("lossless frame not decoded: %s", f)
	}
}

// expectedFailure lists corpus files of lossless syntaxes whose frames are
// known not to decode, with the reason.
var expectedFailure = map[string]bool{}

// sameImage lists groups of corpus files that hold the same pixels in
// different transfer syntaxes: the decoded frames of each must be equal,
// which checks every decoder against the native one.
var sameImage = [][]string{
	{"pydicom/MR_small.dcm", "pydicom/MR_small_RLE.dcm", "pydicom/MR_small_bigendian.dcm", "pydicom/MR_small_expb.dcm",
		"pydicom/MR_small_implicit.dcm", "pydicom/MR_small_jp2klossless.dcm", "pydicom/MR_small_jpeg_ls_lossless.dcm",
		"pydicom/MR_small_padded.dcm"},
	{"pydicom/rtdose.dcm", "pydicom/rtdose_rle.dcm", "pydicom/rtdose_expb.dcm"},
	{"pydicom/rtdose_1frame.dcm", "pydicom/rtdose_rle_1frame.dcm", "pydicom/rtdose_expb_1frame.dcm"},
	{"pydicom/liver_1frame.dcm", "pydicom/liver_expb_1frame.dcm"},
	{"pydicom/SC_rgb_rle_2frame.dcm", "pydicom/SC_rgb_rle.dcm"},
}

// TestCorpusSameImage compares decoders across transfer syntaxes.
func TestCorpusSameImage(t *testing.T) {
	decoded := map[string][]*Pixels{}
	inGroup := map[string]bool{}
	for _, g := range sameImage {
		for _, rel := range g {
			inGroup[rel] = true
		}
	}
	walkCorpus(t, func(rel string, in *dicom.Instance, i int, frame []byte) {
		if !inGroup[rel] {
			return
		}
		p, err := Decode(frame, in.TransferSyntaxUID, imageOf(in, in.Frames[i]))
		if err != nil {
			t.Errorf("%s frame %d: %v", rel, i, err)
			return
		}
		decoded[rel] = append(decoded[rel], p)
	})
	for _, group := range sameImage {
		ref := decoded[group[0]]
		if ref == nil {
			t.Errorf("%s: not decoded", group[0])
			continue
		}
		for _, rel := range group[1:] {
			got := decoded[rel]
			if len(got) < 1 {
				t.Errorf("%s: not decoded", rel)
				continue
			}
			for i := range min(len(got), len(ref)) {
				if !bytes.Equal(masked(got[i]), masked(ref[i])) {
					t.Errorf("%s frame %d differs from %s (byte %d)", rel, i, group[0], firstDiff(got[i].Data, ref[i].Data))
				}
			}
		}
		t.Logf("%s: %d files agree", strings.Join(group, ", "), len(group))
	}
}

// masked returns the samples of p reduced to their BitsStored low bits, as
// DICOM defines stored values.
func masked(p *Pixels) []byte {
	if p.BitsStored >= 8*p.BytesPerSample {
		return p.Data
	}
	out := bytes.Clone(p.Data)
	for i := 0; i+p.BytesPerSample <= len(out); i += p.BytesPerSample {
		var v uint64
		for b := p.BytesPerSample - 1; b >= 0; b-- {
			v = v<<8 | uint64(out[i+b])
		}
		v &= 1<<p.BitsStored - 1
		for b := 0; b < p.BytesPerSample; b++ {
			out[i+b] = byte(v >> (8 * b))
		}
	}
	return out
}
