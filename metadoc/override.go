package metadoc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/openhealthimaging/ohi/dicom"
)

// Override is a parsed DICOM JSON metadata file of an import job's
// importConfiguration: attributes that replace those of the instances the
// mapping selects, already in the image set metadata encoding and sorted by
// the level AWS HealthImaging places them at.
type Override struct {
	Levels [4]map[string]any // indexed by dicom.Level
	VRs    map[string]string // VRs of private and unknown tags (instance level)
	Keys   []string          // every key set, sorted (for messages)
}

// MaxOverrideDepth bounds the nesting of sequences in an override file.
const MaxOverrideDepth = 16

// frozenOverride are the attributes an override may not change: the
// identity of the study, series and instance, and everything that
// describes the stored pixel data (the frames were encoded from the file's
// own values).
var frozenOverride = map[string]bool{
	"StudyInstanceUID": true, "SeriesInstanceUID": true, "SOPInstanceUID": true, "SOPClassUID": true,
	"TransferSyntaxUID": true, "Rows": true, "Columns": true, "BitsAllocated": true, "BitsStored": true,
	"HighBit": true, "PixelRepresentation": true, "SamplesPerPixel": true, "PhotometricInterpretation": true,
	"PlanarConfiguration": true, "NumberOfFrames": true, "PixelData": true, "FloatPixelData": true,
	"DoubleFloatPixelData": true, "ExtendedOffsetTable": true, "ExtendedOffsetTableLengths": true,
	"SpecificCharacterSet": true,
}

var reVR = regexp.MustCompile(`^[A-Z]{2}$`)

// ParseOverride decodes a DICOM JSON metadata file (the DICOM JSON Model of
// PS3.18 F.2: an object keyed by 8-hex-digit tags whose values hold "vr" and
// "Value" or "InlineBinary"; a one-element array of such an object, as
// DICOMweb metadata answers are, is accepted too) and converts it to the
// image set metadata encoding. Every problem is an error naming the
// attribute.
func ParseOverride(raw []byte) (*Override, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("not valid JSON: more than one value")
	}
	if arr, ok := top.([]any); ok {
		if len(arr) != 1 {
			return nil, fmt.Errorf("a DICOM JSON array must hold exactly one data set, it holds %d", len(arr))
		}
		top = arr[0]
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, errors.New("not a DICOM JSON data set (an object keyed by 8-hex-digit tags)")
	}
	if len(obj) == 0 {
		return nil, errors.New("the data set has no attributes")
	}
	o := &Override{VRs: map[string]string{}}
	for i := range o.Levels {
		o.Levels[i] = map[string]any{}
	}
	c := &jsonModel{vrs: o.VRs}
	for _, tagKey := range sortedKeys(obj) {
		if !hexKey.MatchString(tagKey) {
			return nil, fmt.Errorf("%q is not an 8-hex-digit DICOM tag", tagKey)
		}
		attr, _ := dicom.LookupAttribute(strings.ToUpper(tagKey))
		key, vr, v, err := c.element(tagKey, attr, obj[tagKey], 0)
		if err != nil {
			return nil, err
		}
		group := attr.Tag >> 16
		switch {
		case group == 0x0002 || group == 0xFFFE || attr.Tag&0xFFFF == 0 || frozenOverride[key] || serviceKeys[key]:
			return nil, fmt.Errorf("%s %s cannot be overridden", tagKey, attrName(attr))
		}
		level := attr.Level
		if attr.Keyword == "" {
			level = dicom.LevelInstance
			o.VRs[key] = vr
		}
		o.Levels[level][key] = v
		o.Keys = append(o.Keys, key)
	}
	sort.Strings(o.Keys)
	return o, nil
}

// Apply sets the override's attributes in the levels of one instance (its
// Patient, Study, Series and Instance metadata) and records the VRs of
// private attributes in vrs, which it returns (allocated when nil).
func (o *Override) Apply(patient, study, series, instance map[string]any, vrs map[string]string) map[string]string {
	targets := [4]map[string]any{dicom.LevelInstance: instance, dicom.LevelPatient: patient, dicom.LevelStudy: study, dicom.LevelSeries: series}
	for lvl, attrs := range o.Levels {
		for k, v := range attrs {
			targets[lvl][k] = v
		}
	}
	if len(o.VRs) > 0 && vrs == nil {
		vrs = map[string]string{}
	}
	for k, vr := range o.VRs {
		vrs[k] = vr
	}
	return vrs
}

