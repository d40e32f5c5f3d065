package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// j2kSample is one kind of sample the round trips cover.
type j2kSample struct {
	name      string
	bps, bits int // BytesPerSample and BitsStored
	signed    bool
}

var j2kSamples = []j2kSample{
	{"u8", 1, 8, false}, {"s8", 1, 8, true},
	{"u12", 2, 12, false}, {"s12", 2, 12, true},
	{"u16", 2, 16, false}, {"s16", 2, 16, true},
	// 32-bit samples whose values need at most MaxJ2KPrecision bits.
	{"u32-20", 4, 20, false}, {"s32-22", 4, 22, true},
}

// j2kImage returns a w x h image of comps components with smooth gradients,
// a sharp edge and noise over the whole BitsStored range, including both
// extremes of the range.
func j2kImage(w, h, comps int, s j2kSample, seed uint64) *Pixels {
	p := &Pixels{Width: w, Height: h, Components: comps, BitsStored: s.bits, Signed: s.signed, BytesPerSample: s.bps,
		Data: make([]byte, w*h*comps*s.bps)}
	lo, hi := storedRange(s.bits, s.signed)
	span := float64(hi - lo)
	r := rand.New(rand.NewPCG(seed, uint64(w*h*comps)))
	for y := range h {
		for x := range w {
			for c := range comps {
				f := (float64(x)/float64(w) + float64(y)/float64(h) + float64(c)/3) / 3
				if x > w/2 && y < h/3 {
					f = 1 - f // an edge
				}
				v := lo + int64(f*span) + r.Int64N(int64(span/50)+1) - int64(span/100)
				switch {
				case (x+y*w+c)%97 == 5:
					v = lo
				case (x+y*w+c)%89 == 7:
					v = hi
				}
				v = min(max(v, lo), hi)
				putSample(p.Data[((y*w+x)*comps+c)*s.bps:], s.bps, v)
			}
		}
	}
	return p
}

// checkJ2KStructure walks the codestream independently of the encoder and
// checks what EncodeJ2K promises: SIZ for p, one tile, COD with RPCL,
// d decompositions, 64x64 code blocks, the reversible 5/3 wavelet and no
// colour transform, and a TLM segment whose entries are the tile-parts,
// one per resolution level.
func checkJ2KStructure(t testing.TB, cs []byte, p *Pixels, d int) {
	t.Helper()
	ms, err := parseMain(cs)
	if err != nil {
		t.Fatalf("main header: %v", err)
	}
	var siz, cod, tlm *marker
	for i := range ms {
		switch ms[i].code {
		case 0xFF51:
			siz = &ms[i]
		case 0xFF52:
			cod = &ms[i]
		case 0xFF55:
			if tlm != nil {
				t.Fatal("more than one TLM segment")
			}
			tlm = &ms[i]
		}
	}
	if siz == nil || cod == nil || tlm == nil {
		t.Fatalf("main header lacks SIZ, COD or TLM: %+v", ms)
	}
	s := cs[siz.offset+4:]
	xsiz, ysiz := binary.BigEndian.Uint32(s[2:]), binary.BigEndian.Uint32(s[6:])
	xt, yt := binary.BigEndian.Uint32(s[18:]), binary.BigEndian.Uint32(s[22:])
	comps := int(binary.BigEndian.Uint16(s[34:]))
	if int(xsiz) != p.Width || int(ysiz) != p.Height || comps != p.Components || xt < xsiz || yt < ysiz {
		t.Fatalf("SIZ: %dx%d, %d components, tiles %dx%d", xsiz, ysiz, comps, xt, yt)
	}
	for c := range comps {
		ssiz := s[36+3*c]
		if (ssiz&0x80 != 0) != p.Signed || s[37+3*c] != 1 || s[38+3*c] != 1 || bpsFor(int(ssiz&0x7F)+1) != p.BytesPerSample {
			t.Fatalf("component %d: Ssiz %#x, sampling %d %d", c, ssiz, s[37+3*c], s[38+3*c])
		}
	}
	// COD: Lcod(2) Scod(1) order(1) layers(2) MCT(1) levels(1) xcb(1) ycb(1) style(1) transform(1)
	c := cs[cod.offset+4:]
	if order, mct, levels, xcb, ycb, wavelet := c[1], c[4], c[5], c[6], c[7], c[9]; order != 2 || mct != 0 || int(levels) != d ||
		xcb != 4 || ycb != 4 || wavelet != 1 {
		t.Fatalf("COD: order %d (RPCL is 2), MCT %d, levels %d (want %d), code blocks %d %d, wavelet %d", order, mct, levels, d, xcb, ycb, wavelet)
	}
	// TLM: Ztlm(1) Stlm(1), then entries of Ttlm (ST bytes) and Ptlm (2 or 4 bytes).
	seg := cs[tlm.offset+4 : tlm.offset+2+tlm.length]
	st, sp := int(seg[1]>>4)&3, 2+2*int(seg[1]>>6&1)
	if seg[0] != 0 || st == 3 || (len(seg)-2)%(st+sp) != 0 {
		t.Fatalf("TLM segment % x", seg)
	}
	pos, parts := ms[len(ms)-1].offset, 0
	for e := 2; e < len(seg); e += st + sp {
		var ttlm, ptlm uint64
		for _, b := range seg[e : e+st] {
			ttlm = ttlm<<8 | uint64(b)
		}
		for _, b := range seg[e+st : e+st+sp] {
			ptlm = ptlm<<8 | uint64(b)
		}
		if pos+12 > len(cs) || binary.BigEndian.Uint16(cs[pos:]) != 0xFF90 {
			t.Fatalf("no SOT at byte %d", pos)
		}
		isot, psot, tpsot := binary.BigEndian.Uint16(cs[pos+4:]), binary.BigEndian.Uint32(cs[pos+6:]), cs[pos+10]
		if isot != 0 || uint64(psot) != ptlm || int(tpsot) != parts || (st > 0 && ttlm != 0) {
			t.Fatalf("tile-part %d: SOT (%d, %d) TLM (%d, %d)", parts, isot, psot, ttlm, ptlm)
		}
		pos += int(psot)
		parts++
	}
	if parts != d+1 {
		t.Fatalf("%d tile-parts, want one per resolution level (%d)", parts, d+1)
	}
	if pos != len(cs)-2 || binary.BigEndian.Uint16(cs[pos:]) != 0xFFD9 {
		t.Fatalf("tile-parts end at %d, EOC expected at %d", pos, len(cs)-2)
	}
}

