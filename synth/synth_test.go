package synth_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/synth"
)

func read(t testing.TB, b []byte) *dicom.Instance {
	t.Helper()
	in, err := dicom.Read(bytes.NewReader(b), int64(len(b)), dicom.Options{})
	if err != nil {
		t.Fatalf("dicom.Read: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func frames(t testing.TB, in *dicom.Instance) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range in.Frames {
		b, err := io.ReadAll(f.Reader(in.Source))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestGenerateRoundTrip(t *testing.T) {
	for _, ts := range []string{synth.ExplicitVRLittleEndian, synth.ImplicitVRLittleEndian, synth.ExplicitVRBigEndian, synth.DeflatedExplicitVRLittleEndian, synth.EncapsulatedUncompressedLE} {
		t.Run(ts, func(t *testing.T) {
			dir := t.TempDir()
			g, err := synth.New(synth.Config{Studies: 2, Series: 2, Instances: 3, Rows: 32, Cols: 24, Seed: 7, TransferSyntax: ts, PatientID: "PAT%03d"})
			if err != nil {
				t.Fatal(err)
			}
			st, err := g.Generate(dir)
			if err != nil {
				t.Fatal(err)
			}
			if st.Files != 12 {
				t.Fatalf("wrote %d files, want 12", st.Files)
			}
			sops := map[string]bool{}
			for s := range 2 {
				for e := range 2 {
					for i := range 3 {
						ref := synth.Ref{Study: s, Series: e, Instance: i}
						path := filepath.Join(dir, g.StudyUID(ref), g.SeriesUID(ref), []string{"1.dcm", "2.dcm", "3.dcm"}[i])
						b, err := os.ReadFile(path)
						if err != nil {
							t.Fatal(err)
						}
						mem, err := g.Instance(ref)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(b, mem) {
							t.Fatalf("%s differs from Generator.Instance", path)
						}
						in := read(t, b)
						if in.TransferSyntaxUID != ts || in.StudyInstanceUID != g.StudyUID(ref) || in.SeriesInstanceUID != g.SeriesUID(ref) || in.SOPInstanceUID != g.SOPInstanceUID(ref) {
							t.Fatalf("UIDs %+v", in)
						}
						sops[in.SOPInstanceUID] = true
						if in.Rows != 32 || in.Columns != 24 || in.BitsAllocated != 16 || in.BitsStored != 12 || in.PixelRepresentation != 0 {
							t.Fatalf("image %dx%d bits %d/%d", in.Rows, in.Columns, in.BitsAllocated, in.BitsStored)
						}
						if in.Patient["PatientID"] != []string{"PAT001", "PAT002"}[s] {
							t.Fatalf("PatientID %q", in.Patient["PatientID"])
						}
						if in.Series["Modality"] != "CT" || in.Instance["InstanceNumber"] != []string{"1 ", "2 ", "3 "}[i] {
							t.Fatalf("Modality %v InstanceNumber %v", in.Series["Modality"], in.Instance["InstanceNumber"])
						}
						fr := frames(t, in)
						if len(fr) != 1 || len(fr[0]) != 32*24*2 {
							t.Fatalf("frames %d", len(fr))
						}
						checkPhantom(t, fr[0], ts == synth.ExplicitVRBigEndian)
					}
				}
			}
			if len(sops) != 12 {
				t.Fatalf("%d distinct SOP Instance UIDs", len(sops))
			}
		})
	}
}

// checkPhantom asserts the 16-bit frame is a plausible image: several
// distinct values within 12 bits, not constant.
func checkPhantom(t *testing.T, px []byte, bigEndian bool) {
	t.Helper()
	var bo binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		bo = binary.BigEndian
	}
	distinct := map[uint16]bool{}
	for i := 0; i+1 < len(px); i += 2 {
		v := bo.Uint16(px[i:])
		if v > 4095 {
			t.Fatalf("value %d exceeds 12 bits", v)
		}
		distinct[v] = true
	}
	if len(distinct) < 20 {
		t.Fatalf("only %d distinct pixel values", len(distinct))
	}
}

func TestDeterministic(t *testing.T) {
	gen := func(seed int64) []byte {
		g, err := synth.New(synth.Config{Rows: 16, Cols: 16, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		b, err := g.Instance(synth.Ref{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := gen(1), gen(1), gen(2)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed gave different files")
	}
	if bytes.Equal(a, c) || read(t, a).StudyInstanceUID == read(t, c).StudyInstanceUID {
		t.Fatal("different seeds gave the same study")
	}
	if u := synth.UID(1, "x"); len(u) > 64 || u[:5] != "2.25." {
		t.Fatalf("UID %q", u)
	}
}

func TestMultiFrameEnhanced(t *testing.T) {
	for _, mod := range []string{"CT", "MR"} {
		g, err := synth.New(synth.Config{Rows: 10, Cols: 12, Frames: 4, Modality: mod, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		b, err := g.Instance(synth.Ref{Instance: 1})
		if err != nil {
			t.Fatal(err)
		}
		in := read(t, b)
		want := map[string]string{"CT": "1.2.840.10008.5.1.4.1.1.2.1", "MR": "1.2.840.10008.5.1.4.1.1.4.1"}[mod]
		if in.SOPClassUID != want || in.NumberOfFrames != 4 || len(in.Frames) != 4 {
			t.Fatalf("%s: class %s frames %d/%d", mod, in.SOPClassUID, in.NumberOfFrames, len(in.Frames))
		}
		pf, ok := in.Instance["PerFrameFunctionalGroupsSequence"].([]any)
		if !ok || len(pf) != 4 {
			t.Fatalf("%s: PerFrameFunctionalGroupsSequence %v", mod, in.Instance["PerFrameFunctionalGroupsSequence"])
		}
		fr := frames(t, in)
		if bytes.Equal(fr[0], fr[3]) {
			t.Fatalf("%s: frames 1 and 4 are identical", mod)
		}
	}
}

func TestBitsAndSign(t *testing.T) {
	for _, c := range []struct {
		bits   int
		signed bool
		stored int
	}{{8, false, 8}, {8, true, 8}, {16, false, 12}, {16, true, 16}} {
		g, err := synth.New(synth.Config{Rows: 20, Cols: 20, Bits: c.bits, Signed: c.signed, Modality: "MR", Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		b, err := g.Instance(synth.Ref{})
		if err != nil {
			t.Fatal(err)
		}
		in := read(t, b)
		rep := 0
		if c.signed {
			rep = 1
		}
		if in.BitsAllocated != c.bits || in.BitsStored != c.stored || in.PixelRepresentation != rep || in.Frames[0].Size() != int64(20*20*c.bits/8) {
			t.Fatalf("%+v: got bits %d/%d rep %d size %d", c, in.BitsAllocated, in.BitsStored, in.PixelRepresentation, in.Frames[0].Size())
		}
		px := frames(t, in)[0]
		distinct := map[byte]bool{}
		for _, v := range px {
			distinct[v] = true
		}
		if len(distinct) < 10 {
			t.Fatalf("%+v: only %d distinct byte values", c, len(distinct))
		}
	}
}

func TestOddSize8Bit(t *testing.T) {
	g, err := synth.New(synth.Config{Rows: 3, Cols: 5, Bits: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Instance(synth.Ref{})
	if err != nil {
		t.Fatal(err)
	}
	if in := read(t, b); in.Frames[0].Size() != 15 || len(b)%2 != 0 {
		t.Fatalf("frame size %d, file size %d", in.Frames[0].Size(), len(b))
	}
}

func TestPatientsSharedAcrossStudies(t *testing.T) {
	g, err := synth.New(synth.Config{Studies: 3, Patients: 1, Rows: 4, Cols: 4})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[any]bool{}
	studies := map[string]bool{}
	for s := range 3 {
		b, err := g.Instance(synth.Ref{Study: s})
		if err != nil {
			t.Fatal(err)
		}
		in := read(t, b)
		ids[in.Patient["PatientID"]] = true
		studies[in.StudyInstanceUID] = true
	}
	if len(ids) != 1 || len(studies) != 3 {
		t.Fatalf("%d patients, %d studies", len(ids), len(studies))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []synth.Config{
		{Bits: 12}, {Modality: "US"}, {Rows: 70000}, {Instances: -1},
		{TransferSyntax: "1.2.840.10008.1.2.4.50"}, {Rows: 65535, Cols: 65535, Frames: 2},
	} {
		if _, err := synth.New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}

func TestWriterUndefinedLengthsAndBOT(t *testing.T) {
	ds := synth.DataSet{
		{Tag: 0x00080016, VR: "UI", Value: "1.2"},
		{Tag: 0x00080018, VR: "UI", Value: "1.2.3"},
		{Tag: 0x0020000D, VR: "UI", Value: "1.2.4"},
		{Tag: 0x0020000E, VR: "UI", Value: "1.2.5"},
		{Tag: 0x00280008, VR: "IS", Value: 2},
		{Tag: 0x00082112, VR: "SQ", Value: []synth.DataSet{{{Tag: 0x00081150, VR: "UI", Value: "1.2"}}}},
		{Tag: 0x7FE00010, VR: "OB", Value: synth.Encapsulated{Frames: [][][]byte{{{1, 2, 3}}, {{4, 5}, {6}}}, BOT: true}},
	}
	var b bytes.Buffer
	if err := synth.WriteP10(&b, ds, "1.2", "1.2.3", "1.2.840.10008.1.2.5", true); err != nil {
		t.Fatal(err)
	}
	in := read(t, b.Bytes())
	fr := frames(t, in)
	if len(fr) != 2 || !bytes.Equal(fr[0], []byte{1, 2, 3, 0}) || !bytes.Equal(fr[1], []byte{4, 5, 6, 0}) {
		t.Fatalf("frames %x", fr)
	}
	if len(in.Frames[1].Segments) != 2 {
		t.Fatalf("frame 2 segments %v", in.Frames[1].Segments)
	}
	if _, err := synth.Marshal(synth.DataSet{{Tag: 0x00100010, VR: "PN", Value: struct{}{}}}, synth.Encoding{}); err == nil {
		t.Fatal("unsupported value type accepted")
	}
}

func BenchmarkSynth(b *testing.B) {
	g, err := synth.New(synth.Config{Rows: 512, Cols: 512, Instances: 1000, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(512*512*2 + 1300)
	i := 0
	for b.Loop() {
		if _, err := g.Instance(synth.Ref{Instance: i % 1000}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
