package dicom

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Instance is one parsed DICOM Part-10 file.
type Instance struct {
	TransferSyntaxUID                                                string
	SOPClassUID, SOPInstanceUID, StudyInstanceUID, SeriesInstanceUID string

	// Normalized metadata split by level as AWS HealthImaging does, keyed by
	// DICOM keyword (private and unknown tags by 8 uppercase hex digits),
	// values in the AHI JSON encoding described in the package doc. The file
	// meta group (0002) is at the instance level.
	Patient, Study, Series, Instance map[string]any
	// VRs holds the VRs of private and unknown tags (AHI "DICOMVRs").
	VRs map[string]string

	// Frames locates the frames of the top-level Pixel Data in Source, in
	// frame order. It is empty when the file has no Pixel Data.
	Frames                                                        []Frame
	Rows, Columns, BitsAllocated, BitsStored, PixelRepresentation int
	SamplesPerPixel, NumberOfFrames, PlanarConfiguration          int
	PhotometricInterpretation                                     string
	Encapsulated                                                  bool
	// BigEndian is set for Explicit VR Big Endian files. Native frames of
	// 16 and 32-bit samples keep their big endian bytes (codec.Decode swaps
	// them); frames of 1 and 8-bit samples in OW words come out of
	// Frame.Reader with each word's bytes swapped back, in sample order.
	BigEndian bool
	// FloatPixels is 32 or 64 when the pixel data is Float or Double Float
	// Pixel Data (7FE0,0008/0009) instead of (7FE0,0010).
	FloatPixels int

	// Warnings lists problems that did not prevent reading the file.
	Warnings []Warning

	// Source is where Frames point: the io.ReaderAt given to Read, or the
	// inflated data set of a deflated file. Always read frames from Source.
	Source io.ReaderAt

	tmp *os.File
	// elems are the top-level elements of the data set, for EncodeDataset.
	elems []*element
}

// Close releases the temporary file of an inflated data set, if any. It is
// safe to call on every Instance, more than once.
func (in *Instance) Close() error {
	if in == nil || in.tmp == nil {
		return nil
	}
	name := in.tmp.Name()
	err := in.tmp.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	in.tmp = nil
	return err
}

// Read parses one DICOM Part-10 file from r (size bytes). It never panics,
// never allocates more than the bytes present or the budgets of opts, and
// returns a *FileError for input it rejects. Other errors are I/O errors of r.
func Read(r io.ReaderAt, size int64, opts Options) (inst *Instance, err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if v := recover(); v != nil {
			if inst != nil {
				inst.Close()
			}
			inst, err = nil, errorf(CodeMalformed, "internal error while parsing: %v", v)
		}
	}()
	inst, err = read(r, size, opts.withDefaults())
	if err != nil && inst != nil {
		inst.Close()
		inst = nil
	}
	return inst, err
}

func read(r io.ReaderAt, size int64, opts Options) (*Instance, error) {
	if size < 132 {
		return nil, errorf(CodeNotDICOM, "not a DICOM file: %d bytes is too short for the preamble and DICM prefix", size)
	}
	var pre [4]byte
	if err := readAtFull(r, pre[:], 128); err != nil {
		return nil, fmt.Errorf("read DICM prefix: %w", err)
	}
	if string(pre[:]) != "DICM" {
		return nil, errorf(CodeNotDICOM, "not a DICOM file: missing DICM prefix")
	}
	p := &parser{c: newCursor(r, 132, size), opts: opts, budget: opts.MaxMetadataBytes}
	defer func() { p.c.release() }()
	inst := &Instance{Source: r}

	// File meta information: explicit VR little endian, group 0002.
	var meta []*element
	for p.c.remaining() >= 4 {
		b, err := p.c.peek(4)
		if err != nil {
			return nil, p.truncated(err, "the file meta information")
		}
		if binary.LittleEndian.Uint16(b) != 0x0002 {
			break
		}
		e, _, err := p.readElement(explicitLE, size, 0)
		if err != nil {
			return nil, err
		}
		if e != nil {
			meta = append(meta, e)
		}
	}
	tsUID := ""
	for _, e := range meta {
		if e.tag == tagTransferSyntaxUID {
			tsUID = strings.TrimRight(string(e.value), "\x00 ")
		}
	}
	if tsUID == "" {
		return nil, errorf(CodeMissingAttribute, "DICOM attribute TransferSyntaxUID does not exist")
	}
	ts, ok := LookupTransferSyntax(tsUID)
	if !ok {
		return nil, errorf(CodeUnsupported, "unsupported transfer syntax %q", tsUID)
	}
	inst.TransferSyntaxUID = tsUID
	inst.BigEndian = ts.BigEndian
	inst.Encapsulated = ts.Encapsulated

	if ts.Deflated {
		src, n, tmp, err := inflate(r, p.c.pos, size, opts)
		if err != nil {
			return nil, err
		}
		inst.Source, inst.tmp = src, tmp
		p.c.release()
		p.c = newCursor(src, 0, n)
		size = n
	}

	enc := dsEncoding{implicit: ts.Implicit, bo: binary.LittleEndian}
	if ts.BigEndian {
		enc.bo = binary.BigEndian
	}
	if !enc.implicit && !ts.BigEndian && p.c.remaining() >= 6 {
		// Some writers label implicit VR data sets as explicit.
		if b, err := p.c.peek(6); err == nil && (!isLetter(b[4]) || !isLetter(b[5])) {
			p.warn("TransferSyntaxMismatch", "data set is implicit VR although the transfer syntax is explicit VR")
			enc.implicit = true
		}
	}
	elems, err := p.readDataset(enc, size, 0)
	if err != nil {
		return inst, err
	}
	if err := inst.build(p, meta, elems, ts); err != nil {
		return inst, err
	}
	inst.Warnings = p.warnings
	return inst, nil
}

