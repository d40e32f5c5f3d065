package dicom

import "strings"

// Transfer syntax UIDs used by this package and its callers.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	EncapsulatedUncompressedLE     = "1.2.840.10008.1.2.1.98"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian            = "1.2.840.10008.1.2.2"
	JPEGBaseline8Bit               = "1.2.840.10008.1.2.4.50"
	JPEGExtended12Bit              = "1.2.840.10008.1.2.4.51"
	JPEGLossless                   = "1.2.840.10008.1.2.4.57"
	JPEGLosslessSV1                = "1.2.840.10008.1.2.4.70"
	JPEGLSLossless                 = "1.2.840.10008.1.2.4.80"
	JPEGLSNearLossless             = "1.2.840.10008.1.2.4.81"
	JPEG2000Lossless               = "1.2.840.10008.1.2.4.90"
	JPEG2000                       = "1.2.840.10008.1.2.4.91"
	HTJ2KLossless                  = "1.2.840.10008.1.2.4.201"
	HTJ2KLosslessRPCL              = "1.2.840.10008.1.2.4.202"
	HTJ2K                          = "1.2.840.10008.1.2.4.203"
	RLELossless                    = "1.2.840.10008.1.2.5"
)

// TransferSyntax describes how a data set and its pixel data are encoded.
type TransferSyntax struct {
	UID          string
	Name         string
	Implicit     bool // implicit VR (only Implicit VR Little Endian)
	BigEndian    bool
	Deflated     bool // the data set after group 0002 is raw-deflated
	Encapsulated bool // pixel data is encapsulated in fragments
}

var transferSyntaxes = map[string]TransferSyntax{}

func addTS(uid, name string, implicit, big, deflated, encaps bool) {
	transferSyntaxes[uid] = TransferSyntax{UID: uid, Name: name, Implicit: implicit, BigEndian: big, Deflated: deflated, Encapsulated: encaps}
}

func init() {
	addTS(ImplicitVRLittleEndian, "Implicit VR Little Endian", true, false, false, false)
	addTS(ExplicitVRLittleEndian, "Explicit VR Little Endian", false, false, false, false)
	addTS(EncapsulatedUncompressedLE, "Encapsulated Uncompressed Explicit VR Little Endian", false, false, false, true)
	addTS(DeflatedExplicitVRLittleEndian, "Deflated Explicit VR Little Endian", false, false, true, false)
	addTS(ExplicitVRBigEndian, "Explicit VR Big Endian", false, true, false, false)
	addTS("1.2.840.10008.1.2.1.99.1", "Deflated Image Frame Compression", false, false, false, true)
	enc := map[string]string{
		JPEGBaseline8Bit: "JPEG Baseline (Process 1)", JPEGExtended12Bit: "JPEG Extended (Process 2 & 4)",
		"1.2.840.10008.1.2.4.52": "JPEG Extended (Process 3 & 5)", "1.2.840.10008.1.2.4.53": "JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8)",
		"1.2.840.10008.1.2.4.54": "JPEG Spectral Selection, Non-Hierarchical (Process 7 & 9)", "1.2.840.10008.1.2.4.55": "JPEG Full Progression, Non-Hierarchical (Process 10 & 12)",
		"1.2.840.10008.1.2.4.56": "JPEG Full Progression, Non-Hierarchical (Process 11 & 13)", JPEGLossless: "JPEG Lossless, Non-Hierarchical (Process 14)",
		"1.2.840.10008.1.2.4.58": "JPEG Lossless, Non-Hierarchical (Process 15)", JPEGLosslessSV1: "JPEG Lossless, Non-Hierarchical, First-Order Prediction",
		JPEGLSLossless: "JPEG-LS Lossless", JPEGLSNearLossless: "JPEG-LS Lossy (Near-Lossless)",
		JPEG2000Lossless: "JPEG 2000 Image Compression (Lossless Only)", JPEG2000: "JPEG 2000 Image Compression",
		"1.2.840.10008.1.2.4.92": "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)", "1.2.840.10008.1.2.4.93": "JPEG 2000 Part 2 Multi-component Image Compression",
		"1.2.840.10008.1.2.4.94": "JPIP Referenced", "1.2.840.10008.1.2.4.95": "JPIP Referenced Deflate",
		"1.2.840.10008.1.2.4.100": "MPEG2 Main Profile / Main Level", "1.2.840.10008.1.2.4.100.1": "Fragmentable MPEG2 Main Profile / Main Level",
		"1.2.840.10008.1.2.4.101": "MPEG2 Main Profile / High Level", "1.2.840.10008.1.2.4.101.1": "Fragmentable MPEG2 Main Profile / High Level",
		"1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264 High Profile / Level 4.1", "1.2.840.10008.1.2.4.102.1": "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.1",
		"1.2.840.10008.1.2.4.103": "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", "1.2.840.10008.1.2.4.103.1": "Fragmentable MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1",
		"1.2.840.10008.1.2.4.104": "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", "1.2.840.10008.1.2.4.104.1": "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video",
		"1.2.840.10008.1.2.4.105": "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", "1.2.840.10008.1.2.4.105.1": "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video",
		"1.2.840.10008.1.2.4.106": "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", "1.2.840.10008.1.2.4.106.1": "Fragmentable MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2",
		"1.2.840.10008.1.2.4.107": "HEVC/H.265 Main Profile / Level 5.1", "1.2.840.10008.1.2.4.108": "HEVC/H.265 Main 10 Profile / Level 5.1",
		"1.2.840.10008.1.2.4.110": "JPEG XL Lossless", "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression", "1.2.840.10008.1.2.4.112": "JPEG XL",
		HTJ2KLossless: "High-Throughput JPEG 2000 Image Compression (Lossless Only)", HTJ2KLosslessRPCL: "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
		HTJ2K: "High-Throughput JPEG 2000 Image Compression", RLELossless: "RLE Lossless",
		"1.2.840.10008.1.2.7.1": "SMPTE ST 2110-20 Uncompressed Progressive Active Video", "1.2.840.10008.1.2.7.2": "SMPTE ST 2110-20 Uncompressed Interlaced Active Video",
		"1.2.840.10008.1.2.7.3": "SMPTE ST 2110-30 PCM Digital Audio",
	}
	for uid, name := range enc {
		addTS(uid, name, false, false, false, true)
	}
}

// LookupTransferSyntax returns the registry entry for uid (trailing NUL and
// space padding ignored) and whether it is known.
func LookupTransferSyntax(uid string) (TransferSyntax, bool) {
	ts, ok := transferSyntaxes[strings.TrimRight(uid, "\x00 ")]
	return ts, ok
}