// wantMinMax computes the range of the stored values of p directly: the
// low BitsStored bits of each sample, sign-extended when p.Signed.
func wantMinMax(p *Pixels) (lo, hi int64) {
	lo, hi = 1<<62, -(1 << 62)
	bits := uint(p.BitsStored)
	for i := 0; i < len(p.Data); i += p.BytesPerSample {
		var u uint64
		for k := p.BytesPerSample - 1; k >= 0; k-- {
			u = u<<8 | uint64(p.Data[i+k])
		}
		u &= 1<<bits - 1
		v := int64(u)
		if p.Signed && u>>(bits-1) != 0 {
			v -= 1 << bits
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// j2kRoundTrip transcodes p to JPEG 2000 and checks the codestream with
// opj_decompress (at every resolution level) and GDCM.
func j2kRoundTrip(t *testing.T, p *Pixels) {
	t.Helper()
	st, err := Transcode(p, FormatJ2K)
	if err != nil {
		t.Fatalf("Transcode: %v", err)
	}
	if st.TransferSyntax != "1.2.840.10008.1.2.4.90" {
		t.Fatalf("stored transfer syntax %s", st.TransferSyntax)
	}
	cs := st.Codestream
	d := j2kDecompositions(p.Width, p.Height)
	checkJ2KStructure(t, cs, p, d)

	w, h, comps, data := opjDecode(t, cs, p.BytesPerSample)
	if w != p.Width || h != p.Height || comps != p.Components {
		t.Fatalf("opj_decompress: %dx%dx%d, want %dx%dx%d", w, h, comps, p.Width, p.Height, p.Components)
	}
	if !bytes.Equal(data, p.Data) {
		t.Fatalf("opj_decompress output differs from the original pixels (first difference at byte %d)", firstDiff(data, p.Data))
	}
	if p.BytesPerSample <= 2 {
		img := Image{Rows: p.Height, Columns: p.Width, SamplesPerPixel: p.Components, BitsAllocated: 8 * p.BytesPerSample,
			BitsStored: p.BitsStored, Photometric: "MONOCHROME2"}
		if p.Signed {
			img.PixelRepresentation = 1
		}
		if p.Components == 3 {
			img.Photometric = "RGB"
		}
		q, err := Decode(cs, "1.2.840.10008.1.2.4.90", img)
		if err != nil {
			t.Fatalf("Decode (GDCM): %v", err)
		}
		if !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("GDCM output differs from the original pixels (first difference at byte %d)", firstDiff(q.Data, p.Data))
		}
		// GDCM reports the interpretation padded to an even length.
		if pi := strings.TrimSpace(q.Photometric); pi != "" && pi != img.Photometric {
			t.Fatalf("GDCM changed the photometric interpretation to %s", q.Photometric)
		}
	}

	if len(st.Checksums) != d+1 {
		t.Fatalf("%d checksums, want %d", len(st.Checksums), d+1)
	}
	full := st.Checksums[d]
	if full.Width != p.Width || full.Height != p.Height || full.Checksum != crc32.ChecksumIEEE(p.Data) {
		t.Fatalf("full-resolution checksum %+v, want %dx%d %08x", full, p.Width, p.Height, crc32.ChecksumIEEE(p.Data))
	}
	for i, s := range st.Checksums[:d] {
		r := d - i
		w, h, _, data := opjDecode(t, cs, p.BytesPerSample, "-r", strconv.Itoa(r))
		if s.Width != w || s.Height != h || s.Checksum != crc32.ChecksumIEEE(data) {
			t.Fatalf("checksum of level %d (reduce %d): %+v, opj_decompress gives %dx%d %08x", i, r, s, w, h, crc32.ChecksumIEEE(data))
		}
	}
	if lo, hi := wantMinMax(p); st.Min != lo || st.Max != hi {
		t.Fatalf("range %d..%d, want %d..%d", st.Min, st.Max, lo, hi)
	}
}

func TestJ2KRoundTrip(t *testing.T) {
	sizes := [][2]int{{1, 1}, {3, 5}, {17, 1}, {1, 40}, {65, 33}, {127, 129}, {513, 257}}
	for _, s := range j2kSamples {
		for _, comps := range []int{1, 3} {
			for _, sz := range sizes {
				t.Run(fmt.Sprintf("%s/%dc/%dx%d", s.name, comps, sz[0], sz[1]), func(t *testing.T) {
					j2kRoundTrip(t, j2kImage(sz[0], sz[1], comps, s, 1))
				})
			}
		}
	}
	// 512x512 (3 decompositions) for a few kinds, and the CT phantom.
	for _, s := range []j2kSample{j2kSamples[0], j2kSamples[3], j2kSamples[5], j2kSamples[7]} {
		for _, comps := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/%dc/512x512", s.name, comps), func(t *testing.T) {
				j2kRoundTrip(t, j2kImage(512, 512, comps, s, 2))
			})
		}
	}
	t.Run("phantom", func(t *testing.T) { j2kRoundTrip(t, ctPhantom()) })
	t.Run("1-bit", func(t *testing.T) {
		p := &Pixels{Width: 37, Height: 21, Components: 1, BitsStored: 1, BytesPerSample: 1, Data: make([]byte, 37*21)}
		for i := range p.Data {
			p.Data[i] = byte(i*7/5) & 1
		}
		j2kRoundTrip(t, p)
	})
	t.Run("bits above BitsStored", func(t *testing.T) {
		// BitsStored 12 in 16-bit samples whose top bits are set (an
		// overlay): the codestream carries all 16 bits.
		p := j2kImage(40, 30, 1, j2kSample{"u12", 2, 12, false}, 3)
		for i := 1; i < len(p.Data); i += 14 {
			p.Data[i] |= 0x80
		}
		j2kRoundTrip(t, p)
	})
}

