package codec

/*
#cgo CFLAGS: -I/usr/include/openjpeg-2.5
#cgo LDFLAGS: -lopenjp2
#include <stdlib.h>
#include "opj_shim.h"
#include "cthreads.h"
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"runtime"
	"unsafe"
)

// MaxJ2KPrecision is the largest sample precision EncodeJ2K writes.
// OpenJPEG 2.5's encoder shifts wavelet coefficients left by 6 fractional
// bits in 32-bit integers, so a coefficient must stay below 2^25 in
// magnitude. The reversible 5/3 transform can multiply the half range of
// the (level-shifted) samples, 2^(prec-1), by at most the largest L1 norm
// of its iterated two-dimensional analysis filters, about 8.22 (the HH
// band of deep levels): 22 bits keep every coefficient below 2^24.1,
// whatever the content, while 24 bits already fail on simple stripes
// (TestJ2KPrecisionLimit).
const MaxJ2KPrecision = 22

// j2kError turns a status of the OpenJPEG shim into an *Error.
func j2kError(st C.int, msg []byte) error {
	s := string(msg[:clen(msg)])
	switch st {
	case C.OHI_J2K_UNSUPPORTED, C.OHI_J2K_NOMEM:
		return unsupportedf("OpenJPEG: %s", s)
	}
	return corruptf("OpenJPEG: %s", s)
}

// j2kPrecision is precision(p), or when that exceeds MaxJ2KPrecision (as
// raising it to a large BitsStored may), the least precision that holds
// the sample values.
func j2kPrecision(p *Pixels) int {
	prec := precision(p)
	if prec > MaxJ2KPrecision {
		q := *p
		q.BitsStored = 0
		prec = precision(&q)
	}
	return prec
}

// j2kDecompositions is decompositions(w, h) limited to what OpenJPEG 2.5
// accepts: it refuses more decompositions than log2 of the smaller side of
// the tile, so the lowest resolution of a very elongated image (4096x4,
// say) stays above 64 pixels along its long side.
func j2kDecompositions(w, h int) int {
	return min(decompositions(w, h), bits.Len(uint(min(w, h)))-1)
}

// MaxJ2KSamples bounds the samples of a frame EncodeJ2K encodes. OpenJPEG
// holds the whole tile as 32-bit samples plus its coding buffers, several
// times the frame's size, where OpenJPH works line by line; larger frames
// are kept as received (1<<26 samples is an 8192x8192 image).
var MaxJ2KSamples int64 = 1 << 26

// EncodeJ2K encodes p losslessly as a raw JPEG 2000 Part 1 codestream (no
// JP2 boxes) for JPEG 2000 Lossless (1.2.840.10008.1.2.4.90), with
// OpenJPEG: reversible 5/3 wavelet, enough decompositions that the lowest
// resolution is at most 64 pixels (as far as j2kDecompositions allows),
// 64x64 code blocks, one tile, one quality layer, RPCL progression with one
// tile-part per resolution level and a TLM marker segment that indexes
// them (so that a client can fetch the lower resolutions first), and no
// multi-component transform (RGB stays RGB, so the Photometric
// Interpretation does not change). The precision is chosen as for
// EncodeHTJ2K so that decoding gives back p.Data byte for byte; samples
// that need more than MaxJ2KPrecision bits give an Unsupported error.
func EncodeJ2K(p *Pixels) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if n := int64(p.Width) * int64(p.Height) * int64(p.Components); n > MaxJ2KSamples {
		return nil, unsupportedf("a frame of %d samples exceeds the %d samples OpenJPEG encodes here", n, MaxJ2KSamples)
	}
	prec := j2kPrecision(p)
	if prec > MaxJ2KPrecision {
		return nil, unsupportedf("samples need %d bits; JPEG 2000 encoding is limited to %d", prec, MaxJ2KPrecision)
	}
	return encodeJ2K(p, prec)
}

// encodeJ2K is EncodeJ2K at precision prec (1 to 31 bits), which must hold
// every sample of p.
func encodeJ2K(p *Pixels, prec int) ([]byte, error) {
	signed := 0
	if p.Signed {
		signed = 1
	}
	// Lossless JPEG 2000 of noise can be a little larger than the raw
	// samples; anything far larger means something went wrong.
	maxOut := 2*len(p.Data) + 1<<20
	var pin runtime.Pinner
	defer pin.Unpin()
	msg := make([]byte, errBuf)
	c := &C.ohi_j2k_encode_call{px: pinBytes(&pin, p.Data), w: C.uint32_t(p.Width), h: C.uint32_t(p.Height),
		comps: C.uint32_t(p.Components), bps: C.uint32_t(p.BytesPerSample), precision: C.uint32_t(prec),
		is_signed: C.int(signed), decompositions: C.uint32_t(j2kDecompositions(p.Width, p.Height)),
		max_out: C.size_t(maxOut), err: pinChars(&pin, msg), errlen: errBuf}
	pin.Pin(c)
	run(&pin, p.Width*p.Height*p.Components, cjob{C.ohi_call_fn(C.ohi_j2k_encode_run), unsafe.Pointer(c)})
	if c.status != C.OHI_J2K_OK {
		return nil, j2kError(c.status, msg)
	}
	defer C.free(unsafe.Pointer(c.out))
	return bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(c.out)), int(c.out_len))), nil
}

// j2kHeader is what the main header of a JPEG 2000 codestream declares.
type j2kHeader struct {
	width, height, components, precision, decompositions int
	signed, reversible                                   bool
}

// readJ2KHeader reads and checks the main header of a JPEG 2000 codestream:
// an image of at most 65535x65535 pixels with its origin at 0, 1 or 3
// components of equal precision (1 to 31 bits) and sign, not subsampled,
// and the reversible wavelet.
func readJ2KHeader(cs []byte) (j2kHeader, error) {
	h, err := parseJ2KHeader(cs)
	if err == nil && !h.reversible {
		return h, unsupportedf("JPEG 2000 codestream is not reversible (lossless)")
	}
	return h, err
}

// parseJ2KHeader is readJ2KHeader for lossy codestreams too.
func parseJ2KHeader(cs []byte) (j2kHeader, error) {
	var h j2kHeader
	if len(cs) < 4 || cs[0] != 0xFF || cs[1] != 0x4F || cs[2] != 0xFF || cs[3] != 0x51 {
		return h, corruptf("not a JPEG 2000 codestream (no SOC and SIZ markers)")
	}
	var hdr C.ohi_j2k_header
	msg := make([]byte, errBuf)
	if st := C.ohi_j2k_read_header(cbytes(cs), C.size_t(len(cs)), &hdr, cchars(msg), errBuf); st != C.OHI_J2K_OK {
		return h, j2kError(st, msg)
	}
	if hdr.x0 != 0 || hdr.y0 != 0 {
		return h, unsupportedf("JPEG 2000 images whose origin is not 0 are not supported")
	}
	if hdr.x1 < 1 || hdr.x1 > 65535 || hdr.y1 < 1 || hdr.y1 > 65535 {
		return h, corruptf("JPEG 2000 image of %dx%d pixels", hdr.x1, hdr.y1)
	}
	if hdr.uniform == 0 || (hdr.components != 1 && hdr.components != 3) {
		return h, unsupportedf("JPEG 2000 codestreams with %d components of differing precision, sign or sampling are not supported", hdr.components)
	}
	if hdr.precision < 1 || hdr.precision > 31 {
		return h, unsupportedf("JPEG 2000 precision %d is not supported", hdr.precision)
	}
	return j2kHeader{width: int(hdr.x1), height: int(hdr.y1), components: int(hdr.components), precision: int(hdr.precision),
		decompositions: int(hdr.decompositions), signed: hdr.is_signed != 0, reversible: hdr.reversible != 0}, nil
}

// decodeJ2KInto decodes cs (whose header is h) leaving out the skip highest
// resolution levels into buf, which it grows when needed, as samples of bps
// bytes; it returns the decoded width, height and bytes.
func decodeJ2KInto(cs []byte, h j2kHeader, skip, bps int, buf []byte) (w, ht int, data []byte, err error) {
	if skip < 0 || skip > h.decompositions {
		return 0, 0, nil, unsupportedf("cannot skip %d of %d resolution levels", skip, h.decompositions)
	}
	w, ht = reduced(h.width, h.height, skip)
	n := int64(w) * int64(ht) * int64(h.components) * int64(bps)
	if n > MaxFrameBytes {
		return 0, 0, nil, unsupportedf("a decoded frame of %d bytes exceeds the %d byte limit", n, MaxFrameBytes)
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	data = buf[:n]
	var pin runtime.Pinner
	defer pin.Unpin()
	msg := make([]byte, errBuf)
	c := &C.ohi_j2k_decode_call{cs: pinBytes(&pin, cs), len: C.size_t(len(cs)), reduce: C.uint32_t(skip), w: C.uint32_t(w),
		h: C.uint32_t(ht), comps: C.uint32_t(h.components), bps: C.uint32_t(bps), out: pinBytes(&pin, data),
		out_len: C.size_t(n), err: pinChars(&pin, msg), errlen: errBuf}
	pin.Pin(c)
	run(&pin, w*ht*h.components, cjob{C.ohi_call_fn(C.ohi_j2k_decode_run), unsafe.Pointer(c)})
	if c.status != C.OHI_J2K_OK {
		return 0, 0, nil, j2kError(c.status, msg)
	}
	return w, ht, data, nil
}

// decodeJ2K decodes a JPEG 2000 codestream with OpenJPEG at full resolution
// (skip 0) or without its skip highest resolution levels, into samples of
// 1 byte for precisions up to 8 bits, 2 up to 16 and 4 above. The decoded
// size is bounded by MaxFrameBytes before anything is allocated. (Frames of
// DICOM instances in JPEG 2000 are decoded by Decode: decodeJ2KFrame.)
func decodeJ2K(cs []byte, skip int) (*Pixels, error) {
	h, err := readJ2KHeader(cs)
	if err != nil {
		return nil, err
	}
	bps := bpsFor(h.precision)
	w, ht, data, err := decodeJ2KInto(cs, h, skip, bps, nil)
	if err != nil {
		return nil, err
	}
	return &Pixels{Width: w, Height: ht, Components: h.components, BitsStored: h.precision, Signed: h.signed,
		BytesPerSample: bps, Data: data}, nil
}

// verifyJ2K decodes cs with OpenJPEG at every resolution level, lowest
// first, and returns the size and CRC-32 of each decoded image (laid out
// like Pixels.Data). It returns ErrVerify when the header of cs does not
// describe p or cs does not decode at full resolution to exactly p.Data,
// and the decoder's *Error when it cannot be decoded.
func verifyJ2K(cs []byte, p *Pixels) ([]LevelChecksum, error) {
	h, err := readJ2KHeader(cs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	if h.width != p.Width || h.height != p.Height || h.components != p.Components ||
		bpsFor(h.precision) != p.BytesPerSample || h.signed != p.Signed {
		return nil, ErrVerify
	}
	if err := checkJ2KTLM(cs); err != nil {
		return nil, err
	}
	w, ht, data, err := decodeJ2KInto(cs, h, 0, p.BytesPerSample, make([]byte, len(p.Data)))
	if err != nil {
		return nil, err
	}
	if w != p.Width || ht != p.Height || !bytes.Equal(data, p.Data) {
		return nil, ErrVerify
	}
	// The full decode matched, so the lower levels are the LL bands of
	// the source samples (see lowResChecksums); large frames decode them
	// instead, as for HTJ2K (LowResMaxSamples).
	var sums []LevelChecksum
	if computesLowRes(p) {
		if sums, err = lowResChecksums(p, h.precision, h.decompositions); err != nil {
			return nil, err
		}
	} else {
		for skip := h.decompositions; skip >= 1; skip-- {
			w, ht, data, err := decodeJ2KInto(cs, h, skip, p.BytesPerSample, data[:0])
			if err != nil {
				return nil, err
			}
			sums = append(sums, LevelChecksum{Width: w, Height: ht, Checksum: crc32.ChecksumIEEE(data)})
		}
	}
	return append(sums, LevelChecksum{Width: p.Width, Height: p.Height, Checksum: crc32.ChecksumIEEE(p.Data)}), nil
}

// checkJ2KTLM checks that the main header of cs has one TLM marker segment
// and that its entries are the index and length of every tile-part. Decoders
// do not need it, so a decode does not check it; clients that fetch
// resolution levels progressively do.
func checkJ2KTLM(cs []byte) error {
	ms, err := parseMain(cs)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	var seg []byte
	for _, m := range ms {
		if m.code == 0xFF55 {
			if seg != nil {
				return fmt.Errorf("%w: more than one TLM segment", ErrVerify)
			}
			seg = cs[m.offset+4 : m.offset+2+m.length] // Ztlm, Stlm, entries
		}
	}
	if len(seg) < 2 || seg[0] != 0 {
		return fmt.Errorf("%w: no TLM segment (with Ztlm 0)", ErrVerify)
	}
	st, sp := int(seg[1]>>4&3), 2+2*int(seg[1]>>6&1) // bytes of Ttlm and Ptlm
	idx, lens, err := tileParts(cs, ms[len(ms)-1].offset)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	if st == 3 || len(seg)-2 != len(idx)*(st+sp) {
		return fmt.Errorf("%w: the TLM segment does not list the %d tile-parts", ErrVerify, len(idx))
	}
	for i, e := 0, seg[2:]; i < len(idx); i, e = i+1, e[st+sp:] {
		var t, l uint64
		for _, b := range e[:st] {
			t = t<<8 | uint64(b)
		}
		for _, b := range e[st : st+sp] {
			l = l<<8 | uint64(b)
		}
		if (st > 0 && t != uint64(idx[i])) || (st == 0 && idx[i] != uint16(i)) || l != uint64(lens[i]) {
			return fmt.Errorf("%w: TLM entry %d is (%d, %d), the tile-part is (%d, %d)", ErrVerify, i, t, l, idx[i], lens[i])
		}
	}
	return nil
}

// transcodeJ2K is Transcode for FormatJ2K: EncodeJ2K, then verifyJ2K,
// which decodes the codestream at every resolution level (reduce D to 0)
// for the checksums and compares the full-resolution decode with p.Data.
// A codestream of its own that OpenJPEG cannot decode is a failed
// verification too.
func transcodeJ2K(p *Pixels) (*Stored, error) {
	cs, err := EncodeJ2K(p)
	if err != nil {
		return nil, err
	}
	sums, err := verifyJ2K(cs, p)
	if err != nil {
		if !errors.Is(err, ErrVerify) {
			err = fmt.Errorf("%w: %v", ErrVerify, err)
		}
		return nil, err
	}
	lo, hi := MinMax(p)
	return &Stored{Codestream: cs, TransferSyntax: tsJ2KLossless, Checksums: sums, Min: lo, Max: hi}, nil
}

// decodeJ2KFrame decodes a JPEG 2000 frame of a DICOM instance with GDCM
// and, when GDCM fails, with OpenJPEG called directly. GDCM comes first
// because it is what the corpora were verified with; OpenJPEG, which GDCM
// itself calls, decodes the frames GDCM's wrapper refuses. Both undo a
// multiple component transform the codestream declares, so YBR_RCT and
// YBR_ICT frames that have one decode to RGB (Pixels.Photometric says so:
// GDCM does not).
func decodeJ2KFrame(frame []byte, ts string, img Image) (*Pixels, error) {
	cs := frame
	if len(cs) >= 12 && string(cs[4:8]) == "jP  " {
		var err error
		if cs, err = jp2Codestream(cs); err != nil {
			return nil, err
		}
	}
	p, err := firstDecoded(
		attempt{"GDCM", func() (*Pixels, error) { return decodeLegacy(frame, ts, img, checkJ2K) }},
		attempt{"OpenJPEG", func() (*Pixels, error) { return decodeOpenJPEGFrame(cs, img) }},
	)
	if err == nil {
		undoneColour(p, cs, img)
	}
	return p, err
}

// undoneColour marks p RGB when the attributes say YBR_RCT or YBR_ICT and
// the codestream cs declares the multiple component transform, which the
// JPEG 2000 and HTJ2K decoders undo.
func undoneColour(p *Pixels, cs []byte, img Image) {
	if img.SamplesPerPixel != 3 || p.Photometric != "" {
		return
	}
	if pi := img.photometric(); (pi == "YBR_RCT" || pi == "YBR_ICT") && mainHasMCT(cs) {
		p.Photometric = "RGB"
	}
}

// decodeOpenJPEGFrame decodes a JPEG 2000 codestream (not a JP2 file) with
// OpenJPEG after checking its header against the attributes; samples take
// the size BitsAllocated gives them and the sign PixelRepresentation gives
// them, as with GDCM (a codestream whose sign contradicts the attributes
// holds the same bits).
func decodeOpenJPEGFrame(cs []byte, img Image) (*Pixels, error) {
	if img.BitsAllocated == 1 {
		return nil, unsupportedf("BitsAllocated 1 is not supported for JPEG 2000")
	}
	h, err := parseJ2KHeader(cs)
	if err != nil {
		return nil, err
	}
	if err := img.checkDims(h.width, h.height, h.components); err != nil {
		return nil, err
	}
	if h.precision > max(img.BitsAllocated, 8) {
		return nil, corruptf("codestream precision %d exceeds BitsAllocated %d", h.precision, img.BitsAllocated)
	}
	_, _, data, err := decodeJ2KInto(cs, h, 0, img.bytesPerSample(), nil)
	if err != nil {
		return nil, err
	}
	p := img.newPixels()
	p.Data = data
	return p, nil
}
