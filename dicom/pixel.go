package dicom

import (
	"encoding/binary"
	"io"
	"sort"
	"strings"
)

// Segment is a byte range of the source.
type Segment struct{ Offset, Length int64 }

// Frame is where one frame's bytes live in the source: the concatenation of
// Segments. For bit-packed (BitsAllocated 1) native frames that do not start
// on a byte boundary, BitOffset is the number of leading bits of the first
// byte that belong to the previous frame (bits are packed LSB first).
//
// In Explicit VR Big Endian, OW pixel data of 1 or 8-bit samples is a
// sequence of 16-bit big endian words: the bytes of each pair are swapped
// (PS3.5 7.3 and 8.1.1). Such a frame's Segments cover the whole words its
// bytes are in, and Reader and Size give the frame's bytes in sample
// order, as OB pixel data holds them.
type Frame struct {
	Segments  []Segment
	BitOffset int
	words     *wordSwap
}

// wordSwap describes a frame whose single segment holds whole 16-bit big
// endian words: after swapping each pair of bytes, the frame is the n bytes
// that follow the first lead bytes.
type wordSwap struct{ lead, n int64 }

// Size returns the number of bytes of the frame.
func (f Frame) Size() int64 {
	if f.words != nil {
		return f.words.n
	}
	var n int64
	for _, s := range f.Segments {
		n += s.Length
	}
	return n
}

// Reader returns a reader over the frame's bytes in r, which must be the
// Instance.Source the frame was located in.
func (f Frame) Reader(r io.ReaderAt) io.Reader {
	if f.words != nil {
		s := f.Segments[0]
		chunk := min(s.Length+s.Length%2, 64<<10)
		return &wordSwapReader{src: io.NewSectionReader(r, s.Offset, s.Length), chunk: make([]byte, chunk),
			skip: f.words.lead, left: f.words.n}
	}
	if len(f.Segments) == 1 {
		return io.NewSectionReader(r, f.Segments[0].Offset, f.Segments[0].Length)
	}
	rs := make([]io.Reader, len(f.Segments))
	for i, s := range f.Segments {
		rs[i] = io.NewSectionReader(r, s.Offset, s.Length)
	}
	return io.MultiReader(rs...)
}

// imageInfo holds the Image Pixel attributes that size frames.
type imageInfo struct {
	rows, cols, samples, bitsAllocated, frames int
	photometric                                string
}

// frameCharge is the metadata budget charged for every frame located.
const frameCharge = 64

// nativeFrames slices defined-length native pixel data into frames.
func (p *parser) nativeFrames(px *element, img imageInfo) ([]Frame, error) {
	switch img.bitsAllocated {
	case 1, 8, 16, 32, 64:
	default:
		return nil, errorf(CodeUnsupported, "BitsAllocated %d is not supported for native pixel data", img.bitsAllocated)
	}
	if img.samples < 1 || img.samples > 4 {
		return nil, errorf(CodeUnsupported, "SamplesPerPixel %d is not supported for native pixel data", img.samples)
	}
	if img.rows <= 0 || img.cols <= 0 {
		return nil, errorf(CodeMalformed, "Rows %d and Columns %d do not describe an image", img.rows, img.cols)
	}
	samples := int64(img.samples)
	if pi := strings.TrimSpace(img.photometric); pi == "YBR_FULL_422" || pi == "YBR_PARTIAL_422" {
		samples = 2 // PS3.3 C.7.6.3.1.2: two Y, one Cb and one Cr per two pixels
	}
	frameBits := int64(img.rows) * int64(img.cols) * samples * int64(img.bitsAllocated)
	n := int64(img.frames)
	if n > px.length*8/frameBits {
		frameBytes := (frameBits + 7) / 8
		return nil, errorf(CodeTruncated, "pixel data length %d is shorter than %d frames of %d bytes", px.length, n, frameBytes)
	}
	if err := p.charge(n * frameCharge); err != nil {
		return nil, err
	}
	if extra := px.length - (n*frameBits+7)/8; extra > 1 {
		p.warn("PixelDataLength", "pixel data has %d bytes after the last frame", extra)
	}
	swapWords := px.bigEndian && px.vr == "OW" && (img.bitsAllocated == 1 || img.bitsAllocated == 8)
	frames := make([]Frame, n)
	for i := range frames {
		startBit := int64(i) * frameBits
		bitOff := startBit % 8
		seg := Segment{Offset: px.offset + startBit/8, Length: (bitOff + frameBits + 7) / 8}
		frames[i] = Frame{Segments: []Segment{seg}, BitOffset: int(bitOff)}
		if swapWords {
			// Whole words, counted from the start of the value: one byte
			// more before an odd start and after an odd end (within the
			// value, whose length an odd-length writer may have left odd).
			rel := seg.Offset - px.offset
			lead := rel % 2
			end := min(rel+seg.Length+(rel+seg.Length)%2, px.length)
			frames[i].Segments = []Segment{{Offset: px.offset + rel - lead, Length: end - (rel - lead)}}
			frames[i].words = &wordSwap{lead: lead, n: seg.Length}
		}
	}
	return frames, nil
}