// TestJ2KLowestResolution checks the number of decompositions: the lowest
// resolution is at most 64 pixels unless OpenJPEG's limit (log2 of the
// smaller side) stops it earlier.
func TestJ2KLowestResolution(t *testing.T) {
	for _, c := range []struct{ w, h, d int }{
		{1, 1, 0}, {64, 64, 0}, {65, 65, 1}, {512, 512, 3}, {2048, 2048, 5}, {513, 300, 4}, {4096, 4, 2}, {1000, 1, 0},
	} {
		if d := j2kDecompositions(c.w, c.h); d != c.d {
			t.Errorf("j2kDecompositions(%d, %d) = %d, want %d", c.w, c.h, d, c.d)
		}
	}
	p := j2kImage(4096, 4, 1, j2kSamples[2], 4)
	j2kRoundTrip(t, p)
}

// TestJ2KPrecisionLimit checks that samples of MaxJ2KPrecision bits
// round-trip whatever their content (extreme patterns that maximise the
// wavelet coefficients), that 24 bits do not (so the limit is needed), and
// how EncodeJ2K chooses the precision near the limit.
func TestJ2KPrecisionLimit(t *testing.T) {
	pattern := func(w, h, prec int, signed bool, kind int) *Pixels {
		p := &Pixels{Width: w, Height: h, Components: 1, BitsStored: prec, Signed: signed, BytesPerSample: 4, Data: make([]byte, 4*w*h)}
		lo, hi := storedRange(prec, signed)
		r := rand.New(rand.NewPCG(uint64(kind), uint64(prec)))
		for y := range h {
			for x := range w {
				var on bool
				switch kind {
				case 0:
					on = (x+y)%2 == 0 // checkerboard
				case 1:
					on = (x/3+y/5)%2 == 0 // stripes
				case 2:
					on = (x/2+y/2)%2 == 0
				case 3:
					on = r.IntN(2) == 0 // noise at the extremes
				}
				v := lo
				if on {
					v = hi
				}
				binary.LittleEndian.PutUint32(p.Data[4*(y*w+x):], uint32(v))
			}
		}
		return p
	}
	for _, signed := range []bool{false, true} {
		for kind := range 4 {
			for _, sz := range [][2]int{{64, 64}, {513, 300}, {1024, 1024}} {
				p := pattern(sz[0], sz[1], MaxJ2KPrecision, signed, kind)
				cs, err := EncodeJ2K(p)
				if err != nil {
					t.Fatalf("signed %v pattern %d %v: %v", signed, kind, sz, err)
				}
				if _, err := verifyJ2K(cs, p); err != nil {
					t.Fatalf("%d bits, signed %v, pattern %d, %dx%d: %v", MaxJ2KPrecision, signed, kind, sz[0], sz[1], err)
				}
			}
		}
	}
	// At 24 bits OpenJPEG's coefficients overflow on stripes.
	p := pattern(513, 300, 24, false, 1)
	cs, err := encodeJ2K(p, 24)
	if err == nil {
		_, err = verifyJ2K(cs, p)
	}
	if err == nil {
		t.Fatal("24-bit stripes round-trip: MaxJ2KPrecision may be too low")
	}

	// Values that need more bits are refused; a large BitsStored with
	// small values is not.
	p = pattern(8, 8, MaxJ2KPrecision+1, false, 0)
	var ce *Error
	if _, err := EncodeJ2K(p); !errors.As(err, &ce) || ce.Code != CodeUnsupported {
		t.Fatalf("%d-bit samples: %v, want Unsupported", MaxJ2KPrecision+1, err)
	}
	p = pattern(8, 8, 18, true, 0)
	p.BitsStored = 30
	cs, err = EncodeJ2K(p)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := readJ2KHeader(cs); err != nil || h.precision != 18 {
		t.Fatalf("BitsStored 30 with 18-bit values: precision %d, %v", h.precision, err)
	}
	if _, err := verifyJ2K(cs, p); err != nil {
		t.Fatal(err)
	}
}

