package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"testing"
)

// sampleGen returns deterministic, image-like sample values in [lo, hi]:
// a smooth gradient with disks and noise, plus both extremes.
func sampleGen(lo, hi int64, seed uint64) func(x, y, c int) int64 {
	s := seed | 1
	rnd := func() uint64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
	span := float64(hi - lo)
	return func(x, y, c int) int64 {
		if x == 0 && y == 0 {
			return lo
		}
		if x == 1 && y == 0 {
			return hi
		}
		v := 0.25 + 0.2*math.Sin(float64(x)/7+float64(c)) + 0.2*math.Cos(float64(y)/5)
		if dx, dy := float64(x%23-11), float64(y%19-9); dx*dx+dy*dy < 30 {
			v += 0.3
		}
		v += float64(rnd()%1000)/1000*0.1 - 0.05
		r := lo + int64(v*span)
		return min(max(r, lo), hi)
	}
}

type genCase struct {
	name                            string
	rows, cols, spp, ba, bs, pr, pc int
	frames                          int
	bigEndian                       bool
}

// native builds the native pixel data of c (as a DICOM file stores it) and
// the expected decoded pixels of each frame.
func (c genCase) native() ([]byte, []*Pixels) {
	lo, hi := int64(0), int64(1)<<c.bs-1
	if c.pr == 1 {
		lo, hi = -(int64(1) << (c.bs - 1)), int64(1)<<(c.bs-1)-1
	}
	bps := max(c.ba/8, 1)
	var raw []byte
	var bitbuf []byte
	nbits := 0
	var want []*Pixels
	for f := 0; f < c.frames; f++ {
		gen := sampleGen(lo, hi, uint64(f+1)*7919)
		p := &Pixels{Width: c.cols, Height: c.rows, Components: c.spp, BitsStored: c.bs, Signed: c.pr == 1, BytesPerSample: bps,
			Data: make([]byte, c.rows*c.cols*c.spp*bps)}
		planes := make([][]byte, c.spp)
		for y := 0; y < c.rows; y++ {
			for x := 0; x < c.cols; x++ {
				for s := 0; s < c.spp; s++ {
					v := gen(x, y, s)
					i := (y*c.cols+x)*c.spp + s
					putSample(p.Data[i*bps:], bps, v)
					if c.ba == 1 {
						if nbits%8 == 0 {
							bitbuf = append(bitbuf, 0)
						}
						bitbuf[nbits/8] |= byte(v) << (nbits % 8)
						nbits++
						continue
					}
					b := make([]byte, bps)
					putSample(b, bps, v)
					if c.bigEndian {
						for l, r := 0, bps-1; l < r; l, r = l+1, r-1 {
							b[l], b[r] = b[r], b[l]
						}
					}
					if c.pc == 1 {
						planes[s] = append(planes[s], b...)
					} else {
						raw = append(raw, b...)
					}
				}
			}
		}
		if c.pc == 1 {
			for _, pl := range planes {
				raw = append(raw, pl...)
			}
		}
		want = append(want, p)
	}
	if c.ba == 1 {
		return bitbuf, want
	}
	return raw, want
}

func (c genCase) image() Image {
	pi := "MONOCHROME2"
	if c.spp == 3 {
		pi = "RGB"
	}
	return Image{Rows: c.rows, Columns: c.cols, SamplesPerPixel: c.spp, BitsAllocated: c.ba, BitsStored: c.bs,
		PixelRepresentation: c.pr, PlanarConfiguration: c.pc, Photometric: pi}
}

var genCases = []genCase{
	{name: "1bit", rows: 37, cols: 29, spp: 1, ba: 1, bs: 1, frames: 3},
	{name: "8u", rows: 70, cols: 90, spp: 1, ba: 8, bs: 8, frames: 2},
	{name: "8s", rows: 33, cols: 65, spp: 1, ba: 8, bs: 8, pr: 1, frames: 2},
	{name: "12in16u", rows: 130, cols: 100, spp: 1, ba: 16, bs: 12, frames: 2},
	{name: "12in16s", rows: 64, cols: 200, spp: 1, ba: 16, bs: 12, pr: 1, frames: 2},
	{name: "16u", rows: 96, cols: 96, spp: 1, ba: 16, bs: 16, frames: 2},
	{name: "16s", rows: 96, cols: 97, spp: 1, ba: 16, bs: 16, pr: 1, frames: 2},
	{name: "16u-bigendian", rows: 50, cols: 60, spp: 1, ba: 16, bs: 16, frames: 2, bigEndian: true},
	{name: "8in16u", rows: 40, cols: 40, spp: 1, ba: 16, bs: 8, frames: 1},
	{name: "rgb8-planar0", rows: 70, cols: 66, spp: 3, ba: 8, bs: 8, frames: 2},
	{name: "rgb8-planar1", rows: 70, cols: 66, spp: 3, ba: 8, bs: 8, pc: 1, frames: 2},
	{name: "rgb16-planar1", rows: 31, cols: 47, spp: 3, ba: 16, bs: 16, pc: 1, frames: 2},
	{name: "24in32u", rows: 40, cols: 50, spp: 1, ba: 32, bs: 24, frames: 2},
	{name: "26in32s", rows: 40, cols: 50, spp: 1, ba: 32, bs: 26, pr: 1, frames: 2},
	{name: "32u-small-values", rows: 40, cols: 50, spp: 1, ba: 32, bs: 20, frames: 1},
	{name: "1x1", rows: 1, cols: 1, spp: 1, ba: 16, bs: 16, frames: 1},
	{name: "wide", rows: 3, cols: 1000, spp: 1, ba: 16, bs: 12, frames: 1},
}

