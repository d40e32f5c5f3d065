package codec

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Transfer syntax UIDs handled by this package.
const (
	tsImplicitLE        = "1.2.840.10008.1.2"
	tsExplicitLE        = "1.2.840.10008.1.2.1"
	tsEncapsulatedLE    = "1.2.840.10008.1.2.1.98"
	tsDeflatedLE        = "1.2.840.10008.1.2.1.99"
	tsExplicitBE        = "1.2.840.10008.1.2.2"
	tsJPEGBaseline      = "1.2.840.10008.1.2.4.50"
	tsJPEGExtended      = "1.2.840.10008.1.2.4.51"
	tsJPEGLossless      = "1.2.840.10008.1.2.4.57"
	tsJPEGLosslessSV1   = "1.2.840.10008.1.2.4.70"
	tsJPEGLSLossless    = "1.2.840.10008.1.2.4.80"
	tsJPEGLSNear        = "1.2.840.10008.1.2.4.81"
	tsJ2KLossless       = "1.2.840.10008.1.2.4.90"
	tsJ2K               = "1.2.840.10008.1.2.4.91"
	tsJ2KMCLossless     = "1.2.840.10008.1.2.4.92"
	tsJ2KMC             = "1.2.840.10008.1.2.4.93"
	tsHTJ2KLossless     = "1.2.840.10008.1.2.4.201"
	tsHTJ2KLosslessRPCL = "1.2.840.10008.1.2.4.202"
	tsHTJ2K             = "1.2.840.10008.1.2.4.203"
	tsRLE               = "1.2.840.10008.1.2.5"
)

// StoredTransferSyntax is the transfer syntax of the codestreams EncodeHTJ2K
// produces: HTJ2K Lossless RPCL.
const StoredTransferSyntax = tsHTJ2KLosslessRPCL

// Error codes carried by Error.Code.
const (
	CodeUnsupported = "Unsupported" // valid input this package cannot decode or encode
	CodeCorrupt     = "Corrupt"     // input that contradicts itself or its attributes
)

// Error reports why a frame cannot be decoded or encoded.
type Error struct {
	Code   string // CodeUnsupported or CodeCorrupt
	Reason string
}

func (e *Error) Error() string { return "codec: " + e.Reason }

func unsupportedf(format string, args ...any) *Error {
	return &Error{Code: CodeUnsupported, Reason: fmt.Sprintf(format, args...)}
}

func corruptf(format string, args ...any) *Error {
	return &Error{Code: CodeCorrupt, Reason: fmt.Sprintf(format, args...)}
}

// MaxFrameBytes bounds the decoded size of one frame. Frames whose
// attributes (or codestream header) declare more are rejected as
// Unsupported before anything is allocated.
var MaxFrameBytes int64 = 1 << 30

// Pixels is a decoded frame: 1 or 3 components per pixel, interleaved
// (planar configuration 0), each sample BytesPerSample bytes in little
// endian order (the machine order of every platform ohi supports), rows top
// to bottom. Signed samples are two's complement in their BytesPerSample.
type Pixels struct {
	Width, Height, Components, BitsStored int
	Signed                                bool
	BytesPerSample                        int // 1, 2 or 4
	Data                                  []byte
	// Photometric is the photometric interpretation of Data when Decode
	// changed it (YBR_FULL_422 expands to YBR_FULL; JPEG codecs may convert
	// YBR to RGB); empty when it is the one the attributes declare.
	Photometric string
}

// Image holds the Image Pixel attributes that describe a frame.
type Image struct {
	Rows, Columns, SamplesPerPixel, BitsAllocated, BitsStored, PixelRepresentation, PlanarConfiguration int
	Photometric                                                                                         string
	// BitOffset is dicom.Frame.BitOffset: leading bits of the first byte
	// of a 1-bit native frame that belong to the previous frame.
	BitOffset int
}

// LevelChecksum is one entry of AHI's PixelDataChecksumFromBaseToFullResolution.
type LevelChecksum struct {
	Width, Height int
	Checksum      uint32
}

// KeepsOriginal reports whether AHI stores frames of this transfer syntax
// as they are (JPEG Baseline, JPEG 2000 lossy, HTJ2K lossy, MPEG/HEVC video,
// JPEG XL) rather than transcoding them to HTJ2K lossless.
func KeepsOriginal(ts string) bool {
	ts = strings.TrimRight(ts, "\x00 ")
	switch ts {
	case tsJPEGBaseline, tsJ2K, tsHTJ2K,
		"1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112":
		return true
	}
	return strings.HasPrefix(ts, "1.2.840.10008.1.2.4.10") || strings.HasPrefix(ts, "1.2.840.10008.1.2.7.")
}

// check returns an error when the attributes cannot describe a frame this
// package decodes, or one larger than MaxFrameBytes.
func (img Image) check() error {
	if img.Rows < 1 || img.Rows > 65535 || img.Columns < 1 || img.Columns > 65535 {
		return corruptf("Rows %d and Columns %d do not describe an image", img.Rows, img.Columns)
	}
	if img.SamplesPerPixel != 1 && img.SamplesPerPixel != 3 {
		return unsupportedf("SamplesPerPixel %d is not supported", img.SamplesPerPixel)
	}
	switch img.BitsAllocated {
	case 1, 8, 16, 32:
	default:
		return unsupportedf("BitsAllocated %d is not supported", img.BitsAllocated)
	}
	if img.BitsStored < 1 || img.BitsStored > img.BitsAllocated {
		return corruptf("BitsStored %d is not within BitsAllocated %d", img.BitsStored, img.BitsAllocated)
	}
	if img.PixelRepresentation != 0 && img.PixelRepresentation != 1 {
		return corruptf("PixelRepresentation %d is neither 0 nor 1", img.PixelRepresentation)
	}
	if img.BitsAllocated == 1 && img.SamplesPerPixel != 1 {
		return unsupportedf("BitsAllocated 1 with SamplesPerPixel %d is not supported", img.SamplesPerPixel)
	}
	if n := img.decodedBytes(); n > MaxFrameBytes {
		return unsupportedf("a decoded frame of %d bytes exceeds the %d byte limit", n, MaxFrameBytes)
	}
	return nil
}

