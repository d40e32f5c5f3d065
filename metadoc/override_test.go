package metadoc

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseOverride(t *testing.T) {
	o, err := ParseOverride([]byte(`{
		"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane", "Ideographic": "ID"}]},
		"00100030": {"vr": "DA", "Value": ["19700101"]},
		"00201041": {"vr": "DS", "Value": [-12.5]},
		"00280030": {"vr": "DS", "Value": [0.5, "0.5"]},
		"00181310": {"vr": "US", "Value": [0, 256, 256, 0]},
		"00209165": {"vr": "AT", "Value": ["0020000e"]},
		"00081115": {"vr": "SQ", "Value": [{"0020000E": {"vr": "UI", "Value": ["1.2.3"]}, "00431001": {"vr": "LO", "Value": ["p"]}}]},
		"00091002": {"vr": "OB", "InlineBinary": "AAEC"},
		"00080080": {"vr": "LO"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(o.Levels)
	want := `[{"00091002":"AAEC","AcquisitionMatrix":[0,256,256,0],"DimensionIndexPointer":"0020000E","PixelSpacing":["0.5","0.5"],` +
		`"ReferencedSeriesSequence":[{"00431001":"p","SeriesInstanceUID":"1.2.3"}],"SliceLocation":"-12.5"},` +
		`{"PatientBirthDate":"19700101","PatientName":"Doe^Jane=ID"},{},{"InstitutionName":null}]`
	if string(got) != want {
		t.Errorf("levels\n got %s\nwant %s", got, want)
	}
	if o.VRs["00091002"] != "OB" || o.VRs["00431001"] != "LO" {
		t.Errorf("VRs = %v", o.VRs)
	}
	patient, study, series, inst := map[string]any{"PatientName": "Old"}, map[string]any{}, map[string]any{}, map[string]any{}
	vrs := o.Apply(patient, study, series, inst, nil)
	if patient["PatientName"] != "Doe^Jane=ID" || series["InstitutionName"] != nil || inst["SliceLocation"] != "-12.5" || vrs["00091002"] != "OB" {
		t.Errorf("Apply: patient %v instance %v vrs %v", patient, inst, vrs)
	}

	for name, bad := range map[string]string{
		"not JSON":         `{`,
		"two values":       `{} {}`,
		"empty":            `{}`,
		"array of two":     `[{}, {}]`,
		"keyword key":      `{"PatientName": {"vr": "PN", "Value": [{"Alphabetic": "x"}]}}`,
		"wrong VR":         `{"00100010": {"vr": "LO", "Value": ["x"]}}`,
		"no VR":            `{"00100010": {"Value": ["x"]}}`,
		"bulk data":        `{"00100010": {"vr": "PN", "BulkDataURI": "http://x"}}`,
		"UID":              `{"0020000D": {"vr": "UI", "Value": ["1.2"]}}`,
		"pixel attribute":  `{"00280010": {"vr": "US", "Value": [4]}}`,
		"file meta":        `{"00020010": {"vr": "UI", "Value": ["1.2"]}}`,
		"group length":     `{"00080000": {"vr": "UL", "Value": [4]}}`,
		"bad date":         `{"00100030": {"vr": "DA", "Value": ["1970-01-01"]}}`,
		"too long":         `{"00100020": {"vr": "LO", "Value": ["` + strings.Repeat("x", 65) + `"]}}`,
		"number for text":  `{"00100020": {"vr": "LO", "Value": [5]}}`,
		"US out of range":  `{"00181310": {"vr": "US", "Value": [70000]}}`,
		"two for one":      `{"00100020": {"vr": "LO", "Value": ["a", "b"]}}`,
		"Value not array":  `{"00100020": {"vr": "LO", "Value": "a"}}`,
		"unknown member":   `{"00100020": {"vr": "LO", "Values": ["a"]}}`,
		"PN not object":    `{"00100010": {"vr": "PN", "Value": ["x"]}}`,
		"bad base64":       `{"00091002": {"vr": "OB", "InlineBinary": "!!"}}`,
		"binary as Value":  `{"00091002": {"vr": "OB", "Value": [1]}}`,
		"item not object":  `{"00081115": {"vr": "SQ", "Value": [1]}}`,
		"bad item tag":     `{"00081115": {"vr": "SQ", "Value": [{"x": {"vr": "LO"}}]}}`,
		"deep sequences":   `{"00081115":` + strings.Repeat(`{"vr":"SQ","Value":[{"00081115":`, 20) + `{"vr":"SQ"}` + strings.Repeat(`}]}`, 20) + `}`,
		"not a data set":   `"x"`,
		"bad AT":           `{"00209165": {"vr": "AT", "Value": ["xyz"]}}`,
		"character set":    `{"00080005": {"vr": "CS", "Value": ["ISO_IR 100"]}}`,
		"service key area": `{"7FE00010": {"vr": "OW", "InlineBinary": "AAAA"}}`,
	} {
		if _, err := ParseOverride([]byte(bad)); err == nil {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
}

func FuzzParseOverride(f *testing.F) {
	f.Add([]byte(`{"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]}}`))
	f.Add([]byte(`[{"00081115": {"vr": "SQ", "Value": [{"00091010": {"vr": "LO", "Value": ["x"]}}]}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOverride(b)
		if err != nil {
			return
		}
		if _, err := json.Marshal(o.Levels); err != nil {
			t.Fatalf("levels do not encode: %v", err)
		}
		o.Apply(map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}, nil)
	})
}