// TestRoundTripGenerated slices generated multi-frame native pixel data into
// frames the way package dicom does, decodes each frame, encodes it and
// decodes the codestream with OpenJPEG: the bytes must be the original
// pixels.
func TestRoundTripGenerated(t *testing.T) {
	for _, c := range genCases {
		t.Run(c.name, func(t *testing.T) {
			raw, want := c.native()
			ts := tsExplicitLE
			if c.bigEndian {
				ts = tsExplicitBE
			}
			frameBits := c.rows * c.cols * c.spp * c.ba
			for f := range want {
				img := c.image()
				start := f * frameBits
				img.BitOffset = start % 8
				frame := raw[start/8 : (start+frameBits+7)/8+0]
				if c.ba == 1 {
					frame = raw[start/8 : (start+frameBits+7)/8]
				}
				got, err := Decode(frame, ts, img)
				if err != nil {
					t.Fatalf("frame %d: Decode: %v", f, err)
				}
				if !bytes.Equal(got.Data, want[f].Data) || got.BytesPerSample != want[f].BytesPerSample || got.Components != c.spp {
					t.Fatalf("frame %d: Decode differs from the generated pixels (byte %d)", f, firstDiff(got.Data, want[f].Data))
				}
				wantLo, wantHi := rangeOfValues(c, f)
				if lo, hi := MinMax(got); lo != wantLo || hi != wantHi {
					t.Fatalf("frame %d: MinMax = %d, %d, want %d, %d", f, lo, hi, wantLo, wantHi)
				}
				roundTrip(t, got)
			}
		})
	}
}

