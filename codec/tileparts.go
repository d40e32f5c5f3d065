package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Tile-parts by resolution level.
//
// OpenJPH 0.9.0 writes the one tile of a codestream as a single tile-part.
// DICOM HTJ2K Lossless RPCL and HealthImaging's progressive retrieval want
// one tile-part per resolution level, listed in a TLM segment, so that the
// main header and the first k tile-parts decode to the image at resolution
// k. With RPCL progression, one layer and default (maximal) precincts the
// packets of a resolution level are contiguous, so the tile-part can be cut
// at the end of each level's last packet. Finding those ends means reading
// every packet header (ITU-T T.800 B.10, with the HT code-blocks of T.814);
// the code-block data itself is not touched.

// Limits on what splitResolutions parses, so that a hostile header cannot
// make it allocate or loop without bound.
const (
	// maxSplitCodeBlocks bounds the code-blocks of a tile summed over
	// components and subbands: a 65535x65535 image with 3 components and
	// 64x64 code-blocks has about 3.2 million.
	maxSplitCodeBlocks = 1 << 22
	// maxZeroBitPlanes bounds a decoded zero bit-plane count, which is
	// below the subband's Mb: at most 7 guard bits + exponent 31 - 1 = 37
	// (T.800 E.1).
	maxZeroBitPlanes = 100
	// maxLblock bounds the Lblock state of a code-block: lengths fit in
	// 32 bits.
	maxLblock = 32
)

// errNoSplit is the error that every reason splitResolutions declines
// wraps.
var errNoSplit = errors.New("codestream not split by resolution")

func noSplit(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errNoSplit, fmt.Sprintf(format, args...))
}

// resolutionTileParts returns cs with one tile-part per resolution level
// and a TLM segment listing them (splitResolutions). A codestream outside
// what splitResolutions parses keeps its tile-parts and gets a TLM segment
// listing them (insertTLM), so an unusual codestream is never split wrongly.
func resolutionTileParts(cs []byte) ([]byte, error) {
	if out, err := splitResolutions(cs); err == nil {
		return out, nil
	}
	return insertTLM(cs)
}

// codeParams is what packet header parsing needs from the main header.
type codeParams struct {
	width, height int64 // of the image, which is the one tile
	comps         int
	levels        int // decompositions
	xcb, ycb      int // code-block width and height exponents
}

// tileSpan locates the single tile-part of a codestream.
type tileSpan struct {
	sot        int // offset of the SOT marker: the end of the main header
	start, end int // of the packet data (after SOD, up to EOC)
}

// splitResolutions rewrites a codestream of one tile in one tile-part as
// the main header, a TLM segment (Stlm 0x60: 16-bit tile index, 32-bit
// tile-part length, one entry per tile-part), one tile-part per resolution
// level r (SOT with TPsot r and TNsot levels+1, SOD, the packets of
// resolution r) and EOC. It returns an error wrapping errNoSplit for any
// codestream outside what it parses: more than one tile or tile-part,
// markers in the tile-part header, a main header with a TLM, COC, POC,
// PPM, PLM or RGN segment, component subsampling or image offsets, a
// progression other than RPCL, more than one layer, user-defined precincts,
// SOP or EPH markers, code-blocks that are not HT or that have more than
// one coding pass, or packets that do not add up exactly to the tile data.
func splitResolutions(cs []byte) ([]byte, error) {
	cp, span, err := splitParams(cs)
	if err != nil {
		return nil, err
	}
	ends, err := resolutionEnds(cs[span.start:span.end], cp)
	if err != nil {
		return nil, err
	}
	n := len(ends)
	seg := 6 + 6*n // FF55, Ltlm, Ztlm, Stlm, entries
	out := make([]byte, 0, span.sot+seg+14*n+(span.end-span.start)+2)
	out = append(out, cs[:span.sot]...)
	out = binary.BigEndian.AppendUint16(out, 0xFF55)
	out = binary.BigEndian.AppendUint16(out, uint16(seg-2))
	out = append(out, 0, 0x60)
	prev := 0
	for _, e := range ends {
		out = binary.BigEndian.AppendUint16(out, 0)
		out = binary.BigEndian.AppendUint32(out, uint32(14+e-prev))
		prev = e
	}
	prev = 0
	for r, e := range ends {
		out = binary.BigEndian.AppendUint16(out, 0xFF90)
		out = binary.BigEndian.AppendUint16(out, 10)
		out = binary.BigEndian.AppendUint16(out, 0) // Isot
		out = binary.BigEndian.AppendUint32(out, uint32(14+e-prev))
		out = append(out, byte(r), byte(n))
		out = binary.BigEndian.AppendUint16(out, 0xFF93)
		out = append(out, cs[span.start+prev:span.start+e]...)
		prev = e
	}
	return binary.BigEndian.AppendUint16(out, 0xFFD9), nil
}