// wordSwapReader reads 16-bit big endian words from src, swaps the bytes of
// each, drops the first skip bytes and returns the next left bytes.
type wordSwapReader struct {
	src        io.Reader
	chunk, buf []byte
	skip, left int64
}

func (r *wordSwapReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.left == 0 {
			return 0, io.EOF
		}
		n, err := io.ReadFull(r.src, r.chunk)
		if n == 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		c := r.chunk[:n]
		for i := 0; i+1 < n; i += 2 {
			c[i], c[i+1] = c[i+1], c[i]
		}
		d := min(r.skip, int64(len(c)))
		c, r.skip = c[d:], r.skip-d
		r.buf = c[:min(int64(len(c)), r.left)]
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.left -= int64(n)
	return n, nil
}

// isVideo reports whether ts is one of the MPEG/HEVC transfer syntaxes whose
// fragments carry one stream for all frames.
func isVideo(uid string) bool {
	return strings.HasPrefix(uid, "1.2.840.10008.1.2.4.10") || strings.HasPrefix(uid, "1.2.840.10008.1.2.7.")
}

// encapsulatedFrames assigns fragments to frames (PS3.5 A.4): Extended
// Offset Table, else a non-empty Basic Offset Table, else one fragment per
// frame, else all fragments for a single frame, else codestream markers.
func (p *parser) encapsulatedFrames(src io.ReaderAt, px *element, ts TransferSyntax, nFrames int, eot, eotLens []byte, eotBig bool) ([]Frame, error) {
	if len(px.frags) == 0 {
		return nil, errorf(CodeMalformed, "encapsulated pixel data has no Basic Offset Table item")
	}
	bot, frags := px.frags[0], px.frags[1:]
	if len(frags) == 0 {
		return nil, errorf(CodeMalformed, "encapsulated pixel data has no fragments")
	}
	if err := p.charge(int64(nFrames) * frameCharge); err != nil {
		return nil, err
	}
	if isVideo(ts.UID) {
		return []Frame{{Segments: frags}}, nil
	}
	// Item start offsets (relative to the first fragment's item tag) of
	// every fragment, for offset table lookups.
	base := frags[0].Offset - 8
	find := func(rel uint64) int {
		want := base + int64(rel)
		if rel > uint64(1<<62) {
			return -1
		}
		i := sort.Search(len(frags), func(i int) bool { return frags[i].Offset-8 >= want })
		if i < len(frags) && frags[i].Offset-8 == want {
			return i
		}
		return -1
	}
	var frames []Frame

	// 1. Extended Offset Table.
	if len(eot) > 0 {
		frames = p.fromEOT(frags, nFrames, eot, eotLens, eotBig, find)
	}
	// 2. Basic Offset Table.
	if frames == nil && bot.Length > 0 {
		var err error
		if frames, err = p.fromBOT(src, frags, nFrames, bot, ts.BigEndian, find); err != nil {
			return nil, err
		}
	}
	switch {
	case frames != nil:
	case len(frags) == nFrames: // 3. one fragment per frame
		frames = make([]Frame, nFrames)
		for i := range frames {
			frames[i] = Frame{Segments: frags[i : i+1]}
		}
	case nFrames == 1: // 4. all fragments
		frames = []Frame{{Segments: frags}}
	default: // 5. codestream start markers
		var starts []int
		var head [8]byte
		for i, f := range frags {
			n := min(f.Length, 8)
			if err := readAtFull(src, head[:n], f.Offset); err != nil {
				return nil, p.truncated(err, "a pixel data fragment")
			}
			if i == 0 || isCodestreamStart(head[:n], ts.UID) {
				starts = append(starts, i)
			}
		}
		if len(starts) != nFrames {
			return nil, errorf(CodeMalformed, "cannot determine frame boundaries: %d fragments, %d codestream starts, %d frames", len(frags), len(starts), nFrames)
		}
		frames = make([]Frame, nFrames)
		for i, s := range starts {
			e := len(frags)
			if i+1 < len(starts) {
				e = starts[i+1]
			}
			frames[i] = Frame{Segments: frags[s:e]}
		}
	}
	if ts.UID != RLELossless {
		if err := stripEOCPadding(src, frames); err != nil {
			return nil, p.truncated(err, "a pixel data fragment")
		}
	}
	return frames, nil
}

