package synth

import (
	"encoding/binary"
	"fmt"
	"github.com/openhealthimaging/ohi/codec"
	"hash/fnv"
)

// SOP classes written.
const (
	CTImageStorage         = "1.2.840.10008.5.1.4.1.1.2"
	EnhancedCTImageStorage = "1.2.840.10008.5.1.4.1.1.2.1"
	MRImageStorage         = "1.2.840.10008.5.1.4.1.1.4"
	EnhancedMRImageStorage = "1.2.840.10008.5.1.4.1.1.4.1"
)

// ds formats a decimal string value (no negative zero).
func ds(v float64) string {
	if v == 0 {
		v = 0
	}
	return fmt.Sprintf("%.6g", v)
}

// dataset returns the non-pixel elements of instance r.
func (g *Generator) dataset(r Ref) (DataSet, pixelFormat) {
	c := g.cfg
	f := formatFor(c, c.TransferSyntax == ExplicitVRBigEndian)
	patient := r.Study%c.Patients + 1
	enhanced := c.Frames > 1
	sopClass := CTImageStorage
	switch {
	case c.Modality == "CT" && enhanced:
		sopClass = EnhancedCTImageStorage
	case c.Modality == "MR" && !enhanced:
		sopClass = MRImageStorage
	case c.Modality == "MR":
		sopClass = EnhancedMRImageStorage
	}
	date := fmt.Sprintf("2024%02d%02d", 1+r.Study%12, 1+r.Study%28)
	spacing := 350.0 / float64(max(c.Rows, c.Cols))
	thickness := 1.0
	z := func(frame int) float64 { return -float64(r.Instance*c.Frames+frame) * thickness }
	out := DataSet{
		{0x00080005, "CS", "ISO_IR 100"},
		{0x00080008, "CS", []string{"ORIGINAL", "PRIMARY", "AXIAL"}},
		{0x00080016, "UI", sopClass},
		{0x00080018, "UI", g.SOPInstanceUID(r)},
		{0x00080020, "DA", date},
		{0x00080021, "DA", date},
		{0x00080023, "DA", date},
		{0x00080030, "TM", "083000"},
		{0x00080031, "TM", fmt.Sprintf("08%02d00", 31+r.Series%28)},
		{0x00080033, "TM", fmt.Sprintf("08%02d%02d", 31+r.Series%28, r.Instance%60)},
		{0x00080050, "SH", fmt.Sprintf("ACC%06d", r.Study+1)},
		{0x00080060, "CS", c.Modality},
		{0x00080070, "LO", "OHI"},
		{0x00080090, "PN", nil},
		{0x00081030, "LO", fmt.Sprintf("Synthetic %s study %d", c.Modality, r.Study+1)},
		{0x0008103E, "LO", fmt.Sprintf("Synthetic series %d", r.Series+1)},
		{0x00081090, "LO", "ohi synth"},
		{0x00090010, "LO", "OHI SYNTH"},
		{0x00091001, "LO", "phantom v1"},
		{0x00100010, "PN", fmt.Sprintf(c.PatientName, patient)},
		{0x00100020, "LO", fmt.Sprintf(c.PatientID, patient)},
		{0x00100030, "DA", fmt.Sprintf("19%02d0101", 40+patient%50)},
		{0x00100040, "CS", []string{"F", "M", "O"}[patient%3]},
		{0x00180015, "CS", "CHEST"},
		{0x00181020, "LO", "ohi-synth 1"},
		{0x00185100, "CS", "HFS"},
		{0x0020000D, "UI", g.StudyUID(r)},
		{0x0020000E, "UI", g.SeriesUID(r)},
		{0x00200010, "SH", fmt.Sprintf("%d", r.Study+1)},
		{0x00200011, "IS", r.Series + 1},
		{0x00200012, "IS", 1},
		{0x00200013, "IS", r.Instance + 1},
		{0x00200052, "UI", UID(c.Seed, "for", r.Study, r.Series)},
		{0x00201040, "LO", nil},
		{0x00280002, "US", 1},
		{0x00280004, "CS", "MONOCHROME2"},
		{0x00280010, "US", c.Rows},
		{0x00280011, "US", c.Cols},
		{0x00280100, "US", c.Bits},
		{0x00280101, "US", f.bitsStored},
		{0x00280102, "US", f.bitsStored - 1},
		{0x00280103, "US", map[bool]int{false: 0, true: 1}[c.Signed]},
		{0x00281052, "DS", ds(f.intercept)},
		{0x00281053, "DS", ds(f.slope)},
	}
	if c.Modality == "CT" {
		out = append(out,
			Element{0x00180060, "DS", "120"},
			Element{0x00281050, "DS", []string{"40"}},
			Element{0x00281051, "DS", []string{"400"}},
			Element{0x00281054, "LO", "HU"})
	} else {
		out = append(out,
			Element{0x00180080, "DS", "500"},
			Element{0x00180081, "DS", "15"},
			Element{0x00180087, "DS", "1.5"},
			Element{0x00281050, "DS", []string{"600"}},
			Element{0x00281051, "DS", []string{"1200"}})
	}
	orientation := []string{"1", "0", "0", "0", "1", "0"}
	position := func(frame int) []string {
		return []string{ds(-spacing * float64(c.Cols) / 2), ds(-spacing * float64(c.Rows) / 2), ds(z(frame))}
	}
	if !enhanced {
		out = append(out,
			Element{0x00180050, "DS", ds(thickness)},
			Element{0x00200032, "DS", position(0)},
			Element{0x00200037, "DS", orientation},
			Element{0x00201041, "DS", ds(z(0))},
			Element{0x00280030, "DS", []string{ds(spacing), ds(spacing)}})
		return out, f
	}
	perFrame := make([]DataSet, c.Frames)
	for i := range perFrame {
		perFrame[i] = DataSet{
			{0x00209111, "SQ", []DataSet{{{0x00209057, "UL", i + 1}}}},
			{0x00209113, "SQ", []DataSet{{{0x00200032, "DS", position(i)}}}},
		}
	}
	out = append(out,
		Element{0x00280008, "IS", c.Frames},
		Element{0x52009229, "SQ", []DataSet{{
			{0x00289110, "SQ", []DataSet{{
				{0x00180050, "DS", ds(thickness)},
				{0x00280030, "DS", []string{ds(spacing), ds(spacing)}},
			}}},
			{0x00209116, "SQ", []DataSet{{{0x00200037, "DS", orientation}}}},
		}}},
		Element{0x52009230, "SQ", perFrame})
	return out, f
}