// splitParams reads the main header and the tile-part header of cs and
// checks that they are within what splitResolutions handles.
func splitParams(cs []byte) (codeParams, tileSpan, error) {
	var cp codeParams
	var span tileSpan
	ms, err := parseMain(cs)
	if err != nil {
		return cp, span, noSplit("%v", err)
	}
	var siz, cod int
	for i, m := range ms[:len(ms)-1] {
		switch m.code {
		case 0xFF51: // SIZ
			if i != 0 {
				return cp, span, noSplit("SIZ is not the first segment")
			}
			siz++
		case 0xFF52: // COD
			cod++
		case 0xFF50, 0xFF59, 0xFF5C, 0xFF5D, 0xFF64: // CAP, CPF, QCD, QCC, COM
		default:
			return cp, span, noSplit("main header has marker %04X", m.code)
		}
	}
	if siz != 1 || cod != 1 {
		return cp, span, noSplit("main header has %d SIZ and %d COD segments", siz, cod)
	}
	for _, m := range ms {
		seg := cs[m.offset+4 : m.offset+2+m.length] // after Lxxx
		switch m.code {
		case 0xFF51:
			err = cp.readSIZ(seg)
		case 0xFF52:
			err = cp.readCOD(seg)
		}
		if err != nil {
			return cp, span, err
		}
	}
	// The tile-part: SOT(Isot 0, TPsot 0, TNsot 0 or 1), SOD, data, EOC.
	span.sot = ms[len(ms)-1].offset
	s := cs[span.sot:]
	if len(s) < 16 || binary.BigEndian.Uint16(s[2:]) != 10 {
		return cp, span, noSplit("bad SOT segment")
	}
	isot, psot, tpsot, tnsot := binary.BigEndian.Uint16(s[4:]), int64(binary.BigEndian.Uint32(s[6:])), s[10], s[11]
	if isot != 0 || tpsot != 0 || tnsot > 1 {
		return cp, span, noSplit("tile %d, tile-part %d of %d", isot, tpsot, tnsot)
	}
	if binary.BigEndian.Uint16(s[12:]) != 0xFF93 {
		return cp, span, noSplit("tile-part header has marker segments")
	}
	if psot == 0 { // runs to EOC
		psot = int64(len(s) - 2)
	}
	if psot < 14 || psot+2 != int64(len(s)) || binary.BigEndian.Uint16(s[psot:]) != 0xFFD9 {
		return cp, span, noSplit("the tile-part is not followed by EOC at the end of the codestream")
	}
	span.start, span.end = span.sot+14, span.sot+int(psot)
	return cp, span, nil
}