func (p *parser) fromEOT(frags []Segment, nFrames int, eot, eotLens []byte, big bool, find func(uint64) int) []Frame {
	var bo binary.ByteOrder = binary.LittleEndian
	if big {
		bo = binary.BigEndian
	}
	if len(eot)%8 != 0 || len(eot)/8 != nFrames || len(eotLens) != len(eot) {
		p.warn("InvalidOffsetTable", "Extended Offset Table has %d entries and %d lengths for %d frames; ignored", len(eot)/8, len(eotLens)/8, nFrames)
		return nil
	}
	frames := make([]Frame, nFrames)
	for i := range frames {
		idx := find(bo.Uint64(eot[i*8:]))
		l := bo.Uint64(eotLens[i*8:])
		if idx < 0 || l > uint64(frags[idx].Length) || (i > 0 && bo.Uint64(eot[i*8:]) <= bo.Uint64(eot[i*8-8:])) {
			p.warn("InvalidOffsetTable", "Extended Offset Table entry %d does not match a fragment; ignored", i)
			return nil
		}
		frames[i] = Frame{Segments: []Segment{{Offset: frags[idx].Offset, Length: int64(l)}}}
	}
	return frames
}

func (p *parser) fromBOT(src io.ReaderAt, frags []Segment, nFrames int, bot Segment, big bool, find func(uint64) int) ([]Frame, error) {
	if bot.Length%4 != 0 || bot.Length/4 != int64(nFrames) || bot.Length/4 > int64(len(frags)) {
		p.warn("InvalidOffsetTable", "Basic Offset Table has %d bytes for %d frames and %d fragments; ignored", bot.Length, nFrames, len(frags))
		return nil, nil
	}
	raw := make([]byte, bot.Length) // at most 4 bytes per fragment
	if err := readAtFull(src, raw, bot.Offset); err != nil {
		return nil, p.truncated(err, "the Basic Offset Table")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if big {
		bo = binary.BigEndian
	}
	idx := make([]int, nFrames)
	for i := range idx {
		off := bo.Uint32(raw[i*4:])
		idx[i] = find(uint64(off))
		if idx[i] < 0 || (i == 0 && idx[i] != 0) || (i > 0 && idx[i] <= idx[i-1]) {
			p.warn("InvalidOffsetTable", "Basic Offset Table entry %d (%d) does not match a fragment; ignored", i, off)
			return nil, nil
		}
	}
	frames := make([]Frame, nFrames)
	for i := range frames {
		e := len(frags)
		if i+1 < nFrames {
			e = idx[i+1]
		}
		frames[i] = Frame{Segments: frags[idx[i]:e]}
	}
	return frames, nil
}

// isCodestreamStart reports whether a fragment starting with head begins a
// new frame: JPEG SOI, a JPEG 2000 / HTJ2K codestream (SOC SIZ) or JP2
// signature box, or an RLE header.
func isCodestreamStart(head []byte, uid string) bool {
	if uid == RLELossless {
		if len(head) < 8 {
			return false
		}
		n := binary.LittleEndian.Uint32(head)
		return n >= 1 && n <= 15 && binary.LittleEndian.Uint32(head[4:]) == 64
	}
	if len(head) >= 2 && head[0] == 0xFF && head[1] == 0xD8 {
		return true
	}
	if len(head) >= 4 && head[0] == 0xFF && head[1] == 0x4F && head[2] == 0xFF && head[3] == 0x51 {
		return true
	}
	return len(head) >= 8 && string(head[4:8]) == "jP  "
}

// stripEOCPadding removes the pad byte that writers add after an odd-length
// codestream ending in an EOC/EOI marker (FFD9).
func stripEOCPadding(src io.ReaderAt, frames []Frame) error {
	var tail [3]byte
	for i := range frames {
		segs := frames[i].Segments
		last := segs[len(segs)-1]
		if last.Length < 3 {
			continue
		}
		if err := readAtFull(src, tail[:], last.Offset+last.Length-3); err != nil {
			return err
		}
		if tail[0] == 0xFF && tail[1] == 0xD9 && tail[2] == 0x00 {
			s := make([]Segment, len(segs))
			copy(s, segs)
			s[len(s)-1].Length--
			frames[i].Segments = s
		}
	}
	return nil
}
