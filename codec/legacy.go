package codec

/*
#include <stdlib.h>
#include "gdcm_shim.h"
#include "ojph_shim.h"
*/
import "C"

import (
	"encoding/binary"
	"strings"
	"unsafe"
)

// frameHeader is what a codestream declares about its image.
type frameHeader struct{ width, height, components, precision int }

// checkHeader parses a codestream header without decoding.
type checkHeader func(frame []byte) (frameHeader, error)

// decodeLegacy decodes a JPEG, JPEG-LS or JPEG 2000 frame through GDCM once
// the codestream header agrees with the attributes, so that nothing the
// codestream declares can make the decoder allocate more than the
// attributes (bounded by MaxFrameBytes) allow.
func decodeLegacy(frame []byte, ts string, img Image, hdr checkHeader) (*Pixels, error) {
	if img.BitsAllocated == 1 || img.BitsAllocated == 32 {
		return nil, unsupportedf("BitsAllocated %d is not supported for transfer syntax %s", img.BitsAllocated, ts)
	}
	h, err := hdr(frame)
	if err != nil {
		return nil, err
	}
	height := h.height
	if height == 0 { // set by a DNL marker: refused below
		height = img.Rows
	}
	if err := img.checkDims(h.width, height, h.components); err != nil {
		return nil, err
	}
	if h.height == 0 {
		return nil, unsupportedf("JPEG frames whose height is set by a DNL marker are not supported")
	}
	if h.precision < 1 || h.precision > img.BitsAllocated {
		return nil, corruptf("codestream precision %d does not fit BitsAllocated %d", h.precision, img.BitsAllocated)
	}
	p := img.newPixels()
	p.Data = make([]byte, img.decodedBytes())

	cts := C.CString(ts)
	defer C.free(unsafe.Pointer(cts))
	cpi := C.CString(img.photometric())
	defer C.free(unsafe.Pointer(cpi))
	in := C.ohi_gdcm_image{
		rows: C.uint32_t(img.Rows), columns: C.uint32_t(img.Columns), samples: C.uint32_t(img.SamplesPerPixel),
		bits_allocated: C.uint32_t(img.BitsAllocated), bits_stored: C.uint32_t(img.BitsStored),
		pixel_representation: C.uint32_t(img.PixelRepresentation), planar: C.uint32_t(img.PlanarConfiguration),
		photometric: cpi, transfer_syntax: cts,
	}
	if img.SamplesPerPixel == 1 {
		in.planar = 0
	}
	if hdr2 := h.precision; ts != tsJ2KLossless && ts != tsJ2K && ts != tsJ2KMCLossless && ts != tsJ2KMC {
		// GDCM picks its 8, 12 or 16-bit IJG library from BitsStored and
		// retries with the next one on failure, printing libjpeg's error
		// to stderr: give it the precision the stream declares.
		in.bits_stored = C.uint32_t(max(hdr2, img.BitsStored))
	}
	var planar C.uint32_t
	pi := make([]byte, 64)
	msg := make([]byte, errBuf)
	st := C.ohi_gdcm_decode(&in, cbytes(frame), C.size_t(len(frame)), cbytes(p.Data), C.size_t(len(p.Data)),
		&planar, cchars(pi), C.size_t(len(pi)), cchars(msg), errBuf)
	if st != C.OHI_OK {
		return nil, shimError(st, msg)
	}
	if planar == 1 && img.SamplesPerPixel == 3 {
		p.Data = interleave(p.Data, img.Rows*img.Columns, p.BytesPerSample)
	}
	if got := strings.TrimSpace(string(pi[:clen(pi)])); got != "" && got != img.photometric() {
		p.Photometric = got
	}
	return p, nil
}

// interleave turns three planes of n samples of bps bytes into pixels.
func interleave(planes []byte, n, bps int) []byte {
	out := make([]byte, len(planes))
	plane := n * bps
	for c := 0; c < 3; c++ {
		src := planes[c*plane : (c+1)*plane]
		for i := 0; i < n; i++ {
			copy(out[(i*3+c)*bps:(i*3+c+1)*bps], src[i*bps:(i+1)*bps])
		}
	}
	return out
}

// checkJPEG reads the frame header (SOFn) of a JPEG (ISO 10918) stream.
func checkJPEG(b []byte) (frameHeader, error) {
	return jpegSOF(b, func(m byte) bool {
		return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
	}, "JPEG")
}

