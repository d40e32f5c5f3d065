package codec

// #include "cthreads.h"
import "C"

import (
	"errors"
	"fmt"
	"hash/crc32"
	"runtime"
	"unsafe"
)

// Format is the lossless storage format of a data store
// (CreateDatastore's losslessStorageFormat).
type Format string

// Storage formats.
const (
	// FormatHTJ2K stores HTJ2K Lossless RPCL (1.2.840.10008.1.2.4.202),
	// AWS HealthImaging's default.
	FormatHTJ2K Format = "HTJ2K"
	// FormatJ2K stores JPEG 2000 Lossless (1.2.840.10008.1.2.4.90).
	FormatJ2K Format = "JPEG_2000_LOSSLESS"
)

// Stored is a frame encoded for storage by Transcode.
type Stored struct {
	// Codestream is the encoded frame, as GetImageFrame returns it.
	Codestream []byte
	// TransferSyntax is the StoredTransferSyntaxUID of Codestream.
	TransferSyntax string
	// Checksums are the sizes and CRC-32s of the pixels decoded at every
	// resolution level of Codestream, lowest first (see Checksums).
	Checksums []LevelChecksum
	// Min and Max are MinMax of the pixels.
	Min, Max int64
}

// ErrVerify reports that a codestream does not decode to the pixels it was
// encoded from.
var ErrVerify = errors.New("codec: the codestream does not decode to the original pixels")

// Transcode encodes p losslessly in format f, checks that the codestream
// decodes to exactly p.Data, and returns it with its checksums and pixel
// range. A codestream that does not decode to p.Data gives ErrVerify;
// pixels the format cannot represent exactly give an *Error with Code
// CodeUnsupported.
func Transcode(p *Pixels, f Format) (*Stored, error) {
	switch f {
	case FormatHTJ2K, "":
		return transcodeHT(p)
	case FormatJ2K:
		return transcodeJ2K(p)
	}
	return nil, unsupportedf("storage format %q is not supported", string(f))
}

// transcodeHT is Transcode for FormatHTJ2K. It decodes the codestream once,
// at full resolution, and computes the checksums of the lower resolution
// levels from the pixels (lowResChecksums), which is exact once the full
// decode matched.
func transcodeHT(p *Pixels) (*Stored, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	rawLo, rawHi := rawRange(p) // one pass for the precision and min/max
	prec, d := precisionFor(p, rawLo, rawHi), decompositions(p.Width, p.Height)
	// The lower levels' checksums are computed on the encode's thread,
	// right after it (one switch between threads fewer); they are used
	// once the verifying decode has matched.
	var lr *lowRes
	var then []cjob
	if d > 0 && prec <= MaxHTJ2KPrecision && computesLowRes(p) {
		lr = newLowRes(p, prec, d)
		then = []cjob{lr.job()}
	}
	cs, err := encodeHT(p, prec, then...)
	var lowSums []LevelChecksum
	var lowErr error
	if lr != nil {
		lowSums, lowErr = lr.checksums()
	}
	if err != nil {
		return nil, err
	}
	hdr, err := htHeader(cs)
	if err != nil {
		return nil, err
	}
	if int(hdr.precision) != prec || int(hdr.decompositions) != d {
		return nil, fmt.Errorf("%w: the codestream has precision %d and %d decompositions, not %d and %d",
			ErrVerify, hdr.precision, hdr.decompositions, prec, d)
	}
	err = verifyHT(cs, hdr, p)
	if err != nil {
		if prec > 16 {
			// OpenJPH 0.9.0 fails on some content at high precisions
			// (noisy samples of 21 bits and more): the frame is kept
			// as it is rather than failed.
			return nil, unsupportedf("OpenJPH cannot encode these %d-bit samples exactly (%v)", prec, err)
		}
		if errors.Is(err, ErrVerify) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	sums, err := lowSums, lowErr
	if lr == nil && d > 0 {
		sums, err = decodedLowResChecksums(cs, hdr, p.BytesPerSample)
	}
	if err != nil {
		return nil, err
	}
	sums = append(sums, LevelChecksum{Width: p.Width, Height: p.Height, Checksum: crc32.ChecksumIEEE(p.Data)})
	lo, hi := minMaxFrom(p, rawLo, rawHi)
	return &Stored{Codestream: cs, TransferSyntax: tsHTJ2KLosslessRPCL, Checksums: sums, Min: lo, Max: hi}, nil
}

// verifyHT decodes cs (whose header is hdr) at full resolution and compares
// it with p.Data without storing the decoded frame; it returns ErrVerify
// when they differ.
func verifyHT(cs []byte, hdr C.ohi_ht_header, p *Pixels) error {
	if int(hdr.width) != p.Width || int(hdr.height) != p.Height || int(hdr.components) != p.Components ||
		bpsFor(int(hdr.precision)) != p.BytesPerSample {
		return ErrVerify
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	msg := make([]byte, errBuf)
	c := &C.ohi_ht_verify_call{cs: pinBytes(&pin, cs), len: C.size_t(len(cs)), w: C.uint32_t(p.Width), h: C.uint32_t(p.Height),
		comps: C.uint32_t(p.Components), bps: C.uint32_t(p.BytesPerSample), want: pinBytes(&pin, p.Data),
		want_len: C.size_t(len(p.Data)), err: pinChars(&pin, msg), errlen: errBuf}
	pin.Pin(c)
	run(&pin, p.Width*p.Height*p.Components, cjob{C.ohi_call_fn(C.ohi_ht_verify_run), unsafe.Pointer(c)})
	switch c.status {
	case C.OHI_OK:
		return nil
	case C.OHI_MISMATCH:
		return ErrVerify
	}
	return shimError(c.status, msg)
}

// LowResMaxSamples is the largest frame (in samples) whose lower-level
// checksums Transcode computes with lowResChecksums, which holds the first
// LL band of a component (1 byte per sample of the frame) and the frame
// itself. Larger frames get them by decoding the codestream at each reduced
// resolution instead (decodedLowResChecksums), which needs at most a quarter
// of the frame's bytes and costs a little more CPU. 1<<24 samples is a
// 4096x4096 image.
var LowResMaxSamples int64 = 1 << 24

// computesLowRes reports whether the lower-level checksums of p are
// computed (lowResChecksums) rather than decoded.
func computesLowRes(p *Pixels) bool {
	return int64(p.Width)*int64(p.Height)*int64(p.Components) <= LowResMaxSamples
}

// decodedLowResChecksums returns the checksums of every resolution level of
// cs below the full one, lowest first, by decoding it at each.
func decodedLowResChecksums(cs []byte, hdr C.ohi_ht_header, bps int) ([]LevelChecksum, error) {
	d := int(hdr.decompositions)
	out := make([]LevelChecksum, 0, d)
	for skip := d; skip >= 1; skip-- {
		q, err := decodeHT(cs, hdr, skip, bps)
		if err != nil {
			return nil, err
		}
		out = append(out, LevelChecksum{Width: q.Width, Height: q.Height, Checksum: crc32.ChecksumIEEE(q.Data)})
	}
	return out, nil
}
