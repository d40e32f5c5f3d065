package codec

/*
#cgo CFLAGS: -O3
#include "cthreads.h"
*/
import "C"

import (
	"hash/crc32"
	"runtime"
	"sync"
	"unsafe"
)

// lowresPool recycles lowResChecksums' working memory (about a third of a
// sample per pixel, and the lower levels' samples), so that it is not
// allocated and faulted in for every frame. Buffers above maxPooledScratch
// samples or bytes are not kept.
var lowresPool sync.Pool

const maxPooledScratch = 1 << 24

// lowresBufs is the working memory of one lowResChecksums call.
type lowresBufs struct {
	scratch []int32
	out     []byte
}

// lowResChecksums returns, lowest resolution first, the size and CRC-32 of
// the images a decoder reconstructs from a lossless (reversible 5/3)
// codestream of p with d decompositions when it leaves out the d, d-1, ...
// 1 highest resolution levels: the LL band of each decomposition level,
// clamped to the range of precision prec and laid out like Pixels.Data.
//
// A decoder's reduced-resolution output is that LL band exactly when its
// full-resolution output is p: the reversible transform is a bijection on
// integers, so a codestream that decodes to p carries exactly the forward
// transform of p. Transcode checks the full-resolution decode first and then
// computes the lower levels here (lowres.c), which costs less than
// decoding the codestream once more per level. TestLowResChecksums compares the two.
func lowResChecksums(p *Pixels, prec, d int) ([]LevelChecksum, error) {
	if d <= 0 {
		return nil, nil
	}
	lo, hi := storedRange(prec, p.Signed)
	sizes := make([][2]int, d)
	total := 0
	w, h := p.Width, p.Height
	for l := range sizes {
		w, h = (w+1)/2, (h+1)/2
		sizes[l] = [2]int{w, h}
		total += w * h * p.Components * p.BytesPerSample
	}
	signed := 0
	if p.Signed {
		signed = 1
	}
	need := int(C.ohi_lowres_scratch(C.uint32_t(p.Width), C.uint32_t(p.Height)))
	bufs, _ := lowresPool.Get().(*lowresBufs)
	if bufs == nil {
		bufs = &lowresBufs{}
	}
	if cap(bufs.scratch) < need {
		bufs.scratch = make([]int32, need)
	}
	if cap(bufs.out) < total {
		bufs.out = make([]byte, total)
	}
	scratch, out := bufs.scratch[:need], bufs.out[:total]
	var pin runtime.Pinner
	pin.Pin(&scratch[0])
	c := &C.ohi_lowres_call{px: pinBytes(&pin, p.Data), w: C.uint32_t(p.Width), h: C.uint32_t(p.Height),
		comps: C.uint32_t(p.Components), bps: C.uint32_t(p.BytesPerSample), is_signed: C.int(signed), d: C.uint32_t(d),
		lo: C.int32_t(lo), hi: C.int32_t(hi), out: pinBytes(&pin, out), out_len: C.size_t(total),
		scratch: (*C.int32_t)(unsafe.Pointer(&scratch[0])), scratch_len: C.size_t(need)}
	pin.Pin(c)
	run(&pin, C.ohi_call_fn(C.ohi_lowres_run), unsafe.Pointer(c), p.Width*p.Height*p.Components)
	pin.Unpin()
	rc := c.status
	// The buffers go back to the pool once the checksums are taken.
	defer func() {
		if need <= maxPooledScratch && total <= maxPooledScratch {
			lowresPool.Put(bufs)
		}
	}()
	if rc != 0 {
		return nil, unsupportedf("cannot compute the lower resolution levels of a %dx%d image", p.Width, p.Height)
	}
	sums := make([]LevelChecksum, d)
	for l, sz := range sizes {
		n := sz[0] * sz[1] * p.Components * p.BytesPerSample
		sums[d-1-l] = LevelChecksum{Width: sz[0], Height: sz[1], Checksum: crc32.ChecksumIEEE(out[:n])}
		out = out[n:]
	}
	return sums, nil
}