// readSIZ reads the SIZ segment after Lsiz: Rsiz, Xsiz, Ysiz, XOsiz,
// YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz, Csiz, then Ssiz, XRsiz, YRsiz per
// component.
func (cp *codeParams) readSIZ(s []byte) error {
	if len(s) < 36 {
		return noSplit("short SIZ")
	}
	u := func(i int) int64 { return int64(binary.BigEndian.Uint32(s[2+4*i:])) }
	w, h, xo, yo, tw, th, txo, tyo := u(0), u(1), u(2), u(3), u(4), u(5), u(6), u(7)
	if xo != 0 || yo != 0 || txo != 0 || tyo != 0 {
		return noSplit("image or tile offsets")
	}
	if w < 1 || h < 1 || tw < w || th < h {
		return noSplit("more than one tile")
	}
	c := int(binary.BigEndian.Uint16(s[34:]))
	if c < 1 || len(s) != 36+3*c {
		return noSplit("SIZ of %d bytes for %d components", len(s), c)
	}
	for i := range c {
		if s[36+3*i+1] != 1 || s[36+3*i+2] != 1 {
			return noSplit("component %d is subsampled", i)
		}
	}
	cp.width, cp.height, cp.comps = w, h, c
	return nil
}

// readCOD reads the COD segment after Lcod: Scod, then SGcod (progression
// order, layers, multiple component transform), then SPcod (decompositions,
// code-block width and height exponents minus 2, code-block style,
// transform, precinct sizes if Scod says so).
func (cp *codeParams) readCOD(s []byte) error {
	if len(s) < 10 {
		return noSplit("short COD")
	}
	scod, order, layers := s[0], s[1], binary.BigEndian.Uint16(s[2:])
	levels, xcb, ycb, style := int(s[5]), int(s[6]), int(s[7]), s[8]
	switch {
	case scod != 0:
		return noSplit("Scod %#x (user-defined precincts, SOP or EPH)", scod)
	case len(s) != 10:
		return noSplit("COD of %d bytes", len(s))
	case order != 2:
		return noSplit("progression order %d is not RPCL", order)
	case layers != 1:
		return noSplit("%d quality layers", layers)
	case levels > 32:
		return noSplit("%d decompositions", levels)
	case xcb > 8 || ycb > 8 || xcb+ycb > 8:
		return noSplit("code-block exponents %d, %d", xcb, ycb)
	case style != 0x40:
		return noSplit("code-block style %#x is not HT only", style)
	}
	cp.levels, cp.xcb, cp.ycb = levels, xcb+2, ycb+2
	return nil
}

// band is the code-block grid of one subband of one precinct: the blocks
// [x0, x1) x [y0, y1) of the subband's grid.
type band struct{ x0, y0, x1, y1 int64 }

func (b band) blocks() int64 { return (b.x1 - b.x0) * (b.y1 - b.y0) }

// ceilShift returns ceil(v / 2^n) for v >= 0.
func ceilShift(v int64, n int) int64 { return (v + 1<<n - 1) >> n }

// subbands returns the sizes of the subbands of resolution r: LL for r 0;
// HL, LH and HH of decomposition level levels-r+1 otherwise (T.800 B.5,
// for a tile at the origin).
func (cp *codeParams) subbands(r int) [][2]int64 {
	w, h := cp.width, cp.height
	if r == 0 {
		d := cp.levels
		return [][2]int64{{ceilShift(w, d), ceilShift(h, d)}}
	}
	n := cp.levels - r + 1
	half := int64(1) << (n - 1)
	lw, lh := ceilShift(w, n), ceilShift(h, n)
	hw, hh := ceilShift(max(w-half, 0), n), ceilShift(max(h-half, 0), n)
	return [][2]int64{{hw, lh}, {lw, hh}, {hw, hh}}
}

// precinctShift is the log2 size of the default (maximal) precincts,
// PPx = PPy = 15, in resolution coordinates.
const precinctShift = 15

