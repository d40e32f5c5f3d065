package dicom

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/synth"
)

func TestNotDICOM(t *testing.T) {
	_, err := readBytes([]byte("hello"), Options{})
	wantCode(t, err, CodeNotDICOM, "too short")
	b := p10(t, baseDS(), ExplicitVRLittleEndian)
	copy(b[128:], "DICN")
	_, err = readBytes(b, Options{})
	wantCode(t, err, CodeNotDICOM, "not a DICOM file: missing DICM prefix")
	// A bare data set without preamble (AHI needs Part 10).
	_, err = readBytes(append(make([]byte, 0), marshal(t, baseDS())...), Options{})
	wantCode(t, err, CodeNotDICOM, "")
}

func TestMissingAttributes(t *testing.T) {
	// File meta without TransferSyntaxUID.
	meta := marshal(t, synth.DataSet{{Tag: 0x00020001, VR: "OB", Value: []byte{0, 1}}, {Tag: 0x00020002, VR: "UI", Value: ctStorage}})
	b := append(append(make([]byte, 128), "DICM"...), meta...)
	b = append(b, marshal(t, baseDS())...)
	_, err := readBytes(b, Options{})
	wantCode(t, err, CodeMissingAttribute, "DICOM attribute TransferSyntaxUID does not exist")

	for tag, name := range map[uint32]string{0x00080016: "SOPClassUID", 0x00080018: "SOPInstanceUID", 0x0020000D: "StudyInstanceUID", 0x0020000E: "SeriesInstanceUID"} {
		_, err := readBytes(p10(t, without(baseDS(), tag), ExplicitVRLittleEndian), Options{})
		wantCode(t, err, CodeMissingAttribute, "DICOM attribute "+name+" does not exist")
		// Present but empty counts as missing.
		_, err = readBytes(p10(t, baseDS(synth.Element{Tag: tag, VR: "UI"}), ExplicitVRLittleEndian), Options{})
		wantCode(t, err, CodeMissingAttribute, name)
	}
}

func TestUnknownTransferSyntax(t *testing.T) {
	_, err := readBytes(p10(t, baseDS(), "1.2.3.4.5"), Options{})
	wantCode(t, err, CodeUnsupported, `"1.2.3.4.5"`)
}

func TestHTJ2KDoesNotPanic(t *testing.T) {
	frames := [][][]byte{{{0xFF, 0x4F, 0xFF, 0x51, 1, 2, 3, 0xFF, 0xD9}}}
	ds := baseDS(append(imageDS(8, 8, 16, 1, 1, "MONOCHROME2"),
		synth.Element{Tag: 0x7FE00010, VR: "OB", Value: synth.Encapsulated{Frames: frames, BOT: true}})...)
	in := mustRead(t, p10(t, ds, HTJ2KLosslessRPCL))
	if !in.Encapsulated || len(in.Frames) != 1 {
		t.Fatalf("encapsulated=%v frames=%d", in.Encapsulated, len(in.Frames))
	}
	got := frameBytes(t, in)[0]
	if !bytes.Equal(got, frames[0][0]) { // the pad byte after FFD9 is stripped
		t.Fatalf("frame = %x, want %x", got, frames[0][0])
	}
}