// TestJ2KCorrupt checks that verification of a damaged codestream fails
// with ErrVerify or a Corrupt error, never passes unless the damage left
// the decoded pixels intact (checked with opj_decompress), and never
// panics.
func TestJ2KCorrupt(t *testing.T) {
	p := j2kImage(200, 150, 1, j2kSamples[2], 8) // 2 decompositions
	cs, err := EncodeJ2K(p)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := parseMain(cs)
	if err != nil {
		t.Fatal(err)
	}
	mainEnd := ms[len(ms)-1].offset
	passed := 0
	check := func(what string, bad []byte) {
		t.Helper()
		_, err := verifyJ2K(bad, p)
		var ce *Error
		switch {
		case err == nil:
			// Only harmless damage may pass.
			passed++
			if _, _, _, data := opjDecode(t, bad, 2); !bytes.Equal(data, p.Data) {
				t.Fatalf("%s: verification passed but opj_decompress decodes other pixels", what)
			}
		case errors.Is(err, ErrVerify):
		case errors.As(err, &ce) && ce.Code == CodeCorrupt:
		default:
			t.Fatalf("%s: %v, want ErrVerify or a Corrupt error", what, err)
		}
	}
	// Every byte of the main header, inverted.
	for i := range mainEnd {
		bad := bytes.Clone(cs)
		bad[i] ^= 0xFF
		check(fmt.Sprintf("main header byte %d", i), bad)
	}
	// Bytes of the tile-parts and truncations.
	r := rand.New(rand.NewPCG(7, 7))
	failed := 0
	for i := range 80 {
		bad := bytes.Clone(cs)
		pos := mainEnd + r.IntN(len(cs)-mainEnd)
		bad[pos] ^= byte(1 + r.IntN(255))
		if _, err := verifyJ2K(bad, p); err != nil {
			failed++
		}
		check(fmt.Sprintf("flip %d at byte %d", i, pos), bad)
	}
	if failed < 40 {
		t.Fatalf("only %d of 80 damaged codestreams failed verification", failed)
	}
	t.Logf("%d damaged codestreams decoded to the original pixels", passed)
	for _, n := range []int{0, 1, 3, mainEnd - 1, mainEnd + 20, len(cs) / 3, len(cs) / 2, len(cs) - 100, len(cs) - 3} {
		check(fmt.Sprintf("truncated to %d bytes", n), cs[:n])
	}
	for _, n := range []int{mainEnd + 20, len(cs) / 2, len(cs) - 100} {
		if _, err := verifyJ2K(cs[:n], p); err == nil {
			t.Fatalf("codestream truncated to %d of %d bytes passed verification", n, len(cs))
		}
	}
	// decodeJ2K on garbage.
	for _, b := range [][]byte{nil, {0xFF}, {0xFF, 0x4F, 0xFF, 0x51}, bytes.Repeat([]byte{0xFF, 0x4F, 0xFF, 0x51, 0, 0}, 10)} {
		if _, err := decodeJ2K(b, 0); err == nil {
			t.Fatalf("decodeJ2K(% x) succeeded", b)
		}
	}
}

