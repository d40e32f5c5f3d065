package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// TestCodecThreads checks that calls run on the codec threads give exactly
// what the same calls give on the calling goroutine, with many more
// goroutines than threads calling at once, and that they do run there.
func TestCodecThreads(t *testing.T) {
	defer func(n int) { offloadMinSamples = n }(offloadMinSamples)
	cases := []*Pixels{
		lowResCase(300, 211, 1, 2, false, 0, 4095, 1),
		lowResCase(97, 64, 3, 1, false, 0, 255, 2),
		lowResCase(256, 129, 1, 2, true, -2000, 3000, 3),
		lowResCase(64, 300, 1, 4, false, 0, 1<<20-1, 4),
	}
	type result struct {
		ht, j2k, decoded []byte
		sums             []LevelChecksum
		lo, hi           int64
	}
	do := func(p *Pixels) (result, error) {
		st, err := Transcode(p, FormatHTJ2K)
		if err != nil {
			return result{}, err
		}
		j, err := Transcode(p, FormatJ2K)
		if err != nil {
			return result{}, err
		}
		if !slices.Equal(st.Checksums, j.Checksums) {
			return result{}, fmt.Errorf("HTJ2K checksums %v, JPEG 2000 %v", st.Checksums, j.Checksums)
		}
		q, err := DecodeHTJ2K(st.Codestream, 1)
		if err != nil {
			return result{}, err
		}
		return result{ht: st.Codestream, j2k: j.Codestream, decoded: q.Data, sums: st.Checksums, lo: st.Min, hi: st.Max}, nil
	}

	offloadMinSamples = math.MaxInt // everything on the calling thread
	want := make([]result, len(cases))
	for i, p := range cases {
		var err error
		if want[i], err = do(p); err != nil {
			t.Fatalf("case %d inline: %v", i, err)
		}
	}

	offloadMinSamples = 0 // everything on the codec threads
	before := cthreads.offloaded.Load()
	goroutines := 4 * max(runtime.NumCPU(), runtime.GOMAXPROCS(0))
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for k := range len(cases) {
				i := (g + k) % len(cases)
				got, err := do(cases[i])
				switch {
				case err != nil:
					errs <- fmt.Errorf("case %d: %v", i, err)
					return
				case !bytes.Equal(got.ht, want[i].ht), !bytes.Equal(got.j2k, want[i].j2k), !bytes.Equal(got.decoded, want[i].decoded),
					!slices.Equal(got.sums, want[i].sums), got.lo != want[i].lo, got.hi != want[i].hi:
					errs <- fmt.Errorf("case %d: the codec threads gave a different result", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Per case: the HTJ2K encode with the lower-level checksums chained to
	// it and its verifying decode; the JPEG 2000 encode, its verifying
	// decodes (one per level) and its checksums; a reduced decode.
	if n := cthreads.offloaded.Load() - before; n < int64(goroutines*len(cases)*5) {
		t.Fatalf("%d calls ran on the codec threads, want at least %d", n, goroutines*len(cases)*5)
	}

	// A failed verification is reported the same way from a codec thread.
	p := cases[0]
	hdr, err := htHeader(want[0].ht)
	if err != nil {
		t.Fatal(err)
	}
	q := *p
	q.Data = bytes.Clone(p.Data)
	q.Data[len(q.Data)/3] ^= 4
	if err := verifyHT(want[0].ht, hdr, &q); !errors.Is(err, ErrVerify) {
		t.Fatalf("verifyHT of changed pixels on a codec thread = %v, want ErrVerify", err)
	}
}