// rangeOfValues recomputes the range of the values sampleGen gave frame f.
func rangeOfValues(c genCase, f int) (lo, hi int64) {
	vlo, vhi := int64(0), int64(1)<<c.bs-1
	if c.pr == 1 {
		vlo, vhi = -(int64(1) << (c.bs - 1)), int64(1)<<(c.bs-1)-1
	}
	gen := sampleGen(vlo, vhi, uint64(f+1)*7919)
	lo, hi = math.MaxInt64, math.MinInt64
	for y := 0; y < c.rows; y++ {
		for x := 0; x < c.cols; x++ {
			for s := 0; s < c.spp; s++ {
				v := gen(x, y, s)
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	return lo, hi
}

// TestRoundTripRawBits checks that bits above BitsStored (overlay bits,
// unsigned 12-bit data with garbage above bit 11, signed values not sign
// extended) survive: the codestream precision grows to keep them.
func TestRoundTripRawBits(t *testing.T) {
	for _, signed := range []bool{false, true} {
		p := &Pixels{Width: 64, Height: 48, Components: 1, BitsStored: 12, Signed: signed, BytesPerSample: 2, Data: make([]byte, 64*48*2)}
		for i := range 64 * 48 {
			v := uint16(i*37) & 0x0FFF
			if i%5 == 0 {
				v |= 0xA000 // bits above HighBit
			}
			binary.LittleEndian.PutUint16(p.Data[2*i:], v)
		}
		roundTrip(t, p)
		lo, hi := MinMax(p)
		if signed && (lo < -2048 || hi > 2047) || !signed && (lo < 0 || hi > 4095) {
			t.Fatalf("MinMax %d, %d ignores BitsStored", lo, hi)
		}
	}
}

// TestPrecisionLimit checks the largest precision at the largest number of
// decompositions, and that anything larger is refused, not mis-encoded.
func TestPrecisionLimit(t *testing.T) {
	w, h := 65535, 2
	for _, signed := range []bool{false, true} {
		p := &Pixels{Width: w, Height: h, Components: 1, BitsStored: 32, Signed: signed, BytesPerSample: 4, Data: make([]byte, w*h*4)}
		lo, hi := int64(0), int64(1)<<MaxHTJ2KPrecision-1
		if signed {
			lo, hi = -(int64(1) << (MaxHTJ2KPrecision - 1)), int64(1)<<(MaxHTJ2KPrecision-1)-1
		}
		gen := sampleGen(lo, hi, 3)
		for i := range w * h {
			v := gen(i%w, i/w, 0)
			if i%2 == 1 {
				v = lo + (hi-v)/3 // full-range alternation for large wavelet coefficients
			}
			putSample(p.Data[4*i:], 4, v)
		}
		cs := roundTrip(t, p)
		if d := decompositions(w, h); cs == nil || d != 10 {
			t.Fatalf("decompositions %d", d)
		}
		// One more bit is refused.
		putSample(p.Data, 4, hi+1)
		if signed {
			putSample(p.Data, 4, lo-1)
		}
		_, err := EncodeHTJ2K(p)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeUnsupported {
			t.Fatalf("EncodeHTJ2K of %d-bit samples: %v, want Unsupported", MaxHTJ2KPrecision+1, err)
		}
	}
}

// TestChecksumsLevels checks every level of Checksums against a reduced
// decode and the level sizes against the halving rule.
func TestChecksumsLevels(t *testing.T) {
	c := genCase{rows: 300, cols: 513, spp: 1, ba: 16, bs: 12, frames: 1}
	_, want := c.native()
	cs, err := EncodeHTJ2K(want[0])
	if err != nil {
		t.Fatal(err)
	}
	sums, err := Checksums(cs)
	if err != nil {
		t.Fatal(err)
	}
	d := decompositions(513, 300)
	if len(sums) != d+1 || d != 4 {
		t.Fatalf("%d levels for %d decompositions", len(sums), d)
	}
	for i, s := range sums {
		skip := d - i
		w, h := (513+(1<<skip)-1)>>skip, (300+(1<<skip)-1)>>skip
		p, err := DecodeHTJ2K(cs, skip)
		if err != nil {
			t.Fatal(err)
		}
		if s.Width != w || s.Height != h || p.Width != w || p.Height != h || s.Checksum != crc32.ChecksumIEEE(p.Data) {
			t.Fatalf("level %d: %+v, decoded %dx%d, want %dx%d", i, s, p.Width, p.Height, w, h)
		}
		// OpenJPEG's reduced decode (-r skip) gives the same bytes.
		ow, oh, _, od := opjDecode(t, cs, 2, "-r", fmt.Sprint(skip))
		if ow != w || oh != h || !bytes.Equal(od, p.Data) {
			t.Fatalf("level %d: opj_decompress -r %d gives %dx%d and different bytes", i, skip, ow, oh)
		}
	}
	if _, err := DecodeHTJ2K(cs, d+1); err == nil {
		t.Fatal("skipping more levels than exist succeeded")
	}
}

// TestDecodeHTJ2KFrames decodes HTJ2K frames as DICOM input (.201-.203):
// the header must agree with the attributes, samples take the size
// BitsAllocated gives, and damaged codestreams give typed errors.
func TestDecodeHTJ2KFrames(t *testing.T) {
	for _, c := range []genCase{
		{rows: 40, cols: 30, spp: 1, ba: 16, bs: 8, frames: 1},
		{rows: 40, cols: 30, spp: 3, ba: 8, bs: 8, frames: 1},
		{rows: 40, cols: 30, spp: 1, ba: 16, bs: 12, pr: 1, frames: 1},
	} {
		_, want := c.native()
		cs, err := EncodeHTJ2K(want[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range []string{tsHTJ2KLossless, tsHTJ2KLosslessRPCL, tsHTJ2K} {
			p, err := Decode(cs, ts, c.image())
			if err != nil || !bytes.Equal(p.Data, want[0].Data) {
				t.Fatalf("%+v %s: %v", c, ts, err)
			}
		}
		bad := c.image()
		bad.Rows++
		var e *Error
		if _, err := Decode(cs, tsHTJ2KLosslessRPCL, bad); !errors.As(err, &e) || e.Code != CodeCorrupt {
			t.Fatalf("wrong Rows: %v", err)
		}
		for _, damaged := range [][]byte{cs[:3], cs[:40], append([]byte{0xFF, 0x4F, 0xFF, 0x51, 0, 2}, make([]byte, 60)...)} {
			if _, err := Decode(damaged, tsHTJ2KLosslessRPCL, c.image()); !errors.As(err, &e) {
				t.Fatalf("damaged codestream: %v", err)
			}
		}
	}
}

func TestKeepsOriginal(t *testing.T) {
	for ts, want := range map[string]bool{
		tsJPEGBaseline: true, tsJ2K: true, tsHTJ2K: true, "1.2.840.10008.1.2.4.102": true, "1.2.840.10008.1.2.4.107": true,
		tsExplicitLE: false, tsRLE: false, tsJ2KLossless: false, tsHTJ2KLosslessRPCL: false, tsJPEGExtended: false, tsJPEGLSNear: false,
	} {
		if KeepsOriginal(ts) != want {
			t.Errorf("KeepsOriginal(%s) = %v", ts, !want)
		}
	}
}
