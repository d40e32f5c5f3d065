package codec

/*
#cgo CXXFLAGS: -O3 -std=c++14 -I/usr/include/gdcm-3.0
#cgo LDFLAGS: -lopenjph -lgdcmMSFF -lgdcmDSED -lgdcmCommon -lstdc++
#include <stdlib.h>
#include "ojph_shim.h"
#include "cthreads.h"
*/
import "C"

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
	"runtime"
	"unsafe"
)

// MaxHTJ2KPrecision is the largest sample precision (bits per component)
// EncodeHTJ2K writes. OpenJPH 0.9.0 codes samples in 32-bit code blocks and
// the reversible 5/3 transform adds up to 2 bits of dynamic range above the
// sample precision, with one guard bit: 27-bit samples already fail to
// decode with 8 decompositions, 28-bit ones with 2, and 29-bit ones abort in
// an assertion of the encoder. 26 bits round-trip with the 11 decompositions
// of a 65535-pixel wide image (TestPrecisionLimit).
const MaxHTJ2KPrecision = 26

// errBuf is the size of the error message buffers handed to the shims.
const errBuf = 256

func shimError(status C.int, msg []byte) error {
	s := string(msg[:clen(msg)])
	switch status {
	case C.OHI_UNSUPPORTED:
		return unsupportedf("%s", s)
	case C.OHI_NOMEM:
		return unsupportedf("%s", s)
	}
	return corruptf("%s", s)
}

func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// cbytes returns a C pointer to b's first byte (nil for an empty slice).
// Go memory may be passed to C for the duration of a call when it holds no
// Go pointers, which byte slices never do.
func cbytes(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

func cchars(b []byte) *C.char { return (*C.char)(unsafe.Pointer(&b[0])) }

// decompositions returns the number of wavelet decompositions that make the
// lowest resolution level at most 64 pixels wide and high (PS3.5 A.4.7 for
// HTJ2K Lossless RPCL).
func decompositions(w, h int) int {
	d := 0
	for n := max(w, h); n > 64 && d < 32; n = (n + 1) / 2 {
		d++
	}
	return d
}

// precision returns the codestream precision that represents every sample
// of p exactly: the bits its values need, raised to p.BitsStored (unless
// that exceeds MaxHTJ2KPrecision, as BitsStored 32 does) and to the range
// that keeps the decoded sample size equal to p.BytesPerSample (1-8, 9-16,
// 17-32 bits).
func precision(p *Pixels) int {
	lo, hi := rawRange(p)
	return precisionFor(p, lo, hi)
}

// precisionFor is precision for samples whose raw range (rawRange) is lo
// to hi.
func precisionFor(p *Pixels, lo, hi int64) int {
	var need int
	if p.Signed {
		// smallest b with -2^(b-1) <= lo and hi <= 2^(b-1)-1
		need = bits.Len64(uint64(max(hi, 0))) + 1
		if lo < 0 {
			need = max(need, bits.Len64(uint64(-lo-1))+1)
		}
	} else {
		need = max(bits.Len64(uint64(hi)), 1)
	}
	floor := 17
	switch p.BytesPerSample {
	case 1:
		floor = 1
	case 2:
		floor = 9
	}
	prec := max(need, floor)
	if p.BitsStored <= 8*p.BytesPerSample && p.BitsStored <= MaxHTJ2KPrecision {
		prec = max(prec, p.BitsStored)
	}
	return prec
}

func (p *Pixels) check() error {
	if p == nil {
		return unsupportedf("no pixels")
	}
	if p.Width < 1 || p.Width > 65535 || p.Height < 1 || p.Height > 65535 {
		return unsupportedf("image of %dx%d pixels is not supported", p.Width, p.Height)
	}
	if p.Components != 1 && p.Components != 3 {
		return unsupportedf("%d components are not supported", p.Components)
	}
	if p.BytesPerSample != 1 && p.BytesPerSample != 2 && p.BytesPerSample != 4 {
		return unsupportedf("samples of %d bytes are not supported", p.BytesPerSample)
	}
	if want := int64(p.Width) * int64(p.Height) * int64(p.Components) * int64(p.BytesPerSample); int64(len(p.Data)) != want {
		return corruptf("pixel data has %d bytes, %d expected", len(p.Data), want)
	}
	return nil
}

// EncodeHTJ2K encodes p losslessly as an HTJ2K codestream for
// StoredTransferSyntax (1.2.840.10008.1.2.4.202): reversible 5/3 wavelet,
// RPCL progression, 64x64 code blocks, enough decompositions that the
// lowest resolution is at most 64 pixels, no colour transform, one tile,
// and a TLM marker segment. The precision is chosen so that decoding gives
// back p.Data byte for byte (see the package documentation); samples that
// need more than MaxHTJ2KPrecision bits give an Unsupported error.
func EncodeHTJ2K(p *Pixels) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	return encodeHT(p, precision(p))
}

