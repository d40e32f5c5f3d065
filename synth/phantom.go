package synth

import "math"

// tissue values of the phantom, in HU for CT and arbitrary units for MR.
type tissues struct{ air, body, lung, bone, table, heart, noise float64 }

var (
	ctTissues = tissues{air: -1000, body: 40, lung: -850, bone: 700, table: 200, heart: 60, noise: 12}
	mrTissues = tissues{air: 0, body: 600, lung: 40, bone: 250, table: 0, heart: 900, noise: 8}
)

// pixelFormat maps a phantom value to stored pixel values.
type pixelFormat struct {
	bytes      int  // 1 or 2
	signed     bool // PixelRepresentation 1
	bigEndian  bool
	intercept  float64
	slope      float64
	min, max   float64 // stored value range
	bitsStored int
}

func formatFor(c Config, bigEndian bool) pixelFormat {
	f := pixelFormat{bytes: c.Bits / 8, signed: c.Signed, bigEndian: bigEndian, slope: 1}
	switch {
	case c.Bits == 16 && !c.Signed:
		f.bitsStored, f.min, f.max = 12, 0, 4095
		if c.Modality == "CT" {
			f.intercept = -1024
		}
	case c.Bits == 16 && c.Signed:
		f.bitsStored, f.min, f.max = 16, -32768, 32767
	case c.Bits == 8 && !c.Signed:
		f.bitsStored, f.min, f.max = 8, 0, 255
		f.slope = 8
		if c.Modality == "CT" {
			f.slope, f.intercept = 16, -1024
		}
	default: // 8-bit signed
		f.bitsStored, f.min, f.max = 8, -128, 127
		f.slope = 8
		if c.Modality == "CT" {
			f.slope = 16
		}
	}
	return f
}

// rng is a xorshift64* generator: fast and deterministic.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 2685821657736338717
}

// noise returns roughly normal noise with unit deviation (sum of four
// uniforms, scaled).
func (r *rng) noise() float64 {
	v := r.next()
	s := float64(v&0xFFFF) + float64(v>>16&0xFFFF) + float64(v>>32&0xFFFF) + float64(v>>48)
	return (s/65536 - 2) * 1.7320508
}

// span returns the x range [x0, x1) of an ellipse (center cx, cy, radii
// rx, ry in pixels) on row y, or ok false.
func span(y, cx, cy, rx, ry float64, cols int) (int, int, bool) {
	dy := (y - cy) / ry
	if dy*dy >= 1 {
		return 0, 0, false
	}
	h := rx * math.Sqrt(1-dy*dy)
	x0 := int(math.Ceil(cx - h))
	x1 := int(math.Floor(cx+h)) + 1
	x0 = max(x0, 0)
	x1 = min(x1, cols)
	return x0, x1, x0 < x1
}

// renderFrame writes one phantom slice at relative position z (0..1) into
// dst (rows*cols*bytes bytes) using the stored-value format f.
func renderFrame(dst []byte, rows, cols int, z float64, t tissues, f pixelFormat, seed uint64) {
	r := rng(seed | 1)
	row := make([]float64, cols)
	W, H := float64(cols), float64(rows)
	lungScale := 0.6 + 0.4*math.Sin(math.Pi*z)
	heartR := 0.09 * math.Max(0, math.Sin(math.Pi*(z*1.4-0.2)))
	inv := 1 / f.slope
	for y := range rows {
		fy := float64(y) + 0.5
		for x := range row {
			row[x] = t.air
		}
		fill := func(x0, x1 int, v float64) {
			for x := x0; x < x1; x++ {
				row[x] = v
			}
		}
		if x0, x1, ok := span(fy, W*0.5, H*0.5, W*0.42, H*0.32, cols); ok {
			fill(x0, x1, t.body)
		}
		for _, cx := range []float64{0.32, 0.68} {
			if x0, x1, ok := span(fy, W*cx, H*0.45, W*0.11*lungScale+1, H*0.17*lungScale+1, cols); ok {
				fill(x0, x1, t.lung)
			}
		}
		if heartR > 0 {
			if x0, x1, ok := span(fy, W*0.55, H*0.52, W*heartR+1, H*heartR+1, cols); ok {
				fill(x0, x1, t.heart)
			}
		}
		if x0, x1, ok := span(fy, W*0.5, H*0.7, W*0.05+1, H*0.05+1, cols); ok {
			fill(x0, x1, t.bone)
		}
		if fy > H*0.86 && fy < H*0.88 {
			fill(int(W*0.1), int(W*0.9), t.table)
		}
		off := y * cols * f.bytes
		for x, v := range row {
			sigma := t.noise
			if v == t.air {
				sigma *= 0.25
			}
			s := math.Round((v + sigma*r.noise() - f.intercept) * inv)
			s = min(max(s, f.min), f.max)
			u := uint16(int32(s)) // two's complement for signed values
			if f.bytes == 1 {
				dst[off+x] = byte(u)
			} else if f.bigEndian {
				dst[off+2*x], dst[off+2*x+1] = byte(u>>8), byte(u)
			} else {
				dst[off+2*x], dst[off+2*x+1] = byte(u), byte(u>>8)
			}
		}
	}
}
