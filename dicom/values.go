package dicom

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// normalizer converts parsed elements into AHI metadata values.
type normalizer struct {
	text *textDecoder
	vrs  map[string]string // DICOMVRs of private and unknown tags
}

// key returns the metadata key of e and records the VR of keyless tags.
func (n *normalizer) key(e *element) string {
	if d, ok := lookup(e.tag); ok && d.keyword != "" {
		return d.keyword
	}
	k := hexTag(e.tag)
	if n.vrs != nil {
		n.vrs[k] = e.vr
	}
	return k
}

// dataset converts the elements of a sequence item.
func (n *normalizer) dataset(elems []*element) map[string]any {
	sub := n
	for _, e := range elems {
		if e.tag == tagSpecificCharacterSet && len(e.value) > 0 {
			td, _ := newTextDecoder(e.value)
			sub = &normalizer{text: td, vrs: n.vrs}
		}
	}
	m := make(map[string]any, len(elems))
	for _, e := range elems {
		m[sub.key(e)] = sub.value(e)
	}
	return m
}

// textVRs are the VRs encoded as JSON strings; charsetVRs are those whose
// text is in the Specific Character Set.
var (
	textVRs    = map[string]bool{"AE": true, "AS": true, "CS": true, "DA": true, "DS": true, "DT": true, "IS": true, "LO": true, "LT": true, "PN": true, "SH": true, "ST": true, "TM": true, "UC": true, "UI": true, "UR": true, "UT": true}
	charsetVRs = map[string]bool{"LO": true, "LT": true, "PN": true, "SH": true, "ST": true, "UC": true, "UT": true}
	singleVRs  = map[string]bool{"LT": true, "ST": true, "UT": true, "UR": true}
	numberSize = map[string]int{"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "SV": 8, "UV": 8, "AT": 4}
	swapSize   = map[string]int{"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
)

// value converts one element to its AHI JSON value.
func (n *normalizer) value(e *element) any {
	if e.pixel {
		return nil
	}
	if e.seq {
		if len(e.items) == 0 {
			return nil
		}
		out := make([]any, len(e.items))
		for i, it := range e.items {
			out[i] = n.dataset(it.elems)
		}
		return out
	}
	if len(e.value) == 0 {
		return nil
	}
	d, known := lookup(e.tag)
	vr := e.vr
	if vr == "UN" && known && d.vrs[0] != "UN" && d.vrs[0] != "SQ" {
		vr = d.vrs[0] // PS3.5 6.2.2: reinterpret UN of a known tag
	}
	multi := d.multi
	var bo binary.ByteOrder = binary.LittleEndian
	if e.bigEndian {
		bo = binary.BigEndian
	}
	switch {
	case textVRs[vr]:
		var s string
		if charsetVRs[vr] {
			s = n.text.decode(e.value)
		} else {
			s = validText(e.value)
		}
		s = strings.TrimRight(s, "\x00")
		if s == "" {
			return nil
		}
		if singleVRs[vr] || !(multi || (!known && strings.Contains(s, `\`))) {
			return s
		}
		parts := strings.Split(s, `\`)
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out
	case numberSize[vr] > 0:
		size := numberSize[vr]
		count := len(e.value) / size
		if count == 0 {
			return nil
		}
		vals := make([]any, count)
		for i := range vals {
			vals[i] = number(vr, e.value[i*size:], bo)
		}
		if count == 1 && !multi {
			return vals[0]
		}
		return vals
	default:
		b := e.value
		if sz := swapSize[vr]; e.bigEndian && sz > 0 {
			b = swapBytes(b, sz)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
}

// number decodes one binary value of vr from b.
func number(vr string, b []byte, bo binary.ByteOrder) any {
	switch vr {
	case "US":
		return int64(bo.Uint16(b))
	case "SS":
		return int64(int16(bo.Uint16(b)))
	case "UL":
		return int64(bo.Uint32(b))
	case "SL":
		return int64(int32(bo.Uint32(b)))
	case "SV":
		return int64(bo.Uint64(b))
	case "UV":
		return bo.Uint64(b)
	case "AT":
		return fmt.Sprintf("%04X%04X", bo.Uint16(b), bo.Uint16(b[2:]))
	case "FL":
		return float(float64(math.Float32frombits(bo.Uint32(b))), 32)
	default: // FD
		return float(math.Float64frombits(bo.Uint64(b)), 64)
	}
}

// float returns f as a JSON-friendly value: FL values are widened through
// their shortest decimal form (0.1 stays 0.1); non-finite values become
// strings because JSON has no numbers for them.
func float(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if bits == 32 {
		f, _ = strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 32), 64)
	}
	return f
}

// swapBytes returns a copy of b with every size-byte word reversed.
func swapBytes(b []byte, size int) []byte {
	out := bytes.Clone(b)
	for i := 0; i+size <= len(out); i += size {
		w := out[i : i+size]
		for l, r := 0, size-1; l < r; l, r = l+1, r-1 {
			w[l], w[r] = w[r], w[l]
		}
	}
	return out
}