// bytesPerSample is the sample size of the decoded frame.
func (img Image) bytesPerSample() int {
	if img.BitsAllocated <= 8 {
		return 1
	}
	return img.BitsAllocated / 8
}

func (img Image) decodedBytes() int64 {
	return int64(img.Rows) * int64(img.Columns) * int64(img.SamplesPerPixel) * int64(img.bytesPerSample())
}

// checkDims returns a Corrupt error unless a codestream of width x height
// with comps components is the image the attributes describe.
func (img Image) checkDims(width, height, comps int) error {
	if width != img.Columns || height != img.Rows || comps != img.SamplesPerPixel {
		return corruptf("codestream is %dx%d with %d components, the attributes say %dx%d with %d samples",
			width, height, comps, img.Columns, img.Rows, img.SamplesPerPixel)
	}
	return nil
}

func (img Image) photometric() string { return strings.TrimSpace(img.Photometric) }

func (img Image) newPixels() *Pixels {
	bs := img.BitsStored
	if img.BitsAllocated == 1 {
		bs = 1
	}
	return &Pixels{
		Width: img.Columns, Height: img.Rows, Components: img.SamplesPerPixel, BitsStored: bs,
		Signed: img.PixelRepresentation == 1, BytesPerSample: img.bytesPerSample(),
	}
}

// Decode turns one frame of a DICOM instance (the frame's bytes as stored in
// Instance.Source, its transfer syntax and the image attributes) into
// pixels. See the package documentation for what each transfer syntax
// supports. It returns an *Error with Code CodeUnsupported or CodeCorrupt.
// For native little-endian frames with interleaved samples the returned
// Pixels.Data is frame itself (no copy): the caller must not change frame
// while it uses the pixels.
func Decode(frame []byte, ts string, img Image) (*Pixels, error) {
	if err := img.check(); err != nil {
		return nil, err
	}
	ts = strings.TrimRight(ts, "\x00 ")
	switch ts {
	case tsImplicitLE, tsExplicitLE, tsDeflatedLE, tsEncapsulatedLE:
		return decodeNative(frame, img, false)
	case tsExplicitBE:
		return decodeNative(frame, img, true)
	case tsRLE:
		return decodeRLE(frame, img)
	case tsJPEGBaseline, tsJPEGExtended, tsJPEGLossless, tsJPEGLosslessSV1:
		return decodeLegacy(frame, ts, img, checkJPEG)
	case tsJPEGLSLossless, tsJPEGLSNear:
		return decodeJPEGLS(frame, ts, img)
	case tsJ2KLossless, tsJ2K, tsJ2KMCLossless, tsJ2KMC:
		return decodeJ2KFrame(frame, ts, img)
	case tsHTJ2KLossless, tsHTJ2KLosslessRPCL, tsHTJ2K:
		return decodeHTJ2KFrame(frame, img)
	}
	return nil, unsupportedf("transfer syntax %q is not supported", ts)
}

// MinMax returns the smallest and largest sample values of p, over all
// components. Samples are read as BitsStored-bit values (the bits above are
// ignored), sign-extended when p.Signed, as DICOM defines stored values.
func MinMax(p *Pixels) (lo, hi int64) {
	if p == nil || len(p.Data) == 0 || p.BytesPerSample <= 0 {
		return 0, 0
	}
	if p.BytesPerSample == 1 || p.BytesPerSample == 2 || p.BytesPerSample == 4 {
		lo, hi := rawRange(p)
		return minMaxFrom(p, lo, hi)
	}
	return minMaxSlow(p)
}

// minMaxFrom is MinMax for pixels whose raw range (rawRange) is lo to hi.
// Usually no sample has bits above BitsStored: then the stored values are
// the whole samples and the raw range is the answer.
func minMaxFrom(p *Pixels, lo, hi int64) (int64, int64) {
	bits := p.BitsStored
	if bits <= 0 || bits > 8*p.BytesPerSample {
		bits = 8 * p.BytesPerSample
	}
	if slo, shi := storedRange(bits, p.Signed); lo >= slo && hi <= shi {
		return lo, hi
	}
	return minMaxSlow(p)
}

// minMaxSlow is MinMax sample by sample, through the BitsStored mask.
func minMaxSlow(p *Pixels) (lo, hi int64) {
	bits := p.BitsStored
	if bits <= 0 || bits > 8*p.BytesPerSample {
		bits = 8 * p.BytesPerSample
	}
	mask := uint64(1)<<bits - 1
	sign := uint64(1) << (bits - 1)
	val := func(u uint64) int64 {
		u &= mask
		if p.Signed && u&sign != 0 {
			return int64(u) - int64(mask) - 1
		}
		return int64(u)
	}
	n := len(p.Data) / p.BytesPerSample
	lo, hi = int64(1)<<62, -(int64(1) << 62)
	for i := 0; i < n; i++ {
		var u uint64
		switch p.BytesPerSample {
		case 1:
			u = uint64(p.Data[i])
		case 2:
			u = uint64(binary.LittleEndian.Uint16(p.Data[2*i:]))
		default:
			u = uint64(binary.LittleEndian.Uint32(p.Data[4*i:]))
		}
		v := val(u)
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}
