package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// tpart is a tile-part as the tests read it.
type tpart struct {
	off          int // of its SOT marker
	isot         uint16
	psot         int
	tpsot, tnsot byte
	body         []byte // after SOD
}

// layout is a codestream as the tests read it, without the code under test:
// main header end (first SOT), the Ptlm values of its TLM segments (nil if
// it has none) and its tile-parts.
type layout struct {
	mainEnd int
	tlm     []uint32 // Ptlm
	tlmTile []uint16 // Ttlm
	tlmSegs int
	levels  int
	parts   []tpart
}

// readLayout walks cs: marker segments of the main header, then SOT
// segments each followed directly by SOD, then EOC as the last two bytes.
func readLayout(cs []byte) (layout, error) {
	var l layout
	if len(cs) < 4 || binary.BigEndian.Uint16(cs) != 0xFF4F {
		return l, errors.New("no SOC")
	}
	pos := 2
	for {
		if pos+4 > len(cs) {
			return l, errors.New("main header runs out")
		}
		code, n := binary.BigEndian.Uint16(cs[pos:]), int(binary.BigEndian.Uint16(cs[pos+2:]))
		if code == 0xFF90 {
			break
		}
		if n < 2 || pos+2+n > len(cs) {
			return l, fmt.Errorf("segment %04X too long", code)
		}
		seg := cs[pos+4 : pos+2+n]
		switch code {
		case 0xFF55:
			l.tlmSegs++
			if len(seg) < 2 || seg[1] != 0x60 || (len(seg)-2)%6 != 0 {
				return l, fmt.Errorf("TLM % x is not Stlm 0x60", seg)
			}
			for e := 2; e < len(seg); e += 6 {
				l.tlmTile = append(l.tlmTile, binary.BigEndian.Uint16(seg[e:]))
				l.tlm = append(l.tlm, binary.BigEndian.Uint32(seg[e+2:]))
			}
		case 0xFF52:
			if len(seg) < 6 {
				return l, errors.New("short COD")
			}
			l.levels = int(seg[5])
		}
		pos += 2 + n
	}
	l.mainEnd = pos
	for pos != len(cs)-2 {
		if pos+14 > len(cs) || binary.BigEndian.Uint16(cs[pos:]) != 0xFF90 || binary.BigEndian.Uint16(cs[pos+2:]) != 10 {
			return l, fmt.Errorf("no SOT(Lsot 10) at byte %d", pos)
		}
		p := tpart{off: pos, isot: binary.BigEndian.Uint16(cs[pos+4:]), psot: int(binary.BigEndian.Uint32(cs[pos+6:])),
			tpsot: cs[pos+10], tnsot: cs[pos+11]}
		if p.psot == 0 {
			p.psot = len(cs) - 2 - pos
		}
		if p.psot < 14 || pos+p.psot > len(cs)-2 {
			return l, fmt.Errorf("tile-part at %d has Psot %d", pos, p.psot)
		}
		// Tile-part header segments up to SOD.
		sod := pos + 12
		for binary.BigEndian.Uint16(cs[sod:]) != 0xFF93 {
			n := int(binary.BigEndian.Uint16(cs[sod+2:]))
			if n < 2 || sod+2+n+2 > pos+p.psot {
				return l, fmt.Errorf("no SOD in the tile-part at %d", pos)
			}
			sod += 2 + n
		}
		p.body = cs[sod+2 : pos+p.psot]
		l.parts = append(l.parts, p)
		pos += p.psot
	}
	if binary.BigEndian.Uint16(cs[pos:]) != 0xFFD9 {
		return l, errors.New("no EOC at the end")
	}
	return l, nil
}

// data returns the tile's packet data: the tile-part bodies in order.
func (l layout) data() []byte {
	var b []byte
	for _, p := range l.parts {
		b = append(b, p.body...)
	}
	return b
}