// encodeHT is EncodeHTJ2K at precision prec, for pixels that passed check.
// The calls in then run after the encode on the same thread, whatever its
// outcome (see run), unless encodeHT fails before the encode starts.
func encodeHT(p *Pixels, prec int, then ...cjob) ([]byte, error) {
	if prec > MaxHTJ2KPrecision {
		return nil, unsupportedf("samples need %d bits; OpenJPH encodes at most %d exactly", prec, MaxHTJ2KPrecision)
	}
	signed := 0
	if p.Signed {
		signed = 1
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	msg := make([]byte, errBuf)
	c := &C.ohi_ht_encode_call{px: pinBytes(&pin, p.Data), w: C.uint32_t(p.Width), h: C.uint32_t(p.Height),
		comps: C.uint32_t(p.Components), bps: C.uint32_t(p.BytesPerSample), precision: C.uint32_t(prec),
		is_signed: C.int(signed), decompositions: C.uint32_t(decompositions(p.Width, p.Height)),
		err: pinChars(&pin, msg), errlen: errBuf}
	pin.Pin(c)
	run(&pin, p.Width*p.Height*p.Components, append([]cjob{{C.ohi_call_fn(C.ohi_ht_encode_run), unsafe.Pointer(c)}}, then...)...)
	if c.status != C.OHI_OK {
		return nil, shimError(c.status, msg)
	}
	defer C.free(unsafe.Pointer(c.out))
	cs := unsafe.Slice((*byte)(unsafe.Pointer(c.out)), int(c.out_len))
	return resolutionTileParts(cs)
}

// htHeader reads the main header of an HTJ2K codestream.
func htHeader(cs []byte) (C.ohi_ht_header, error) {
	var hdr C.ohi_ht_header
	if len(cs) < 4 || cs[0] != 0xFF || cs[1] != 0x4F || cs[2] != 0xFF || cs[3] != 0x51 {
		return hdr, corruptf("not a JPEG 2000 codestream (no SOC and SIZ markers)")
	}
	if _, err := parseMain(cs); err != nil {
		return hdr, err
	}
	msg := make([]byte, errBuf)
	if st := C.ohi_ht_read_header(cbytes(cs), C.size_t(len(cs)), &hdr, cchars(msg), errBuf); st != C.OHI_OK {
		return hdr, shimError(st, msg)
	}
	if hdr.uniform == 0 || (hdr.components != 1 && hdr.components != 3) {
		return hdr, unsupportedf("codestreams with %d components of differing size or precision are not supported", hdr.components)
	}
	if hdr.precision < 1 || hdr.precision > 31 {
		return hdr, unsupportedf("precision %d is not supported", hdr.precision)
	}
	return hdr, nil
}

func bpsFor(precision int) int {
	switch {
	case precision <= 8:
		return 1
	case precision <= 16:
		return 2
	}
	return 4
}

// reduced returns the size of resolution level skip (0 = full) of a w x h
// image (one tile, no offsets).
func reduced(w, h, skip int) (int, int) {
	return (w + 1<<skip - 1) >> skip, (h + 1<<skip - 1) >> skip
}

// decodeHT decodes cs at reduced resolution skip into samples of bps bytes.
func decodeHT(cs []byte, hdr C.ohi_ht_header, skip, bps int) (*Pixels, error) {
	if skip < 0 || skip > int(hdr.decompositions) {
		return nil, unsupportedf("cannot skip %d of %d resolution levels", skip, hdr.decompositions)
	}
	w, h := reduced(int(hdr.width), int(hdr.height), skip)
	comps := int(hdr.components)
	n := int64(w) * int64(h) * int64(comps) * int64(bps)
	if n > MaxFrameBytes {
		return nil, unsupportedf("a decoded frame of %d bytes exceeds the %d byte limit", n, MaxFrameBytes)
	}
	p := &Pixels{Width: w, Height: h, Components: comps, BitsStored: int(hdr.precision), Signed: hdr.is_signed != 0,
		BytesPerSample: bps, Data: make([]byte, n)}
	var pin runtime.Pinner
	defer pin.Unpin()
	msg := make([]byte, errBuf)
	c := &C.ohi_ht_decode_call{cs: pinBytes(&pin, cs), len: C.size_t(len(cs)), skip: C.uint32_t(skip), w: C.uint32_t(w),
		h: C.uint32_t(h), comps: C.uint32_t(comps), bps: C.uint32_t(bps), out: pinBytes(&pin, p.Data), out_len: C.size_t(n),
		err: pinChars(&pin, msg), errlen: errBuf}
	pin.Pin(c)
	run(&pin, w*h*comps, cjob{C.ohi_call_fn(C.ohi_ht_decode_run), unsafe.Pointer(c)})
	if c.status != C.OHI_OK {
		return nil, shimError(c.status, msg)
	}
	return p, nil
}

// DecodeHTJ2K decodes an HTJ2K (or JPEG 2000 Part 1 with HT code blocks)
// codestream at full resolution (skipLevels 0) or with the skipLevels
// highest resolution levels left out. Samples are 1 byte for precisions up
// to 8 bits, 2 up to 16 and 4 above. The decoded size is bounded by
// MaxFrameBytes before anything is allocated. A truncated codestream may
// decode without error (OpenJPH fills missing data): verify with Checksums.
func DecodeHTJ2K(cs []byte, skipLevels int) (*Pixels, error) {
	hdr, err := htHeader(cs)
	if err != nil {
		return nil, err
	}
	return decodeHT(cs, hdr, skipLevels, bpsFor(int(hdr.precision)))
}

// decodeHTJ2KFrame decodes an HTJ2K frame of a DICOM instance with OpenJPH
// and, when OpenJPH fails (0.9.0 rejects some code-blocks of samples wider
// than 16 bits that it wrote itself), with OpenJPEG, which decodes HTJ2K
// too.
func decodeHTJ2KFrame(frame []byte, img Image) (*Pixels, error) {
	return firstDecoded(
		attempt{"OpenJPH", func() (*Pixels, error) { return decodeOpenJPHFrame(frame, img) }},
		attempt{"OpenJPEG", func() (*Pixels, error) {
			p, err := decodeOpenJPEGFrame(frame, img)
			if err == nil {
				undoneColour(p, frame, img)
			}
			return p, err
		}},
	)
}

// decodeOpenJPHFrame decodes an HTJ2K frame of a DICOM instance with OpenJPH
// after checking its header against the image attributes; samples take the
// size BitsAllocated gives them.
func decodeOpenJPHFrame(frame []byte, img Image) (*Pixels, error) {
	hdr, err := htHeader(frame)
	if err != nil {
		return nil, err
	}
	if err := img.checkDims(int(hdr.width), int(hdr.height), int(hdr.components)); err != nil {
		return nil, err
	}
	if int(hdr.precision) > max(img.BitsAllocated, 8) {
		return nil, corruptf("codestream precision %d exceeds BitsAllocated %d", hdr.precision, img.BitsAllocated)
	}
	p, err := decodeHT(frame, hdr, 0, img.bytesPerSample())
	if err != nil {
		return nil, err
	}
	p.BitsStored = img.BitsStored
	if img.BitsAllocated == 1 {
		p.BitsStored = 1
	}
	if (hdr.is_signed != 0) != (img.PixelRepresentation == 1) {
		// The codestream's sign is what the samples hold; keep it and
		// the attributes' BitsStored for MinMax.
		p.Signed = hdr.is_signed != 0
	}
	if img.SamplesPerPixel == 3 {
		if pi := img.photometric(); pi == "YBR_RCT" || pi == "YBR_ICT" {
			if mainHasMCT(frame) {
				p.Photometric = "RGB" // OpenJPH undid the colour transform
			}
		}
	}
	return p, nil
}

// Checksums returns, lowest resolution first, the size and CRC-32 (IEEE) of
// the decoded pixel bytes at every resolution level of cs: AHI's
// PixelDataChecksumFromBaseToFullResolution. The bytes are those
// DecodeHTJ2K returns, so the full-resolution entry equals
// crc32.ChecksumIEEE of the Pixels.Data that EncodeHTJ2K was given. It
// decodes cs once per level; Transcode computes the same values for the
// frames it encodes at far less cost.
func Checksums(cs []byte) ([]LevelChecksum, error) {
	hdr, err := htHeader(cs)
	if err != nil {
		return nil, err
	}
	bps := bpsFor(int(hdr.precision))
	out, err := decodedLowResChecksums(cs, hdr, bps)
	if err != nil {
		return nil, err
	}
	p, err := decodeHT(cs, hdr, 0, bps)
	if err != nil {
		return nil, err
	}
	return append(out, LevelChecksum{Width: p.Width, Height: p.Height, Checksum: crc32.ChecksumIEEE(p.Data)}), nil
}

// marker is a marker segment of a codestream main header.
type marker struct {
	code   uint16
	offset int // of the marker code
	length int // Lxxx: the segment's bytes after the marker code
}

// parseMain walks the main header of a JPEG 2000 codestream (SOC, then
// marker segments up to the first SOT) and returns its segments; the last
// one returned is the first SOT.
func parseMain(cs []byte) ([]marker, error) {
	if len(cs) < 2 || binary.BigEndian.Uint16(cs) != 0xFF4F {
		return nil, corruptf("codestream does not start with SOC")
	}
	var ms []marker
	for i := 2; ; {
		if i+4 > len(cs) {
			return nil, corruptf("codestream main header ends at byte %d before the first tile", i)
		}
		code := binary.BigEndian.Uint16(cs[i:])
		if code < 0xFF30 {
			return nil, corruptf("no marker at byte %d of the main header", i)
		}
		l := int(binary.BigEndian.Uint16(cs[i+2:]))
		if l < 2 || i+2+l > len(cs) {
			return nil, corruptf("marker %04X at byte %d has a bad length %d", code, i, l)
		}
		ms = append(ms, marker{code: code, offset: i, length: l})
		if code == 0xFF90 {
			return ms, nil
		}
		if len(ms) > 4096 {
			return nil, corruptf("main header has too many marker segments")
		}
		i += 2 + l
	}
}

// mainHasMCT reports whether the COD segment of cs enables the multiple
// component transform.
func mainHasMCT(cs []byte) bool {
	ms, err := parseMain(cs)
	if err != nil {
		return false
	}
	for _, m := range ms {
		if m.code == 0xFF52 && m.length >= 7 {
			return cs[m.offset+8] != 0 // Lcod(2) Scod(1) SGcod: order(1) layers(2) MCT(1)
		}
	}
	return false
}

// tileParts returns the index and length (Psot) of every tile-part of cs,
// starting at the first SOT at offset first.
func tileParts(cs []byte, first int) (idx []uint16, length []uint32, err error) {
	for i := first; ; {
		if i+2 <= len(cs) && binary.BigEndian.Uint16(cs[i:]) == 0xFFD9 {
			return idx, length, nil
		}
		if i+12 > len(cs) || binary.BigEndian.Uint16(cs[i:]) != 0xFF90 || binary.BigEndian.Uint16(cs[i+2:]) != 10 {
			return nil, nil, corruptf("no SOT marker at byte %d", i)
		}
		psot := binary.BigEndian.Uint32(cs[i+6:])
		if psot == 0 { // the last tile-part runs to EOC
			psot = uint32(len(cs) - i)
			if binary.BigEndian.Uint16(cs[len(cs)-2:]) == 0xFFD9 {
				psot -= 2
			}
		}
		if psot < 14 || int64(i)+int64(psot) > int64(len(cs)) {
			return nil, nil, corruptf("tile-part at byte %d has a bad length %d", i, psot)
		}
		idx = append(idx, binary.BigEndian.Uint16(cs[i+4:]))
		length = append(length, psot)
		if len(idx) > 10000 {
			return nil, nil, unsupportedf("too many tile-parts for one TLM segment")
		}
		i += int(psot)
	}
}

// insertTLM returns a copy of cs with a TLM marker segment (one entry per
// tile-part: 16-bit tile index, 32-bit tile-part length; Stlm 0x60) placed
// at the end of the main header. OpenJPH 0.9.0 writes none and DICOM
// requires one for HTJ2K Lossless RPCL.
func insertTLM(cs []byte) ([]byte, error) {
	ms, err := parseMain(cs)
	if err != nil {
		return nil, err
	}
	sot := ms[len(ms)-1].offset
	for _, m := range ms {
		if m.code == 0xFF55 {
			return append([]byte(nil), cs...), nil
		}
	}
	idx, lens, err := tileParts(cs, sot)
	if err != nil {
		return nil, err
	}
	seg := 6 + 6*len(idx) // FF55, Ltlm, Ztlm, Stlm, entries
	out := make([]byte, 0, len(cs)+seg)
	out = append(out, cs[:sot]...)
	out = binary.BigEndian.AppendUint16(out, 0xFF55)
	out = binary.BigEndian.AppendUint16(out, uint16(seg-2))
	out = append(out, 0, 0x60)
	for i := range idx {
		out = binary.BigEndian.AppendUint16(out, idx[i])
		out = binary.BigEndian.AppendUint32(out, lens[i])
	}
	return append(out, cs[sot:]...), nil
}
