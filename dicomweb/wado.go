package dicomweb

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/metadoc"
	"github.com/openhealthimaging/ohi/service"
)

// bulkURL returns the BulkDataURI function of an instance.
func bulkURL(r *http.Request, x ohi.DICOMInstanceRef, sop string) func(string) string {
	base := fmt.Sprintf("%s/studies/%s/series/%s/instances/%s/bulkdata/", baseURL(r, x.DatastoreID), url.PathEscape(x.StudyInstanceUID),
		url.PathEscape(x.SeriesInstanceUID), url.PathEscape(sop))
	q := ""
	if x.ImageSetID != "" {
		q = "?imageSetId=" + x.ImageSetID
	}
	return func(path string) string { return base + url.PathEscape(path) + q }
}

// metadataJSON is an instance's WADO-RS metadata.
func metadataJSON(r *http.Request, x ohi.DICOMInstanceRef, levels [3]map[string]any, sop string, in *metadoc.Instance) Dataset {
	d := instanceJSON(levels, in, bulkURL(r, x, sop))
	for _, t := range []string{"7FE00010", "7FE00008", "7FE00009"} {
		if e := d[t]; e != nil && e.InlineBinary == "" && e.BulkDataURI == "" {
			delete(d, t) // pixel data is served as frames
		}
	}
	return d
}

func (h *Handler) instanceMetadata(w http.ResponseWriter, r *http.Request) error {
	x, err := ref(r)
	if err != nil {
		return err
	}
	di, err := h.svc.DICOMInstance(r.Context(), x)
	if err != nil {
		return err
	}
	return writeJSON(w, []Dataset{metadataJSON(r, x, di.Levels(), x.SOPInstanceUID, di.Instance)})
}

func (h *Handler) seriesMetadata(w http.ResponseWriter, r *http.Request) error {
	x, err := ref(r)
	if err != nil {
		return err
	}
	_, doc, err := h.svc.DICOMSeries(r.Context(), x)
	if err != nil {
		return err
	}
	levels := service.Levels(doc)
	sops := doc.SOPInstanceUIDs()
	out := make([]Dataset, 0, len(sops))
	for _, sop := range sops {
		in, err := doc.Instance(sop)
		if err != nil {
			return err
		}
		out = append(out, metadataJSON(r, x, levels, sop, in))
	}
	return writeJSON(w, out)
}

func (h *Handler) bulkdata(w http.ResponseWriter, r *http.Request) error {
	x, err := ref(r)
	if err != nil {
		return err
	}
	di, err := h.svc.DICOMInstance(r.Context(), x)
	if err != nil {
		return err
	}
	path := r.PathValue("bulkdataUriHash")
	v, ok := lookupPath(di.Levels(), di.Instance, path)
	s, isStr := v.(string)
	if !ok || !isStr {
		return errorf(http.StatusNotFound, "instance %s has no binary value at %s", x.SOPInstanceUID, path)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return errorf(http.StatusNotFound, "the value at %s is not binary", path)
	}
	c, ok := pick(negotiate(r.Header.Get("Accept"), "application/octet-stream", ""), func(choice) bool { return true })
	if !ok {
		return errorf(http.StatusNotAcceptable, "none of the accepted media types (%s) can be produced; bulk data is application/octet-stream, single or multipart/related", r.Header.Get("Accept"))
	}
	if c.multipart {
		mw := newMultipart(w, "application/octet-stream")
		if err := mw.part("application/octet-stream", bytes.NewReader(b)); err != nil {
			return err
		}
		return mw.close()
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, err = w.Write(b)
	return err
}

// multipartWriter writes a multipart/related response.
type multipartWriter struct {
	mw *multipart.Writer
}

func newMultipart(w http.ResponseWriter, typ string) *multipartWriter {
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", fmt.Sprintf(`multipart/related; type="%s"; boundary=%s`, typ, mw.Boundary()))
	return &multipartWriter{mw: mw}
}

func (m *multipartWriter) part(contentType string, r io.Reader) error {
	pw, err := m.mw.CreatePart(textproto.MIMEHeader{"Content-Type": {contentType}})
	if err != nil {
		return err
	}
	_, err = io.Copy(pw, r)
	return err
}

func (m *multipartWriter) close() error { return m.mw.Close() }

// maxFrameList bounds the frame numbers of one frames request.
const maxFrameList = 10000

// parseFrameList reads "1,3,2": 1-based, no duplicates, within n.
func parseFrameList(s string, n int) ([]int, error) {
	if c := strings.Count(s, ",") + 1; c > maxFrameList {
		return nil, errorf(http.StatusBadRequest, "too many frames in the list (%d; at most %d)", c, maxFrameList)
	}
	parts := strings.Split(s, ",")
	seen := map[int]bool{}
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 1 {
			return nil, errorf(http.StatusBadRequest, "frame number %q is not a positive integer", p)
		}
		if v > n {
			return nil, errorf(http.StatusNotFound, "frame %d does not exist: the instance has %d frames", v, n)
		}
		if seen[v] {
			return nil, errorf(http.StatusBadRequest, "frame %d is listed twice", v)
		}
		seen[v] = true
		out = append(out, v)
	}
	return out, nil
}