// checkSplitLayout checks that cs has one tile-part per resolution level
// (TPsot r, TNsot levels+1) listed by one TLM segment, and that the TLM
// lengths, the main header and EOC add up to the codestream size.
func checkSplitLayout(t testing.TB, cs []byte, levels int) layout {
	t.Helper()
	l, err := readLayout(cs)
	if err != nil {
		t.Fatalf("layout: %v", err)
	}
	if l.levels != levels {
		t.Fatalf("COD has %d decompositions, want %d", l.levels, levels)
	}
	if l.tlmSegs != 1 || len(l.tlm) != levels+1 || len(l.parts) != levels+1 {
		t.Fatalf("%d TLM segments with %d entries and %d tile-parts, want 1, %d, %d", l.tlmSegs, len(l.tlm), len(l.parts), levels+1, levels+1)
	}
	size := l.mainEnd + 2
	for r, p := range l.parts {
		if p.isot != 0 || int(p.tpsot) != r || int(p.tnsot) != levels+1 || uint32(p.psot) != l.tlm[r] || l.tlmTile[r] != 0 {
			t.Fatalf("tile-part %d: Isot %d TPsot %d TNsot %d Psot %d, TLM (%d, %d)", r, p.isot, p.tpsot, p.tnsot, p.psot, l.tlmTile[r], l.tlm[r])
		}
		size += int(l.tlm[r])
	}
	if size != len(cs) {
		t.Fatalf("main header, TLM lengths and EOC add up to %d bytes, the codestream has %d", size, len(cs))
	}
	return l
}

// prefix returns the main header of cs, its first k tile-parts and EOC:
// what a client fetches for resolution k-1.
func prefix(cs []byte, l layout, k int) []byte {
	end := l.mainEnd
	if k > 0 {
		end = l.parts[k-1].off + l.parts[k-1].psot
	}
	return append(append([]byte(nil), cs[:end]...), 0xFF, 0xD9)
}

// merged returns cs rewritten the way OpenJPH writes it: no TLM and the
// whole tile in one tile-part (TPsot 0, TNsot 1).
func merged(cs []byte, l layout) []byte {
	ms, err := parseMain(cs)
	if err != nil {
		panic(err)
	}
	var out []byte
	out = append(out, cs[:2]...)
	for _, m := range ms[:len(ms)-1] {
		if m.code != 0xFF55 {
			out = append(out, cs[m.offset:m.offset+2+m.length]...)
		}
	}
	body := l.data()
	out = append(out, 0xFF, 0x90, 0, 10, 0, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(14+len(body)))
	out = append(out, 0, 1, 0xFF, 0x93)
	out = append(out, body...)
	return append(out, 0xFF, 0xD9)
}

// tpKind is a sample type of the tile-part tests.
type tpKind struct {
	name   string
	bps    int
	signed bool
	lo, hi int64
}

var tpKinds = []tpKind{
	{"8u", 1, false, 0, 255}, {"8s", 1, true, -128, 127},
	{"12u", 2, false, 0, 4095}, {"12s", 2, true, -2048, 2047},
	{"16u", 2, false, 0, 65535}, {"16s", 2, true, -32768, 32767},
	{"20u", 4, false, 0, 1<<20 - 1}, {"24s", 4, true, -(1 << 23), 1<<23 - 1}, {"26u", 4, false, 0, 1<<26 - 1},
}

// tpImage returns a w x h image of comps components: random samples over
// the kind's whole range, or smooth content (sampleGen).
func tpImage(w, h, comps int, k tpKind, random bool, seed uint64) *Pixels {
	p := &Pixels{Width: w, Height: h, Components: comps, BytesPerSample: k.bps, Signed: k.signed,
		BitsStored: 8 * k.bps, Data: make([]byte, w*h*comps*k.bps)}
	gen := sampleGen(k.lo, k.hi, seed)
	r := rand.New(rand.NewPCG(seed, 99))
	for i := range w * h * comps {
		v := gen(i/comps%w, i/comps/w, i%comps)
		if random {
			v = k.lo + r.Int64N(k.hi-k.lo+1)
		}
		putSample(p.Data[i*k.bps:], k.bps, v)
	}
	return p
}

