package metadoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi"
)

func sample(t testing.TB) *Document {
	t.Helper()
	d := New("ds", "is", map[string]any{"PatientID": "P1 ", "PatientName": "A^B"},
		map[string]any{"StudyInstanceUID": "1.2.3", "StudyDate": "20240101", "StudyDescription": "CT"},
		"1.2.3.4", map[string]any{"SeriesInstanceUID": "1.2.3.4", "SeriesNumber": "7 ", "Modality": "CT"})
	for _, sop := range []string{"1.2.3.4.1", "1.2.3.4.2"} {
		lo, hi := int64(0), int64(4095)
		if err := d.AddInstance(sop, &Instance{DICOM: map[string]any{"SOPInstanceUID": sop, "ImageType": []any{"ORIGINAL", "PRIMARY"}},
			StoredTransferSyntaxUID: "1.2.840.10008.1.2.4.202",
			ImageFrames:             []Frame{{ID: strings.Repeat(sop[len(sop)-1:], 32), FrameSizeInBytes: 10, MinPixelValue: &lo, MaxPixelValue: &hi}}}); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestEncodeDecodeAndTags(t *testing.T) {
	d := sample(t)
	var buf bytes.Buffer
	if err := d.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(d)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Fatalf("round trip changed the document:\n%s\n%s", a, b)
	}
	tg := got.Tags()
	if tg.PatientID != "P1" || tg.SeriesModality != "CT" || tg.SeriesNumber == nil || *tg.SeriesNumber != 7 || tg.InstanceCount != 2 {
		t.Fatalf("tags = %+v", tg)
	}
	if _, err := Decode(strings.NewReader("not gzip")); err == nil {
		t.Fatal("Decode accepted garbage")
	}
}

func TestApplyUpdatesRules(t *testing.T) {
	for _, tc := range []struct {
		name, upd, rem string
		opt            UpdateOptions
		want           string // "" = success
	}{
		{"study level", `{"Study":{"DICOM":{"StudyDescription":"NEW"}}}`, "", UpdateOptions{}, ""},
		{"private with force", `{"Study":{"Series":{"1.2.3.4":{"Instances":{"1.2.3.4.1":{"DICOM":{"00091001":"X"},"DICOMVRs":{"00091001":"LO"}}}}}}}`, "", UpdateOptions{Force: true}, ""},
		{"private without VR", `{"Study":{"Series":{"1.2.3.4":{"Instances":{"1.2.3.4.1":{"DICOM":{"00091001":"X"}}}}}}}`, "", UpdateOptions{Force: true}, "DICOMVRs"},
		{"numeric VR", `{"Study":{"Series":{"1.2.3.4":{"Instances":{"1.2.3.4.1":{"DICOM":{"Rows":"512"}}}}}}}`, "", UpdateOptions{}, "want a JSON number"},
		{"numeric range", `{"Study":{"Series":{"1.2.3.4":{"Instances":{"1.2.3.4.1":{"DICOM":{"Rows":70000}}}}}}}`, "", UpdateOptions{}, "out of range"},
		{"IS", `{"Study":{"Series":{"1.2.3.4":{"Instances":{"1.2.3.4.1":{"DICOM":{"InstanceNumber":"1.5"}}}}}}}`, "", UpdateOptions{}, "VR IS"},
		{"too long LO", `{"Study":{"DICOM":{"StudyDescription":"` + strings.Repeat("x", 65) + `"}}}`, "", UpdateOptions{}, "longer than 64"},
		{"unknown series", `{"Study":{"Series":{"9.9":{"DICOM":{"SeriesDescription":"x"}}}}}`, "", UpdateOptions{}, "series 9.9"},
		{"unknown instance", `{"Study":{"Series":{"1.2.3.4":{"Instances":{"9.9":{"DICOM":{"ContentDate":"20240101"}}}}}}}`, "", UpdateOptions{}, "instance 9.9"},
		{"sequence", `{"Study":{"Series":{"1.2.3.4":{"Instances":{"1.2.3.4.1":{"DICOM":{"ReferencedImageSequence":[]}}}}}}}`, "", UpdateOptions{}, "sequence"},
		{"series uid rename", `{"Study":{"Series":{"1.2.3.4":{"DICOM":{"SeriesInstanceUID":"5.6"}}}}}`, "", UpdateOptions{Force: true}, ""},
		{"remove instance", "", `{"Study":{"Series":{"1.2.3.4":{"Instances":{"1.2.3.4.2":{}}}}}}`, UpdateOptions{}, ""},
		{"remove uid", "", `{"Study":{"DICOM":{"StudyInstanceUID":""}}}`, UpdateOptions{Force: true}, "cannot be removed"},
		{"tag instead of keyword", `{"Study":{"DICOM":{"00081030":"x"}}}`, "", UpdateOptions{}, "keyword StudyDescription"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := sample(t)
			before, _ := json.Marshal(d)
			var upd, rem *Changes
			var err error
			if tc.upd != "" {
				if upd, err = ParseChanges([]byte(tc.upd), "updatableAttributes"); err != nil {
					t.Fatal(err)
				}
			}
			if tc.rem != "" {
				if rem, err = ParseChanges([]byte(tc.rem), "removableAttributes"); err != nil {
					t.Fatal(err)
				}
			}
			_, err = ApplyUpdates(d, upd, rem, tc.opt)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var ve *ohi.ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want a ValidationError containing %q", err, tc.want)
			}
			after, _ := json.Marshal(d)
			if !bytes.Equal(before, after) {
				t.Fatal("a rejected update changed the document")
			}
		})
	}
	d := sample(t)
	upd, _ := ParseChanges([]byte(`{"Study":{"Series":{"1.2.3.4":{"DICOM":{"SeriesInstanceUID":"5.6"}}}}}`), "u")
	if _, err := ApplyUpdates(d, upd, nil, UpdateOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if uid, s := d.Series(); uid != "5.6" || len(s.Instances) != 2 || d.Tags().SeriesInstanceUID != "5.6" {
		t.Fatalf("rename: series %s with %d instances", uid, len(s.Instances))
	}
}

