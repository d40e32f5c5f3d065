package dicomweb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/openhealthimaging/ohi/dicom"
)

// ImplementationClassUID and ImplementationVersionName identify ohi in
// the file meta information of the files it writes.
const (
	ImplementationClassUID    = "1.2.826.0.1.3680043.10.1543.1"
	ImplementationVersionName = "OHI_DICOMWEB"
)

// part10 writes a DICOM Part 10 file: a new file meta group, the stored
// data set (explicit VR little endian, defined lengths, no pixel data)
// with some elements replaced, and the pixel data where its tag belongs.
type part10 struct {
	sopClassUID, sopInstanceUID, transferSyntax string
	header                                      []byte
	// replace holds complete encoded elements that replace (or add) the
	// element of their tag; a nil value removes it.
	replace  map[uint32][]byte
	pixelTag uint32
	pixel    func(w io.Writer) error // writes the whole pixel data element; nil when none
	// unencodable are the metadata keys whose current value its VR
	// cannot hold: kept as stored (or left out when new), and logged.
	unencodable []string
}

// errHeader reports a stored data set that does not parse.
var errHeader = errors.New("stored data set is malformed")

// headerElements splits an encoded data set into its top-level elements.
func headerElements(b []byte) ([]uint32, [][]byte, error) {
	var tags []uint32
	var elems [][]byte
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return nil, nil, errHeader
		}
		tag := uint32(binary.LittleEndian.Uint16(b[off:]))<<16 | uint32(binary.LittleEndian.Uint16(b[off+2:]))
		vr := string(b[off+4 : off+6])
		var n, hdr int
		if dicom.LongVR(vr) {
			if len(b)-off < 12 {
				return nil, nil, errHeader
			}
			l := binary.LittleEndian.Uint32(b[off+8:])
			if l == 0xFFFFFFFF {
				return nil, nil, errHeader
			}
			n, hdr = int(l), 12
		} else {
			n, hdr = int(binary.LittleEndian.Uint16(b[off+6:])), 8
		}
		end := off + hdr + n
		if n < 0 || end > len(b) {
			return nil, nil, errHeader
		}
		tags = append(tags, tag)
		elems = append(elems, b[off:end])
		off = end
	}
	return tags, elems, nil
}

// encodeText encodes a text element, padded to even length.
func encodeText(tag uint32, vr, s string) []byte {
	v := []byte(s)
	if len(v)%2 == 1 {
		if vr == "UI" {
			v = append(v, 0)
		} else {
			v = append(v, ' ')
		}
	}
	var b bytes.Buffer
	dicom.WriteElementHeader(&b, tag, vr, uint32(len(v)))
	b.Write(v)
	return b.Bytes()
}

// encodeUS encodes a US element of one value.
func encodeUS(tag uint32, v uint16) []byte {
	var b bytes.Buffer
	dicom.WriteElementHeader(&b, tag, "US", 2)
	_ = binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

func (p *part10) metaGroup() []byte {
	var body bytes.Buffer
	dicom.WriteElementHeader(&body, 0x00020001, "OB", 2)
	body.Write([]byte{0, 1})
	for _, e := range []struct {
		tag uint32
		vr  string
		v   string
	}{
		{0x00020002, "UI", p.sopClassUID}, {0x00020003, "UI", p.sopInstanceUID}, {0x00020010, "UI", p.transferSyntax},
		{0x00020012, "UI", ImplementationClassUID}, {0x00020013, "SH", ImplementationVersionName},
	} {
		body.Write(encodeText(e.tag, e.vr, e.v))
	}
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	dicom.WriteElementHeader(&b, 0x00020000, "UL", 4)
	_ = binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

// WriteTo writes the file.
func (p *part10) WriteTo(w io.Writer) (int64, error) {
	tags, elems, err := headerElements(p.header)
	if err != nil {
		return 0, err
	}
	type entry struct {
		tag uint32
		raw []byte
	}
	list := make([]entry, 0, len(tags)+len(p.replace))
	seen := map[uint32]bool{}
	for i, t := range tags {
		raw := elems[i]
		if r, ok := p.replace[t]; ok {
			raw = r
		}
		seen[t] = true
		list = append(list, entry{t, raw})
	}
	for t, r := range p.replace {
		if !seen[t] {
			list = append(list, entry{t, r})
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].tag < list[j].tag })
	cw := &countWriter{w: w}
	if _, err := cw.Write(p.metaGroup()); err != nil {
		return cw.n, err
	}
	pixelDone := p.pixel == nil
	for _, e := range list {
		if !pixelDone && e.tag > p.pixelTag {
			pixelDone = true
			if err := p.pixel(cw); err != nil {
				return cw.n, err
			}
		}
		if e.raw == nil || (e.tag == p.pixelTag && p.pixel != nil) {
			continue
		}
		if _, err := cw.Write(e.raw); err != nil {
			return cw.n, err
		}
	}
	if !pixelDone {
		if err := p.pixel(cw); err != nil {
			return cw.n, err
		}
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// writeEncapsulatedPixels writes pixel data of an encapsulated transfer
// syntax: an empty basic offset table and one fragment per frame.
func writeEncapsulatedPixels(w io.Writer, tag uint32, frames int, frame func(i int) (io.ReadCloser, int64, error)) error {
	var b bytes.Buffer
	dicom.WriteElementHeader(&b, tag, "OB", 0xFFFFFFFF)
	b.Write([]byte{0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0})
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	for i := range frames {
		r, size, err := frame(i)
		if err != nil {
			return err
		}
		pad := size % 2
		var h [8]byte
		binary.LittleEndian.PutUint16(h[0:], 0xFFFE)
		binary.LittleEndian.PutUint16(h[2:], 0xE000)
		binary.LittleEndian.PutUint32(h[4:], uint32(size+pad))
		if _, err := w.Write(h[:]); err != nil {
			r.Close()
			return err
		}
		n, err := io.Copy(w, io.LimitReader(r, size))
		r.Close()
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("frame %d: %d of %d bytes", i+1, n, size)
		}
		if pad == 1 {
			if _, err := w.Write([]byte{0}); err != nil {
				return err
			}
		}
	}
	_, err := w.Write([]byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0})
	return err
}