func TestPrescanRejectsLengths(t *testing.T) {
	ds := marshal(t, baseDS())
	cases := []struct {
		name, code, reason string
		body               []byte
	}{
		{"element longer than file", CodeTruncated, "element (0010,0010) length 4294967280 exceeds remaining",
			append(bytes.Clone(ds), explicitHeader(0x00100010, "UN", 0xFFFFFFF0)...)},
		{"short VR length past end", CodeTruncated, "element (0010,0020) length 200 exceeds remaining 4 bytes",
			append(append(bytes.Clone(ds), explicitHeader(0x00100020, "LO", 200)...), "ABCD"...)},
		{"truncated header", CodeTruncated, "truncated", append(bytes.Clone(ds), 0x10, 0x00, 0x10)},
		{"invalid VR", CodeMalformed, "invalid VR", append(bytes.Clone(ds), 0x10, 0x00, 0x10, 0x00, 'a', '1', 0, 0)},
		{"item longer than sequence", CodeTruncated, "sequence item length",
			append(append(bytes.Clone(ds), explicitHeader(0x00081115, "SQ", 8)...), itemHeader(tagItem, 1000)...)},
		{"non-item in sequence", CodeMalformed, "expected an item",
			append(append(bytes.Clone(ds), explicitHeader(0x00081115, "SQ", 8)...), itemHeader(0x00100010, 0)...)},
		{"undefined item without delimiter", CodeTruncated, "",
			append(append(append(bytes.Clone(ds), explicitHeader(0x00081115, "SQ", 0xFFFFFFFF)...), itemHeader(tagItem, 0xFFFFFFFF)...), explicitHeader(0x00080100, "SH", 2)...)},
		{"element overruns item", CodeMalformed, "exceeds the 4 bytes left in its item",
			append(append(append(bytes.Clone(ds), explicitHeader(0x00081115, "SQ", 8+12)...), itemHeader(tagItem, 12)...), append(explicitHeader(0x00080100, "SH", 6), "ABCDEF"...)...)},
		{"fragment longer than file", CodeTruncated, "fragment length 4026531840",
			append(append(append(bytes.Clone(ds), explicitHeader(tagPixelData, "OB", 0xFFFFFFFF)...), itemHeader(tagItem, 0)...), itemHeader(tagItem, 0xF0000000)...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := readBytes(p10Raw(ExplicitVRLittleEndian, c.body), Options{})
			wantCode(t, err, c.code, c.reason)
		})
	}
}

func TestPrescanDepthLimit(t *testing.T) {
	inner := synth.DataSet{{Tag: 0x00100010, VR: "PN", Value: "X"}}
	for range maxDepth + 2 {
		inner = synth.DataSet{{Tag: 0x00081115, VR: "SQ", Value: []synth.DataSet{inner}}}
	}
	_, err := readBytes(p10(t, baseDS(inner...), ExplicitVRLittleEndian), Options{})
	wantCode(t, err, CodeMalformed, "nested deeper")
}

func TestBudgets(t *testing.T) {
	ds := baseDS(synth.Element{Tag: 0x00291010, VR: "OB", Value: make([]byte, 4096)})
	_, err := readBytes(p10(t, ds, ExplicitVRLittleEndian), Options{MaxElementBytes: 1024})
	wantCode(t, err, CodeOversized, "element (0029,1010) value of 4096 bytes exceeds the limit of 1024")
	_, err = readBytes(p10(t, ds, ExplicitVRLittleEndian), Options{MaxMetadataBytes: 2048})
	wantCode(t, err, CodeOversized, "budget")
	// Many empty elements are bounded by the per-element overhead.
	var many synth.DataSet
	for i := range 1000 {
		many = append(many, synth.Element{Tag: 0x00291000 + uint32(i), VR: "UN"})
	}
	_, err = readBytes(p10(t, baseDS(many...), ExplicitVRLittleEndian), Options{MaxMetadataBytes: 50_000})
	wantCode(t, err, CodeOversized, "budget")
}

// TestHugeDeclaredLengthsDoNotAllocate checks that lengths declared by the
// file are never allocated before they are checked against the file size.
func TestHugeDeclaredLengthsDoNotAllocate(t *testing.T) {
	ds := marshal(t, baseDS(synth.Element{Tag: 0x00100010, VR: "PN", Value: "A"}))
	files := map[string][]byte{
		"3.7 GB private element": p10Raw(ExplicitVRLittleEndian, append(append(bytes.Clone(ds), explicitHeader(0x00291010, "OB", 3_707_765_264)...), make([]byte, 1<<20)...)),
		"3.7 GB implicit element": p10Raw(ImplicitVRLittleEndian, append(mustMarshal(t, baseDS(), synth.Encoding{Implicit: true}),
			append(itemHeader(0x00291010, 3_707_765_264), make([]byte, 1<<20)...)...)),
		"huge fragment": p10Raw(JPEGBaseline8Bit, append(append(append(append(bytes.Clone(ds), explicitHeader(tagPixelData, "OB", 0xFFFFFFFF)...), itemHeader(tagItem, 0)...),
			itemHeader(tagItem, 3_707_765_264)...), make([]byte, 1<<20)...)),
		"huge native pixel data": p10Raw(ExplicitVRLittleEndian, append(append(bytes.Clone(ds), explicitHeader(tagPixelData, "OW", 3_707_765_264)...), make([]byte, 1<<20)...)),
		"huge BOT":               p10Raw(JPEGBaseline8Bit, append(append(append(bytes.Clone(ds), explicitHeader(tagPixelData, "OB", 0xFFFFFFFF)...), itemHeader(tagItem, 3_707_765_264)...), make([]byte, 1<<20)...)),
	}
	for name, b := range files {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := readBytes(b, Options{})
			runtime.ReadMemStats(&after)
			wantCode(t, err, CodeTruncated, "exceeds remaining")
			if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
				t.Fatalf("allocated %d bytes for a %d byte file", d, len(b))
			}
		})
	}
}

