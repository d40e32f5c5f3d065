package dicom

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/openhealthimaging/ohi/synth"
)

func le16(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

func TestValueEncoding(t *testing.T) {
	cases := []struct {
		name  string
		el    synth.Element
		key   string
		want  any
		level string
	}{
		{"US single", synth.Element{Tag: 0x00280010, VR: "US", Value: 512}, "Rows", int64(512), "I"},
		{"US multi by dictionary", synth.Element{Tag: 0x00281101, VR: "US", Value: []int{256, 0, 16}}, "RedPaletteColorLookupTableDescriptor", []any{int64(256), int64(0), int64(16)}, "I"},
		{"SS negative", synth.Element{Tag: 0x00189219, VR: "SS", Value: -5}, "TagAngleSecondAxis", int64(-5), "I"},
		{"CS multi 4-5", synth.Element{Tag: 0x00089007, VR: "CS", Value: []string{"ORIGINAL", "PRIMARY"}}, "FrameType", []any{"ORIGINAL", "PRIMARY"}, "I"},
		{"SL", synth.Element{Tag: 0x00186020, VR: "SL", Value: -70000}, "ReferencePixelX0", int64(-70000), "I"},
		{"FL shortest form", synth.Element{Tag: 0x00189087, VR: "FD", Value: 0.1}, "DiffusionBValue", 0.1, "I"},
		{"FL widened", synth.Element{Tag: 0x00189089, VR: "FD", Value: []float64{1, 0.5, 0.25}}, "DiffusionGradientOrientation", []any{1.0, 0.5, 0.25}, "I"},
		{"FL single", synth.Element{Tag: 0x00189310, VR: "FD", Value: 2.5}, "TableFeedPerRotation", 2.5, "I"},
		{"FL float32", synth.Element{Tag: 0x00720076, VR: "FL", Value: 0.1}, "SelectorFLValue", []any{0.1}, "I"},
		{"FL NaN", synth.Element{Tag: 0x00720076, VR: "FL", Value: math.NaN()}, "SelectorFLValue", []any{"NaN"}, "I"},
		{"AT", synth.Element{Tag: 0x00209165, VR: "AT", Value: 0x00209056}, "DimensionIndexPointer", "00209056", "I"},
		{"DS multi keeps padding", synth.Element{Tag: 0x00280030, VR: "DS", Value: "0.25\\0.25"}, "PixelSpacing", []any{"0.25", "0.25 "}, "I"},
		{"IS single keeps padding", synth.Element{Tag: 0x00200011, VR: "IS", Value: 1}, "SeriesNumber", "1 ", "Se"},
		{"CS multi", synth.Element{Tag: 0x00080008, VR: "CS", Value: []string{"DERIVED", "PRIMARY", "AXIAL"}}, "ImageType", []any{"DERIVED", "PRIMARY", "AXIAL "}, "I"},
		{"multi with one value", synth.Element{Tag: 0x00181020, VR: "LO", Value: "3.1.62"}, "SoftwareVersions", []any{"3.1.62"}, "Se"},
		{"empty", synth.Element{Tag: 0x00100030, VR: "DA"}, "PatientBirthDate", nil, "P"},
		{"PN raw", synth.Element{Tag: 0x00100010, VR: "PN", Value: "NAME^NONE"}, "PatientName", "NAME^NONE ", "P"},
		{"UI NUL padding removed", synth.Element{Tag: 0x00200052, VR: "UI", Value: "1.2.3"}, "FrameOfReferenceUID", "1.2.3", "Se"},
		{"LT keeps backslash", synth.Element{Tag: 0x00204000, VR: "LT", Value: `a\b`}, "ImageComments", `a\b `, "I"},
		{"OB base64", synth.Element{Tag: 0x00020001, VR: "OB", Value: []byte{0, 1}}, "FileMetaInformationVersion", "AAE=", "I"},
		{"OW base64", synth.Element{Tag: 0x00281201, VR: "OW", Value: le16(1, 2)}, "RedPaletteColorLookupTableData", "AQACAA==", "I"},
		{"UN of known tag reinterpreted", synth.Element{Tag: 0x00280011, VR: "UN", Value: le16(640)}, "Columns", int64(640), "I"},
		{"UN text reinterpreted", synth.Element{Tag: 0x00080060, VR: "UN", Value: "CT"}, "Modality", "CT", "Se"},
		{"private LO", synth.Element{Tag: 0x00091001, VR: "LO", Value: "GE_GENESIS_DD"}, "00091001", "GE_GENESIS_DD ", "I"},
		{"private creator", synth.Element{Tag: 0x00090010, VR: "LO", Value: "ACME"}, "00090010", "ACME", "I"},
		{"private UN", synth.Element{Tag: 0x00431001, VR: "UN", Value: []byte{1, 2, 3, 4}}, "00431001", "AQIDBA==", "I"},
		{"private US", synth.Element{Tag: 0x00191002, VR: "US", Value: []int{1, 2}}, "00191002", []any{int64(1), int64(2)}, "I"},
		{"unknown even tag", synth.Element{Tag: 0x0008FFF0, VR: "SH", Value: "X"}, "0008FFF0", "X ", "I"},
		{"repeating group", synth.Element{Tag: 0x60020010, VR: "US", Value: 4}, "60020010", int64(4), "I"},
		{"repeating base group", synth.Element{Tag: 0x60000010, VR: "US", Value: 4}, "OverlayRows", int64(4), "I"},
		{"empty sequence", synth.Element{Tag: 0x00101002, VR: "SQ", Value: []synth.DataSet{}}, "OtherPatientIDsSequence", nil, "P"},
		{"sequence", synth.Element{Tag: 0x00082112, VR: "SQ", Value: []synth.DataSet{
			{{Tag: 0x00081150, VR: "UI", Value: "1.2"}, {Tag: 0x00081155, VR: "UI", Value: "1.2.3"}, {Tag: 0x00091001, VR: "LO", Value: "p"}},
			{},
		}}, "SourceImageSequence", []any{map[string]any{"ReferencedSOPClassUID": "1.2", "ReferencedSOPInstanceUID": "1.2.3", "00091001": "p "}, map[string]any{}}, "I"},
		{"group length", synth.Element{Tag: 0x00080000, VR: "UL", Value: 10}, "00080000", int64(10), "I"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := mustRead(t, p10(t, baseDS(c.el), ExplicitVRLittleEndian))
			lv := map[string]map[string]any{"P": in.Patient, "St": in.Study, "Se": in.Series, "I": in.Instance}[c.level]
			got, ok := lv[c.key]
			if !ok {
				t.Fatalf("key %s not at level %s; instance=%v", c.key, c.level, in.Instance)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("%s = %#v, want %#v", c.key, got, c.want)
			}
			if _, err := json.Marshal(lv); err != nil {
				t.Fatalf("not JSON-encodable: %v", err)
			}
		})
	}
}

