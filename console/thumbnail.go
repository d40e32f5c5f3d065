package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/metadoc"
	"github.com/openhealthimaging/ohi/service"
)

// ThumbnailSize is the largest side of a thumbnail in pixels.
const ThumbnailSize = 256

// Bounds of thumbnail rendering.
const (
	maxMetadataBytes = 256 << 20 // a gzipped metadata document read for a thumbnail
	maxRenders       = 2         // thumbnails rendered at once
)

// thumbnailer renders series thumbnails and keeps the recent ones.
type thumbnailer struct {
	svc    *service.Service
	decode DecodeFunc
	sem    chan struct{}

	mu    sync.Mutex
	max   int
	cache map[string]*entry
	order []string // keys, oldest first
}

type entry struct{ png []byte }

func newThumbnailer(svc *service.Service, decode DecodeFunc, size int) *thumbnailer {
	if size <= 0 {
		size = 512
	}
	return &thumbnailer{svc: svc, decode: decode, sem: make(chan struct{}, maxRenders), max: size, cache: map[string]*entry{}}
}

func (t *thumbnailer) get(key string) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.cache[key]; e != nil {
		return e.png
	}
	return nil
}

func (t *thumbnailer) put(key string, b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.cache[key]; ok {
		return
	}
	t.cache[key] = &entry{png: b}
	t.order = append(t.order, key)
	for len(t.order) > t.max {
		delete(t.cache, t.order[0])
		t.order = t.order[1:]
	}
}

// document reads an image set version's metadata document through the
// service (GetImageSetMetadata).
func (t *thumbnailer) document(ctx context.Context, dsID, setID string, version *string) (*metadoc.Document, error) {
	out, err := t.svc.GetImageSetMetadata(ctx, &api.GetImageSetMetadataRequest{DatastoreId: &dsID, ImageSetId: &setID, VersionId: version})
	if err != nil {
		return nil, err
	}
	defer out.ImageSetMetadataBlob.Close()
	return metadoc.Decode(io.LimitReader(out.ImageSetMetadataBlob, maxMetadataBytes))
}

// thumbnail returns the PNG thumbnail of an image set's latest version.
func (t *thumbnailer) thumbnail(ctx context.Context, dsID, setID string) ([]byte, error) {
	is, err := t.svc.GetImageSet(ctx, &api.GetImageSetRequest{DatastoreId: &dsID, ImageSetId: &setID})
	if err != nil {
		return nil, err
	}
	if is.ImageSetState == api.ImageSetStateDeleted {
		return nil, ohi.NotFoundf("image set %s was deleted", setID)
	}
	key := dsID + "/" + setID + "/" + *is.VersionId
	if b := t.get(key); b != nil {
		return b, nil
	}
	select {
	case t.sem <- struct{}{}:
		defer func() { <-t.sem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if b := t.get(key); b != nil {
		return b, nil
	}
	doc, err := t.document(ctx, dsID, setID, is.VersionId)
	if err != nil {
		return nil, err
	}
	img, err := t.middleFrame(ctx, dsID, setID, doc)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, Scale(img, ThumbnailSize)); err != nil {
		return nil, err
	}
	t.put(key, buf.Bytes())
	return buf.Bytes(), nil
}

// MiddleFrame picks the frame a series thumbnail shows: the middle instance
// by InstanceNumber (then SOP Instance UID), and its middle frame. It
// returns the instance and the frame's index.
func MiddleFrame(doc *metadoc.Document) (*metadoc.Instance, int, error) {
	type inst struct {
		uid string
		num float64
		in  *metadoc.Instance
	}
	var all []inst
	for _, uid := range doc.SOPInstanceUIDs() {
		in, err := doc.Instance(uid)
		if err != nil {
			return nil, 0, err
		}
		if len(in.ImageFrames) == 0 {
			continue
		}
		n, ok := number(in.DICOM["InstanceNumber"])
		if !ok {
			n = math.MaxFloat64
		}
		all = append(all, inst{uid, n, in})
	}
	if len(all) == 0 {
		return nil, 0, ohi.NotFoundf("image set %s has no image frames", doc.ImageSetID)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].num < all[j].num })
	in := all[len(all)/2].in
	return in, len(in.ImageFrames) / 2, nil
}