// pixelInfo holds the Image Pixel attributes of an instance.
type pixelInfo struct {
	img        codec.Image
	storedTS   string
	originalTS string
	pixelTag   uint32
}

func intAttr(m map[string]any, key string) int {
	n, _ := strconv.Atoi(metadoc.Text(m[key]))
	return n
}

func pixelInfoOf(in *metadoc.Instance) pixelInfo {
	d := in.DICOM
	p := pixelInfo{img: codec.Image{Rows: intAttr(d, "Rows"), Columns: intAttr(d, "Columns"), SamplesPerPixel: intAttr(d, "SamplesPerPixel"),
		BitsAllocated: intAttr(d, "BitsAllocated"), BitsStored: intAttr(d, "BitsStored"), PixelRepresentation: intAttr(d, "PixelRepresentation"),
		PlanarConfiguration: intAttr(d, "PlanarConfiguration"), Photometric: metadoc.Text(d["PhotometricInterpretation"])},
		storedTS: in.StoredTransferSyntaxUID, originalTS: metadoc.Text(d["TransferSyntaxUID"]), pixelTag: 0x7FE00010}
	if p.storedTS == "" {
		p.storedTS = tsHTJ2KRPCL
	}
	if p.img.SamplesPerPixel == 0 {
		p.img.SamplesPerPixel = 1
	}
	if _, ok := d["FloatPixelData"]; ok {
		p.pixelTag, p.img.BitsAllocated = 0x7FE00008, 32
	} else if _, ok := d["DoubleFloatPixelData"]; ok {
		p.pixelTag, p.img.BitsAllocated = 0x7FE00009, 64
	}
	return p
}

// transcoded reports whether the stored frames are not the original
// encoding (the importer encoded them as HTJ2K or JPEG 2000 lossless).
func (p pixelInfo) transcoded() bool { return p.storedTS != p.originalTS }

// frameSize is the size of one uncompressed frame (bits packed for
// BitsAllocated 1).
func (p pixelInfo) frameSize() int64 {
	n := int64(p.img.Rows) * int64(p.img.Columns) * int64(p.img.SamplesPerPixel)
	if p.img.BitsAllocated == 1 {
		return (n + 7) / 8
	}
	return n * int64(p.img.BitsAllocated/8)
}

// outputTS decides the transfer syntax of a retrieve: stored, or
// uncompressed (explicit VR little endian). ok is false for 406.
func (p pixelInfo) outputTS(c choice) (ts string, decode bool, ok bool) {
	switch {
	case c.stored || c.ts == p.storedTS:
		if isNative(p.storedTS) {
			return tsExplicitLE, false, true
		}
		return p.storedTS, false, true
	case c.ts == "" || c.ts == tsExplicitLE:
		if isNative(p.storedTS) {
			return tsExplicitLE, false, true
		}
		if codec.KeepsOriginal(p.storedTS) || !p.decodable() {
			if c.ts == "" {
				// As AWS: what cannot be decoded losslessly comes back as stored.
				return p.storedTS, false, true
			}
			return "", false, false
		}
		return tsExplicitLE, true, true
	}
	return "", false, false
}

