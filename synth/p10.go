package synth

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// Transfer syntax UIDs the writer can produce.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	EncapsulatedUncompressedLE     = "1.2.840.10008.1.2.1.98"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian            = "1.2.840.10008.1.2.2"
	// HTJ2KLosslessRPCL frames are encoded with package codec (one fragment
	// per frame, with a Basic Offset Table).
	HTJ2KLosslessRPCL = "1.2.840.10008.1.2.4.202"
)

// ImplementationClassUID identifies files written by this package.
const ImplementationClassUID = "1.2.826.0.1.3680043.10.1452.1"

// Element is one data element to write. Value is one of: nil (empty),
// string (text; several values already joined with `\`), []string, int,
// []int (US, SS, UL, SL, SV, UV, AT), float64, []float64 (FL, FD, or text
// VRs DS), []byte (OB, OW, UN and other binary VRs, written as given),
// []DataSet (SQ) or Encapsulated (pixel data).
type Element struct {
	Tag   uint32
	VR    string
	Value any
}

// DataSet is a list of elements; it is written in tag order.
type DataSet []Element

// Encapsulated is encapsulated pixel data: Frames[i] is the list of
// fragments of frame i. BOT fills the Basic Offset Table.
type Encapsulated struct {
	Frames [][][]byte
	BOT    bool
}

// Encoding selects how a data set is written.
type Encoding struct {
	Implicit  bool // implicit VR little endian
	BigEndian bool // explicit VR big endian
	Deflate   bool // raw-deflate the data set (Deflated Explicit VR LE)
	// UndefinedLengths writes sequences and items with undefined lengths and
	// delimiters instead of explicit lengths.
	UndefinedLengths bool
}

// encodingFor returns the data set encoding of a transfer syntax.
func encodingFor(ts string) Encoding {
	switch ts {
	case ImplicitVRLittleEndian:
		return Encoding{Implicit: true}
	case ExplicitVRBigEndian:
		return Encoding{BigEndian: true}
	case DeflatedExplicitVRLittleEndian:
		return Encoding{Deflate: true}
	}
	return Encoding{}
}

// WriteP10 writes a Part-10 file: preamble, DICM, file meta group and ds
// encoded for the transfer syntax ts (implicit or explicit VR, byte order
// and deflate follow ts; any other UID is written as explicit VR little
// endian, for encapsulated data). sopClass and sopInstance fill the media
// storage UIDs. undefinedLengths writes sequences and items with undefined
// lengths.
func WriteP10(w io.Writer, ds DataSet, sopClass, sopInstance, ts string, undefinedLengths bool) error {
	enc := encodingFor(ts)
	enc.UndefinedLengths = undefinedLengths
	body, err := Marshal(ds, enc)
	if err != nil {
		return err
	}
	if enc.Deflate {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.DefaultCompression)
		fw.Write(body)
		fw.Close()
		body = b.Bytes()
	}
	if _, err := w.Write(FileMeta(sopClass, sopInstance, ts)); err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

// FileMeta returns the 128-byte preamble, "DICM" and the file meta group.
func FileMeta(sopClass, sopInstance, ts string) []byte {
	meta, _ := Marshal(DataSet{
		{0x00020001, "OB", []byte{0, 1}},
		{0x00020002, "UI", sopClass},
		{0x00020003, "UI", sopInstance},
		{0x00020010, "UI", ts},
		{0x00020012, "UI", ImplementationClassUID},
		{0x00020013, "SH", "OHI_SYNTH"},
	}, Encoding{})
	out := make([]byte, 128, 128+4+12+len(meta))
	out = append(out, "DICM"...)
	gl, _ := Marshal(DataSet{{0x00020000, "UL", len(meta)}}, Encoding{})
	out = append(out, gl...)
	return append(out, meta...)
}

// Marshal encodes ds (without file meta) in enc (Deflate is ignored).
func Marshal(ds DataSet, enc Encoding) ([]byte, error) {
	e := encoder{enc: enc}
	if enc.BigEndian {
		e.bo = binary.BigEndian
	} else {
		e.bo = binary.LittleEndian
	}
	if err := e.dataset(ds); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// byteOrder is a byte order that can also append.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type encoder struct {
	enc Encoding
	bo  byteOrder
	buf []byte
}

func (e *encoder) u16(v uint16) { e.buf = e.bo.AppendUint16(e.buf, v) }
func (e *encoder) u32(v uint32) { e.buf = e.bo.AppendUint32(e.buf, v) }
func (e *encoder) tag(t uint32) { e.u16(uint16(t >> 16)); e.u16(uint16(t)) }

func (e *encoder) dataset(ds DataSet) error {
	sorted := make(DataSet, len(ds))
	copy(sorted, ds)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Tag < sorted[j].Tag })
	for _, el := range sorted {
		if err := e.element(el); err != nil {
			return err
		}
	}
	return nil
}

func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV":
		return true
	}
	return false
}

// header writes the tag, VR and length fields.
func (e *encoder) header(t uint32, vr string, length uint32) {
	e.tag(t)
	if e.enc.Implicit && t>>16 != 0x0002 {
		e.u32(length)
		return
	}
	e.buf = append(e.buf, vr...)
	if longVR(vr) {
		e.u16(0)
		e.u32(length)
		return
	}
	e.u16(uint16(length))
}

