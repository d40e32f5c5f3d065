// Package dicom reads DICOM Part-10 files safely and normalizes their
// metadata the way AWS HealthImaging does.
//
// Read parses one file from an io.ReaderAt. It returns the metadata already
// split into the Patient, Study, Series and Instance levels of an AHI image
// set (keyed by DICOM keyword, values in the AHI JSON encoding) and the
// location of every frame of the top-level Pixel Data inside the file, so that
// callers can stream or transcode frames without buffering the pixel data.
//
// # Why this package has its own parser
//
// github.com/suyashkumar/dicom v1.1.0 is used only for its data dictionary
// (pkg/tag: keywords, VRs and value multiplicities). Its parser is not used,
// neither for the pre-scan nor for element values, because on untrusted input
// it panics on transfer syntaxes it does not know (HTJ2K among them), allocates
// whatever length a file declares before reading it, treats every encapsulated
// fragment as a frame and ignores offset tables. Walking the element headers
// safely already requires a complete reader for explicit and implicit VR,
// both byte orders, nested sequences and items of defined and undefined
// length; decoding the values of the (at most MaxElementBytes long) elements
// it has read is a small step further. Doing it in one pass means every byte
// read is checked against the bytes present and the metadata budget before it
// is allocated, nothing is parsed twice, and no value ever reaches code we do
// not control. Read still recovers from panics as a last line of defence and
// reports them as a Malformed *FileError.
//
// # Value encoding
//
// Values follow the AHI metadata JSON: text VRs become strings with their
// space padding kept (trailing NUL bytes, the UI padding, are removed); binary
// numbers (US, SS, UL, SL, SV, UV, FL, FD) become numbers (int64, uint64 or
// float64; FL is widened by its shortest decimal form, NaN and infinities
// become the strings "NaN", "Infinity", "-Infinity"); AT becomes an 8-digit
// uppercase hex string; OB, OD, OF, OL, OV, OW and UN become base64 strings;
// elements whose dictionary VM allows several values become []any even with
// one value; empty values and empty sequences become nil; sequences become
// []any of map[string]any; Pixel Data (top-level or nested) becomes nil.
// Private and unknown tags are keyed by their 8 uppercase hex digits and their
// VR is recorded in Instance.VRs. UN elements of a known tag are decoded with
// the dictionary VR (their value is implicit VR little endian, PS3.5 6.2.2).
//
// Text in SH, LO, ST, LT, UC, UT and PN is decoded from the Specific
// Character Set (including ISO 2022 code extensions) to UTF-8. An unknown or
// undecodable character set never fails the file: the bytes are kept when
// they are valid UTF-8 and otherwise mapped byte-for-rune (ISO 8859-1), which
// is lossless, and a warning is recorded.
//
// # Deflated transfer syntax
//
// For Deflated Explicit VR Little Endian the data set is inflated (up to
// Options.MaxInflatedBytes) into memory or, when large, into a temporary
// file. Frame offsets are then relative to Instance.Source, not to the
// original file. Callers must always read frames through Instance.Source and
// call Instance.Close when done, which removes any temporary file.
package dicom
