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
	l := newLowRes(p, prec, d)
	var pin runtime.Pinner
	run(&pin, p.Width*p.Height*p.Components, l.job())
	pin.Unpin()
	return l.checksums()
}

// lowRes is one lowResChecksums computation, in three steps so that its C
// call can be chained to another (run): newLowRes, then run the call job
// returns, then checksums.
type lowRes struct {
	p      *Pixels
	d      int
	sizes  [][2]int
	need   int
	total  int
	bufs   *lowresBufs
	pin    runtime.Pinner
	c      *C.ohi_lowres_call
	closed bool
}

// newLowRes prepares the lowResChecksums call for p, prec and d > 0. The
// caller runs job, then calls checksums, which releases the memory.
func newLowRes(p *Pixels, prec, d int) *lowRes {
	l := &lowRes{p: p, d: d, sizes: make([][2]int, d)}
	w, h := p.Width, p.Height
	for i := range l.sizes {
		w, h = (w+1)/2, (h+1)/2
		l.sizes[i] = [2]int{w, h}
		l.total += w * h * p.Components * p.BytesPerSample
	}
	lo, hi := storedRange(prec, p.Signed)
	signed := 0
	if p.Signed {
		signed = 1
	}
	l.need = int(C.ohi_lowres_scratch(C.uint32_t(p.Width), C.uint32_t(p.Height)))
	l.bufs, _ = lowresPool.Get().(*lowresBufs)
	if l.bufs == nil {
		l.bufs = &lowresBufs{}
	}
	if cap(l.bufs.scratch) < l.need {
		l.bufs.scratch = make([]int32, l.need)
	}
	if cap(l.bufs.out) < l.total {
		l.bufs.out = make([]byte, l.total)
	}
	scratch, out := l.bufs.scratch[:l.need], l.bufs.out[:l.total]
	l.pin.Pin(&scratch[0])
	l.c = &C.ohi_lowres_call{px: pinBytes(&l.pin, p.Data), w: C.uint32_t(p.Width), h: C.uint32_t(p.Height),
		comps: C.uint32_t(p.Components), bps: C.uint32_t(p.BytesPerSample), is_signed: C.int(signed), d: C.uint32_t(d),
		lo: C.int32_t(lo), hi: C.int32_t(hi), out: pinBytes(&l.pin, out), out_len: C.size_t(l.total),
		scratch: (*C.int32_t)(unsafe.Pointer(&scratch[0])), scratch_len: C.size_t(l.need), status: -1}
	l.pin.Pin(l.c)
	return l
}

// job returns the C call; its memory stays pinned until checksums.
func (l *lowRes) job() cjob {
	return cjob{C.ohi_call_fn(C.ohi_lowres_run), unsafe.Pointer(l.c)}
}

// checksums returns the result of the job and releases the working memory;
// a caller that gives up before running the job calls it too. It returns
// an error when the job did not run or failed.
func (l *lowRes) checksums() ([]LevelChecksum, error) {
	if l.closed {
		panic("codec: lowRes.checksums called twice")
	}
	l.closed = true
	l.pin.Unpin()
	rc := l.c.status
	// The buffers go back to the pool once the checksums are taken.
	defer func() {
		if l.need <= maxPooledScratch && l.total <= maxPooledScratch {
			lowresPool.Put(l.bufs)
		}
	}()
	if rc != 0 {
		return nil, unsupportedf("cannot compute the lower resolution levels of a %dx%d image", l.p.Width, l.p.Height)
	}
	out := l.bufs.out[:l.total]
	sums := make([]LevelChecksum, l.d)
	for i, sz := range l.sizes {
		n := sz[0] * sz[1] * l.p.Components * l.p.BytesPerSample
		sums[l.d-1-i] = LevelChecksum{Width: sz[0], Height: sz[1], Checksum: crc32.ChecksumIEEE(out[:n])}
		out = out[n:]
	}
	return sums, nil
}
