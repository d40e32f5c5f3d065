package dicom

import (
	"encoding/binary"
	"errors"
)

// element is one parsed data element. Values of non-pixel elements are read
// (bounded by the budgets); pixel data is only located.
type element struct {
	tag       uint32
	vr        string
	value     []byte  // raw value bytes in the encoding's byte order
	items     []*item // SQ (or UN parsed as a sequence)
	seq       bool    // value is a sequence (items may be empty)
	bigEndian bool    // value bytes are big endian
	offset    int64   // value offset in the source
	length    int64   // value length, -1 when undefined
	pixel     bool    // pixel data: value not read
	frags     []Segment
}

type item struct{ elems []*element }

// dsEncoding is the VR mode and byte order of the data being parsed.
type dsEncoding struct {
	implicit bool
	bo       binary.ByteOrder
}

var (
	explicitLE = dsEncoding{implicit: false, bo: binary.LittleEndian}
	implicitLE = dsEncoding{implicit: true, bo: binary.LittleEndian}
)

type parser struct {
	c        *cursor
	opts     Options
	budget   int64
	pixelRep int // PixelRepresentation seen so far (implicit VR US/SS choice)
	warnings []Warning
}

// charge takes n bytes from the metadata budget.
func (p *parser) charge(n int64) error {
	p.budget -= n
	if p.budget < 0 {
		return errorf(CodeOversized, "metadata exceeds the budget of %d bytes", p.opts.MaxMetadataBytes)
	}
	return nil
}

func (p *parser) warn(code, format string, args ...any) {
	if len(p.warnings) < 32 {
		e := errorf(code, format, args...)
		p.warnings = append(p.warnings, Warning{Code: e.Code, Message: e.Reason})
	}
}

// truncated converts cursor errors into FileErrors.
func (p *parser) truncated(err error, what string) error {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe
	}
	if errors.Is(err, errTruncated) {
		return errorf(CodeTruncated, "file truncated while reading %s", what)
	}
	return errorf(CodeMalformed, "read error in %s: %v", what, err)
}

func isLetter(b byte) bool { return b >= 'A' && b <= 'Z' }

// longVR reports whether an explicit VR uses the 2 reserved bytes plus a
// 32-bit length. Unknown VRs are treated that way too.
func longVR(vr string) bool {
	switch vr {
	case "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US":
		return false
	}
	return true
}

// implicitVR picks the VR of t for implicit VR data.
func (p *parser) implicitVR(t uint32) string {
	d, ok := lookup(t)
	if !ok {
		return "UN"
	}
	vr := d.vrs[0]
	if len(d.vrs) > 1 {
		switch {
		case d.vrs[0] == "US" && d.vrs[1] == "SS" && p.pixelRep == 1:
			vr = "SS"
		case d.vrs[0] == "OB" && d.vrs[1] == "OW":
			vr = "OW"
		}
	}
	return vr
}

// readDataset reads elements until end (end >= 0) or until an item
// delimitation item (end < 0, an item of undefined length).
func (p *parser) readDataset(enc dsEncoding, end int64, depth int) ([]*element, error) {
	if depth > maxDepth {
		return nil, errorf(CodeMalformed, "sequences nested deeper than %d levels", maxDepth)
	}
	c := p.c
	c.bo = enc.bo
	var elems []*element
	for {
		if end >= 0 && c.pos >= end {
			if c.pos > end {
				return nil, errorf(CodeMalformed, "element overruns its item at offset %d", c.pos)
			}
			return elems, nil
		}
		if end < 0 && c.remaining() == 0 {
			return nil, errorf(CodeTruncated, "file ends inside an item of undefined length (missing item delimiter)")
		}
		if depth == 0 && p.trailingZeros() {
			return elems, nil
		}
		e, stop, err := p.readElement(enc, end, depth)
		if err != nil {
			return nil, err
		}
		c.bo = enc.bo
		if stop {
			return elems, nil
		}
		if e != nil {
			elems = append(elems, e)
		}
	}
}