// resolutionEnds parses the packets of the tile data in RPCL order and
// returns the offset in data at which each resolution level's packets end.
func resolutionEnds(data []byte, cp codeParams) ([]int, error) {
	// Check the sizes before anything is allocated or iterated: every
	// packet has at least one byte, and the code-blocks are bounded.
	var packets, blocks int64 // blocks of one component
	for r := 0; r <= cp.levels; r++ {
		rw, rh := ceilShift(cp.width, cp.levels-r), ceilShift(cp.height, cp.levels-r)
		packets += ceilShift(rw, precinctShift) * ceilShift(rh, precinctShift) * int64(cp.comps)
		if packets > int64(len(data)) {
			return nil, noSplit("%d bytes cannot hold %d packets", len(data), packets)
		}
		for _, sb := range cp.subbands(r) {
			// Both factors are below 2^31 (sizes below 2^32, blocks of
			// at least 4), and blocks stays below 2^62.
			if blocks += ceilShift(sb[0], cp.xcb) * ceilShift(sb[1], cp.ycb); blocks > maxSplitCodeBlocks {
				return nil, noSplit("more than %d code-blocks", maxSplitCodeBlocks)
			}
		}
	}
	if blocks*int64(cp.comps) > maxSplitCodeBlocks { // comps <= packets <= len(data)
		return nil, noSplit("more than %d code-blocks", maxSplitCodeBlocks)
	}
	p := packetParser{data: data}
	ends := make([]int, 0, cp.levels+1)
	for r := 0; r <= cp.levels; r++ {
		rw, rh := ceilShift(cp.width, cp.levels-r), ceilShift(cp.height, cp.levels-r)
		npx, npy := ceilShift(rw, precinctShift), ceilShift(rh, precinctShift)
		sbs := cp.subbands(r)
		ps := precinctShift // the precinct size in subband coordinates
		if r > 0 {
			ps--
		}
		var bands [3]band
		for py := range npy {
			for px := range npx {
				for i, sb := range sbs {
					// The precinct's part of the subband, in code-blocks;
					// precinct edges are multiples of the code-block size.
					x0, x1 := px<<ps, min((px+1)<<ps, sb[0])
					y0, y1 := py<<ps, min((py+1)<<ps, sb[1])
					bands[i] = band{}
					if x0 < x1 && y0 < y1 {
						bands[i] = band{x0 >> cp.xcb, y0 >> cp.ycb, ceilShift(x1, cp.xcb), ceilShift(y1, cp.ycb)}
					}
				}
				for range cp.comps {
					if err := p.packet(bands[:len(sbs)]); err != nil {
						return nil, err
					}
				}
			}
		}
		ends = append(ends, p.pos)
	}
	if p.pos != len(data) {
		return nil, noSplit("packets end at byte %d of %d", p.pos, len(data))
	}
	return ends, nil
}

// packetParser reads consecutive packets of the first (only) layer.
type packetParser struct {
	data      []byte
	pos       int // start of the next packet
	incl, zbp tagTree
}

// packet reads the packet header at p.pos, whose code-blocks are those of
// bands in order, skips the packet body and advances p.pos past it.
func (p *packetParser) packet(bands []band) error {
	var total int64
	for _, b := range bands {
		total += b.blocks()
	}
	if total == 0 {
		// Decoders disagree on whether a precinct without code-blocks
		// has a packet (OpenJPH 0.9.0 writes one byte and reads none).
		return noSplit("precinct without code-blocks")
	}
	br := bitReader{b: p.data, pos: p.pos}
	var body int64
	if br.bit() == 1 { // not a zero-length packet
		for _, b := range bands {
			if b.blocks() == 0 {
				continue
			}
			w, h := int(b.x1-b.x0), int(b.y1-b.y0)
			p.incl.reset(w, h)
			p.zbp.reset(w, h)
			for y := range h {
				for x := range w {
					if !p.incl.decode(&br, x, y, 1) { // not included in layer 0
						if br.err {
							return noSplit("packet header at byte %d is truncated", p.pos)
						}
						continue
					}
					if !p.zbp.decode(&br, x, y, maxZeroBitPlanes) {
						return noSplit("bad zero bit-plane count in packet at byte %d", p.pos)
					}
					if passes := br.passes(); passes != 1 {
						return noSplit("code-block with %d coding passes", passes)
					}
					lblock := 3
					for br.bit() == 1 {
						if lblock++; lblock > maxLblock {
							return noSplit("bad Lblock in packet at byte %d", p.pos)
						}
					}
					body += int64(br.bits(lblock)) // one pass: Lblock bits
					if br.err {
						return noSplit("packet header at byte %d is truncated", p.pos)
					}
				}
			}
		}
	}
	br.align()
	if br.err || body > int64(len(p.data)-br.pos) {
		return noSplit("packet at byte %d runs past the tile data", p.pos)
	}
	p.pos = br.pos + int(body)
	return nil
}

