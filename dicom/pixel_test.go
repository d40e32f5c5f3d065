package dicom

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/openhealthimaging/ohi/synth"
)

func TestNativeFrames(t *testing.T) {
	px := seq(4*3*2*3, 0)
	in := mustRead(t, p10(t, baseDS(append(imageDS(4, 3, 16, 3, 1, "MONOCHROME2"), synth.Element{Tag: 0x7FE00010, VR: "OW", Value: px})...), ExplicitVRLittleEndian))
	got := frameBytes(t, in)
	if len(got) != 3 || in.NumberOfFrames != 3 || in.Rows != 4 || in.Columns != 3 || in.BitsAllocated != 16 || in.Encapsulated {
		t.Fatalf("frames %d, instance %+v", len(got), in)
	}
	for i := range got {
		if !bytes.Equal(got[i], px[i*24:(i+1)*24]) {
			t.Fatalf("frame %d = %x", i, got[i])
		}
	}
	if in.Instance["PixelData"] != nil {
		t.Fatal("PixelData must be null")
	}
	if _, ok := in.Instance["PixelData"]; !ok {
		t.Fatal("PixelData key missing")
	}
}

func TestNativeFramesShort(t *testing.T) {
	px := seq(4*4*2*2, 0) // two frames where three are declared
	_, err := readBytes(p10(t, baseDS(append(imageDS(4, 4, 16, 3, 1, "MONOCHROME2"), synth.Element{Tag: 0x7FE00010, VR: "OW", Value: px})...), ExplicitVRLittleEndian), Options{})
	wantCode(t, err, CodeTruncated, "pixel data length 64 is shorter than 3 frames of 32 bytes")
}

func TestNativeBitPacked(t *testing.T) {
	// 3x3 1-bit frames: 9 bits each, so frame 2 starts at bit 1 of byte 1.
	px := []byte{0xFF, 0x03, 0x00, 0x00}
	in := mustRead(t, p10(t, baseDS(append(imageDS(3, 3, 1, 3, 1, "MONOCHROME2"), synth.Element{Tag: 0x7FE00010, VR: "OB", Value: px})...), ExplicitVRLittleEndian))
	want := []Frame{
		{Segments: []Segment{{in.Frames[0].Segments[0].Offset, 2}}, BitOffset: 0},
		{Segments: []Segment{{in.Frames[0].Segments[0].Offset + 1, 2}}, BitOffset: 1},
		{Segments: []Segment{{in.Frames[0].Segments[0].Offset + 2, 2}}, BitOffset: 2},
	}
	for i := range want {
		if in.Frames[i].BitOffset != want[i].BitOffset || in.Frames[i].Segments[0] != want[i].Segments[0] {
			t.Fatalf("frame %d = %+v, want %+v", i, in.Frames[i], want[i])
		}
	}
}

func TestNativeYBRFull422(t *testing.T) {
	// 2x4 RGB-sized YBR_FULL_422: 2 stored samples per pixel, 16 bytes.
	px := seq(16, 0)
	in := mustRead(t, p10(t, baseDS(append(imageDS(2, 4, 8, 1, 3, "YBR_FULL_422"), synth.Element{Tag: 0x7FE00010, VR: "OB", Value: px})...), ExplicitVRLittleEndian))
	if f := frameBytes(t, in); len(f) != 1 || len(f[0]) != 16 {
		t.Fatalf("frames %d size %d", len(f), len(f[0]))
	}
}

func TestNativeUnsupported(t *testing.T) {
	_, err := readBytes(p10(t, baseDS(append(imageDS(2, 2, 12, 1, 1, "MONOCHROME2"), synth.Element{Tag: 0x7FE00010, VR: "OW", Value: seq(8, 0)})...), ExplicitVRLittleEndian), Options{})
	wantCode(t, err, CodeUnsupported, "BitsAllocated 12")
	_, err = readBytes(p10(t, baseDS(append(imageDS(2, 2, 8, 0, 1, "MONOCHROME2"), synth.Element{Tag: 0x7FE00010, VR: "OW", Value: seq(8, 0)})...), ExplicitVRLittleEndian), Options{})
	wantCode(t, err, CodeMalformed, "NumberOfFrames is 0")
	_, err = readBytes(p10(t, baseDS(synth.Element{Tag: 0x00280008, VR: "IS", Value: "1A"}), ExplicitVRLittleEndian), Options{})
	wantCode(t, err, CodeMalformed, `NumberOfFrames has an invalid value "1A"`)
}