// TestTileParts encodes images of many sizes, sample types and contents
// and checks the tile-parts: layout and TLM, lossless decode, and that the
// main header plus the first k tile-parts decode, with OpenJPH and with
// OpenJPEG, to the same image at resolution k-1 as the whole codestream.
func TestTileParts(t *testing.T) {
	sizes := [][2]int{{1, 1}, {7, 5}, {63, 64}, {65, 64}, {65, 300}, {300, 1}, {1, 300}, {129, 65}, {333, 777},
		{512, 512}, {1000, 37}, {37, 1000}, {2047, 2049}, {40000, 9}}
	seed := uint64(0)
	opjRuns, opjOnly, ran := 0, 0, 0
	for si, sz := range sizes {
		w, h := sz[0], sz[1]
		for ki, k := range tpKinds {
			for _, comps := range []int{1, 3} {
				for _, random := range []bool{true, false} {
					// A few cases of the large images, and of three
					// components of the widest samples, are enough.
					big := w*h > 300*300
					if big && (ki%3 != si%3 || !random || comps == 3 && ki != si%3) ||
						w*h > 1<<20 && (comps == 3 || ki != 3) ||
						comps == 3 && k.hi-k.lo > 1<<20 && (ki+si)%3 != 0 {
						continue
					}
					if testing.Short() && (si+ki+comps)%4 != 0 {
						continue
					}
					seed++
					name := fmt.Sprintf("%dx%dx%d/%s/random=%v", w, h, comps, k.name, random)
					p := tpImage(w, h, comps, k, random, seed)
					// OpenJPEG on every prefix of a quarter of the cases
					// (every large one); it is a process per decode.
					useOpj := big || (si+ki+comps+int(seed))%4 == 0
					switch checkTilePartCase(t, name, p, useOpj) {
					case tpOpenJPH:
						opjRuns += b2i(useOpj)
						ran++
					case tpOpenJPEGOnly:
						opjOnly++
						ran++
					}
				}
			}
		}
	}
	t.Logf("%d cases: %d checked with OpenJPH and OpenJPEG, %d with OpenJPH only, %d with OpenJPEG only", ran, opjRuns, ran-opjRuns-opjOnly, opjOnly)
	if ran < 300 && !testing.Short() {
		t.Fatalf("only %d cases ran", ran)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Outcomes of checkTilePartCase.
const (
	tpRefused      = iota // the encoder refused the samples (26-bit noise)
	tpOpenJPH             // checked with OpenJPH, and with OpenJPEG if asked
	tpOpenJPEGOnly        // OpenJPH 0.9.0 does not decode its own codestream
)

// checkTilePartCase runs the checks of TestTileParts on one image.
func checkTilePartCase(t *testing.T, name string, p *Pixels, useOpj bool) int {
	t.Helper()
	cs, err := EncodeHTJ2K(p)
	var ce *Error
	if p.BytesPerSample == 4 && errors.As(err, &ce) && ce.Code == CodeUnsupported {
		return tpRefused
	}
	if err != nil {
		t.Fatalf("%s: EncodeHTJ2K: %v", name, err)
	}
	d := decompositions(p.Width, p.Height)
	l := checkSplitLayout(t, cs, d)
	checkTLM(t, cs)
	one := merged(cs, l) // the layout OpenJPH wrote
	// The split is the one of the OpenJPH layout it came from.
	if again, err := splitResolutions(one); err != nil || !bytes.Equal(again, cs) {
		t.Fatalf("%s: splitting the merged codestream again: %v", name, err)
	}

	// (b) Lossless at full resolution.
	outcome := tpOpenJPH
	full, err := DecodeHTJ2K(cs, 0)
	if err != nil || !bytes.Equal(full.Data, p.Data) {
		if q, err1 := DecodeHTJ2K(one, 0); err1 == nil && bytes.Equal(q.Data, p.Data) {
			t.Fatalf("%s: DecodeHTJ2K of the split codestream: %v", name, err)
		}
		// OpenJPH 0.9.0 rejects some code-blocks of wide samples that
		// it encoded ("Error decoding a codeblock"), whatever the
		// tile-parts; OpenJPEG decodes them.
		outcome, useOpj = tpOpenJPEGOnly, true
	}
	if useOpj {
		_, _, _, od := opjDecode(t, cs, p.BytesPerSample)
		if !bytes.Equal(od, p.Data) {
			t.Fatalf("%s: opj_decompress of the split codestream differs from the pixels", name)
		}
	}

	// (c) Prefixes.
	for k := 1; k <= d+1; k++ {
		skip := d + 1 - k
		pre := prefix(cs, l, k)
		if outcome == tpOpenJPEGOnly {
			w, h, _, want := opjDecode(t, cs, p.BytesPerSample, "-r", fmt.Sprint(skip))
			ow, oh, _, od := opjDecode(t, pre, p.BytesPerSample, "-r", fmt.Sprint(skip))
			if ow != w || oh != h || !bytes.Equal(od, want) {
				t.Fatalf("%s: opj_decompress -r %d of %d tile-parts differs from that of the whole codestream", name, skip, k)
			}
			continue
		}
		want, err := DecodeHTJ2K(cs, skip)
		if err != nil {
			t.Fatalf("%s: DecodeHTJ2K(full, %d): %v", name, skip, err)
		}
		got, err := DecodeHTJ2K(pre, skip)
		if err != nil || got.Width != want.Width || got.Height != want.Height || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("%s: %d tile-parts decoded at skip %d differ from the whole codestream (%v)", name, k, skip, err)
		}
		if useOpj {
			ow, oh, oc, od := opjDecode(t, pre, want.BytesPerSample, "-r", fmt.Sprint(skip))
			if ow != want.Width || oh != want.Height || oc != p.Components || !bytes.Equal(od, want.Data) {
				t.Fatalf("%s: opj_decompress -r %d of %d tile-parts: %dx%dx%d, differs from OpenJPH's decode of the whole codestream at byte %d",
					name, skip, k, ow, oh, oc, firstDiff(od, want.Data))
			}
		}
		// One byte short of k tile-parts (the last one's Psot and TLM
		// entry shortened): resolution k-1 must come out different,
		// or the k-th tile-part ends later than it needs to. Not
		// meaningful when the dropped byte is zero (OpenJPH fills
		// missing data with zeros).
		last := l.parts[k-1]
		if last.body[len(last.body)-1] == 0 {
			continue
		}
		short := append([]byte(nil), pre[:len(pre)-3]...)
		binary.BigEndian.PutUint32(short[last.off+6:], uint32(last.psot-1))
		tlmEntry := l.mainEnd - 6*(d+1) + 6*(k-1) + 2 // the TLM is the last main header segment
		binary.BigEndian.PutUint32(short[tlmEntry:], uint32(last.psot-1))
		short = append(short, 0xFF, 0xD9)
		if got, err := DecodeHTJ2K(short, skip); err == nil && bytes.Equal(got.Data, want.Data) {
			t.Fatalf("%s: one byte short of %d tile-parts still decodes to resolution %d", name, k, k-1)
		}
	}
	return outcome
}

// TestTilePartsFallback makes codestreams that splitResolutions must not
// split: they keep one tile-part, get a one-entry TLM and still decode.
func TestTilePartsFallback(t *testing.T) {
	p := tpImage(300, 200, 1, tpKinds[2], true, 5)
	cs, err := EncodeHTJ2K(p)
	if err != nil {
		t.Fatal(err)
	}
	d := decompositions(300, 200)
	l := checkSplitLayout(t, cs, d)
	one := merged(cs, l)
	ms, err := parseMain(one)
	if err != nil {
		t.Fatal(err)
	}
	var cod int
	for _, m := range ms {
		if m.code == 0xFF52 {
			cod = m.offset
		}
	}
	sot := ms[len(ms)-1].offset
	patch := func(at int, b byte) []byte {
		c := append([]byte(nil), one...)
		c[at] = b
		return c
	}
	// A COM segment in the tile-part header.
	com := append([]byte(nil), one[:sot+12]...)
	com = append(com, 0xFF, 0x64, 0, 6, 0, 1, 'h', 'i')
	com = append(com, one[sot+12:]...)
	binary.BigEndian.PutUint32(com[sot+6:], binary.BigEndian.Uint32(one[sot+6:])+8)
	// One more byte of tile data than the packets hold.
	extra := append([]byte(nil), one[:len(one)-2]...)
	extra = append(extra, 0, 0xFF, 0xD9)
	binary.BigEndian.PutUint32(extra[sot+6:], binary.BigEndian.Uint32(one[sot+6:])+1)
	// One byte less.
	less := append([]byte(nil), one[:len(one)-3]...)
	less = append(less, 0xFF, 0xD9)
	binary.BigEndian.PutUint32(less[sot+6:], binary.BigEndian.Uint32(one[sot+6:])-1)
	// Two tile-parts as OpenJPH does not write them: the first packet
	// alone, then the rest.
	two := append([]byte(nil), one[:sot]...)
	body := one[sot+14 : len(one)-2]
	for i, b := range [][]byte{body[:1], body[1:]} {
		two = append(two, 0xFF, 0x90, 0, 10, 0, 0)
		two = binary.BigEndian.AppendUint32(two, uint32(14+len(b)))
		two = append(two, byte(i), 2, 0xFF, 0x93)
		two = append(two, b...)
	}
	two = append(two, 0xFF, 0xD9)

	for _, c := range []struct {
		name    string
		cs      []byte
		decodes bool // to p at full resolution
	}{
		{"SOP flag", patch(cod+4, 0x02), true},
		{"LRCP", patch(cod+5, 0), true}, // one layer and precinct: the same packet order
		{"COM in tile-part header", com, true},
		{"a byte of extra data", extra, true},
		{"a byte less data", less, false},
		{"two tile-parts", two, false},
		{"EPH flag", patch(cod+4, 0x04), false},
		{"user precincts", patch(cod+4, 0x01), false},
		{"two layers", patch(cod+7, 2), false},
		{"non-HT code-blocks", patch(cod+12, 0), false},
		{"tile index 1", patch(sot+5, 1), false},
	} {
		if _, err := splitResolutions(c.cs); !errors.Is(err, errNoSplit) {
			t.Fatalf("%s: splitResolutions gave %v, want errNoSplit", c.name, err)
		}
		out, err := resolutionTileParts(c.cs)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ol, err := readLayout(out)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		in, _ := readLayout(c.cs)
		if ol.tlmSegs != 1 || len(ol.tlm) != len(in.parts) || len(ol.parts) != len(in.parts) || !bytes.Equal(ol.data(), in.data()) {
			t.Fatalf("%s: fallback has %d TLM segments, %d entries, %d tile-parts; want 1, %d, %d and the same data",
				c.name, ol.tlmSegs, len(ol.tlm), len(ol.parts), len(in.parts), len(in.parts))
		}
		for i, n := range ol.tlm {
			if int(n) != ol.parts[i].psot || ol.tlmTile[i] != ol.parts[i].isot {
				t.Fatalf("%s: TLM entry %d is %d, Psot %d", c.name, i, n, ol.parts[i].psot)
			}
		}
		if c.decodes {
			q, err := DecodeHTJ2K(out, 0)
			if err != nil || !bytes.Equal(q.Data, p.Data) {
				t.Fatalf("%s: the fallback does not decode with OpenJPH: %v", c.name, err)
			}
			_, _, _, od := opjDecode(t, out, p.BytesPerSample)
			if !bytes.Equal(od, p.Data) {
				t.Fatalf("%s: the fallback does not decode with OpenJPEG", c.name)
			}
		}
	}
	// A codestream that already has a TLM is kept as it is.
	if out, err := resolutionTileParts(cs); err != nil || !bytes.Equal(out, cs) {
		t.Fatalf("a split codestream was changed: %v", err)
	}
}

// TestTilePartsHostile gives splitResolutions headers that promise huge
// code-block grids and component counts over a few bytes of data: it must
// decline quickly and without large allocations.
func TestTilePartsHostile(t *testing.T) {
	p := tpImage(70, 70, 1, tpKinds[0], true, 9)
	cs, err := EncodeHTJ2K(p)
	if err != nil {
		t.Fatal(err)
	}
	one := merged(cs, checkSplitLayout(t, cs, 1))
	ms, _ := parseMain(one)
	var siz, cod int
	for _, m := range ms {
		switch m.code {
		case 0xFF51:
			siz = m.offset
		case 0xFF52:
			cod = m.offset
		}
	}
	big := func(w, h uint32, xcb, levels byte) []byte {
		c := append([]byte(nil), one...)
		binary.BigEndian.PutUint32(c[siz+6:], w)
		binary.BigEndian.PutUint32(c[siz+10:], h)
		binary.BigEndian.PutUint32(c[siz+22:], w)
		binary.BigEndian.PutUint32(c[siz+26:], h)
		c[cod+9], c[cod+10], c[cod+11] = levels, xcb, xcb
		return c
	}
	// The largest image EncodeHTJ2K takes with every code-block left
	// out: each packet is one byte (present, then the root of each
	// subband's inclusion tree says no). It is split, in little time.
	noBlocks := func(c []byte, packets int) []byte {
		ms, _ := parseMain(c)
		sot := ms[len(ms)-1].offset
		c = append(c[:sot:sot], 0xFF, 0x90, 0, 10, 0, 0, 0, 0, 0, byte(14+packets), 0, 1, 0xFF, 0x93)
		return append(append(c, bytes.Repeat([]byte{0x80}, packets)...), 0xFF, 0xD9)
	}
	empty := noBlocks(big(65535, 65535, 4, 10), 10+4) // 2x2 precincts at full resolution
	start := time.Now()
	out, err := splitResolutions(empty)
	if err != nil {
		t.Fatalf("65535x65535 without code-blocks: %v", err)
	}
	// 5s: far above the milliseconds it takes, far below what walking the
	// 2^32 code-block positions would, and safe on a loaded machine under -race.
	if l := checkSplitLayout(t, out, 10); len(l.parts[10].body) != 4 || time.Since(start) > 5*time.Second {
		t.Fatalf("65535x65535 without code-blocks: %d packets at full resolution, %v", len(l.parts[10].body), time.Since(start))
	}
	t.Logf("65535x65535 without code-blocks split in %v", time.Since(start))
	// At 32769x32769 the last precinct of the full resolution has no
	// code-blocks in any subband, which is not split.
	if _, err := splitResolutions(noBlocks(big(32769, 32769, 4, 9), 9+4)); err == nil ||
		!strings.Contains(err.Error(), "precinct without code-blocks") {
		t.Fatalf("32769x32769: %v", err)
	}

	for _, c := range [][]byte{
		big(0xFFFFFFFF, 0xFFFFFFFF, 0, 0),
		big(0xFFFFFFFF, 0xFFFFFFFF, 4, 32),
		big(65535, 65535, 0, 5),
		big(65535, 65535, 4, 10),
		big(8000, 8000, 4, 3),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := splitResolutions(c)
		el := time.Since(start)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, errNoSplit) {
			t.Fatalf("hostile header: %v", err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 || el > 2*time.Second {
			t.Fatalf("hostile header: %d bytes allocated, %v", n, el)
		}
	}
}

// FuzzTileParts feeds arbitrary codestreams to splitResolutions: it must
// not panic, and a split codestream must have the input's main header, a
// TLM that lists its tile-parts, and tile-parts that concatenate to the
// input's tile data. With a non-zero header, the input is used as the tile
// data after the main header of one of the seed codestreams, so that the
// fuzzer spends its time in the packet headers rather than the main header.
func FuzzTileParts(f *testing.F) {
	var heads [][]byte
	for i, c := range []struct {
		w, h, comps int
		k           tpKind
	}{{7, 5, 1, tpKinds[0]}, {70, 65, 3, tpKinds[1]}, {300, 1, 1, tpKinds[3]}, {130, 140, 1, tpKinds[4]}, {1, 1, 3, tpKinds[6]}} {
		p := tpImage(c.w, c.h, c.comps, c.k, i%2 == 0, uint64(i+1))
		cs, err := EncodeHTJ2K(p)
		if err != nil {
			f.Fatal(err)
		}
		l, err := readLayout(cs)
		if err != nil {
			f.Fatal(err)
		}
		one := merged(cs, l)
		head := one[:len(one)-2-len(l.data())-14]
		heads = append(heads, head)
		f.Add(one, uint8(0))
		f.Add(cs, uint8(0))
		f.Add(l.data(), uint8(i+1))
	}
	f.Fuzz(func(t *testing.T, cs []byte, header uint8) {
		if header != 0 {
			data := cs
			cs = append([]byte(nil), heads[int(header-1)%len(heads)]...)
			cs = append(cs, 0xFF, 0x90, 0, 10, 0, 0)
			cs = binary.BigEndian.AppendUint32(cs, uint32(14+len(data)))
			cs = append(cs, 0, 1, 0xFF, 0x93)
			cs = append(cs, data...)
			cs = append(cs, 0xFF, 0xD9)
		}
		out, err := splitResolutions(cs)
		if err != nil {
			if !errors.Is(err, errNoSplit) {
				t.Fatalf("error %v does not wrap errNoSplit", err)
			}
			if _, err := resolutionTileParts(cs); err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("untyped error %v", err)
				}
			}
			return
		}
		in, err := readLayout(cs)
		if err != nil || len(in.parts) != 1 || in.tlmSegs != 0 {
			t.Fatalf("split a codestream that is not one tile-part without TLM: %v", err)
		}
		l := checkSplitLayout(t, out, in.levels)
		if !bytes.Equal(out[:in.mainEnd], cs[:in.mainEnd]) || l.mainEnd != in.mainEnd+6+6*(in.levels+1) {
			t.Fatal("the main header changed")
		}
		if !bytes.Equal(l.data(), in.data()) {
			t.Fatal("the tile-parts do not concatenate to the tile data")
		}
	})
}

// BenchmarkSplitResolutions measures splitResolutions alone on the
// BenchmarkEncodeHTJ2K phantom.
func BenchmarkSplitResolutions(b *testing.B) {
	cs, err := EncodeHTJ2K(ctPhantom())
	if err != nil {
		b.Fatal(err)
	}
	l, err := readLayout(cs)
	if err != nil {
		b.Fatal(err)
	}
	one := merged(cs, l)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := splitResolutions(one); err != nil {
			b.Fatal(err)
		}
	}
}