func TestJ2KTranscodeFormats(t *testing.T) {
	p := j2kImage(70, 50, 1, j2kSamples[2], 5)
	st, err := Transcode(p, FormatJ2K)
	if err != nil || st.TransferSyntax != tsJ2KLossless {
		t.Fatalf("JPEG_2000_LOSSLESS: %v", err)
	}
	if _, err := Transcode(p, Format("JPEG_XL")); err == nil {
		t.Fatal("an unknown format was accepted")
	}
}

func FuzzDecodeJ2K(f *testing.F) {
	for _, s := range []j2kSample{j2kSamples[0], j2kSamples[3]} {
		cs, err := EncodeJ2K(j2kImage(70, 33, 3, s, 6))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cs, 0)
		f.Add(cs, 1)
	}
	f.Fuzz(func(t *testing.T, cs []byte, skip int) {
		defer func(old int64) { MaxFrameBytes = old }(MaxFrameBytes)
		MaxFrameBytes = 1 << 22
		p, err := decodeJ2K(cs, skip)
		if err == nil && int64(len(p.Data)) != int64(p.Width)*int64(p.Height)*int64(p.Components)*int64(p.BytesPerSample) {
			t.Fatalf("decoded %d bytes for %dx%dx%d", len(p.Data), p.Width, p.Height, p.Components)
		}
	})
}

// BenchmarkEncodeJ2K is EncodeJ2K on the 512x512 12-bit CT phantom, for
// comparison with BenchmarkEncodeHTJ2K.
func BenchmarkEncodeJ2K(b *testing.B) {
	p := ctPhantom()
	b.SetBytes(int64(len(p.Data)))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		cs, err := EncodeJ2K(p)
		if err != nil {
			b.Fatal(err)
		}
		n = len(cs)
	}
	b.ReportMetric(float64(len(p.Data))/float64(n), "ratio")
}

// BenchmarkTranscodeJ2K is the importer's codec work for a
// JPEG_2000_LOSSLESS data store: encode, decodes at every resolution level
// for the checksums and the verification, and min/max.
func BenchmarkTranscodeJ2K(b *testing.B) {
	p := ctPhantom()
	b.SetBytes(int64(len(p.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Transcode(p, FormatJ2K); err != nil {
			b.Fatal(err)
		}
	}
}

// TestJ2KSampleLimit: frames above MaxJ2KSamples are Unsupported (the
// importer keeps them as received) rather than handed to OpenJPEG.
func TestJ2KSampleLimit(t *testing.T) {
	defer func(n int64) { MaxJ2KSamples = n }(MaxJ2KSamples)
	MaxJ2KSamples = 100
	p := &Pixels{Width: 11, Height: 10, Components: 1, BytesPerSample: 1, BitsStored: 8, Data: make([]byte, 110)}
	_, err := Transcode(p, FormatJ2K)
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != CodeUnsupported {
		t.Fatalf("Transcode of 110 samples with a limit of 100: %v, want Unsupported", err)
	}
	p = &Pixels{Width: 10, Height: 10, Components: 1, BytesPerSample: 1, BitsStored: 8, Data: make([]byte, 100)}
	if _, err := Transcode(p, FormatJ2K); err != nil {
		t.Fatalf("Transcode of 100 samples: %v", err)
	}
}
