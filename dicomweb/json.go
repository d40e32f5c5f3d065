package dicomweb

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/metadoc"
)

// BulkThreshold is the size above which binary values are replaced by a
// BulkDataURI in DICOM JSON (1 MB, as AWS HealthImaging).
const BulkThreshold = 1 << 20

// Element is one attribute of the DICOM JSON model (PS3.18 F.2).
type Element struct {
	VR           string `json:"vr"`
	Value        []any  `json:"Value,omitempty"`
	InlineBinary string `json:"InlineBinary,omitempty"`
	BulkDataURI  string `json:"BulkDataURI,omitempty"`
}

// Dataset is a DICOM JSON object: elements keyed by 8 uppercase hex
// digits. encoding/json writes map keys sorted, which is tag order.
type Dataset map[string]*Element

// converter turns image set metadata (keyword-keyed AHI JSON) into DICOM
// JSON.
type converter struct {
	vrs map[string]string // DICOMVRs of private and unknown tags
	// bulk returns the BulkDataURI of a large binary value at path (tags
	// and item indexes joined by dots); nil inlines every value.
	bulk     func(path string) string
	signedPx bool // PixelRepresentation 1: US or SS elements are SS
}

// attribute resolves a metadata key to its tag and VR.
func (c *converter) attribute(key string, v any) (string, string, bool) {
	a, ok := dicom.LookupAttribute(key)
	if !ok {
		return "", "", false
	}
	tag := fmt.Sprintf("%08X", a.Tag)
	vr := c.vrs[tag]
	if vr == "" && len(a.VRs) > 0 {
		vr = a.VRs[0]
		if len(a.VRs) > 1 {
			switch {
			case a.VRs[0] == "US" && a.VRs[1] == "SS" && c.signedPx:
				vr = "SS"
			case a.VRs[0] == "OB" && a.VRs[1] == "OW":
				vr = "OW"
			}
		}
	}
	if vr == "" {
		vr = "UN"
	}
	if _, isSeq := v.([]any); isSeq && vr != "SQ" {
		if l := v.([]any); len(l) > 0 {
			if _, isMap := l[0].(map[string]any); isMap {
				vr = "SQ"
			}
		}
	}
	return tag, vr, true
}

// dataset converts one level or sequence item.
func (c *converter) dataset(m map[string]any, path string, out Dataset) {
	for key, v := range m {
		tag, vr, ok := c.attribute(key, v)
		if !ok {
			continue
		}
		p := tag
		if path != "" {
			p = path + "." + tag
		}
		out[tag] = c.element(vr, v, p)
	}
}

// element converts one value.
func (c *converter) element(vr string, v any, path string) *Element {
	e := &Element{VR: vr}
	if v == nil {
		return e
	}
	vals, isList := v.([]any)
	if !isList {
		vals = []any{v}
	}
	switch vr {
	case "SQ":
		for i, it := range vals {
			item := Dataset{}
			if m, ok := it.(map[string]any); ok {
				c.dataset(m, fmt.Sprintf("%s.%d", path, i), item)
			}
			e.Value = append(e.Value, item)
		}
	case "PN":
		for _, x := range vals {
			s := metadoc.Text(x)
			if s == "" {
				e.Value = append(e.Value, map[string]string{})
				continue
			}
			groups := strings.SplitN(s, "=", 3)
			pn := map[string]string{}
			for i, name := range []string{"Alphabetic", "Ideographic", "Phonetic"} {
				if i < len(groups) && groups[i] != "" {
					pn[name] = groups[i]
				}
			}
			e.Value = append(e.Value, pn)
		}
	case "OB", "OD", "OF", "OL", "OV", "OW", "UN":
		s, _ := v.(string)
		if c.bulk != nil && base64.StdEncoding.DecodedLen(len(s)) > BulkThreshold {
			e.BulkDataURI = c.bulk(path)
		} else {
			e.InlineBinary = s
		}
	case "DS", "IS":
		for _, x := range vals {
			e.Value = append(e.Value, number(metadoc.Text(x)))
		}
	case "US", "SS", "UL", "SL", "FL", "FD", "SV", "UV":
		for _, x := range vals {
			switch n := x.(type) {
			case json.Number:
				e.Value = append(e.Value, n)
			case string: // NaN and infinities
				e.Value = append(e.Value, n)
			default:
				e.Value = append(e.Value, x)
			}
		}
	default:
		if !isList && (vr == "LT" || vr == "ST" || vr == "UT" || vr == "UR") {
			e.Value = []any{metadoc.Text(v)}
			if s, ok := v.(string); ok {
				e.Value = []any{strings.TrimRight(s, " ")}
			}
			break
		}
		for _, x := range vals {
			if x == nil {
				e.Value = append(e.Value, nil)
				continue
			}
			s := fmt.Sprint(x)
			if vr != "UC" && vr != "LT" && vr != "ST" && vr != "UT" {
				s = strings.TrimSpace(s)
			}
			e.Value = append(e.Value, s)
		}
	}
	return e
}

