package codec

/*
#cgo LDFLAGS: -lcharls
#include "jls_shim.h"
#include "ojph_shim.h"
*/
import "C"

import (
	"errors"
	"strings"
)

// decodeJPEGLS decodes a JPEG-LS frame with CharLS and, when CharLS fails,
// with GDCM. CharLS comes first because it is the JPEG-LS library itself,
// called directly: ohi checks its header, sizes the output from the
// codestream's own sample precision (which writers may set below
// BitsAllocated, or above BitsStored) and gets CharLS's own error message.
// GDCM, which wraps the same CharLS with its own buffer handling, is the
// second opinion.
func decodeJPEGLS(frame []byte, ts string, img Image) (*Pixels, error) {
	return firstDecoded(
		attempt{"CharLS", func() (*Pixels, error) { return decodeCharLS(frame, img) }},
		attempt{"GDCM", func() (*Pixels, error) { return decodeLegacy(frame, ts, img, checkGDCMJPEGLS(img)) }},
	)
}

// checkGDCMJPEGLS is checkJPEGLS for GDCM 3.0, which fails an assertion
// (aborting the process) on a 16-bit image coded with 8 or fewer bits: its
// decoded buffer is then smaller than the frame it copies out.
func checkGDCMJPEGLS(img Image) checkHeader {
	return func(b []byte) (frameHeader, error) {
		h, err := checkJPEGLS(b)
		if err == nil && img.BitsAllocated > 8 && h.precision <= 8 {
			return h, unsupportedf("GDCM cannot decode JPEG-LS of precision %d in %d-bit samples", h.precision, img.BitsAllocated)
		}
		return h, err
	}
}

// decodeCharLS decodes a JPEG-LS frame with CharLS 2: samples of up to 8
// bits decode to 1 byte, above to 2 (little endian on every platform ohi
// supports), widened to the sample size of BitsAllocated; a non-interleaved
// (one scan per component) colour frame is interleaved.
func decodeCharLS(frame []byte, img Image) (*Pixels, error) {
	if img.BitsAllocated != 8 && img.BitsAllocated != 16 {
		return nil, unsupportedf("BitsAllocated %d is not supported for JPEG-LS", img.BitsAllocated)
	}
	if len(frame) == 0 {
		return nil, corruptf("empty JPEG-LS frame")
	}
	// The header must describe the attributes' image before the output
	// (up to MaxFrameBytes) is allocated for it.
	h, err := checkJPEGLS(frame)
	if err != nil {
		return nil, err
	}
	if err := img.checkDims(h.width, h.height, h.components); err != nil {
		return nil, err
	}
	p := img.newPixels()
	pixels := img.Rows * img.Columns * img.SamplesPerPixel
	// The codestream precision decides CharLS's output sample size: try
	// the size BitsAllocated gives, and the 1-byte size of a 16-bit
	// image coded with 8 or fewer bits when CharLS's header says so.
	out := make([]byte, pixels*p.BytesPerSample)
	var info C.ohi_jls_info
	msg := make([]byte, errBuf)
	st := C.ohi_jls_decode(cbytes(frame), C.size_t(len(frame)), C.uint32_t(img.Columns), C.uint32_t(img.Rows),
		C.uint32_t(img.SamplesPerPixel), C.uint32_t(img.BitsAllocated), cbytes(out), C.size_t(len(out)), &info, cchars(msg), errBuf)
	if st == C.OHI_CORRUPT && img.BitsAllocated == 16 && info.bits_per_sample >= 2 && info.bits_per_sample <= 8 {
		// Decode the 1-byte samples into the first half of out and widen
		// them in place, last first.
		st = C.ohi_jls_decode(cbytes(frame), C.size_t(len(frame)), C.uint32_t(img.Columns), C.uint32_t(img.Rows),
			C.uint32_t(img.SamplesPerPixel), 8, cbytes(out), C.size_t(pixels), &info, cchars(msg), errBuf)
		if st == C.OHI_OK {
			for i := pixels - 1; i >= 0; i-- {
				out[2*i], out[2*i+1] = out[i], 0
			}
		}
	}
	if st != C.OHI_OK {
		return nil, shimError(st, msg)
	}
	if info.interleave == 0 && img.SamplesPerPixel == 3 {
		out = interleave(out, img.Rows*img.Columns, p.BytesPerSample)
	}
	p.Data = out
	return p, nil
}

// attempt is one decoder of a frame, named for error messages.
type attempt struct {
	name   string
	decode func() (*Pixels, error)
}

// firstDecoded returns the pixels of the first attempt that decodes. When
// every attempt fails, the error names each decoder's reason; it is
// CodeCorrupt only when every decoder found the frame corrupt (otherwise
// one of them could not handle valid input, CodeUnsupported).
func firstDecoded(attempts ...attempt) (*Pixels, error) {
	var reasons []string
	corrupt := true
	for _, a := range attempts {
		p, err := a.decode()
		if err == nil {
			return p, nil
		}
		var ce *Error
		if !errors.As(err, &ce) {
			return nil, err
		}
		if ce.Code != CodeCorrupt {
			corrupt = false
		}
		reasons = append(reasons, a.name+": "+ce.Reason)
	}
	code := CodeUnsupported
	if corrupt {
		code = CodeCorrupt
	}
	return nil, &Error{Code: code, Reason: strings.Join(reasons, "; ")}
}