func TestPrivateVRsRecorded(t *testing.T) {
	in := mustRead(t, p10(t, baseDS(
		synth.Element{Tag: 0x00090010, VR: "LO", Value: "ACME"},
		synth.Element{Tag: 0x00091001, VR: "DS", Value: "1.5"},
		synth.Element{Tag: 0x00081115, VR: "SQ", Value: []synth.DataSet{{{Tag: 0x00111001, VR: "SH", Value: "x"}}}},
	), ExplicitVRLittleEndian))
	want := map[string]string{"00090010": "LO", "00091001": "DS", "00111001": "SH"}
	if !reflect.DeepEqual(in.VRs, want) {
		t.Fatalf("VRs = %v, want %v", in.VRs, want)
	}
	// Implicit VR: the dictionary gives standard VRs, private ones are UN
	// (creator elements are LO).
	in = mustRead(t, p10(t, baseDS(
		synth.Element{Tag: 0x00090010, VR: "LO", Value: "ACME"},
		synth.Element{Tag: 0x00091001, VR: "DS", Value: "1.5"},
		synth.Element{Tag: 0x00280010, VR: "US", Value: 3},
	), ImplicitVRLittleEndian))
	if in.VRs["00091001"] != "UN" || in.VRs["00090010"] != "LO" || in.Instance["00091001"] != "MS41IA==" || in.Instance["Rows"] != int64(3) {
		t.Fatalf("implicit: VRs %v values %v %v", in.VRs, in.Instance["00091001"], in.Instance["Rows"])
	}
}