func attrName(a dicom.Attribute) string {
	switch {
	case a.Keyword != "":
		return a.Keyword
	case a.Private:
		return "(private)"
	}
	return "(unknown)"
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonModel converts DICOM JSON Model elements.
type jsonModel struct {
	vrs map[string]string // VRs of keyless tags, at any depth
}

// element converts one attribute: its metadata key, VR and value.
func (c *jsonModel) element(tagKey string, attr dicom.Attribute, raw any, depth int) (key, vr string, v any, err error) {
	key = attr.Keyword
	if key == "" {
		key = strings.ToUpper(tagKey)
	}
	name := tagKey + " " + attrName(attr)
	el, ok := raw.(map[string]any)
	if !ok {
		return "", "", nil, fmt.Errorf("%s: an attribute is an object with \"vr\" and \"Value\"", name)
	}
	vr, _ = el["vr"].(string)
	if !reVR.MatchString(vr) {
		return "", "", nil, fmt.Errorf("%s: \"vr\" is missing or not a VR", name)
	}
	if len(attr.VRs) > 0 && !contains(attr.VRs, vr) {
		return "", "", nil, fmt.Errorf("%s: VR %s, the data dictionary says %s", name, vr, strings.Join(attr.VRs, " or "))
	}
	if _, ok := el["BulkDataURI"]; ok {
		return "", "", nil, fmt.Errorf("%s: BulkDataURI values are not supported; give the value inline", name)
	}
	for k := range el {
		if k != "vr" && k != "Value" && k != "InlineBinary" {
			return "", "", nil, fmt.Errorf("%s: unknown member %q", name, k)
		}
	}
	if bin, ok := el["InlineBinary"]; ok {
		s, ok := bin.(string)
		if _, err := base64.StdEncoding.DecodeString(s); !ok || err != nil {
			return "", "", nil, fmt.Errorf("%s: InlineBinary is not base64", name)
		}
		if !binaryVRs[vr] {
			return "", "", nil, fmt.Errorf("%s: InlineBinary is for binary VRs, not %s", name, vr)
		}
		return key, vr, s, nil
	}
	rawVals, present := el["Value"]
	if !present || rawVals == nil {
		return key, vr, nil, nil // an empty value
	}
	vals, ok := rawVals.([]any)
	if !ok {
		return "", "", nil, fmt.Errorf("%s: \"Value\" is not an array", name)
	}
	if len(vals) == 0 {
		return key, vr, nil, nil
	}
	if vr == "SQ" {
		if depth >= MaxOverrideDepth {
			return "", "", nil, fmt.Errorf("%s: sequences nest deeper than %d levels", name, MaxOverrideDepth)
		}
		items := make([]any, len(vals))
		for i, it := range vals {
			obj, ok := it.(map[string]any)
			if !ok {
				return "", "", nil, fmt.Errorf("%s: item %d is not a data set", name, i+1)
			}
			m := make(map[string]any, len(obj))
			for _, tk := range sortedKeys(obj) {
				if !hexKey.MatchString(tk) {
					return "", "", nil, fmt.Errorf("%s item %d: %q is not an 8-hex-digit DICOM tag", name, i+1, tk)
				}
				a, _ := dicom.LookupAttribute(strings.ToUpper(tk))
				k, subVR, sv, err := c.element(tk, a, obj[tk], depth+1)
				if err != nil {
					return "", "", nil, fmt.Errorf("%s item %d: %w", name, i+1, err)
				}
				if a.Keyword == "" {
					c.vrs[k] = subVR
				}
				m[k] = sv
			}
			items[i] = m
		}
		return key, vr, items, nil
	}
	if binaryVRs[vr] {
		return "", "", nil, fmt.Errorf("%s: a %s value must be given as InlineBinary", name, vr)
	}
	out := make([]any, len(vals))
	for i, e := range vals {
		s, err := scalar(vr, e)
		if err != nil {
			return "", "", nil, fmt.Errorf("%s value %d: %v", name, i+1, err)
		}
		if err := checkScalar(name, vr, s); err != nil {
			return "", "", nil, errors.New(strings.TrimPrefix(err.Error(), "updatableAttributes: "))
		}
		out[i] = s
	}
	if textVR(vr) {
		// Text values are one string when the attribute has one value by
		// definition, as the DICOM reader encodes them.
		// Private and unknown tags are one string when they have one value.
		single := vr == "LT" || vr == "ST" || vr == "UT" || vr == "UR" || (!attr.Multi && attr.Keyword != "")
		if single || (attr.Keyword == "" && len(out) == 1) {
			if len(out) > 1 {
				return "", "", nil, fmt.Errorf("%s: %d values for a single-valued attribute", name, len(out))
			}
			return key, vr, out[0], nil
		}
		return key, vr, out, nil
	}
	if len(out) == 1 && !attr.Multi {
		return key, vr, out[0], nil
	}
	return key, vr, out, nil
}

var binaryVRs = map[string]bool{"OB": true, "OD": true, "OF": true, "OL": true, "OV": true, "OW": true, "UN": true}

func textVR(vr string) bool {
	switch vr {
	case "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT", "AT":
		return true
	}
	return false
}

// scalar converts one DICOM JSON value to the metadata encoding: text VRs
// (and DS, IS given as JSON numbers) to strings, PN objects to the
// "Alphabetic=Ideographic=Phonetic" string, AT to 8 uppercase hex digits,
// binary numbers to JSON numbers.
func scalar(vr string, e any) (any, error) {
	switch vr {
	case "PN":
		switch x := e.(type) {
		case nil:
			return "", nil
		case map[string]any:
			var parts [3]string
			for k, v := range x {
				s, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("PN component %s is not a string", k)
				}
				switch k {
				case "Alphabetic":
					parts[0] = s
				case "Ideographic":
					parts[1] = s
				case "Phonetic":
					parts[2] = s
				default:
					return nil, fmt.Errorf("unknown PN component %q", k)
				}
			}
			return strings.TrimRight(strings.Join(parts[:], "="), "="), nil
		}
		return nil, errors.New("a PN value is an object with Alphabetic, Ideographic or Phonetic")
	case "DS", "IS":
		switch x := e.(type) {
		case nil:
			return "", nil
		case json.Number:
			return x.String(), nil
		case string:
			return x, nil
		}
		return nil, fmt.Errorf("want a number, got %T", e)
	case "US", "SS", "UL", "SL", "FL", "FD", "SV", "UV":
		switch x := e.(type) {
		case json.Number:
			return x, nil
		case string: // SV and UV beyond 2^53 may be strings
			if (vr == "SV" || vr == "UV") && reIS.MatchString(x) {
				return json.Number(x), nil
			}
		}
		return nil, fmt.Errorf("want a number, got %T", e)
	case "AT":
		s, ok := e.(string)
		if !ok || !hexKey.MatchString(s) {
			return nil, errors.New("an AT value is 8 hex digits")
		}
		return strings.ToUpper(s), nil
	}
	switch x := e.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	}
	return nil, fmt.Errorf("want a string, got %T", e)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