// inflate inflates the raw-deflated data set starting at off into memory or,
// beyond inMemoryInflate bytes, into a temporary file.
func inflate(r io.ReaderAt, off, size int64, opts Options) (io.ReaderAt, int64, *os.File, error) {
	fr := flate.NewReader(io.NewSectionReader(r, off, size-off))
	defer fr.Close()
	limit := opts.MaxInflatedBytes
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(fr, min(limit, inMemoryInflate)+1))
	if err != nil {
		return nil, 0, nil, errorf(CodeMalformed, "deflated data set: %v", err)
	}
	if n <= min(limit, inMemoryInflate) {
		return bytes.NewReader(buf.Bytes()), n, nil, nil
	}
	if n > limit {
		return nil, 0, nil, errorf(CodeOversized, "inflated data set exceeds %d bytes", limit)
	}
	tmp, err := os.CreateTemp(opts.TempDir, "ohi-inflate-*")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("inflate: %w", err)
	}
	fail := func(err error) (io.ReaderAt, int64, *os.File, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, 0, nil, err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		return fail(fmt.Errorf("inflate: %w", err))
	}
	m, err := io.Copy(tmp, io.LimitReader(fr, limit-n+1))
	if err != nil {
		var ce flate.CorruptInputError
		if errors.As(err, &ce) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fail(errorf(CodeMalformed, "deflated data set: %v", err))
		}
		return fail(fmt.Errorf("inflate: %w", err))
	}
	if n+m > limit {
		return fail(errorf(CodeOversized, "inflated data set exceeds %d bytes", limit))
	}
	return tmp, n + m, tmp, nil
}

// lengthConstraints are the AHI import element length limits (devguide
// "DICOM element constraints", English copy).
var lengthConstraints = map[uint32]int{
	0x00100010: 256, // PatientName
	0x00100020: 256, // PatientID
	0x00100030: 18,  // PatientBirthDate
	0x00100040: 16,  // PatientSex
	0x0020000D: 256, // StudyInstanceUID
	0x00200010: 256, // StudyID
	0x00081030: 256, // StudyDescription
	0x00080050: 256, // AccessionNumber
	0x00080020: 18,  // StudyDate
	0x00080030: 28,  // StudyTime
	0x00080018: 256, // SOPInstanceUID
	0x0020000E: 256, // SeriesInstanceUID
}

// valueConstraints are the AHI import limits on numeric values.
var valueConstraints = map[uint32]int64{
	0x00201206: 1_000_000, // NumberOfStudyRelatedSeries
	0x00201208: 1_000_000, // NumberOfStudyRelatedInstances
}

