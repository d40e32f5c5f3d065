package dicom

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// EncodeDataset returns the instance's data set without its file meta
// information, its top-level pixel data and extended offset table, encoded
// in explicit VR little endian with defined lengths: every other element,
// private ones and sequences included, with the value bytes as read
// (big endian values swapped; pixel data nested in sequences, such as icon
// images, read from Source). Implicit VR elements take the dictionary's VR
// (UN when it has none); a value too long for its VR's 16-bit length
// becomes UN. Together with the frames it is the whole original file.
func (in *Instance) EncodeDataset() ([]byte, error) {
	var b bytes.Buffer
	for _, e := range in.elems {
		switch {
		case e.tag>>16 == 0x0002, e.tag == tagExtendedOffsetTable, e.tag == tagExtendedOffsetLengths:
			continue
		case e.pixel && (e.tag == tagPixelData || e.tag == tagFloatPixelData || e.tag == tagDoubleFloatPixelData):
			continue
		}
		if err := encodeElement(&b, e, in.Source); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// swapWord is the byte-swap unit of a VR's values in big endian files.
var swapWord = map[string]int{"US": 2, "SS": 2, "OW": 2, "AT": 2, "UL": 4, "SL": 4, "FL": 4, "OF": 4, "OL": 4,
	"FD": 8, "OD": 8, "SV": 8, "UV": 8, "OV": 8}

// WriteElementHeader writes an explicit VR little endian element header
// (tag, VR, length; length 0xFFFFFFFF for undefined).
func WriteElementHeader(w *bytes.Buffer, tag uint32, vr string, length uint32) {
	var h [12]byte
	binary.LittleEndian.PutUint16(h[0:], uint16(tag>>16))
	binary.LittleEndian.PutUint16(h[2:], uint16(tag))
	h[4], h[5] = vr[0], vr[1]
	if longVR(vr) {
		binary.LittleEndian.PutUint32(h[8:], length)
		w.Write(h[:12])
		return
	}
	binary.LittleEndian.PutUint16(h[6:], uint16(length))
	w.Write(h[:8])
}

// writeItemHeader writes a little endian item tag (FFFE,E000) with a
// defined length.
func writeItemHeader(w *bytes.Buffer, length uint32) {
	var h [8]byte
	binary.LittleEndian.PutUint16(h[0:], 0xFFFE)
	binary.LittleEndian.PutUint16(h[2:], 0xE000)
	binary.LittleEndian.PutUint32(h[4:], length)
	w.Write(h[:])
}

// LongVR reports whether an explicit VR has a 32-bit length.
func LongVR(vr string) bool { return longVR(vr) }

func encodeElement(b *bytes.Buffer, e *element, src io.ReaderAt) error {
	if e.seq {
		var body bytes.Buffer
		for _, it := range e.items {
			var ib bytes.Buffer
			for _, sub := range it.elems {
				if err := encodeElement(&ib, sub, src); err != nil {
					return err
				}
			}
			writeItemHeader(&body, uint32(ib.Len()))
			body.Write(ib.Bytes())
		}
		WriteElementHeader(b, e.tag, "SQ", uint32(body.Len()))
		b.Write(body.Bytes())
		return nil
	}
	vr := e.vr
	if len(vr) != 2 || vr == "SQ" {
		vr = "UN"
	}
	value := e.value
	if e.pixel {
		// Pixel data inside a sequence (an icon image): its value was only
		// located, so read it now.
		if e.length < 0 {
			return encodeFragments(b, e, vr, src)
		}
		value = make([]byte, e.length)
		if _, err := src.ReadAt(value, e.offset); err != nil {
			return fmt.Errorf("read %s: %w", tagString(e.tag), err)
		}
	}
	if sz := swapWord[vr]; e.bigEndian && sz > 0 {
		value = swapBytes(value, sz)
	}
	if !longVR(vr) && len(value) > 0xFFFF {
		vr = "UN"
	}
	WriteElementHeader(b, e.tag, vr, uint32(len(value)))
	b.Write(value)
	return nil
}

// encodeFragments writes encapsulated nested pixel data as it was: an
// undefined length element with its fragment items.
func encodeFragments(b *bytes.Buffer, e *element, vr string, src io.ReaderAt) error {
	if vr != "OB" && vr != "OW" {
		vr = "OB"
	}
	WriteElementHeader(b, e.tag, vr, 0xFFFFFFFF)
	for _, f := range e.frags {
		v := make([]byte, f.Length)
		if _, err := src.ReadAt(v, f.Offset); err != nil {
			return fmt.Errorf("read %s: %w", tagString(e.tag), err)
		}
		writeItemHeader(b, uint32(len(v)))
		b.Write(v)
	}
	b.Write([]byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0})
	return nil
}

// ReadDataset parses a data set that EncodeDataset produced and returns
// its normalized metadata (all levels merged, keyed as in Instance) and
// the VR of each top-level key.
func ReadDataset(ds []byte, sopClassUID, sopInstanceUID string) (map[string]any, map[string]string, error) {
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	var meta bytes.Buffer
	for _, e := range []struct {
		tag uint32
		v   string
	}{{0x00020002, sopClassUID}, {0x00020003, sopInstanceUID}, {0x00020010, "1.2.840.10008.1.2.1"}} {
		v := []byte(e.v)
		if len(v)%2 == 1 {
			v = append(v, 0)
		}
		WriteElementHeader(&meta, e.tag, "UI", uint32(len(v)))
		meta.Write(v)
	}
	b.Write(meta.Bytes())
	b.Write(ds)
	in, err := Read(bytes.NewReader(b.Bytes()), int64(b.Len()), Options{})
	if err != nil {
		return nil, nil, err
	}
	defer in.Close()
	out := map[string]any{}
	for _, l := range []map[string]any{in.Patient, in.Study, in.Series, in.Instance} {
		for k, v := range l {
			out[k] = v
		}
	}
	for _, k := range []string{"MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID"} {
		delete(out, k)
	}
	vrs := map[string]string{}
	n := &normalizer{}
	for _, e := range in.elems {
		vrs[n.key(e)] = e.vr
		if e.seq {
			vrs[n.key(e)] = "SQ"
		}
	}
	return out, vrs, nil
}
