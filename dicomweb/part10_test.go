package dicomweb

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/metadoc"
	"github.com/openhealthimaging/ohi/service"
	"github.com/openhealthimaging/ohi/synth"
)

// readAll parses a file and merges its levels, without the file meta group.
func readAll(t *testing.T, b []byte) map[string]any {
	t.Helper()
	in, err := dicom.Read(bytes.NewReader(b), int64(len(b)), dicom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	m := map[string]any{}
	for _, l := range []map[string]any{in.Patient, in.Study, in.Series, in.Instance} {
		for k, v := range l {
			if !strings.HasPrefix(k, "FileMeta") && !strings.HasPrefix(k, "MediaStorage") && !strings.HasPrefix(k, "Implementation") && k != "TransferSyntaxUID" {
				m[k] = v
			}
		}
	}
	return m
}

// instanceOf makes the DICOMweb view of a file as the importer would.
func instanceOf(t *testing.T, b []byte) (*service.DICOMInstance, []byte) {
	t.Helper()
	in, err := dicom.Read(bytes.NewReader(b), int64(len(b)), dicom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	hdr, err := in.EncodeDataset()
	if err != nil {
		t.Fatal(err)
	}
	// Through JSON, as the stored document is.
	doc := metadoc.New("ds", "is", in.Patient, in.Study, in.SeriesInstanceUID, in.Series)
	if err := doc.AddInstance(in.SOPInstanceUID, &metadoc.Instance{DICOM: in.Instance, DICOMVRs: in.VRs, StoredTransferSyntaxUID: in.TransferSyntaxUID}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := doc.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	doc, err = metadoc.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := doc.Instance(in.SOPInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	return &service.DICOMInstance{Doc: doc, Instance: inst}, hdr
}

// TestPart10FromHeaderAndDocument writes an instance without pixel data
// from its stored header (every attribute kept), after an update of the
// document (the change applied, the rest untouched), and from the
// document alone (an instance imported before headers were stored).
func TestPart10FromHeaderAndDocument(t *testing.T) {
	g, err := synth.New(synth.Config{Rows: 8, Cols: 8, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	orig, err := g.Instance(synth.Ref{})
	if err != nil {
		t.Fatal(err)
	}
	want := readAll(t, orig)
	delete(want, "PixelData")
	write := func(di *service.DICOMInstance, hdr []byte) map[string]any {
		t.Helper()
		p := &part10{sopClassUID: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUID: g.SOPInstanceUID(synth.Ref{}), transferSyntax: tsExplicitLE,
			header: hdr, replace: map[uint32][]byte{}, pixelTag: 0x7FE00010}
		if err := overlay(p, di); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := p.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		return readAll(t, out.Bytes())
	}
	same := func(a, b any) bool {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return bytes.Equal(ja, jb)
	}
	text := func(v any) string { return strings.TrimSpace(metadoc.Text(v)) }

	di, hdr := instanceOf(t, orig)
	got := write(di, hdr)
	for k, v := range want {
		if !same(v, got[k]) {
			t.Errorf("from the header: %s = %v, want %v", k, got[k], v)
		}
	}
	t.Logf("%d attributes compared", len(want))
	if len(got) != len(want) {
		t.Errorf("from the header: %d attributes, want %d", len(got), len(want))
	}

	di.Doc.Study.DICOM["StudyDescription"] = "CHANGED"
	delete(di.Doc.Patient.DICOM, "PatientBirthDate")
	got = write(di, hdr)
	if text(got["StudyDescription"]) != "CHANGED" || got["PatientBirthDate"] != nil || !same(got["PatientID"], want["PatientID"]) {
		t.Fatalf("after an update: StudyDescription %v, PatientBirthDate %v, PatientID %v", got["StudyDescription"], got["PatientBirthDate"], got["PatientID"])
	}

	// A value its VR cannot hold (an update wrote a word into a US): the
	// file keeps the value as received, and a new one is left out.
	di, hdr = instanceOf(t, orig)
	di.Instance.DICOM["Rows"] = "eight"
	di.Instance.DICOM["LargestImagePixelValue"] = "big"
	got = write(di, hdr)
	if !same(got["Rows"], want["Rows"]) || got["LargestImagePixelValue"] != nil || !same(got["PatientID"], want["PatientID"]) {
		t.Fatalf("unencodable update: Rows %v (want %v), LargestImagePixelValue %v", got["Rows"], want["Rows"], got["LargestImagePixelValue"])
	}

	di, _ = instanceOf(t, orig)
	got = write(di, nil)
	for k, v := range want {
		if k == "SpecificCharacterSet" {
			continue
		}
		if text(v) != text(got[k]) {
			t.Errorf("from the document: %s = %v, want %v", k, got[k], v)
		}
	}
	if text(got["SpecificCharacterSet"]) != "ISO_IR 192" {
		t.Errorf("from the document: SpecificCharacterSet %v", got["SpecificCharacterSet"])
	}
}