// number returns a DS or IS value as a JSON number, or nil when empty.
func number(s string) any {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if json.Valid([]byte(s)) {
			return json.Number(s)
		}
		return f
	}
	return s
}

// instanceJSON converts one instance of a document (its levels merged, as
// WADO-RS metadata returns them).
func instanceJSON(levels [3]map[string]any, in *metadoc.Instance, bulk func(string) string) Dataset {
	c := &converter{vrs: in.DICOMVRs, bulk: bulk}
	if metadoc.Text(in.DICOM["PixelRepresentation"]) == "1" {
		c.signedPx = true
	}
	out := Dataset{}
	for _, l := range levels {
		c.dataset(l, "", out)
	}
	c.dataset(in.DICOM, "", out)
	ts := in.StoredTransferSyntaxUID
	if ts == "" {
		ts = "1.2.840.10008.1.2.4.202"
	}
	out["00020010"] = &Element{VR: "UI", Value: []any{ts}}
	return out
}

// levelsJSON converts Patient, Study and Series levels only (QIDO results).
func levelsJSON(levels [3]map[string]any) Dataset {
	c := &converter{}
	out := Dataset{}
	for _, l := range levels {
		c.dataset(l, "", out)
	}
	return out
}

// lookupPath finds the metadata value at a bulk data path of an instance.
func lookupPath(levels [3]map[string]any, in *metadoc.Instance, path string) (any, bool) {
	parts := strings.Split(path, ".")
	maps := append(levels[:], in.DICOM)
	var cur any
	found := false
	for _, m := range maps {
		if v, ok := findTag(m, parts[0]); ok {
			cur, found = v, true
		}
	}
	if !found {
		return nil, false
	}
	for i := 1; i+1 < len(parts); i += 2 {
		idx, err := strconv.Atoi(parts[i])
		l, ok := cur.([]any)
		if err != nil || !ok || idx < 0 || idx >= len(l) {
			return nil, false
		}
		m, ok := l[idx].(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = findTag(m, parts[i+1]); !ok {
			return nil, false
		}
	}
	return cur, true
}

func findTag(m map[string]any, tag string) (any, bool) {
	if v, ok := m[tag]; ok {
		return v, true
	}
	n, err := strconv.ParseUint(tag, 16, 32)
	if err != nil || len(tag) != 8 {
		return nil, false
	}
	for k, v := range m {
		if a, ok := dicom.LookupAttribute(k); ok && a.Tag == uint32(n) {
			return v, true
		}
	}
	return nil, false
}

// filter keeps only the given tags of a dataset (nil keeps everything).
func (d Dataset) filter(keep map[string]bool) Dataset {
	if keep == nil {
		return d
	}
	out := Dataset{}
	for t, e := range d {
		if keep[t] {
			out[t] = e
		}
	}
	return out
}

// sortedTags lists a dataset's tags in order.
func (d Dataset) sortedTags() []string {
	tags := make([]string, 0, len(d))
	for t := range d {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	return tags
}
