package console

import (
	"encoding/base64"
	"encoding/binary"
	"image"
	"image/color"
	"testing"

	"github.com/openhealthimaging/ohi/codec"
)

func TestWindow(t *testing.T) {
	// PS3.3 C.11.2.1.2.1 with center 40, width 400 (a CT soft tissue
	// window): x <= -160.5 is black, x > 239.5 is white, linear between.
	for _, c := range []struct {
		x    float64
		want uint8
	}{{-1000, 0}, {-160.5, 0}, {-160, 0}, {39.5, 128}, {40, 128}, {239, 255}, {239.5, 255}, {240, 255}, {3000, 255}, {-60, 64}} {
		if got := Window(c.x, 40, 400); got != c.want {
			t.Errorf("Window(%v, 40, 400) = %d, want %d", c.x, got, c.want)
		}
	}
	if Window(10, 10, 1) != 255 || Window(9, 10, 1) != 0 {
		t.Error("a window of width 1 is a threshold")
	}
}

func gray16(w, h int, vals ...int) *codec.Pixels {
	p := &codec.Pixels{Width: w, Height: h, Components: 1, BitsStored: 16, BytesPerSample: 2, Data: make([]byte, 2*w*h)}
	for i, v := range vals {
		binary.LittleEndian.PutUint16(p.Data[2*i:], uint16(int16(v)))
	}
	return p
}

func TestRenderGrey(t *testing.T) {
	// Rescale slope 2, intercept -1024: stored 512 is 0 HU, stored 612 is
	// 200 HU; window 100/200 puts 0 HU at the bottom third.
	p := gray16(4, 1, 0, 512, 537, 612)
	a := Attributes{Image: codec.Image{Photometric: "MONOCHROME2"}, RescaleSlope: 2, RescaleIntercept: -1024, WindowCenter: 100, WindowWidth: 200, HasWindow: true}
	img, err := Render(p, a)
	if err != nil {
		t.Fatal(err)
	}
	g := img.(*image.Gray)
	want := []uint8{Window(-1024, 100, 200), Window(0, 100, 200), Window(50, 100, 200), Window(200, 100, 200)}
	for i, w := range want {
		if g.Pix[i] != w {
			t.Errorf("pixel %d = %d, want %d", i, g.Pix[i], w)
		}
	}
	if g.Pix[0] != 0 || g.Pix[3] != 255 || g.Pix[2] != 64 || g.Pix[1] >= g.Pix[2] {
		t.Errorf("window not applied: %v", g.Pix)
	}
	// No window: the frame's own range, MONOCHROME1 inverted.
	a.HasWindow, a.Photometric = false, "MONOCHROME1"
	img, _ = Render(gray16(3, 1, 100, 150, 200), a)
	g = img.(*image.Gray)
	if g.Pix[0] != 255 || g.Pix[2] != 0 || g.Pix[1] < 120 || g.Pix[1] > 135 {
		t.Errorf("min/max window, inverted: %v", g.Pix)
	}
	// Signed samples.
	p = gray16(2, 1, -2000, 2000)
	p.Signed = true
	img, _ = Render(p, Attributes{RescaleSlope: 1})
	if g := img.(*image.Gray); g.Pix[0] != 0 || g.Pix[1] != 255 {
		t.Errorf("signed: %v", g.Pix)
	}
}

func TestRenderColour(t *testing.T) {
	rgb := &codec.Pixels{Width: 2, Height: 1, Components: 3, BitsStored: 8, BytesPerSample: 1, Data: []byte{255, 0, 0, 10, 20, 30}}
	img, err := Render(rgb, Attributes{Image: codec.Image{Photometric: "RGB"}})
	if err != nil {
		t.Fatal(err)
	}
	if c := img.At(0, 0).(color.RGBA); c != (color.RGBA{255, 0, 0, 255}) {
		t.Errorf("RGB pixel 0 = %v", c)
	}
	if c := img.At(1, 0).(color.RGBA); c != (color.RGBA{10, 20, 30, 255}) {
		t.Errorf("RGB pixel 1 = %v", c)
	}
	// YBR_FULL of pure red (PS3.3 C.7.6.3.1.2): Y 76, Cb 85, Cr 255.
	ybr := &codec.Pixels{Width: 1, Height: 1, Components: 3, BitsStored: 8, BytesPerSample: 1, Data: []byte{76, 85, 255}}
	img, _ = Render(ybr, Attributes{Image: codec.Image{Photometric: "YBR_FULL_422"}})
	if c := img.At(0, 0).(color.RGBA); c.R < 250 || c.G > 5 || c.B > 5 {
		t.Errorf("YBR red rendered as %v", c)
	}
	// A decoder that converted to RGB says so in Pixels.Photometric.
	ybr.Photometric = "RGB"
	ybr.Data = []byte{76, 85, 255}
	img, _ = Render(ybr, Attributes{Image: codec.Image{Photometric: "YBR_FULL_422"}})
	if c := img.At(0, 0).(color.RGBA); c != (color.RGBA{76, 85, 255, 255}) {
		t.Errorf("decoded RGB rendered as %v", c)
	}
}