func TestParseSelection(t *testing.T) {
	sel, err := ParseSelection(`{"SchemaVersion":"1.1","Study":{"Series":{"1.2":{"Instances":{"b":{},"a":{}}}}}}`)
	if err != nil || sel.SeriesUID != "1.2" || strings.Join(sel.SOPInstanceUIDs, ",") != "a,b" {
		t.Fatalf("selection = %+v, %v", sel, err)
	}
	for _, bad := range []string{`{}`, `{"Study":{"Series":{"1":{},"2":{}}}}`, `{"Study":{"Nope":1}}`, `[`, `{"SchemaVersion":"2"}`} {
		if _, err := ParseSelection(bad); err == nil {
			t.Errorf("ParseSelection(%s) accepted", bad)
		}
	}
}

// FuzzApplyUpdates checks that no payload panics or corrupts a document it
// rejects.
func FuzzApplyUpdates(f *testing.F) {
	for _, s := range []string{`{"Study":{"DICOM":{"StudyDescription":"x"}}}`, `{"Patient":{"DICOM":{"PatientName":null}}}`,
		`{"Study":{"Series":{"1.2.3.4":{"Instances":{"1.2.3.4.1":{"DICOM":{"00091001":"X"},"DICOMVRs":{"00091001":"LO"}}}}}}}`, `{}`} {
		f.Add([]byte(s), false, true)
	}
	f.Fuzz(func(t *testing.T, payload []byte, remove, force bool) {
		c, err := ParseChanges(payload, "updatableAttributes")
		if err != nil {
			return
		}
		d := sample(t)
		before, _ := json.Marshal(d)
		var upd, rem *Changes
		if remove {
			rem = c
		} else {
			upd = c
		}
		if _, err := ApplyUpdates(d, upd, rem, UpdateOptions{Force: force}); err != nil {
			after, _ := json.Marshal(d)
			if !bytes.Equal(before, after) {
				t.Fatal("a rejected update changed the document")
			}
			return
		}
		var buf bytes.Buffer
		if err := d.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(&buf); err != nil {
			t.Fatalf("an accepted update produced a document that does not decode: %v", err)
		}
	})
}
