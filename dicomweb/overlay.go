package dicomweb

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/metadoc"
	"github.com/openhealthimaging/ohi/service"
)

// overlay makes a stored data set agree with the image set's current
// metadata: UpdateImageSetMetadata (and copies with force) change the
// document, not the stored data set. Elements whose value in the document
// differs from the stored one are encoded again from the document,
// elements the document no longer has are removed, and elements it added
// are appended; everything else keeps its stored bytes.
func overlay(p *part10, di *service.DICOMInstance) error {
	stored, vrs := map[string]any{}, map[string]string{}
	if len(p.header) > 0 {
		var err error
		if stored, vrs, err = dicom.ReadDataset(p.header, p.sopClassUID, p.sopInstanceUID); err != nil {
			return fmt.Errorf("the stored data set of instance %s: %w", p.sopInstanceUID, err)
		}
	}
	current := map[string]any{}
	for _, l := range di.Levels() {
		for k, v := range l {
			current[k] = v
		}
	}
	for k, v := range di.Instance.DICOM {
		current[k] = v
	}
	skip := map[string]bool{"MediaStorageSOPClassUID": true, "MediaStorageSOPInstanceUID": true, "TransferSyntaxUID": true,
		"FileMetaInformationGroupLength": true, "FileMetaInformationVersion": true, "ImplementationClassUID": true,
		"ImplementationVersionName": true, "SourceApplicationEntityTitle": true, "SendingApplicationEntityTitle": true,
		"ReceivingApplicationEntityTitle": true, "PrivateInformationCreatorUID": true, "PrivateInformation": true,
		"SourcePresentationAddress": true, "SendingPresentationAddress": true, "ReceivingPresentationAddress": true,
		"PixelData": true, "FloatPixelData": true, "DoubleFloatPixelData": true, "ExtendedOffsetTable": true, "ExtendedOffsetTableLengths": true,
		"PhotometricInterpretation": true}
	enc := &encoder{vrs: di.Instance.DICOMVRs}
	for k, sv := range stored {
		if skip[k] {
			continue
		}
		a, ok := dicom.LookupAttribute(k)
		if !ok {
			continue
		}
		cv, present := current[k]
		if !present {
			p.replace[a.Tag] = nil
			continue
		}
		if sameValue(sv, cv) {
			continue
		}
		raw, err := enc.element(a.Tag, vrs[k], cv)
		if err != nil {
			// An updated value its VR cannot hold (a word in a US, say):
			// the file keeps the value as received rather than failing.
			p.unencodable = append(p.unencodable, k)
			continue
		}
		p.replace[a.Tag] = raw
	}
	if len(p.header) == 0 {
		current["SpecificCharacterSet"] = "ISO_IR 192" // the document's text is UTF-8
		if photo, ok := di.Instance.DICOM["PhotometricInterpretation"]; ok {
			current["PhotometricInterpretation"] = photo
		}
		delete(skip, "PhotometricInterpretation")
	}
	for k, cv := range current {
		if skip[k] {
			continue
		}
		if _, ok := stored[k]; ok {
			continue
		}
		a, ok := dicom.LookupAttribute(k)
		if !ok || a.Tag>>16 == 0x0002 {
			continue
		}
		raw, err := enc.element(a.Tag, "", cv)
		if err != nil {
			p.unencodable = append(p.unencodable, k) // left out, as above
			continue
		}
		p.replace[a.Tag] = raw
	}
	return nil
}