// decodable reports whether the stored frames are ohi's own lossless
// encodings, which this process decodes.
func (p pixelInfo) decodable() bool {
	switch p.storedTS {
	case tsHTJ2KRPCL, "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.90":
		return p.img.BitsAllocated == 1 || p.img.BitsAllocated == 8 || p.img.BitsAllocated == 16 || p.img.BitsAllocated == 32
	}
	return false
}

// frameSource opens the stored frames of an instance.
type frameSource struct {
	h   *Handler
	ctx context.Context
	di  *service.DICOMInstance
	ds  string
	px  pixelInfo
}

func (f *frameSource) open(i int) (io.ReadCloser, int64, error) {
	fr := f.di.Instance.ImageFrames[i]
	st, err := f.h.svc.DICOMFrame(f.ctx, f.ds, f.di.Loc.ImageSetID, fr.ID)
	if err != nil {
		return nil, 0, err
	}
	obj, err := f.h.svc.OpenBlob(f.ctx, st.BlobKey)
	if err != nil {
		return nil, 0, fmt.Errorf("open frame %d: %w", i+1, err)
	}
	return obj, obj.Size(), nil
}

// native returns frame i uncompressed, in explicit VR little endian.
func (f *frameSource) native(i int, decode bool) ([]byte, error) {
	var key string
	if decode {
		img := f.px.img
		key = fmt.Sprintf("%s/%d/%d/%d", f.di.Instance.ImageFrames[i].ID, img.BitsAllocated, img.BitsStored, img.PixelRepresentation)
		if b := f.h.decoded.get(key); b != nil {
			return b, nil
		}
	}
	r, size, err := f.open(i)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if size > codec.MaxFrameBytes {
		return nil, fmt.Errorf("frame %d has %d bytes", i+1, size)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if !decode {
		if f.px.storedTS == tsExplicitBE && f.px.img.BitsAllocated > 8 {
			swap(buf, f.px.img.BitsAllocated/8)
		}
		return buf, nil
	}
	px, err := codec.Decode(buf, f.px.storedTS, f.px.img)
	if err != nil {
		return nil, fmt.Errorf("decode frame %d: %w", i+1, err)
	}
	out := nativeBytes(px, f.px.img.BitsAllocated)
	if f.px.img.PixelRepresentation == 1 && f.px.img.BitsAllocated >= 8 && (strings.HasPrefix(f.px.originalTS, "1.2.840.10008.1.2.4.9") ||
		strings.HasPrefix(f.px.originalTS, "1.2.840.10008.1.2.4.20")) {
		signExtend(out, f.px.img.BitsAllocated/8, f.px.img.BitsStored)
	}
	f.h.decoded.put(key, out)
	return out, nil
}

// signExtend makes BitsStored-bit two's complement samples signed in their
// BitsAllocated container. JPEG 2000 originals whose codestream says
// unsigned while PixelRepresentation says signed decode to unsigned
// samples; DICOM readers (pydicom's J2K corrections) take them as signed.
// Samples already signed are unchanged.
func signExtend(b []byte, size, bitsStored int) {
	if bitsStored <= 0 || bitsStored >= size*8 || size > 4 {
		return
	}
	sign := uint32(1) << (bitsStored - 1)
	high := ^(uint32(1)<<bitsStored - 1)
	for i := 0; i+size <= len(b); i += size {
		var v uint32
		for k := size - 1; k >= 0; k-- {
			v = v<<8 | uint32(b[i+k])
		}
		if v&sign != 0 {
			v |= high
			for k := 0; k < size; k++ {
				b[i+k] = byte(v >> (8 * k))
			}
		}
	}
}

func swap(b []byte, size int) {
	for i := 0; i+size <= len(b); i += size {
		w := b[i : i+size]
		for l, r := 0, size-1; l < r; l, r = l+1, r-1 {
			w[l], w[r] = w[r], w[l]
		}
	}
}

// nativeBytes lays decoded pixels out as BitsAllocated-bit samples.
func nativeBytes(px *codec.Pixels, bitsAllocated int) []byte {
	switch {
	case bitsAllocated == 1:
		out := make([]byte, (len(px.Data)/px.BytesPerSample+7)/8)
		for i := 0; i < len(px.Data)/px.BytesPerSample; i++ {
			if px.Data[i*px.BytesPerSample] != 0 {
				out[i/8] |= 1 << (i % 8)
			}
		}
		return out
	case bitsAllocated == px.BytesPerSample*8:
		return px.Data
	}
	n := len(px.Data) / px.BytesPerSample
	size := bitsAllocated / 8
	out := make([]byte, n*size)
	for i := range n {
		var v uint64
		for b := px.BytesPerSample - 1; b >= 0; b-- {
			v = v<<8 | uint64(px.Data[i*px.BytesPerSample+b])
		}
		for b := 0; b < size; b++ {
			out[i*size+b] = byte(v >> (8 * b))
		}
	}
	return out
}

func (h *Handler) frames(w http.ResponseWriter, r *http.Request) error {
	x, err := ref(r)
	if err != nil {
		return err
	}
	// A malformed list is a 400 before any look-up (and whether the
	// instance exists).
	if _, err := parseFrameList(r.PathValue("frameList"), math.MaxInt); err != nil {
		return err
	}
	di, err := h.svc.DICOMInstance(r.Context(), x)
	if err != nil {
		return err
	}
	n := len(di.Instance.ImageFrames)
	if n == 0 {
		return errorf(http.StatusNotFound, "instance %s has no pixel data", x.SOPInstanceUID)
	}
	list, err := parseFrameList(r.PathValue("frameList"), n)
	if err != nil {
		return err
	}
	px := pixelInfoOf(di.Instance)
	var ts string
	var decode bool
	_, ok := pick(negotiate(r.Header.Get("Accept"), "application/octet-stream", px.storedTS), func(c choice) bool {
		var ok bool
		ts, decode, ok = px.outputTS(c)
		return ok
	})
	if !ok {
		return errorf(http.StatusNotAcceptable, "none of the accepted media types (%s) can be produced: the frames are stored as %s (%s); ask for transfer-syntax=* or %s",
			r.Header.Get("Accept"), px.storedTS, frameMediaType(px.storedTS), tsExplicitLE)
	}
	fs := &frameSource{h: h, ctx: r.Context(), di: di, ds: x.DatastoreID, px: px}
	mt := frameMediaType(ts)
	partType := fmt.Sprintf("%s; transfer-syntax=%s", mt, ts)
	// Read or decode the first frame before the answer starts, so that a
	// failure can still be reported with a status.
	first, err := h.frameReader(fs, list[0]-1, ts, decode)
	if err != nil {
		return err
	}
	mw := newMultipart(w, mt)
	for i, fn := range list {
		r := first
		if i > 0 {
			if r, err = h.frameReader(fs, fn-1, ts, decode); err != nil {
				panic(http.ErrAbortHandler) // the answer has started
			}
		}
		err := mw.part(partType, r)
		r.Close()
		if err != nil {
			return nil // the client went away
		}
	}
	return mw.close()
}

// frameReader returns frame i as it is sent: the stored blob streamed, or
// the uncompressed bytes.
func (h *Handler) frameReader(fs *frameSource, i int, ts string, decode bool) (io.ReadCloser, error) {
	if isNative(ts) {
		b, err := fs.native(i, decode)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	rc, _, err := fs.open(i)
	return rc, err
}

// instance answers GetDICOMInstance: the instance as a Part 10 file.
func (h *Handler) instance(w http.ResponseWriter, r *http.Request) error {
	x, err := ref(r)
	if err != nil {
		return err
	}
	di, err := h.svc.DICOMInstance(r.Context(), x)
	if err != nil {
		return err
	}
	px := pixelInfoOf(di.Instance)
	nframes := len(di.Instance.ImageFrames)
	var ts string
	var decode bool
	c, ok := pick(negotiate(r.Header.Get("Accept"), mtDICOM, px.storedTS), func(c choice) bool {
		if nframes > 0 {
			var ok bool
			ts, decode, ok = px.outputTS(c)
			return ok
		}
		ts, decode = tsExplicitLE, false
		return true
	})
	if !ok {
		return errorf(http.StatusNotAcceptable, "none of the accepted media types (%s) can be produced for this instance (stored as %s); ask for application/dicom with transfer-syntax=* or %s",
			r.Header.Get("Accept"), px.storedTS, tsExplicitLE)
	}
	// The stored data set; instances imported before it was kept are
	// written from the metadata document alone (overlay adds every
	// attribute), in UTF-8, which is what the document holds.
	var header []byte
	if di.Loc.Header != nil {
		hobj, err := h.svc.OpenBlob(r.Context(), di.Loc.Header.BlobKey)
		if err != nil {
			return fmt.Errorf("open the stored data set: %w", err)
		}
		header, err = io.ReadAll(io.LimitReader(hobj, di.Loc.Header.Size+1))
		hobj.Close()
		if err != nil {
			return err
		}
	}
	p := &part10{sopClassUID: metadoc.Text(di.Instance.DICOM["SOPClassUID"]), sopInstanceUID: x.SOPInstanceUID, transferSyntax: ts,
		header: header, replace: map[uint32][]byte{}, pixelTag: px.pixelTag}
	if err := overlay(p, di); err != nil {
		return err
	}
	if len(p.unencodable) > 0 {
		h.logger.Warn("GetDICOMInstance: metadata values their VR cannot hold are kept as stored", "sopInstanceUID", x.SOPInstanceUID, "attributes", p.unencodable)
	}
	if px.transcoded() && nframes > 0 {
		if photo := metadoc.Text(di.Instance.DICOM["PhotometricInterpretation"]); photo != "" {
			p.replace[0x00280004] = encodeText(0x00280004, "CS", photo)
		}
		if _, ok := di.Instance.DICOM["PlanarConfiguration"]; ok {
			p.replace[0x00280006] = encodeUS(0x00280006, 0)
		}
	}
	fs := &frameSource{h: h, ctx: r.Context(), di: di, ds: x.DatastoreID, px: px}
	if nframes > 0 {
		if isNative(ts) {
			total := px.frameSize() * int64(nframes)
			if px.img.BitsAllocated == 1 {
				total = (int64(px.img.Rows)*int64(px.img.Columns)*int64(px.img.SamplesPerPixel)*int64(nframes) + 7) / 8
			}
			p.pixel = func(w io.Writer) error { return writeNativePixels(w, fs, px, nframes, decode, total) }
		} else {
			p.pixel = func(w io.Writer) error {
				return writeEncapsulatedPixels(w, px.pixelTag, nframes, fs.open)
			}
		}
	}
	// Check the first frame before the answer starts.
	if nframes > 0 && isNative(ts) {
		if _, err := fs.native(0, decode); err != nil {
			return err
		}
	}
	if c.multipart {
		mw := newMultipart(w, mtDICOM)
		pw, err := mw.mw.CreatePart(textproto.MIMEHeader{"Content-Type": {mtDICOM + "; transfer-syntax=" + ts}})
		if err != nil {
			return err
		}
		if _, err := p.WriteTo(pw); err != nil {
			panic(http.ErrAbortHandler)
		}
		return mw.close()
	}
	w.Header().Set("Content-Type", mtDICOM+"; transfer-syntax="+ts)
	if _, err := p.WriteTo(w); err != nil {
		panic(http.ErrAbortHandler)
	}
	return nil
}

// writeNativePixels writes uncompressed pixel data, frame by frame.
func writeNativePixels(w io.Writer, fs *frameSource, px pixelInfo, nframes int, decode bool, total int64) error {
	vr := "OB"
	switch {
	case px.pixelTag == 0x7FE00008:
		vr = "OF"
	case px.pixelTag == 0x7FE00009:
		vr = "OD"
	case px.img.BitsAllocated > 8:
		vr = "OW"
	}
	pad := total % 2
	var b bytes.Buffer
	b.Write([]byte{0xE0, 0x7F, byte(px.pixelTag), byte(px.pixelTag >> 8), vr[0], vr[1], 0, 0})
	_ = binary.Write(&b, binary.LittleEndian, uint32(total+pad))
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	var written int64
	for i := range nframes {
		fb, err := fs.native(i, decode)
		if err != nil {
			return err
		}
		if px.img.BitsAllocated == 1 && nframes > 1 {
			return fmt.Errorf("multi-frame 1-bit pixel data cannot be written uncompressed yet")
		}
		if _, err := w.Write(fb); err != nil {
			return err
		}
		written += int64(len(fb))
	}
	if written != total {
		return fmt.Errorf("uncompressed pixel data has %d bytes, want %d", written, total)
	}
	if pad == 1 {
		_, err := w.Write([]byte{0})
		return err
	}
	return nil
}