func TestBigEndianValues(t *testing.T) {
	in := mustRead(t, p10(t, baseDS(
		synth.Element{Tag: 0x00280010, VR: "US", Value: 0x0102},
		synth.Element{Tag: 0x00186020, VR: "SL", Value: -2},
		synth.Element{Tag: 0x00189310, VR: "FD", Value: 1.25},
		synth.Element{Tag: 0x00281201, VR: "OW", Value: []byte{0x00, 0x01}}, // big endian word 1
	), ExplicitVRBigEndian))
	if in.Instance["Rows"] != int64(0x0102) || in.Instance["ReferencePixelX0"] != int64(-2) || in.Instance["TableFeedPerRotation"] != 1.25 {
		t.Fatalf("values %v %v %v", in.Instance["Rows"], in.Instance["ReferencePixelX0"], in.Instance["TableFeedPerRotation"])
	}
	if in.Instance["RedPaletteColorLookupTableData"] != "AQA=" { // little endian 01 00
		t.Fatalf("OW = %v", in.Instance["RedPaletteColorLookupTableData"])
	}
}

func TestLevels(t *testing.T) {
	in := mustRead(t, p10(t, baseDS(
		synth.Element{Tag: 0x00100010, VR: "PN", Value: "A"},
		synth.Element{Tag: 0x00100020, VR: "LO", Value: "ID"},
		synth.Element{Tag: 0x00101002, VR: "SQ", Value: []synth.DataSet{}},
		synth.Element{Tag: 0x00080020, VR: "DA", Value: "20240101"},
		synth.Element{Tag: 0x00080050, VR: "SH", Value: "ACC"},
		synth.Element{Tag: 0x00101030, VR: "DS", Value: "70"},
		synth.Element{Tag: 0x00080090, VR: "PN"},
		synth.Element{Tag: 0x00080060, VR: "CS", Value: "CT"},
		synth.Element{Tag: 0x00080070, VR: "LO", Value: "ACME"},
		synth.Element{Tag: 0x00200052, VR: "UI", Value: "1.2"},
		synth.Element{Tag: 0x00185100, VR: "CS", Value: "HFS"},
		synth.Element{Tag: 0x00280010, VR: "US", Value: 1},
		synth.Element{Tag: 0x00080008, VR: "CS", Value: "ORIGINAL"},
	), ExplicitVRLittleEndian))
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	for _, c := range []struct {
		m    map[string]any
		want []string
	}{
		{in.Patient, []string{"PatientName", "PatientID", "OtherPatientIDsSequence"}},
		{in.Study, []string{"StudyInstanceUID", "StudyDate", "AccessionNumber", "PatientWeight", "ReferringPhysicianName"}},
		{in.Series, []string{"SeriesInstanceUID", "Modality", "Manufacturer", "FrameOfReferenceUID", "PatientPosition"}},
		{in.Instance, []string{"SOPClassUID", "SOPInstanceUID", "Rows", "ImageType", "TransferSyntaxUID", "FileMetaInformationVersion", "FileMetaInformationGroupLength", "MediaStorageSOPInstanceUID"}},
	} {
		for _, k := range c.want {
			if _, ok := c.m[k]; !ok {
				t.Errorf("%s missing from level with keys %v", k, keys(c.m))
			}
		}
	}
	if len(in.Patient) != 3 || len(in.Study) != 5 || len(in.Series) != 5 {
		t.Errorf("level sizes %d %d %d", len(in.Patient), len(in.Study), len(in.Series))
	}
	if LevelOf(0x00100010) != LevelPatient || LevelOf(0x00181020) != LevelSeries || LevelOf(0x00081030) != LevelStudy || LevelOf(0x00280010) != LevelInstance {
		t.Error("LevelOf")
	}
}

