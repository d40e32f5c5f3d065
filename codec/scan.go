package codec

// #include "lowres.h"
import "C"

// rawRange returns the smallest and largest sample of p read as whole
// BytesPerSample integers, two's complement when p.Signed (ohi_range in
// lowres.c, which the C compiler vectorises).
func rawRange(p *Pixels) (lo, hi int64) {
	if p.BytesPerSample != 1 && p.BytesPerSample != 2 && p.BytesPerSample != 4 {
		return 0, 0
	}
	n := len(p.Data) / p.BytesPerSample
	if n == 0 {
		return 0, 0
	}
	signed := 0
	if p.Signed {
		signed = 1
	}
	var l, h C.int64_t
	C.ohi_range(cbytes(p.Data), C.size_t(n), C.uint32_t(p.BytesPerSample), C.int(signed), &l, &h)
	return int64(l), int64(h)
}

// storedRange is the range of BitsStored-bit values (signed when signed).
func storedRange(bits int, signed bool) (lo, hi int64) {
	if signed {
		return -(int64(1) << (bits - 1)), int64(1)<<(bits-1) - 1
	}
	return 0, int64(1)<<bits - 1
}