// checkJPEGLS reads the frame header (SOF55) of a JPEG-LS stream.
func checkJPEGLS(b []byte) (frameHeader, error) {
	return jpegSOF(b, func(m byte) bool { return m == 0xF7 }, "JPEG-LS")
}

func jpegSOF(b []byte, isSOF func(byte) bool, name string) (frameHeader, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return frameHeader{}, corruptf("%s frame does not start with SOI", name)
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return frameHeader{}, corruptf("%s frame has no marker at byte %d", name, i)
		}
		m := b[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		l := int(binary.BigEndian.Uint16(b[i+2:]))
		if l < 2 || i+2+l > len(b) {
			return frameHeader{}, corruptf("%s marker FF%02X at byte %d has a bad length", name, m, i)
		}
		if isSOF(m) {
			if l < 8 {
				return frameHeader{}, corruptf("%s frame header is too short", name)
			}
			s := b[i+4:]
			return frameHeader{precision: int(s[0]), height: int(binary.BigEndian.Uint16(s[1:])),
				width: int(binary.BigEndian.Uint16(s[3:])), components: int(s[5])}, nil
		}
		if m == 0xDA || m == 0xD9 {
			break
		}
		i += 2 + l
	}
	return frameHeader{}, corruptf("%s frame has no frame header", name)
}

// checkJ2K reads the SIZ segment of a JPEG 2000 codestream (or of the
// codestream box of a JP2 file, which some writers put in DICOM).
func checkJ2K(b []byte) (frameHeader, error) {
	if len(b) >= 12 && string(b[4:8]) == "jP  " {
		cs, err := jp2Codestream(b)
		if err != nil {
			return frameHeader{}, err
		}
		b = cs
	}
	if len(b) < 4 || binary.BigEndian.Uint16(b) != 0xFF4F || binary.BigEndian.Uint16(b[2:]) != 0xFF51 {
		return frameHeader{}, corruptf("JPEG 2000 frame does not start with SOC and SIZ")
	}
	s := b[4:]
	if len(s) < 38+3 {
		return frameHeader{}, corruptf("JPEG 2000 SIZ segment is truncated")
	}
	l := int(binary.BigEndian.Uint16(s))
	xsiz, ysiz := binary.BigEndian.Uint32(s[4:]), binary.BigEndian.Uint32(s[8:])
	xo, yo := binary.BigEndian.Uint32(s[12:]), binary.BigEndian.Uint32(s[16:])
	csiz := int(binary.BigEndian.Uint16(s[36:]))
	if xo >= xsiz || yo >= ysiz || csiz < 1 || l != 38+3*csiz || len(s) < l {
		return frameHeader{}, corruptf("JPEG 2000 SIZ segment is inconsistent")
	}
	prec := int(s[38]&0x7F) + 1
	for c := 1; c < csiz; c++ {
		if int(s[38+3*c]&0x7F)+1 != prec || s[39+3*c] != 1 || s[40+3*c] != 1 {
			return frameHeader{}, unsupportedf("JPEG 2000 components of differing precision or subsampling are not supported")
		}
	}
	if s[39] != 1 || s[40] != 1 {
		return frameHeader{}, unsupportedf("subsampled JPEG 2000 components are not supported")
	}
	if xsiz-xo > 65535 || ysiz-yo > 65535 {
		return frameHeader{}, corruptf("JPEG 2000 image is larger than DICOM allows")
	}
	return frameHeader{width: int(xsiz - xo), height: int(ysiz - yo), components: csiz, precision: prec}, nil
}

// jp2Codestream returns the contents of the contiguous codestream box.
func jp2Codestream(b []byte) ([]byte, error) {
	for i := 0; i+8 <= len(b); {
		l := int64(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		hl := int64(8)
		switch l {
		case 0:
			l = int64(len(b) - i)
		case 1:
			if i+16 > len(b) {
				return nil, corruptf("JP2 box is truncated")
			}
			l, hl = int64(binary.BigEndian.Uint64(b[i+8:])), 16
		}
		if l < hl || int64(i)+l > int64(len(b)) {
			return nil, corruptf("JP2 box %q has a bad length", typ)
		}
		if typ == "jp2c" {
			return b[int64(i)+hl : int64(i)+l], nil
		}
		i += int(l)
	}
	return nil, corruptf("JP2 file has no codestream box")
}
