package dicom

import (
	"fmt"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// Frequently used tags, as 0xggggeeee.
const (
	tagFileMetaGroupLength   = 0x00020000
	tagTransferSyntaxUID     = 0x00020010
	tagSpecificCharacterSet  = 0x00080005
	tagSOPClassUID           = 0x00080016
	tagSOPInstanceUID        = 0x00080018
	tagStudyInstanceUID      = 0x0020000D
	tagSeriesInstanceUID     = 0x0020000E
	tagSamplesPerPixel       = 0x00280002
	tagPhotometric           = 0x00280004
	tagPlanarConfiguration   = 0x00280006
	tagNumberOfFrames        = 0x00280008
	tagRows                  = 0x00280010
	tagColumns               = 0x00280011
	tagBitsAllocated         = 0x00280100
	tagBitsStored            = 0x00280101
	tagPixelRepresentation   = 0x00280103
	tagExtendedOffsetTable   = 0x7FE00001
	tagExtendedOffsetLengths = 0x7FE00002
	tagFloatPixelData        = 0x7FE00008
	tagDoubleFloatPixelData  = 0x7FE00009
	tagPixelData             = 0x7FE00010
	tagItem                  = 0xFFFEE000
	tagItemDelimitation      = 0xFFFEE00D
	tagSequenceDelimitation  = 0xFFFEE0DD
)

// dictEntry is what the data dictionary says about a tag.
type dictEntry struct {
	keyword string // "" for private, unknown and non-base repeating-group tags
	vrs     []string
	multi   bool // VM allows more than one value
}

// lookup returns the dictionary entry of t. Private tags (odd groups) are
// never looked up; private creator elements are LO.
func lookup(t uint32) (dictEntry, bool) {
	g, e := uint16(t>>16), uint16(t)
	if g%2 == 1 {
		if e >= 0x0010 && e <= 0x00FF {
			return dictEntry{vrs: []string{"LO"}}, true
		}
		if e == 0 {
			return dictEntry{vrs: []string{"UL"}}, true
		}
		return dictEntry{}, false
	}
	if e == 0 && g != 0x0002 {
		// Group lengths other than the file meta one are retired and would
		// all share one keyword; keep them keyed by tag.
		return dictEntry{vrs: []string{"UL"}}, true
	}
	base, repeating := g, false
	if (g&0xFF00 == 0x5000 || g&0xFF00 == 0x6000) && g&0x00FF != 0 {
		base, repeating = g&0xFF00, true
	}
	info, err := tag.Find(tag.Tag{Group: base, Element: e})
	if err != nil || len(info.VRs) == 0 {
		return dictEntry{}, false
	}
	de := dictEntry{keyword: info.Keyword, vrs: info.VRs, multi: info.VM != "1" && info.VM != ""}
	if repeating {
		de.keyword = ""
	}
	return de, true
}

// hexTag formats t as 8 uppercase hex digits, the AHI key of private tags.
func hexTag(t uint32) string { return fmt.Sprintf("%08X", t) }

// tagString formats t as (gggg,eeee) for messages.
func tagString(t uint32) string { return fmt.Sprintf("(%04X,%04X)", t>>16, t&0xFFFF) }

// keywordOrTag returns the keyword of t, or "(gggg,eeee)" for messages.
func keywordOrTag(t uint32) string {
	if d, ok := lookup(t); ok && d.keyword != "" {
		return d.keyword
	}
	return tagString(t)
}