// sameValue compares two metadata values by their JSON.
func sameValue(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// encoder writes metadata values as explicit VR little endian elements.
type encoder struct {
	vrs map[string]string
}

// vrOf picks the VR of a tag: the given one, the instance's DICOMVRs, or
// the dictionary's.
func (e *encoder) vrOf(tag uint32, vr string, v any) string {
	if vr != "" {
		return vr
	}
	key := fmt.Sprintf("%08X", tag)
	if x := e.vrs[key]; x != "" {
		return x
	}
	if a, ok := dicom.LookupAttribute(key); ok && len(a.VRs) > 0 {
		return a.VRs[0]
	}
	if l, ok := v.([]any); ok && len(l) > 0 {
		if _, isMap := l[0].(map[string]any); isMap {
			return "SQ"
		}
	}
	return "UN"
}

func (e *encoder) element(tag uint32, vr string, v any) ([]byte, error) {
	vr = e.vrOf(tag, vr, v)
	var b bytes.Buffer
	if vr == "SQ" {
		var body bytes.Buffer
		items, _ := v.([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			var ib bytes.Buffer
			keys := sortedKeys(m)
			for _, k := range keys {
				a, ok := dicom.LookupAttribute(k)
				if !ok {
					continue
				}
				raw, err := e.element(a.Tag, "", m[k])
				if err != nil {
					return nil, err
				}
				ib.Write(raw)
			}
			var h [8]byte
			binary.LittleEndian.PutUint16(h[0:], 0xFFFE)
			binary.LittleEndian.PutUint16(h[2:], 0xE000)
			binary.LittleEndian.PutUint32(h[4:], uint32(ib.Len()))
			body.Write(h[:])
			body.Write(ib.Bytes())
		}
		dicom.WriteElementHeader(&b, tag, "SQ", uint32(body.Len()))
		b.Write(body.Bytes())
		return b.Bytes(), nil
	}
	val, err := encodeValue(vr, v)
	if err != nil {
		return nil, fmt.Errorf("encode (%04X,%04X): %w", tag>>16, tag&0xFFFF, err)
	}
	if !dicom.LongVR(vr) && len(val) > 0xFFFF {
		vr = "UN"
	}
	dicom.WriteElementHeader(&b, tag, vr, uint32(len(val)))
	b.Write(val)
	return b.Bytes(), nil
}

// sortedKeys orders metadata keys by tag.
func sortedKeys(m map[string]any) []string {
	type kt struct {
		k string
		t uint32
	}
	var list []kt
	for k := range m {
		a, _ := dicom.LookupAttribute(k)
		list = append(list, kt{k, a.Tag})
	}
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].t < list[j-1].t; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = x.k
	}
	return out
}

// encodeValue encodes one value of vr (even length).
func encodeValue(vr string, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	vals, isList := v.([]any)
	if !isList {
		vals = []any{v}
	}
	var b bytes.Buffer
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "UN":
		s, _ := v.(string)
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		b.Write(raw)
	case "US", "SS", "UL", "SL", "FL", "FD", "SV", "UV":
		for _, x := range vals {
			f, err := strconv.ParseFloat(metadoc.Text(x), 64)
			if err != nil {
				switch metadoc.Text(x) {
				case "NaN":
					f = math.NaN()
				case "Infinity":
					f = math.Inf(1)
				case "-Infinity":
					f = math.Inf(-1)
				default:
					return nil, fmt.Errorf("%q is not a number", metadoc.Text(x))
				}
			}
			switch vr {
			case "US":
				_ = binary.Write(&b, binary.LittleEndian, uint16(f))
			case "SS":
				_ = binary.Write(&b, binary.LittleEndian, int16(f))
			case "UL":
				_ = binary.Write(&b, binary.LittleEndian, uint32(f))
			case "SL":
				_ = binary.Write(&b, binary.LittleEndian, int32(f))
			case "FL":
				_ = binary.Write(&b, binary.LittleEndian, float32(f))
			case "FD":
				_ = binary.Write(&b, binary.LittleEndian, f)
			case "SV":
				n, _ := strconv.ParseInt(metadoc.Text(x), 10, 64)
				_ = binary.Write(&b, binary.LittleEndian, n)
			case "UV":
				n, _ := strconv.ParseUint(metadoc.Text(x), 10, 64)
				_ = binary.Write(&b, binary.LittleEndian, n)
			}
		}
	case "AT":
		for _, x := range vals {
			n, err := strconv.ParseUint(metadoc.Text(x), 16, 32)
			if err != nil {
				return nil, err
			}
			_ = binary.Write(&b, binary.LittleEndian, uint16(n>>16))
			_ = binary.Write(&b, binary.LittleEndian, uint16(n))
		}
	default:
		parts := make([]string, len(vals))
		for i, x := range vals {
			if x != nil {
				parts[i] = fmt.Sprint(x)
				if n, ok := x.(json.Number); ok {
					parts[i] = n.String()
				}
			}
		}
		b.WriteString(strings.Join(parts, `\`))
		if b.Len()%2 == 1 {
			if vr == "UI" {
				b.WriteByte(0)
			} else {
				b.WriteByte(' ')
			}
		}
	}
	if b.Len()%2 == 1 {
		b.WriteByte(0)
	}
	return b.Bytes(), nil
}