func (e *encoder) element(el Element) error {
	switch v := el.Value.(type) {
	case []DataSet:
		return e.sequence(el.Tag, v)
	case Encapsulated:
		return e.encapsulated(el.Tag, v)
	}
	val, err := e.value(el)
	if err != nil {
		return fmt.Errorf("element (%04X,%04X): %w", el.Tag>>16, el.Tag&0xFFFF, err)
	}
	if !longVR(el.VR) && len(val) > 0xFFFF && !(e.enc.Implicit && el.Tag>>16 != 0x0002) {
		return fmt.Errorf("element (%04X,%04X): %d bytes is too long for VR %s", el.Tag>>16, el.Tag&0xFFFF, len(val), el.VR)
	}
	e.header(el.Tag, el.VR, uint32(len(val)))
	e.buf = append(e.buf, val...)
	return nil
}

// value encodes an element value, padded to even length.
func (e *encoder) value(el Element) ([]byte, error) {
	var b []byte
	switch v := el.Value.(type) {
	case nil:
		return nil, nil
	case string:
		b = []byte(v)
	case []string:
		b = []byte(strings.Join(v, `\`))
	case []byte:
		b = v
	case int:
		return e.ints(el.VR, []int{v})
	case []int:
		return e.ints(el.VR, v)
	case float64:
		return e.floats(el.VR, []float64{v})
	case []float64:
		return e.floats(el.VR, v)
	default:
		return nil, fmt.Errorf("unsupported value type %T", el.Value)
	}
	if len(b)%2 == 1 {
		pad := byte(' ')
		switch el.VR {
		case "UI", "OB", "UN":
			pad = 0
		}
		b = append(b[:len(b):len(b)], pad)
	}
	return b, nil
}

func (e *encoder) ints(vr string, vs []int) ([]byte, error) {
	var b []byte
	for _, v := range vs {
		switch vr {
		case "US", "SS":
			b = e.bo.AppendUint16(b, uint16(v))
		case "UL", "SL":
			b = e.bo.AppendUint32(b, uint32(v))
		case "SV", "UV":
			b = e.bo.AppendUint64(b, uint64(v))
		case "AT":
			b = e.bo.AppendUint16(b, uint16(v>>16))
			b = e.bo.AppendUint16(b, uint16(v))
		case "IS":
			if len(b) > 0 {
				b = append(b, '\\')
			}
			b = fmt.Appendf(b, "%d", v)
		default:
			return nil, fmt.Errorf("int value for VR %s", vr)
		}
	}
	if len(b)%2 == 1 {
		b = append(b, ' ')
	}
	return b, nil
}

func (e *encoder) floats(vr string, vs []float64) ([]byte, error) {
	var b []byte
	for _, v := range vs {
		switch vr {
		case "FL", "OF":
			b = e.bo.AppendUint32(b, math.Float32bits(float32(v)))
		case "FD", "OD":
			b = e.bo.AppendUint64(b, math.Float64bits(v))
		case "DS":
			if len(b) > 0 {
				b = append(b, '\\')
			}
			b = fmt.Appendf(b, "%g", v)
		default:
			return nil, fmt.Errorf("float value for VR %s", vr)
		}
	}
	if len(b)%2 == 1 {
		b = append(b, ' ')
	}
	return b, nil
}

const undefined = 0xFFFFFFFF

func (e *encoder) sequence(t uint32, items []DataSet) error {
	if e.enc.UndefinedLengths {
		e.header(t, "SQ", undefined)
		for _, it := range items {
			e.tag(0xFFFEE000)
			e.u32(undefined)
			if err := e.dataset(it); err != nil {
				return err
			}
			e.tag(0xFFFEE00D)
			e.u32(0)
		}
		e.tag(0xFFFEE0DD)
		e.u32(0)
		return nil
	}
	sub := encoder{enc: e.enc, bo: e.bo}
	for _, it := range items {
		inner := encoder{enc: e.enc, bo: e.bo}
		if err := inner.dataset(it); err != nil {
			return err
		}
		sub.tag(0xFFFEE000)
		sub.u32(uint32(len(inner.buf)))
		sub.buf = append(sub.buf, inner.buf...)
	}
	e.header(t, "SQ", uint32(len(sub.buf)))
	e.buf = append(e.buf, sub.buf...)
	return nil
}

func (e *encoder) encapsulated(t uint32, px Encapsulated) error {
	e.header(t, "OB", undefined)
	var offsets []uint32
	var frags []byte
	for _, frame := range px.Frames {
		offsets = append(offsets, uint32(len(frags)))
		for _, f := range frame {
			n := len(f) + len(f)%2
			frags = e.bo.AppendUint16(frags, 0xFFFE)
			frags = e.bo.AppendUint16(frags, 0xE000)
			frags = e.bo.AppendUint32(frags, uint32(n))
			frags = append(frags, f...)
			if len(f)%2 == 1 {
				frags = append(frags, 0)
			}
		}
	}
	e.tag(0xFFFEE000)
	if px.BOT {
		e.u32(uint32(4 * len(offsets)))
		for _, o := range offsets {
			e.u32(o)
		}
	} else {
		e.u32(0)
	}
	e.buf = append(e.buf, frags...)
	e.tag(0xFFFEE0DD)
	e.u32(0)
	return nil
}

// ExtendedOffsetTable returns the (7FE0,0001) and (7FE0,0002) elements
// describing single-fragment frames, as written by the encoder for px.
func ExtendedOffsetTable(frames [][]byte) []Element {
	var offs, lens []byte
	var pos uint64
	for _, f := range frames {
		offs = binary.LittleEndian.AppendUint64(offs, pos)
		lens = binary.LittleEndian.AppendUint64(lens, uint64(len(f)))
		pos += 8 + uint64(len(f)+len(f)%2)
	}
	return []Element{{0x7FE00001, "OV", offs}, {0x7FE00002, "OV", lens}}
}