func TestCharacterSets(t *testing.T) {
	cases := []struct {
		name    string
		charset string
		raw     []byte
		want    string
		warn    bool
	}{
		{"latin1", "ISO_IR 100", []byte("Buc^J\xe9r\xf4me"), "Buc^Jérôme", false},
		{"default ascii", "", []byte("Plain^Name"), "Plain^Name", false},
		{"utf8", "ISO_IR 192", []byte("Wang^XiaoDong=王^小东"), "Wang^XiaoDong=王^小东", false},
		{"cyrillic", "ISO_IR 144", []byte("\xbb\xee\xda\xe1\xd5\xdc\xd1\xe3\xe0\xd3"), "Люксембург", false},
		{"iso2022 japanese", `\ISO 2022 IR 87`, []byte("Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B"), "Yamada^Tarou=山田^太郎", false},
		{"iso2022 korean", `\ISO 2022 IR 149`, []byte("Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7"), "Hong^Gildong=洪^吉洞", false},
		{"unknown charset keeps bytes", "ISO_IR 999", []byte("Caf\xe9"), "Café", true},
		{"unknown charset valid utf8", "X-UNKNOWN", []byte("Zoë"), "Zoë", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			extra := []synth.Element{{Tag: 0x00100010, VR: "PN", Value: c.raw}}
			if c.charset != "" {
				extra = append(extra, synth.Element{Tag: 0x00080005, VR: "CS", Value: c.charset})
			}
			in := mustRead(t, p10(t, baseDS(extra...), ExplicitVRLittleEndian))
			if len(c.raw)%2 == 1 {
				c.want += " " // the writer pads odd values with a space
			}
			if got := in.Patient["PatientName"]; got != c.want {
				t.Fatalf("PatientName = %q, want %q", got, c.want)
			}
			hasWarn := len(in.Warnings) == 1 && in.Warnings[0].Code == "UnknownCharacterSet"
			if hasWarn != c.warn {
				t.Fatalf("warnings %v", in.Warnings)
			}
		})
	}
}

func TestSequenceItemCharset(t *testing.T) {
	in := mustRead(t, p10(t, baseDS(
		synth.Element{Tag: 0x00081115, VR: "SQ", Value: []synth.DataSet{{
			{Tag: 0x00080005, VR: "CS", Value: "ISO_IR 100"},
			{Tag: 0x00100010, VR: "PN", Value: []byte("J\xe9")},
		}}},
	), ExplicitVRLittleEndian))
	item := in.Instance["ReferencedSeriesSequence"].([]any)[0].(map[string]any)
	if item["PatientName"] != "Jé" {
		t.Fatalf("item PatientName = %q", item["PatientName"])
	}
}

func TestUndefinedLengthUNSequence(t *testing.T) {
	// PS3.5 6.2.2: an undefined-length UN holds an implicit VR LE sequence.
	body := marshal(t, baseDS())
	body = append(body, explicitHeader(0x00082112, "UN", 0xFFFFFFFF)...)
	body = append(body, itemHeader(tagItem, 0xFFFFFFFF)...)
	body = append(body, itemHeader(0x00081150, 4)...)
	body = append(body, "1.2\x00"...)
	body = append(body, itemHeader(tagItemDelimitation, 0)...)
	body = append(body, itemHeader(tagSequenceDelimitation, 0)...)
	in := mustRead(t, p10Raw(ExplicitVRLittleEndian, body))
	want := []any{map[string]any{"ReferencedSOPClassUID": "1.2"}}
	if got := in.Instance["SourceImageSequence"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("SourceImageSequence = %#v", got)
	}
}