func (t *thumbnailer) middleFrame(ctx context.Context, dsID, setID string, doc *metadoc.Document) (image.Image, error) {
	in, idx, err := MiddleFrame(doc)
	if err != nil {
		return nil, err
	}
	return t.render(ctx, dsID, setID, in, in.ImageFrames[idx].ID)
}

// frame renders one frame of an image set's latest version at full size.
func (t *thumbnailer) frame(ctx context.Context, dsID, setID, frameID string) ([]byte, error) {
	select {
	case t.sem <- struct{}{}:
		defer func() { <-t.sem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	doc, err := t.document(ctx, dsID, setID, nil)
	if err != nil {
		return nil, err
	}
	frames, err := doc.Frames()
	if err != nil {
		return nil, err
	}
	sop, ok := frames[frameID]
	if !ok {
		return nil, ohi.NotFoundf("image set %s has no frame %s", setID, frameID)
	}
	in, err := doc.Instance(sop)
	if err != nil {
		return nil, err
	}
	img, err := t.render(ctx, dsID, setID, in, frameID)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// render reads, decodes and renders one frame of an instance.
func (t *thumbnailer) render(ctx context.Context, dsID, setID string, in *metadoc.Instance, frameID string) (image.Image, error) {
	out, err := t.svc.GetImageFrame(ctx, &api.GetImageFrameRequest{DatastoreId: &dsID, ImageSetId: &setID,
		ImageFrameInformation: &api.ImageFrameInformation{ImageFrameId: &frameID}})
	if err != nil {
		return nil, err
	}
	defer out.ImageFrameBlob.Close()
	frame, err := io.ReadAll(io.LimitReader(out.ImageFrameBlob, codec.MaxFrameBytes+1))
	if err != nil {
		return nil, err
	}
	ts := in.StoredTransferSyntaxUID
	if ts == "" {
		ts = metadoc.Text(in.DICOM["TransferSyntaxUID"])
	}
	a := AttributesOf(in.DICOM)
	px, err := t.decode(ctx, frame, ts, a.Image)
	if err != nil {
		return nil, fmt.Errorf("decode frame %s: %w", frameID, err)
	}
	return Render(px, a)
}

// Attributes are the instance attributes that rendering a frame needs.
type Attributes struct {
	codec.Image
	// Window is the first Window Center/Width pair, if any (HasWindow).
	WindowCenter, WindowWidth float64
	HasWindow                 bool
	// Rescale is the modality LUT (default slope 1, intercept 0).
	RescaleSlope, RescaleIntercept float64
	// Palette holds the Palette Color lookup tables (red, green, blue) for
	// PALETTE COLOR images, each with its first mapped value.
	Palette      [3][]uint16
	PaletteFirst int
}

// AttributesOf reads the rendering attributes of an instance's metadata.
func AttributesOf(m map[string]any) Attributes {
	geti := func(k string, def int) int {
		if n, ok := number(m[k]); ok {
			return int(n)
		}
		return def
	}
	a := Attributes{Image: codec.Image{
		Rows: geti("Rows", 0), Columns: geti("Columns", 0), SamplesPerPixel: geti("SamplesPerPixel", 1),
		BitsAllocated: geti("BitsAllocated", 16), BitsStored: geti("BitsStored", 0), PixelRepresentation: geti("PixelRepresentation", 0),
		PlanarConfiguration: geti("PlanarConfiguration", 0), Photometric: metadoc.Text(m["PhotometricInterpretation"]),
	}, RescaleSlope: 1}
	if a.BitsStored == 0 {
		a.BitsStored = a.BitsAllocated
	}
	if c, ok := number(m["WindowCenter"]); ok {
		if w, ok := number(m["WindowWidth"]); ok && w >= 1 {
			a.WindowCenter, a.WindowWidth, a.HasWindow = c, w, true
		}
	}
	if s, ok := number(m["RescaleSlope"]); ok && s != 0 {
		a.RescaleSlope = s
	}
	if i, ok := number(m["RescaleIntercept"]); ok {
		a.RescaleIntercept = i
	}
	if a.Photometric == "PALETTE COLOR" {
		for i, c := range []string{"Red", "Green", "Blue"} {
			desc := strings.Split(metadoc.Text(m[c+"PaletteColorLookupTableDescriptor"]), `\`)
			data, err := base64.StdEncoding.DecodeString(metadoc.Text(m[c+"PaletteColorLookupTableData"]))
			if len(desc) != 3 || err != nil {
				a.Palette = [3][]uint16{}
				break
			}
			first, _ := strconv.Atoi(desc[1])
			bits, _ := strconv.Atoi(desc[2])
			a.PaletteFirst = first
			lut := make([]uint16, len(data)/2)
			for j := range lut {
				v := binary.LittleEndian.Uint16(data[2*j:])
				if bits <= 8 {
					v <<= 8 // 8-bit entries held in 16-bit words
				}
				lut[j] = v
			}
			a.Palette[i] = lut
		}
	}
	return a
}

// number reads the first value of a numeric or decimal-string attribute.
func number(v any) (float64, bool) {
	s := metadoc.Text(v)
	if i := strings.IndexByte(s, '\\'); i >= 0 {
		s = s[:i]
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// sample returns sample i of p as a stored value (sign-extended).
func sample(p *codec.Pixels, i int) int64 {
	switch p.BytesPerSample {
	case 1:
		if p.Signed {
			return int64(int8(p.Data[i]))
		}
		return int64(p.Data[i])
	case 2:
		v := binary.LittleEndian.Uint16(p.Data[2*i:])
		if p.Signed {
			return int64(int16(v))
		}
		if p.BitsStored > 0 && p.BitsStored < 16 {
			v &= 1<<p.BitsStored - 1 // bits above BitsStored are not part of the value
		}
		return int64(v)
	default:
		v := binary.LittleEndian.Uint32(p.Data[4*i:])
		if p.Signed {
			return int64(int32(v))
		}
		return int64(v)
	}
}

// Render turns a decoded frame into an 8-bit image the way a viewer shows
// it: grey levels through the modality rescale and the VOI window (the
// instance's first Window Center/Width, or the frame's range when it has
// none; linear function of PS3.3 C.11.2.1.2; MONOCHROME1 inverted), colour
// from RGB, YBR_FULL (converted to RGB) or the palette.
func Render(p *codec.Pixels, a Attributes) (image.Image, error) {
	n := p.Width * p.Height
	if p.Width <= 0 || p.Height <= 0 || len(p.Data) < n*p.Components*p.BytesPerSample {
		return nil, errors.New("render: frame data is shorter than its size")
	}
	pi := strings.TrimSpace(a.Photometric)
	if p.Photometric != "" {
		pi = p.Photometric
	}
	if p.Components == 3 {
		img := image.NewRGBA(image.Rect(0, 0, p.Width, p.Height))
		shift := 0
		if p.BitsStored > 8 {
			shift = p.BitsStored - 8
		}
		ybr := strings.HasPrefix(pi, "YBR_FULL")
		for i := 0; i < n; i++ {
			r, g, b := sample(p, 3*i)>>shift, sample(p, 3*i+1)>>shift, sample(p, 3*i+2)>>shift
			if ybr {
				r, g, b = ybrToRGB(r, g, b)
			}
			img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = clamp8(float64(r)), clamp8(float64(g)), clamp8(float64(b)), 255
		}
		return img, nil
	}
	if pi == "PALETTE COLOR" && len(a.Palette[0]) > 0 && len(a.Palette[1]) > 0 && len(a.Palette[2]) > 0 {
		img := image.NewRGBA(image.Rect(0, 0, p.Width, p.Height))
		for i := 0; i < n; i++ {
			v := int(sample(p, i)) - a.PaletteFirst
			for c := 0; c < 3; c++ {
				lut := a.Palette[c]
				j := min(max(v, 0), len(lut)-1)
				img.Pix[4*i+c] = uint8(lut[j] >> 8)
			}
			img.Pix[4*i+3] = 255
		}
		return img, nil
	}
	center, width := a.WindowCenter, a.WindowWidth
	if !a.HasWindow {
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
		for i := 0; i < n; i++ {
			v := sample(p, i)
			lo, hi = min(lo, v), max(hi, v)
		}
		flo, fhi := float64(lo)*a.RescaleSlope+a.RescaleIntercept, float64(hi)*a.RescaleSlope+a.RescaleIntercept
		if flo > fhi {
			flo, fhi = fhi, flo
		}
		center, width = (flo+fhi+1)/2, fhi-flo+1
	}
	img := image.NewGray(image.Rect(0, 0, p.Width, p.Height))
	invert := pi == "MONOCHROME1"
	for i := 0; i < n; i++ {
		x := float64(sample(p, i))*a.RescaleSlope + a.RescaleIntercept
		y := Window(x, center, width)
		if invert {
			y = 255 - y
		}
		img.Pix[i] = y
	}
	return img, nil
}

// Window maps a modality value to a grey level with the linear VOI
// function of PS3.3 C.11.2.1.2.1.
func Window(x, center, width float64) uint8 {
	if width < 1 {
		width = 1
	}
	lo, hi := center-0.5-(width-1)/2, center-0.5+(width-1)/2
	switch {
	case x <= lo:
		return 0
	case x > hi:
		return 255
	}
	if width == 1 {
		return 255
	}
	return clamp8(((x-(center-0.5))/(width-1) + 0.5) * 255)
}

func clamp8(v float64) uint8 {
	v = math.Round(v)
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ybrToRGB converts full-range YCbCr (PS3.3 C.7.6.3.1.2) to RGB.
func ybrToRGB(y, cb, cr int64) (int64, int64, int64) {
	fy, fcb, fcr := float64(y), float64(cb)-128, float64(cr)-128
	r := fy + 1.402*fcr
	g := fy - 0.344136*fcb - 0.714136*fcr
	b := fy + 1.772*fcb
	return int64(math.Round(r)), int64(math.Round(g)), int64(math.Round(b))
}

// Scale shrinks img so that its larger side is at most size, averaging
// the source pixels each target pixel covers (box filter); smaller images
// are returned as they are.
func Scale(img image.Image, size int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= size && h <= size {
		return img
	}
	tw, th := size, size
	if w > h {
		th = max(1, h*size/w)
	} else {
		tw = max(1, w*size/h)
	}
	gray, isGray := img.(*image.Gray)
	var out interface {
		image.Image
		Set(x, y int, c color.Color)
	}
	if isGray {
		out = image.NewGray(image.Rect(0, 0, tw, th))
	} else {
		out = image.NewRGBA(image.Rect(0, 0, tw, th))
	}
	for ty := 0; ty < th; ty++ {
		y0, y1 := ty*h/th, max((ty+1)*h/th, ty*h/th+1)
		for tx := 0; tx < tw; tx++ {
			x0, x1 := tx*w/tw, max((tx+1)*w/tw, tx*w/tw+1)
			var sr, sg, sb, cnt uint64
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					if isGray {
						v := uint64(gray.Pix[(y)*gray.Stride+x])
						sr += v
					} else {
						r, g, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
						sr, sg, sb = sr+uint64(r>>8), sg+uint64(g>>8), sb+uint64(bb>>8)
					}
					cnt++
				}
			}
			if isGray {
				out.Set(tx, ty, color.Gray{Y: uint8((sr + cnt/2) / cnt)})
			} else {
				out.Set(tx, ty, color.RGBA{R: uint8((sr + cnt/2) / cnt), G: uint8((sg + cnt/2) / cnt), B: uint8((sb + cnt/2) / cnt), A: 255})
			}
		}
	}
	return out
}

// thumbnail serves an image set's thumbnail as PNG.
func (c *Console) thumbnail(w http.ResponseWriter, r *http.Request) {
	id, set := r.PathValue("id"), r.PathValue("set")
	if !ohi.IsID(id) || !ohi.IsID(set) {
		http.Error(w, "no such image set", http.StatusNotFound)
		return
	}
	b, err := c.thumbs.thumbnail(r.Context(), id, set)
	c.servePNG(w, r, b, err)
}

// frameImage serves one frame of an image set, rendered at full size as
// the thumbnails are: the server's rendering a viewer's can be checked
// against.
func (c *Console) frameImage(w http.ResponseWriter, r *http.Request) {
	id, set, frame := r.PathValue("id"), r.PathValue("set"), r.PathValue("frame")
	if !ohi.IsID(id) || !ohi.IsID(set) || !ohi.IsID(frame) {
		http.Error(w, "no such frame", http.StatusNotFound)
		return
	}
	b, err := c.thumbs.frame(r.Context(), id, set, frame)
	c.servePNG(w, r, b, err)
}

func (c *Console) servePNG(w http.ResponseWriter, r *http.Request, b []byte, err error) {
	id, set := r.PathValue("id"), r.PathValue("set")
	if err != nil {
		status := errStatus(err)
		if status == http.StatusInternalServerError {
			c.logger.Warn("console: thumbnail", "datastoreId", id, "imageSetId", set, "err", err)
			status = http.StatusUnprocessableEntity // the frame could not be decoded or rendered
		}
		http.Error(w, errMessage(err), status)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=60")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}