func mustMarshal(t testing.TB, ds synth.DataSet, enc synth.Encoding) []byte {
	t.Helper()
	b, err := synth.Marshal(ds, enc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTransferSyntaxesAgree writes one data set in every uncompressed
// transfer syntax and checks that metadata and frames come out the same.
func TestTransferSyntaxesAgree(t *testing.T) {
	px := seq(2*4*4*3, 1)
	ds := baseDS(append(imageDS(4, 4, 16, 3, 1, "MONOCHROME2"),
		synth.Element{Tag: 0x00100010, VR: "PN", Value: "Doe^Jane"},
		synth.Element{Tag: 0x00280030, VR: "DS", Value: []string{"0.5", "0.5"}},
		synth.Element{Tag: 0x00081115, VR: "SQ", Value: []synth.DataSet{{{Tag: 0x00081150, VR: "UI", Value: ctStorage}}, {}}},
		synth.Element{Tag: 0x00091010, VR: "LO", Value: "PRIV"},
		synth.Element{Tag: 0x7FE00010, VR: "OW", Value: px})...)
	var want map[string]any
	for _, tc := range []struct {
		ts    string
		undef bool
	}{{ExplicitVRLittleEndian, false}, {ExplicitVRLittleEndian, true}, {ImplicitVRLittleEndian, false}, {ImplicitVRLittleEndian, true},
		{ExplicitVRBigEndian, false}, {DeflatedExplicitVRLittleEndian, false}, {DeflatedExplicitVRLittleEndian, true}} {
		var b bytes.Buffer
		if err := synth.WriteP10(&b, ds, ctStorage, testSOP, tc.ts, tc.undef); err != nil {
			t.Fatal(err)
		}
		in := mustRead(t, b.Bytes())
		if in.TransferSyntaxUID != tc.ts || in.BigEndian != (tc.ts == ExplicitVRBigEndian) {
			t.Fatalf("%s: ts %s bigEndian %v", tc.ts, in.TransferSyntaxUID, in.BigEndian)
		}
		got := map[string]any{"P": in.Patient, "St": in.Study, "Se": in.Series, "I": withoutMeta(in.Instance)}
		if tc.ts == ImplicitVRLittleEndian {
			// Implicit VR loses the private VR (UN), so the private value
			// is base64 there.
			got["I"].(map[string]any)["00091010"] = "PRIV"
		}
		if want == nil {
			want = got
		} else if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s (undefined lengths %v): metadata\n%v\nwant\n%v", tc.ts, tc.undef, got, want)
		}
		fr := frameBytes(t, in)
		if len(fr) != 3 {
			t.Fatalf("%s: %d frames", tc.ts, len(fr))
		}
		for i, f := range fr {
			if !bytes.Equal(f, px[i*32:(i+1)*32]) {
				t.Fatalf("%s: frame %d = %x", tc.ts, i, f)
			}
		}
	}
}

func withoutMeta(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if !strings.HasPrefix(k, "FileMeta") && !strings.HasPrefix(k, "TransferSyntax") && !strings.HasPrefix(k, "Implementation") && !strings.HasPrefix(k, "MediaStorage") {
			out[k] = v
		}
	}
	return out
}