func TestFloatPixelData(t *testing.T) {
	px := seq(2*2*4*2, 0)
	in := mustRead(t, p10(t, baseDS(append(imageDS(2, 2, 32, 2, 1, "MONOCHROME2"), synth.Element{Tag: 0x7FE00008, VR: "OF", Value: px})...), ExplicitVRLittleEndian))
	if in.FloatPixels != 32 || len(in.Frames) != 2 || in.Frames[1].Size() != 16 {
		t.Fatalf("float pixels %d frames %d", in.FloatPixels, len(in.Frames))
	}
}

// encapFile writes an encapsulated file with the given fragments per frame.
func encapFile(t *testing.T, ts string, frames [][][]byte, nFrames int, bot bool, extra ...synth.Element) []byte {
	t.Helper()
	ds := baseDS(append(append(imageDS(8, 8, 8, nFrames, 1, "MONOCHROME2"), extra...),
		synth.Element{Tag: 0x7FE00010, VR: "OB", Value: synth.Encapsulated{Frames: frames, BOT: bot}})...)
	return p10(t, ds, ts)
}

func jpeg(id byte, n int) []byte {
	b := append([]byte{0xFF, 0xD8}, bytes.Repeat([]byte{id}, n)...)
	return append(b, 0xFF, 0xD9)
}

func checkFrames(t *testing.T, in *Instance, want ...[]byte) {
	t.Helper()
	got := frameBytes(t, in)
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d = %x, want %x", i, got[i], want[i])
		}
	}
}

func TestEncapsulatedExtendedOffsetTable(t *testing.T) {
	// Odd-length codestreams are padded to even length in their fragment;
	// the EOT lengths give the exact sizes. A JPEG-LS style codestream with
	// no FFD9 at the end shows that the EOT length, not the pad stripping, is
	// used.
	f0 := append(jpeg(1, 3), 0xAB) // 8 bytes
	f1 := []byte{0xFF, 0xD8, 2, 2, 2}
	f2 := []byte{0xFF, 0xD8, 3}
	frames := [][][]byte{{f0}, {f1}, {f2}}
	in := mustRead(t, encapFile(t, JPEGLSLossless, frames, 3, false, synth.ExtendedOffsetTable([][]byte{f0, f1, f2})...))
	checkFrames(t, in, f0, f1, f2)
	if _, ok := in.Instance["ExtendedOffsetTable"]; ok {
		t.Fatal("ExtendedOffsetTable must not be in the metadata")
	}
	// A bad EOT is ignored with a warning (then one fragment per frame).
	eot := synth.ExtendedOffsetTable([][]byte{f0, f1, f2})
	eot[0].Value.([]byte)[8] = 3
	in = mustRead(t, encapFile(t, JPEGLSLossless, frames, 3, false, eot...))
	checkFrames(t, in, f0, append(bytes.Clone(f1), 0), append(bytes.Clone(f2), 0))
	if len(in.Warnings) != 1 || in.Warnings[0].Code != "InvalidOffsetTable" {
		t.Fatalf("warnings %v", in.Warnings)
	}
}

func TestEncapsulatedBasicOffsetTable(t *testing.T) {
	// Two frames of two fragments each; only the BOT tells them apart
	// (the second fragments also start with FFD8).
	a1, a2, b1, b2 := jpeg(1, 2), jpeg(2, 2), jpeg(3, 2), jpeg(4, 4)
	in := mustRead(t, encapFile(t, JPEGBaseline8Bit, [][][]byte{{a1, a2}, {b1, b2}}, 2, true))
	checkFrames(t, in, append(bytes.Clone(a1), a2...), append(bytes.Clone(b1), b2...))
	if len(in.Frames[0].Segments) != 2 {
		t.Fatalf("segments %v", in.Frames[0].Segments)
	}
}

func TestEncapsulatedBOTWrongCountFallsBack(t *testing.T) {
	// BOT written for 2 frames but NumberOfFrames says 4: ignored, and with
	// 4 fragments the one-per-frame rule applies.
	a, b, c, d := jpeg(1, 2), jpeg(2, 2), jpeg(3, 2), jpeg(4, 2)
	in := mustRead(t, encapFile(t, JPEGBaseline8Bit, [][][]byte{{a, b}, {c, d}}, 4, true))
	checkFrames(t, in, a, b, c, d)
	if len(in.Warnings) != 1 || in.Warnings[0].Code != "InvalidOffsetTable" {
		t.Fatalf("warnings %v", in.Warnings)
	}
}

