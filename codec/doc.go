// Package codec decodes the pixel data of DICOM frames in every transfer
// syntax ohi imports and encodes them as lossless HTJ2K, the way AWS
// HealthImaging stores frames (StoredTransferSyntaxUID
// 1.2.840.10008.1.2.4.202), or as JPEG 2000 Lossless for data stores that
// ask for it, with the checksums AHI publishes.
//
// # Decoding
//
// Decode takes the bytes of one frame as package dicom locates them, the
// transfer syntax and the Image Pixel attributes, and returns Pixels:
// interleaved samples of 1, 2 or 4 bytes (BitsAllocated 1 and 8 give 1 byte,
// 16 gives 2, 32 gives 4), little endian.
//
//   - Native (implicit and explicit little endian, deflated, which package
//     dicom inflates, encapsulated uncompressed, and explicit big endian,
//     whose 16 and 32-bit samples are byte-swapped here and whose 1 and
//     8-bit OW words package dicom's Frame.Reader swaps back):
//     BitsAllocated 1, 8, 16 and 32, signed or not.
//     1-bit frames are unpacked LSB first from Image.BitOffset to one byte
//     (0 or 1) per pixel. Planar configuration 1 is interleaved. Native
//     YBR_FULL_422 is expanded to YBR_FULL, the pixels of each pair sharing
//     the pair's chroma (Pixels.Photometric says so).
//   - RLE Lossless: pure Go (PS3.5 Annex G), 8, 16 and 32-bit samples.
//   - JPEG (.50, .51 12-bit, lossless .57 and .70): GDCM 3.0 through a C++
//     shim (gdcm_shim.cpp).
//   - JPEG 2000 (.90 to .93): GDCM, and OpenJPEG 2.5 (opj_shim.c) when GDCM
//     fails. YBR_RCT and YBR_ICT frames whose codestream has the colour
//     transform decode to RGB (Pixels.Photometric).
//   - JPEG-LS (.80, .81): CharLS 2.4 through its C API (jls_shim.c), and
//     GDCM when CharLS fails. CharLS decodes at the codestream's own
//     precision, which writers may set below BitsAllocated (8 bits in a
//     16-bit image: GDCM 3.0 aborts on those) or above BitsStored; the
//     samples are then widened to the size BitsAllocated gives. A frame
//     fails only when both decoders fail, with both reasons, and is
//     CodeCorrupt only when both found it corrupt.
//   - HTJ2K (.201, .202, .203): OpenJPH 0.9.0 (ojph_shim.cpp), and OpenJPEG
//     when OpenJPH fails (it rejects some code-blocks of samples wider than
//     16 bits that it wrote itself).
//
// Samples are kept exactly as stored: bits above BitsStored (overlays,
// unmasked sign bits) are not cleared, so the decoded bytes are the original
// pixel bytes. MinMax reads values through BitsStored, as DICOM defines
// them.
//
// Why GDCM for JPEG and JPEG 2000: it is one C++ API for both, and it is
// the only packaged library on Debian bookworm that decodes 12-bit lossy
// JPEG (libjpeg-turbo 2.1.5 has neither 12-bit nor lossless support). For
// JPEG-LS, GDCM's wrapper around CharLS assumes the codestream precision
// matches the attributes, which real files do not always do, so CharLS is
// called directly and GDCM is the fallback. Measured per 2048x2048
// 16-bit frame on one core (docs: dicom-peers.md 2.2): 40-70 ms for JPEG and
// JPEG-LS, about 230 ms for JPEG 2000 (OpenJPEG's own speed). On the
// installed corpora every lossless frame decodes, and frames of the same
// image in native, RLE, JPEG-LS and JPEG 2000 lossless decode to the same
// values (TestCorpusSameImage).
//
// # Untrusted input
//
// Every decoder checks the frame against the attributes before allocating:
// the decoded size must not exceed MaxFrameBytes, native frames must hold
// the bytes the attributes need, RLE frames cannot declare more than 64
// times their size, and the header of every codestream (JPEG SOF, JPEG-LS
// SOF55, read again by CharLS, JPEG 2000 SIZ, HTJ2K SIZ read by OpenJPH)
// must give the image size and sample count of the attributes before the
// output is allocated and the C or C++ decoder runs (CharLS's output size
// must also be exactly the frame's). The decoders run in codecproc's worker processes for untrusted input. The shims
// catch every C++ exception; OpenJPH's and GDCM's messages are not printed
// (OpenJPH 0.9.0 ignores custom message handlers, so its streams are
// replaced and the error text is returned in the error instead).
// Both libraries are built with assertions enabled: a codestream that gets
// past their header checks and trips an assertion aborts the process.
//
// # Encoding
//
// EncodeHTJ2K writes a lossless codestream: reversible 5/3 wavelet, RPCL
// progression, 64x64 code blocks, one tile, as many decompositions as make
// the lowest resolution at most 64 pixels (3 for 512, 5 for 2048), and no
// multi-component transform (RGB stays RGB, so the Photometric
// Interpretation does not change). OpenJPH 0.9.0 writes the tile as one
// tile-part and no TLM marker, which DICOM requires for .202, so
// EncodeHTJ2K rewrites the tile as one tile-part per resolution level,
// lowest first (TPsot r, TNsot decompositions+1), and lists them in a TLM
// segment (Stlm 0x60: 16-bit tile index, 32-bit tile-part length) at the
// end of the main header. The main header and the first k tile-parts then
// decode on their own to the image at resolution level k-1 (DecodeHTJ2K
// with skipLevels decompositions+1-k), which is what HealthImaging's
// progressive retrieval fetches. Finding the resolution boundaries means
// reading every packet header (tileparts.go): about 10 microseconds for a
// 512x512 frame that takes 6 ms to encode. A codestream outside what that
// parser handles (another progression, SOP or EPH markers, several layers
// or coding passes, a precinct without code-blocks as in a 32769x32769
// image, ...) keeps its single tile-part with a one-entry TLM rather than
// risk a wrong split.
//
// The codestream precision is chosen so that decoding gives back Pixels.Data
// byte for byte: the bits the sample values need (which may exceed
// BitsStored when bits above it are set), raised to BitsStored and to the
// range that selects the same sample size on decode (1-8 bits decode to 1
// byte, 9-16 to 2, 17 and more to 4; so BitsAllocated 16 with BitsStored 8
// is coded with precision 9). OpenJPH 0.9.0 codes at most
// MaxHTJ2KPrecision (26) bits exactly: 32-bit frames whose values need more
// give an Unsupported error, and the importer keeps such frames as they are.
// Below that, OpenJPH 0.9.0 still fails to decode some of its own
// codestreams of samples above 16 bits (random content from about 20 bits,
// some smooth content from 24; OpenJPEG decodes them); Transcode reports
// those as Unsupported too, and the importer keeps the frame as received.
//
// # JPEG 2000 Lossless storage
//
// Data stores created with losslessStorageFormat JPEG_2000_LOSSLESS store
// JPEG 2000 Lossless (1.2.840.10008.1.2.4.90) instead: EncodeJ2K writes it
// with OpenJPEG 2.5 (opj_shim.c) with the same coding choices as
// EncodeHTJ2K (reversible 5/3, RPCL, 64x64 code blocks, no colour
// transform), one tile-part per resolution level and a TLM segment, which
// OpenJPEG writes itself. OpenJPEG is about 7 times slower than OpenJPH and
// holds whole tiles in memory, so it encodes at most MaxJ2KPrecision (22)
// bits and MaxJ2KSamples samples a frame; larger frames are kept as
// received.
//
// # Transcode
//
// Transcode is what the importer runs on every decoded lossless frame: it
// encodes the frame in the data store's format, decodes the codestream once
// at full resolution and compares it with the source samples as it goes
// (nothing is allocated for the decoded frame), and returns the codestream
// with its checksums and pixel range. A difference is ErrVerify, and the
// importer fails that file. The checksums of the lower resolution levels
// are computed from the source samples with the forward reversible 5/3
// transform (lowres.c) rather than by decoding the codestream again at each
// level: once the full-resolution decode has matched, the codestream holds
// exactly that transform, so the result is the same (TestLowResChecksums
// compares it with OpenJPH's reduced-resolution decodes over many sizes and
// sample types), at about a third of the cost. It works row by row and
// keeps only the first LL band (about 1 byte per sample); frames above
// LowResMaxSamples (4096x4096) decode the reduced levels instead, which
// needs at most a quarter of the frame's bytes.
//
// # Checksums
//
// Checksums gives AHI's PixelDataChecksumFromBaseToFullResolution: for each
// resolution level, lowest first, the size and the CRC-32 (IEEE) of the
// pixels decoded at that level, in the layout of Pixels.Data: 1 byte per
// sample up to 8 bits, 2 bytes little endian up to 16, 4 above, components
// interleaved. This is the buffer OpenJPH's decoder produces, which AWS's
// pixel verification sample checksums, and the full-resolution entry equals
// crc32.ChecksumIEEE of the Pixels.Data given to EncodeHTJ2K (for 1-bit
// frames, the unpacked one byte per pixel).
package codec