func TestDeflateSpillsToTempFile(t *testing.T) {
	old := inMemoryInflate
	inMemoryInflate = 1024
	defer func() { inMemoryInflate = old }()
	px := seq(64*64*2, 7)
	ds := baseDS(append(imageDS(64, 64, 16, 1, 1, "MONOCHROME2"), synth.Element{Tag: 0x7FE00010, VR: "OW", Value: px})...)
	b := p10(t, ds, DeflatedExplicitVRLittleEndian)
	dir := t.TempDir()
	in, err := readBytes(b, Options{TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := in.Source.(*os.File)
	if !ok {
		t.Fatalf("Source is %T, want a temporary *os.File", in.Source)
	}
	if got := frameBytes(t, in); len(got) != 1 || !bytes.Equal(got[0], px) {
		t.Fatal("frame differs after inflating to a file")
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Fatalf("temporary file %s not removed: %v", f.Name(), err)
	}
	if err := in.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Inflated size limit.
	_, err = readBytes(b, Options{TempDir: dir, MaxInflatedBytes: 4096})
	wantCode(t, err, CodeOversized, "inflated data set exceeds 4096 bytes")
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
	// Corrupt deflate stream.
	bad := bytes.Clone(b)
	meta := len(synth.FileMeta(ctStorage, testSOP, DeflatedExplicitVRLittleEndian))
	for i := meta; i < len(bad); i++ {
		bad[i] = 0xFF
	}
	_, err = readBytes(bad, Options{TempDir: dir})
	wantCode(t, err, CodeMalformed, "deflate")
}

func TestDeflateInMemory(t *testing.T) {
	var body bytes.Buffer
	fw, _ := flate.NewWriter(&body, flate.BestSpeed)
	fw.Write(marshal(t, baseDS(synth.Element{Tag: 0x00100010, VR: "PN", Value: "Z^Y"})))
	fw.Close()
	in := mustRead(t, p10Raw(DeflatedExplicitVRLittleEndian, body.Bytes()))
	if in.Patient["PatientName"] != "Z^Y " {
		t.Fatalf("PatientName = %q", in.Patient["PatientName"])
	}
	if _, ok := in.Source.(*bytes.Reader); !ok {
		t.Fatalf("Source is %T, want in-memory", in.Source)
	}
}

func TestConstraints(t *testing.T) {
	_, err := readBytes(p10(t, baseDS(synth.Element{Tag: 0x00100020, VR: "LO", Value: strings.Repeat("1", 300)}), ExplicitVRLittleEndian), Options{})
	wantCode(t, err, CodeConstraintViolation, "PatientID length 300 exceeds the maximum of 256")
	_, err = readBytes(p10(t, baseDS(synth.Element{Tag: 0x00080020, VR: "DA", Value: strings.Repeat("2", 20)}), ExplicitVRLittleEndian), Options{})
	wantCode(t, err, CodeConstraintViolation, "StudyDate")
	_, err = readBytes(p10(t, baseDS(synth.Element{Tag: 0x00201208, VR: "IS", Value: "2000000"}), ExplicitVRLittleEndian), Options{})
	wantCode(t, err, CodeConstraintViolation, "NumberOfStudyRelatedInstances value 2000000")
	// Padding does not count.
	mustRead(t, p10(t, baseDS(synth.Element{Tag: 0x00100040, VR: "CS", Value: strings.Repeat("F", 16) + "  "}), ExplicitVRLittleEndian))
}

func TestExplicitLabelledImplicit(t *testing.T) {
	body := mustMarshal(t, baseDS(synth.Element{Tag: 0x00100010, VR: "PN", Value: "A^B"}), synth.Encoding{Implicit: true})
	in := mustRead(t, p10Raw(ExplicitVRLittleEndian, body))
	if in.Patient["PatientName"] != "A^B " || len(in.Warnings) != 1 || in.Warnings[0].Code != "TransferSyntaxMismatch" {
		t.Fatalf("PatientName %q warnings %v", in.Patient["PatientName"], in.Warnings)
	}
}

func TestTrailingZeros(t *testing.T) {
	b := append(p10(t, baseDS(), ExplicitVRLittleEndian), make([]byte, 100_000)...)
	in := mustRead(t, b)
	if len(in.Warnings) != 1 || in.Warnings[0].Code != "TrailingPadding" {
		t.Fatalf("warnings %v", in.Warnings)
	}
	b[len(b)-1] = 1
	_, err := readBytes(b, Options{})
	wantCode(t, err, CodeMalformed, "")
}

func TestStrayDelimiterAndOddValues(t *testing.T) {
	body := marshal(t, baseDS())
	body = append(body, itemHeader(tagSequenceDelimitation, 0)...)
	body = append(body, explicitHeader(0x00280010, "US", 2)...)
	body = binary.LittleEndian.AppendUint16(body, 7)
	in := mustRead(t, p10Raw(ExplicitVRLittleEndian, body))
	if in.Rows != 7 || len(in.Warnings) != 1 {
		t.Fatalf("rows %d warnings %v", in.Rows, in.Warnings)
	}
}
