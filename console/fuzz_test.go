package console

import (
	"image"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/codec"
)

// FuzzSessionParse feeds arbitrary cookie values to the session parser: it
// never panics, and nothing but a value it issued is a valid session.
func FuzzSessionParse(f *testing.F) {
	// A fixed clock and id source, so that every fuzzing process issues
	// the same value.
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &Sessions{Credentials: map[string]string{"AK": "secret"}, Key: []byte(strings.Repeat("k", 32)),
		Now: func() time.Time { return now }, Rand: strings.NewReader(strings.Repeat("r", 16))}
	v, _, err := s.issue("AK")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v)
	f.Add("")
	f.Add(".")
	f.Add("QUt8MXwy.AAAA")
	f.Add(v[:len(v)-1] + "A")
	f.Fuzz(func(t *testing.T, in string) {
		ss, ok := s.parse(in)
		if ok && in != v {
			t.Fatalf("forged value %q accepted as %+v", in, ss)
		}
	})
}

// FuzzAttributesAndRender renders frames from arbitrary metadata values:
// it never panics, whatever the attributes say.
func FuzzAttributesAndRender(f *testing.F) {
	f.Add("40", "400", "1", "-1024", "MONOCHROME2", 1, 8, "3\\0\\16", "AAAA")
	f.Add("x", "0", "0", "", "PALETTE COLOR", 1, 8, "0\\-5\\8", "")
	f.Add("", "", "", "", "YBR_FULL", 3, 8, "", "")
	f.Fuzz(func(t *testing.T, wc, ww, slope, icpt, pi string, comps, bits int, desc, lut string) {
		m := map[string]any{"WindowCenter": wc, "WindowWidth": ww, "RescaleSlope": slope, "RescaleIntercept": icpt,
			"PhotometricInterpretation": pi, "RedPaletteColorLookupTableDescriptor": desc, "RedPaletteColorLookupTableData": lut,
			"GreenPaletteColorLookupTableDescriptor": desc, "GreenPaletteColorLookupTableData": lut,
			"BluePaletteColorLookupTableDescriptor": desc, "BluePaletteColorLookupTableData": lut}
		a := AttributesOf(m)
		if comps != 1 && comps != 3 {
			comps = 1
		}
		bps := 1
		if bits > 8 {
			bps = 2
		}
		p := &codec.Pixels{Width: 4, Height: 3, Components: comps, BitsStored: min(max(bits, 1), 16), BytesPerSample: bps, Data: make([]byte, 4*3*comps*bps)}
		for i := range p.Data {
			p.Data[i] = byte(i * 37)
		}
		img, err := Render(p, a)
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds() != image.Rect(0, 0, 4, 3) {
			t.Fatalf("rendered %v", img.Bounds())
		}
		_ = Scale(img, 2)
	})
}
