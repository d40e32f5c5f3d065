package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"testing"
)

// ctPhantom returns a 512x512 CT-like slice: 12-bit stored values (HU+1024)
// of an elliptic body with lungs, spine and table, plus Gaussian-like noise
// of about 12 HU, little endian.
func ctPhantom() *Pixels {
	const n = 512
	p := &Pixels{Width: n, Height: n, Components: 1, BitsStored: 12, BytesPerSample: 2, Data: make([]byte, n*n*2)}
	s := uint64(88172645463325252)
	noise := func() float64 {
		var sum float64
		for range 4 {
			s ^= s << 13
			s ^= s >> 7
			s ^= s << 17
			sum += float64(s%10000) / 10000
		}
		return (sum - 2) * 12 * math.Sqrt(3)
	}
	in := func(x, y, cx, cy, rx, ry float64) bool {
		dx, dy := (x-cx)/rx, (y-cy)/ry
		return dx*dx+dy*dy <= 1
	}
	for y := range n {
		for x := range n {
			fx, fy := float64(x), float64(y)
			hu := -1000.0
			switch {
			case fy > 440 && fy < 452 && fx > 60 && fx < 452:
				hu = 200 // table
			case in(fx, fy, 256, 250, 200, 150):
				hu = 40
				switch {
				case in(fx, fy, 256, 360, 22, 20):
					hu = 700 // spine
				case in(fx, fy, 180, 230, 60, 90), in(fx, fy, 332, 230, 60, 90):
					hu = -850 // lungs
				case in(fx, fy, 270, 280, 45, 40):
					hu = 60 // heart
				}
			}
			v := int(math.Round(hu + 1024 + noise()))
			binary.LittleEndian.PutUint16(p.Data[2*(y*n+x):], uint16(min(max(v, 0), 4095)))
		}
	}
	return p
}

// TestPhantomPGM writes the benchmark phantom as a 16-bit PGM for
// bench/codec.sh (only when OHI_PHANTOM_PGM names the output file) and
// checks that it round-trips.
func TestPhantomPGM(t *testing.T) {
	p := ctPhantom()
	cs := roundTrip(t, p)
	t.Logf("phantom: %d bytes -> %d bytes HTJ2K (%.2f:1)", len(p.Data), len(cs), float64(len(p.Data))/float64(len(cs)))
	out := os.Getenv("OHI_PHANTOM_PGM")
	if out == "" {
		return
	}
	pgm := fmt.Appendf(nil, "P5\n%d %d\n4095\n", p.Width, p.Height)
	for i := 0; i < len(p.Data); i += 2 {
		pgm = binary.BigEndian.AppendUint16(pgm, binary.LittleEndian.Uint16(p.Data[i:]))
	}
	if err := os.WriteFile(out, pgm, 0o644); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkEncodeHTJ2K(b *testing.B) {
	p := ctPhantom()
	b.SetBytes(int64(len(p.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeHTJ2K(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeHTJ2K(b *testing.B) {
	p := ctPhantom()
	cs, err := EncodeHTJ2K(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(p.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeHTJ2K(cs, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChecksums(b *testing.B) {
	p := ctPhantom()
	cs, err := EncodeHTJ2K(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(p.Data)))
	for b.Loop() {
		if _, err := Checksums(cs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTranscode is the importer's codec work after decoding: encode,
// verifying decode, checksums at every level and min/max.
func BenchmarkTranscode(b *testing.B) {
	p := ctPhantom()
	b.SetBytes(int64(len(p.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Transcode(p, FormatHTJ2K); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMinMax(b *testing.B) {
	p := ctPhantom()
	b.SetBytes(int64(len(p.Data)))
	for b.Loop() {
		MinMax(p)
	}
}

func BenchmarkLowResChecksums(b *testing.B) {
	p := ctPhantom()
	b.SetBytes(int64(len(p.Data)))
	for b.Loop() {
		if _, err := lowResChecksums(p, 12, 3); err != nil {
			b.Fatal(err)
		}
	}
}