// trailingZeros reports (and consumes) zero bytes that some writers leave
// after the last top-level element: a next tag of (0000,0000) or fewer than
// 8 bytes left, with nothing but zeros up to the end.
func (p *parser) trailingZeros() bool {
	c := p.c
	n := min(c.remaining(), 4)
	if b, err := c.peek(int(n)); err != nil || !allZero(b) {
		return false
	}
	for pos := c.pos; pos < c.end; {
		save := c.pos
		c.pos = pos
		m := min(c.end-pos, windowSize)
		b, err := c.peek(int(m))
		c.pos = save
		if err != nil || !allZero(b) {
			return false
		}
		pos += m
	}
	p.warn("TrailingPadding", "ignored %d trailing zero bytes", c.remaining())
	c.pos = c.end
	return true
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// readElement reads one element header and its value. stop is true when an
// item delimitation item ends the enclosing undefined-length item.
func (p *parser) readElement(enc dsEncoding, end int64, depth int) (*element, bool, error) {
	c := p.c
	start := c.pos
	hdr, err := c.next(4)
	if err != nil {
		return nil, false, p.truncated(err, "an element tag")
	}
	t := uint32(enc.bo.Uint16(hdr))<<16 | uint32(enc.bo.Uint16(hdr[2:]))
	switch t {
	case tagItemDelimitation, tagSequenceDelimitation:
		if _, err := c.u32(); err != nil {
			return nil, false, p.truncated(err, "a delimiter")
		}
		if t == tagItemDelimitation && end < 0 {
			return nil, true, nil
		}
		p.warn("StrayDelimiter", "ignored a stray delimitation item %s at offset %d", tagString(t), start)
		return nil, false, nil
	}
	if t>>16 == 0xFFFE {
		return nil, false, errorf(CodeMalformed, "unexpected item tag %s at offset %d outside a sequence", tagString(t), start)
	}
	if err := p.charge(elementOverhead); err != nil {
		return nil, false, err
	}
	e := &element{tag: t, bigEndian: enc.bo == binary.BigEndian}
	var length uint32
	if enc.implicit {
		e.vr = p.implicitVR(t)
		if length, err = c.u32(); err != nil {
			return nil, false, p.truncated(err, "the length of "+tagString(t))
		}
	} else {
		b, err := c.next(2)
		if err != nil {
			return nil, false, p.truncated(err, "the VR of "+tagString(t))
		}
		if !isLetter(b[0]) || !isLetter(b[1]) {
			return nil, false, errorf(CodeMalformed, "element %s at offset %d has an invalid VR %q", tagString(t), start, b)
		}
		e.vr = string(b)
		if longVR(e.vr) {
			if _, err := c.next(2); err != nil {
				return nil, false, p.truncated(err, "the length of "+tagString(t))
			}
			length, err = c.u32()
		} else {
			var l16 uint16
			l16, err = c.u16()
			length = uint32(l16)
		}
		if err != nil {
			return nil, false, p.truncated(err, "the length of "+tagString(t))
		}
	}
	e.offset = c.pos
	limit := c.remaining()
	if end >= 0 && end-c.pos < limit {
		limit = end - c.pos
	}
	isPixel := t == tagPixelData || t == tagFloatPixelData || t == tagDoubleFloatPixelData

	if length == 0xFFFFFFFF {
		e.length = -1
		switch {
		case e.vr == "SQ" || (e.vr == "UN" && !isPixel):
			// PS3.5 6.2.2: an undefined-length UN is a sequence encoded in
			// implicit VR little endian; implicit private sequences too.
			sub := enc
			if e.vr == "UN" && !enc.implicit {
				sub = implicitLE
			}
			e.seq = true
			e.items, err = p.readItems(sub, -1, depth)
			return e, false, err
		default:
			// Encapsulated data (pixel data, or OB/OW per PS3.5 A.4).
			frags, err := p.readFragments(t)
			if err != nil {
				return nil, false, err
			}
			if isPixel {
				e.pixel = true
				e.frags = frags
				return e, false, nil
			}
			var total int64
			for _, f := range frags {
				total += f.Length
			}
			if err := p.checkValue(t, total); err != nil {
				return nil, false, err
			}
			buf := make([]byte, 0, total)
			save := c.pos
			for _, f := range frags {
				c.pos = f.Offset
				v, err := c.value(f.Length)
				if err != nil {
					return nil, false, p.truncated(err, "a fragment of "+tagString(t))
				}
				buf = append(buf, v...)
			}
			c.pos = save
			e.value = buf
			return e, false, nil
		}
	}
	e.length = int64(length)
	if e.length > limit {
		if end >= 0 && e.length <= c.remaining() {
			return nil, false, errorf(CodeMalformed, "element %s length %d exceeds the %d bytes left in its item", tagString(t), e.length, limit)
		}
		return nil, false, errorf(CodeTruncated, "element %s length %d exceeds remaining %d bytes", tagString(t), e.length, c.remaining())
	}
	if e.vr == "SQ" {
		e.seq = true
		e.items, err = p.readItems(enc, c.pos+e.length, depth)
		return e, false, err
	}
	if isPixel {
		e.pixel = true
		return e, false, c.skip(e.length)
	}
	if err := p.checkValue(t, e.length); err != nil {
		return nil, false, err
	}
	if e.value, err = c.value(e.length); err != nil {
		return nil, false, p.truncated(err, "the value of "+tagString(t))
	}
	if depth == 0 && t == tagPixelRepresentation && len(e.value) >= 2 {
		p.pixelRep = int(enc.bo.Uint16(e.value))
	}
	return e, false, nil
}

// checkValue applies the element and metadata budgets to a value of n bytes.
func (p *parser) checkValue(t uint32, n int64) error {
	if n > p.opts.MaxElementBytes {
		return errorf(CodeOversized, "element %s value of %d bytes exceeds the limit of %d bytes", keywordOrTag(t), n, p.opts.MaxElementBytes)
	}
	return p.charge(n)
}

// readItems reads the items of a sequence ending at end (or at a sequence
// delimitation item when end < 0).
func (p *parser) readItems(enc dsEncoding, end int64, depth int) ([]*item, error) {
	c := p.c
	var items []*item
	for {
		c.bo = enc.bo
		if end >= 0 && c.pos >= end {
			if c.pos > end {
				return nil, errorf(CodeMalformed, "sequence item overruns its sequence at offset %d", c.pos)
			}
			return items, nil
		}
		start := c.pos
		hdr, err := c.next(8)
		if err != nil {
			return nil, p.truncated(err, "a sequence item")
		}
		t := uint32(enc.bo.Uint16(hdr))<<16 | uint32(enc.bo.Uint16(hdr[2:]))
		length := enc.bo.Uint32(hdr[4:])
		if t == tagSequenceDelimitation {
			if end >= 0 {
				p.warn("StrayDelimiter", "sequence delimiter inside a defined-length sequence at offset %d", start)
			}
			return items, nil
		}
		if t != tagItem {
			return nil, errorf(CodeMalformed, "expected an item in a sequence at offset %d, found %s", start, tagString(t))
		}
		if err := p.charge(elementOverhead); err != nil {
			return nil, err
		}
		it := &item{}
		if length == 0xFFFFFFFF {
			it.elems, err = p.readDataset(enc, -1, depth+1)
		} else {
			l := int64(length)
			if l > c.remaining() || (end >= 0 && c.pos+l > end) {
				return nil, errorf(CodeTruncated, "sequence item length %d at offset %d exceeds remaining %d bytes", l, start, c.remaining())
			}
			it.elems, err = p.readDataset(enc, c.pos+l, depth+1)
		}
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
}

// readFragments walks the items of encapsulated data up to the sequence
// delimitation item and returns their value locations (the first one is
// the Basic Offset Table for pixel data).
func (p *parser) readFragments(t uint32) ([]Segment, error) {
	c := p.c
	var frags []Segment
	for {
		start := c.pos
		hdr, err := c.next(8)
		if err != nil {
			return nil, p.truncated(err, "the fragments of "+tagString(t))
		}
		it := uint32(c.bo.Uint16(hdr))<<16 | uint32(c.bo.Uint16(hdr[2:]))
		length := int64(c.bo.Uint32(hdr[4:]))
		if it == tagSequenceDelimitation {
			return frags, nil
		}
		if it != tagItem {
			return nil, errorf(CodeMalformed, "expected a fragment item in %s at offset %d, found %s", keywordOrTag(t), start, tagString(it))
		}
		if length == 0xFFFFFFFF || length > c.remaining() {
			return nil, errorf(CodeTruncated, "fragment length %d at offset %d exceeds remaining %d bytes", length, start, c.remaining())
		}
		if len(frags) >= p.opts.MaxFragments {
			return nil, errorf(CodeOversized, "more than %d pixel data fragments", p.opts.MaxFragments)
		}
		frags = append(frags, Segment{Offset: c.pos, Length: length})
		c.pos += length
	}
}