// pixels renders all frames of r into w.pix and returns it.
func (w *worker) pixels(r Ref, f pixelFormat) []byte {
	c := w.g.cfg
	frameBytes := c.Rows * c.Cols * f.bytes
	n := frameBytes * c.Frames
	if cap(w.pix) < n+1 {
		w.pix = make([]byte, n+1)
	}
	px := w.pix[:n]
	t := ctTissues
	if c.Modality == "MR" {
		t = mrTissues
	}
	total := max(1, c.Instances*c.Frames-1)
	for i := range c.Frames {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%d/%d/%d/%d", c.Seed, r.Study, r.Series, r.Instance, i)
		zrel := float64(r.Instance*c.Frames+i) / float64(total)
		renderFrame(px[i*frameBytes:(i+1)*frameBytes], c.Rows, c.Cols, zrel, t, f, h.Sum64())
	}
	if n%2 == 1 {
		px = append(px, 0)
	}
	return px
}

// encode returns the bytes of instance r as a header and the pixel value
// that follows it (nil when the header already holds everything).
func (w *worker) encode(r Ref) ([]byte, []byte, error) {
	g := w.g
	c := g.cfg
	d, f := g.dataset(r)
	px := w.pixels(r, f)
	var sopClass string
	for _, e := range d {
		if e.Tag == 0x00080016 {
			sopClass = e.Value.(string)
		}
	}
	sop := g.SOPInstanceUID(r)
	enc := encodingFor(c.TransferSyntax)
	vr := "OW"
	if c.Bits == 8 {
		vr = "OB"
	}
	if c.TransferSyntax == EncapsulatedUncompressedLE || c.TransferSyntax == HTJ2KLosslessRPCL || enc.Deflate || enc.BigEndian {
		if c.TransferSyntax == EncapsulatedUncompressedLE || c.TransferSyntax == HTJ2KLosslessRPCL {
			frameBytes := c.Rows * c.Cols * f.bytes
			frames := make([][][]byte, c.Frames)
			for i := range frames {
				frame := px[i*frameBytes : (i+1)*frameBytes]
				if c.TransferSyntax == HTJ2KLosslessRPCL {
					cs, err := codec.EncodeHTJ2K(&codec.Pixels{Width: c.Cols, Height: c.Rows, Components: 1, BitsStored: f.bitsStored,
						Signed: f.signed, BytesPerSample: f.bytes, Data: frame})
					if err != nil {
						return nil, nil, err
					}
					frame = cs
				}
				frames[i] = [][]byte{frame}
			}
			d = append(d, Element{0x7FE00010, "OB", Encapsulated{Frames: frames, BOT: true}})
		} else {
			d = append(d, Element{0x7FE00010, vr, px})
		}
		var b bufferWriter
		if err := WriteP10(&b, d, sopClass, sop, c.TransferSyntax, false); err != nil {
			return nil, nil, err
		}
		return b, nil, nil
	}
	body, err := Marshal(d, enc)
	if err != nil {
		return nil, nil, err
	}
	meta := FileMeta(sopClass, sop, c.TransferSyntax)
	hdr := make([]byte, 0, len(meta)+len(body)+12)
	hdr = append(hdr, meta...)
	hdr = append(hdr, body...)
	hdr = binary.LittleEndian.AppendUint16(hdr, 0x7FE0)
	hdr = binary.LittleEndian.AppendUint16(hdr, 0x0010)
	if enc.Implicit {
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(px)))
	} else {
		hdr = append(hdr, vr...)
		hdr = append(hdr, 0, 0)
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(px)))
	}
	return hdr, px, nil
}

// bufferWriter is a minimal io.Writer into a byte slice.
type bufferWriter []byte

func (b *bufferWriter) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}
