package codec

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// naiveMinMax is MinMax written the obvious way, sample by sample.
func naiveMinMax(p *Pixels) (lo, hi int64) {
	bits := p.BitsStored
	if bits <= 0 || bits > 8*p.BytesPerSample {
		bits = 8 * p.BytesPerSample
	}
	lo, hi = 1<<62, -(1 << 62)
	for i := 0; i+p.BytesPerSample <= len(p.Data); i += p.BytesPerSample {
		var u uint64
		for j := p.BytesPerSample - 1; j >= 0; j-- {
			u = u<<8 | uint64(p.Data[i+j])
		}
		u &= 1<<bits - 1
		v := int64(u)
		if p.Signed && u>>(bits-1) == 1 {
			v -= 1 << bits
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// TestMinMaxReference compares MinMax (and its fast whole-sample pass) with
// naiveMinMax on random samples of every size and sign, with and without
// bits set above BitsStored, and with odd sample counts.
func TestMinMaxReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, bps := range []int{1, 2, 4} {
		for _, signed := range []bool{false, true} {
			for _, bits := range []int{1, 7, 8, 12, 15, 16, 24, 31, 32} {
				if bits > 8*bps {
					continue
				}
				for _, garbage := range []bool{false, true} {
					for _, n := range []int{1, 2, 3, 17, 1000} {
						p := &Pixels{Width: n, Height: 1, Components: 1, BytesPerSample: bps, BitsStored: bits, Signed: signed, Data: make([]byte, n*bps)}
						for i := 0; i < n; i++ {
							v := r.Uint64() & (1<<bits - 1)
							if signed && v>>(bits-1) == 1 && !garbage {
								v |= ^uint64(0) << bits // sign-extended, as a clean signed sample is
							}
							if garbage {
								v |= r.Uint64() << bits
							}
							var b [8]byte
							binary.LittleEndian.PutUint64(b[:], v)
							copy(p.Data[i*bps:], b[:bps])
						}
						name := fmt.Sprintf("bps=%d signed=%v bits=%d garbage=%v n=%d", bps, signed, bits, garbage, n)
						lo, hi := MinMax(p)
						wlo, whi := naiveMinMax(p)
						if lo != wlo || hi != whi {
							t.Fatalf("%s: MinMax = %d, %d, want %d, %d", name, lo, hi, wlo, whi)
						}
						q := *p
						q.BitsStored = 8 * bps
						lo, hi = rawRange(p)
						wlo, whi = naiveMinMax(&q)
						if lo != wlo || hi != whi {
							t.Fatalf("%s: rawRange = %d, %d, want %d, %d", name, lo, hi, wlo, whi)
						}
					}
				}
			}
		}
	}
}