func TestEncapsulatedOneFragmentPerFrame(t *testing.T) {
	a, b, c := []byte{1, 2}, []byte{3, 4}, []byte{5, 6}
	in := mustRead(t, encapFile(t, RLELossless, [][][]byte{{a}, {b}, {c}}, 3, false))
	checkFrames(t, in, a, b, c)
}

func TestEncapsulatedSingleFrameAllFragments(t *testing.T) {
	a, b, c := []byte{0xFF, 0xD8, 1, 2}, []byte{0xFF, 0xD8, 3, 4}, []byte{5, 6, 0xFF, 0xD9}
	in := mustRead(t, encapFile(t, JPEGLosslessSV1, [][][]byte{{a, b, c}}, 1, false))
	checkFrames(t, in, append(append(bytes.Clone(a), b...), c...))
}

func TestEncapsulatedMarkers(t *testing.T) {
	j2k := func(id byte) []byte { return []byte{0xFF, 0x4F, 0xFF, 0x51, id, id} }
	rle := func(id byte) []byte {
		h := make([]byte, 64)
		binary.LittleEndian.PutUint32(h, 1)
		binary.LittleEndian.PutUint32(h[4:], 64)
		return append(h, id, id)
	}
	cont := []byte{9, 9, 9, 9, 9, 9, 9, 9}
	cases := []struct {
		ts     string
		frames [][][]byte
	}{
		{JPEG2000Lossless, [][][]byte{{j2k(1), cont}, {j2k(2)}, {j2k(3), cont, cont}}},
		{HTJ2KLosslessRPCL, [][][]byte{{j2k(1)}, {j2k(2), cont}, {j2k(3)}}},
		{JPEGBaseline8Bit, [][][]byte{{jpeg(1, 4), cont}, {jpeg(2, 4), cont}, {jpeg(3, 4)}}},
		{RLELossless, [][][]byte{{rle(1), cont}, {rle(2)}, {rle(3), cont}}},
	}
	for _, c := range cases {
		in := mustRead(t, encapFile(t, c.ts, c.frames, 3, false))
		var want [][]byte
		for _, fr := range c.frames {
			want = append(want, bytes.Join(fr, nil))
		}
		checkFrames(t, in, want...)
	}
	// Boundaries that cannot be found are an error.
	_, err := readBytes(encapFile(t, JPEG2000Lossless, [][][]byte{{j2k(1), cont, cont}}, 2, false), Options{})
	wantCode(t, err, CodeMalformed, "cannot determine frame boundaries: 3 fragments, 1 codestream starts, 2 frames")
}

func TestEncapsulatedEOCPadding(t *testing.T) {
	odd := jpeg(7, 3) // 7 bytes: stored as 8 with a pad byte
	in := mustRead(t, encapFile(t, JPEGBaseline8Bit, [][][]byte{{odd}}, 1, true))
	checkFrames(t, in, odd)
	// RLE data is not touched.
	rle := []byte{1, 0xFF, 0xD9}
	in = mustRead(t, encapFile(t, RLELossless, [][][]byte{{rle}}, 1, false))
	checkFrames(t, in, append(bytes.Clone(rle), 0))
}

func TestEncapsulatedStructureErrors(t *testing.T) {
	ds := marshal(t, baseDS(imageDS(8, 8, 8, 1, 1, "MONOCHROME2")...))
	noFrag := append(append(append(bytes.Clone(ds), explicitHeader(tagPixelData, "OB", 0xFFFFFFFF)...), itemHeader(tagItem, 0)...), itemHeader(tagSequenceDelimitation, 0)...)
	_, err := readBytes(p10Raw(JPEGBaseline8Bit, noFrag), Options{})
	wantCode(t, err, CodeMalformed, "no fragments")
	_, err = readBytes(p10Raw(ExplicitVRLittleEndian, noFrag), Options{})
	wantCode(t, err, CodeMalformed, "native but the pixel data is encapsulated")
	native := append(append(bytes.Clone(ds), explicitHeader(tagPixelData, "OB", 64)...), make([]byte, 64)...)
	_, err = readBytes(p10Raw(JPEGBaseline8Bit, native), Options{})
	wantCode(t, err, CodeMalformed, "encapsulated but the pixel data has a defined length")
	_, err = readBytes(encapFile(t, JPEGBaseline8Bit, [][][]byte{{{1}}, {{2}}, {{3}}}, 3, false), Options{MaxFragments: 2})
	wantCode(t, err, CodeOversized, "more than 2 pixel data fragments")
}