// bitReader reads packet header bits, most significant first, skipping the
// stuffed bit after every 0xFF byte (T.800 B.10.1). Reading past the end
// sets err and gives zero bits.
type bitReader struct {
	b   []byte
	pos int  // of the next byte
	cur byte // the last byte read
	n   uint // bits of cur not yet read
	err bool
}

func (r *bitReader) bit() uint32 {
	if r.n == 0 {
		if r.pos >= len(r.b) {
			r.err = true
			return 0
		}
		r.n = 8
		if r.cur == 0xFF {
			r.n = 7
		}
		r.cur = r.b[r.pos]
		r.pos++
	}
	r.n--
	return uint32(r.cur>>r.n) & 1
}

func (r *bitReader) bits(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

// passes reads a number of coding passes codeword (T.800 Table B.4).
func (r *bitReader) passes() int {
	switch {
	case r.bit() == 0:
		return 1
	case r.bit() == 0:
		return 2
	}
	if v := int(r.bits(2)); v < 3 {
		return 3 + v
	}
	if v := int(r.bits(5)); v < 31 {
		return 6 + v
	}
	return 37 + int(r.bits(7))
}

// align ends a packet header: the rest of the byte is padding, and a
// final 0xFF byte is followed by one more (stuffed) byte.
func (r *bitReader) align() {
	r.n = 0
	if r.cur == 0xFF {
		if r.pos >= len(r.b) {
			r.err = true
			return
		}
		r.pos++
		r.cur = 0
	}
}

// tagTree is a tag tree (T.800 B.10.2) of w x h leaves being decoded:
// val is a node's value once known (0xFF until then), low the lower bound
// established so far. Level 0 holds the leaves; the last level the root.
type tagTree struct {
	val, low []uint8
	off, w   []int // per level: offset in val and low, width
}

func (t *tagTree) reset(w, h int) {
	t.off, t.w = t.off[:0], t.w[:0]
	n := 0
	for {
		t.off, t.w = append(t.off, n), append(t.w, w)
		n += w * h
		if w == 1 && h == 1 {
			break
		}
		w, h = (w+1)/2, (h+1)/2
	}
	if cap(t.val) < n {
		t.val, t.low = make([]uint8, n), make([]uint8, n)
	}
	t.val, t.low = t.val[:n], t.low[:n]
	for i := range t.val {
		t.val[i], t.low[i] = 0xFF, 0
	}
}

// decode reads the bits that tell whether leaf (x, y) is below threshold
// (at most 0xFE) and reports whether it is; once it is, its value is
// known.
func (t *tagTree) decode(r *bitReader, x, y int, threshold uint8) bool {
	var low uint8
	leaf := 0
	for l := len(t.off) - 1; l >= 0; l-- {
		i := t.off[l] + (y>>l)*t.w[l] + x>>l
		low = max(low, t.low[i])
		for low < threshold && low < t.val[i] {
			if r.bit() == 1 {
				t.val[i] = low
			} else if r.err {
				return false
			} else {
				low++
			}
		}
		t.low[i] = low
		if low >= threshold {
			// So are all nodes below: no bits are coded for them,
			// and every later walk to them stops here too.
			return false
		}
		leaf = i
	}
	return t.val[leaf] < threshold
}