// build fills inst from the parsed elements.
func (inst *Instance) build(p *parser, meta, elems []*element, ts TransferSyntax) error {
	inst.elems = elems
	top := make(map[uint32]*element, len(elems))
	for _, e := range elems {
		top[e.tag] = e
	}
	str := func(t uint32) string {
		if e := top[t]; e != nil {
			return strings.TrimRight(string(e.value), "\x00 ")
		}
		return ""
	}
	for _, req := range []struct {
		t    uint32
		name string
		dst  *string
	}{
		{tagSOPInstanceUID, "SOPInstanceUID", &inst.SOPInstanceUID},
		{tagSOPClassUID, "SOPClassUID", &inst.SOPClassUID},
		{tagStudyInstanceUID, "StudyInstanceUID", &inst.StudyInstanceUID},
		{tagSeriesInstanceUID, "SeriesInstanceUID", &inst.SeriesInstanceUID},
	} {
		if *req.dst = strings.TrimSpace(str(req.t)); *req.dst == "" {
			return errorf(CodeMissingAttribute, "DICOM attribute %s does not exist", req.name)
		}
	}
	for t, max := range lengthConstraints {
		if e := top[t]; e != nil {
			if n := len(strings.TrimRight(string(e.value), "\x00 ")); n > max {
				return errorf(CodeConstraintViolation, "DICOM attribute %s length %d exceeds the maximum of %d", keywordOrTag(t), n, max)
			}
		}
	}
	for t, max := range valueConstraints {
		if v, err := strconv.ParseInt(strings.TrimSpace(str(t)), 10, 64); err == nil && v > max {
			return errorf(CodeConstraintViolation, "DICOM attribute %s value %d exceeds the maximum of %d", keywordOrTag(t), v, max)
		}
	}

	// Metadata.
	td := &textDecoder{}
	if e := top[tagSpecificCharacterSet]; e != nil && len(e.value) > 0 {
		var ok bool
		if td, ok = newTextDecoder(e.value); !ok {
			p.warn("UnknownCharacterSet", "unknown SpecificCharacterSet %q: text kept as UTF-8 or ISO 8859-1", strings.TrimSpace(string(e.value)))
		}
	}
	inst.VRs = map[string]string{}
	n := &normalizer{text: td, vrs: inst.VRs}
	inst.Patient, inst.Study, inst.Series, inst.Instance = map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}
	for _, e := range meta {
		inst.Instance[n.key(e)] = n.value(e)
	}
	for _, e := range elems {
		if e.tag == tagExtendedOffsetTable || e.tag == tagExtendedOffsetLengths {
			continue // file layout only; meaningless once frames are extracted
		}
		dst := inst.Instance
		switch LevelOf(e.tag) {
		case LevelPatient:
			dst = inst.Patient
		case LevelStudy:
			dst = inst.Study
		case LevelSeries:
			dst = inst.Series
		}
		dst[n.key(e)] = n.value(e)
	}

	// Image attributes.
	us := func(t uint32) int {
		e := top[t]
		if e == nil || len(e.value) < 2 {
			return 0
		}
		if e.bigEndian {
			return int(binary.BigEndian.Uint16(e.value))
		}
		return int(binary.LittleEndian.Uint16(e.value))
	}
	inst.Rows, inst.Columns = us(tagRows), us(tagColumns)
	inst.BitsAllocated, inst.BitsStored = us(tagBitsAllocated), us(tagBitsStored)
	inst.PixelRepresentation, inst.SamplesPerPixel = us(tagPixelRepresentation), us(tagSamplesPerPixel)
	inst.PlanarConfiguration = us(tagPlanarConfiguration)
	inst.PhotometricInterpretation = strings.TrimSpace(str(tagPhotometric))
	inst.NumberOfFrames = 1
	if s := strings.TrimSpace(str(tagNumberOfFrames)); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 1<<31-1 {
			return errorf(CodeMalformed, "DICOM attribute NumberOfFrames has an invalid value %q", s)
		}
		inst.NumberOfFrames = v
	}

	px := top[tagPixelData]
	if px == nil {
		if px = top[tagFloatPixelData]; px != nil {
			inst.FloatPixels, inst.BitsAllocated = 32, 32
		} else if px = top[tagDoubleFloatPixelData]; px != nil {
			inst.FloatPixels, inst.BitsAllocated = 64, 64
		}
	}
	if px == nil {
		return nil
	}
	if inst.SamplesPerPixel == 0 {
		inst.SamplesPerPixel = 1
	}
	if inst.NumberOfFrames == 0 {
		return errorf(CodeMalformed, "DICOM attribute NumberOfFrames is 0 but the file has pixel data")
	}
	var err error
	if px.length < 0 {
		if !ts.Encapsulated {
			return errorf(CodeMalformed, "transfer syntax %s is native but the pixel data is encapsulated", ts.UID)
		}
		var eot, eotLens []byte
		var eotBig bool
		if e := top[tagExtendedOffsetTable]; e != nil {
			eot, eotBig = e.value, e.bigEndian
		}
		if e := top[tagExtendedOffsetLengths]; e != nil {
			eotLens = e.value
		}
		inst.Frames, err = p.encapsulatedFrames(inst.Source, px, ts, inst.NumberOfFrames, eot, eotLens, eotBig)
		return err
	}
	if ts.Encapsulated {
		return errorf(CodeMalformed, "transfer syntax %s is encapsulated but the pixel data has a defined length", ts.UID)
	}
	inst.Frames, err = p.nativeFrames(px, imageInfo{
		rows: inst.Rows, cols: inst.Columns, samples: inst.SamplesPerPixel,
		bitsAllocated: inst.BitsAllocated, frames: inst.NumberOfFrames, photometric: inst.PhotometricInterpretation,
	})
	return err
}
