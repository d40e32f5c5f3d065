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

	// Each bad file fails for its own reason, named in the message.
	for name, c := range map[string]struct{ in, want string }{
		"not JSON":         {`{`, `not valid JSON`},
		"two values":       {`{} {}`, `more than one value`},
		"empty":            {`{}`, `no attributes`},
		"array of two":     {`[{}, {}]`, `exactly one data set`},
		"keyword key":      {`{"PatientName": {"vr": "PN", "Value": [{"Alphabetic": "x"}]}}`, `not an 8-hex-digit DICOM tag`},
		"wrong VR":         {`{"00100010": {"vr": "LO", "Value": ["x"]}}`, `the data dictionary says PN`},
		"no VR":            {`{"00100010": {"Value": ["x"]}}`, `"vr" is missing`},
		"bulk data":        {`{"00100010": {"vr": "PN", "BulkDataURI": "http://x"}}`, `BulkDataURI`},
		"UID":              {`{"0020000D": {"vr": "UI", "Value": ["1.2"]}}`, `StudyInstanceUID cannot be overridden`},
		"pixel attribute":  {`{"00280010": {"vr": "US", "Value": [4]}}`, `Rows cannot be overridden`},
		"file meta":        {`{"00020013": {"vr": "SH", "Value": ["x"]}}`, `ImplementationVersionName cannot be overridden`},
		"group length":     {`{"00080000": {"vr": "UL", "Value": [4]}}`, `00080000 (unknown) cannot be overridden`},
		"bad date":         {`{"00100030": {"vr": "DA", "Value": ["1970-1-1"]}}`, `VR DA`},
		"too long":         {`{"00100020": {"vr": "LO", "Value": ["` + strings.Repeat("x", 65) + `"]}}`, `longer than 64`},
		"number for text":  {`{"00100020": {"vr": "LO", "Value": [5]}}`, `want a string`},
		"US out of range":  {`{"00181310": {"vr": "US", "Value": [70000]}}`, `out of range`},
		"two for one":      {`{"00100020": {"vr": "LO", "Value": ["a", "b"]}}`, `2 values for a single-valued`},
		"Value not array":  {`{"00100020": {"vr": "LO", "Value": "a"}}`, `not an array`},
		"unknown member":   {`{"00100020": {"vr": "LO", "Values": ["a"]}}`, `unknown member "Values"`},
		"PN not object":    {`{"00100010": {"vr": "PN", "Value": ["x"]}}`, `a PN value is an object`},
		"bad base64":       {`{"00091002": {"vr": "OB", "InlineBinary": "!!"}}`, `not base64`},
		"binary as Value":  {`{"00091002": {"vr": "OB", "Value": [1]}}`, `must be given as InlineBinary`},
		"item not object":  {`{"00081115": {"vr": "SQ", "Value": [1]}}`, `item 1 is not a data set`},
		"bad item tag":     {`{"00081115": {"vr": "SQ", "Value": [{"x": {"vr": "LO"}}]}}`, `"x" is not an 8-hex-digit`},
		"deep sequences":   {`{"00081115":` + strings.Repeat(`{"vr":"SQ","Value":[{"00081115":`, 20) + `{"vr":"SQ"}` + strings.Repeat(`}]}`, 20) + `}`, `nest deeper than 16`},
		"not a data set":   {`"x"`, `not a DICOM JSON data set`},
		"bad AT":           {`{"00209165": {"vr": "AT", "Value": ["xyz"]}}`, `8 hex digits`},
		"character set":    {`{"00080005": {"vr": "CS", "Value": ["ISO_IR 100"]}}`, `SpecificCharacterSet cannot be overridden`},
		"service key area": {`{"7FE00010": {"vr": "OW", "InlineBinary": "AAAA"}}`, `PixelData cannot be overridden`},
	} {
		if _, err := ParseOverride([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %s gives %v, want an error with %q", name, c.in, err, c.want)
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