func TestRenderPalette(t *testing.T) {
	lut := func(vals ...uint16) string {
		b := make([]byte, 2*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint16(b[2*i:], v)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	m := map[string]any{
		"Rows": "1", "Columns": "3", "BitsAllocated": "8", "BitsStored": "8", "PhotometricInterpretation": "PALETTE COLOR",
		"RedPaletteColorLookupTableDescriptor": []any{"3", "10", "16"}, "RedPaletteColorLookupTableData": lut(0xffff, 0, 0),
		"GreenPaletteColorLookupTableDescriptor": []any{"3", "10", "16"}, "GreenPaletteColorLookupTableData": lut(0, 0xffff, 0),
		"BluePaletteColorLookupTableDescriptor": []any{"3", "10", "16"}, "BluePaletteColorLookupTableData": lut(0, 0, 0x8000),
	}
	a := AttributesOf(m)
	if a.Rows != 1 || a.Columns != 3 || a.PaletteFirst != 10 || len(a.Palette[2]) != 3 {
		t.Fatalf("attributes %+v", a)
	}
	p := &codec.Pixels{Width: 3, Height: 1, Components: 1, BitsStored: 8, BytesPerSample: 1, Data: []byte{10, 11, 200}}
	img, err := Render(p, a)
	if err != nil {
		t.Fatal(err)
	}
	want := []color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 128, 255}} // 200 clamps to the last entry
	for i, w := range want {
		if c := img.At(i, 0).(color.RGBA); c != w {
			t.Errorf("pixel %d = %v, want %v", i, c, w)
		}
	}
}

func TestAttributesWindow(t *testing.T) {
	a := AttributesOf(map[string]any{"WindowCenter": []any{"40 ", "400"}, "WindowWidth": []any{"400", "2000"}, "RescaleIntercept": "-1024", "RescaleSlope": "1"})
	if !a.HasWindow || a.WindowCenter != 40 || a.WindowWidth != 400 || a.RescaleIntercept != -1024 || a.RescaleSlope != 1 {
		t.Errorf("%+v", a)
	}
	if a := AttributesOf(map[string]any{"WindowCenter": "x", "WindowWidth": "0"}); a.HasWindow || a.RescaleSlope != 1 {
		t.Errorf("bad window accepted: %+v", a)
	}
}

func TestScale(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 512, 256))
	for y := 0; y < 256; y++ {
		for x := 0; x < 512; x++ {
			g.Pix[y*g.Stride+x] = uint8(x / 2)
		}
	}
	s := Scale(g, 256).(*image.Gray)
	if s.Bounds().Dx() != 256 || s.Bounds().Dy() != 128 {
		t.Fatalf("scaled to %v", s.Bounds())
	}
	for x := 0; x < 256; x++ {
		if s.Pix[x] != uint8(x) {
			t.Fatalf("box filter: pixel %d = %d", x, s.Pix[x])
		}
	}
	if Scale(g, 1024) != image.Image(g) {
		t.Error("a small image is not scaled up")
	}
}

func TestSessionsCheck(t *testing.T) {
	s := &Sessions{Credentials: map[string]string{"AK1": "secret1", "AK2": "secret2"}, Key: make([]byte, 32)}
	for _, c := range []struct {
		ak, sk string
		ok     bool
	}{{"AK1", "secret1", true}, {"AK2", "secret2", true}, {"AK1", "secret2", false}, {"AK1", "secret", false}, {"AK1", "secret1x", false}, {"", "", false}, {"AK3", "secret1", false}} {
		if got := s.Check(c.ak, c.sk); got != c.ok {
			t.Errorf("Check(%q, %q) = %v", c.ak, c.sk, got)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/datastores/x": "/console/datastores/x", "/viewer?a=b": "/viewer?a=b",
		"//evil.example/": Prefix, "https://evil.example/": Prefix, "/\\evil": Prefix, "": Prefix, "/x\r\nSet-Cookie: a": Prefix,
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
