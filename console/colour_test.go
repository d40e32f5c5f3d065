package console_test

import (
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// importFile creates a data store, imports one corpus file into it through
// the console, and returns the thumbnail of its one image set.
func importFile(t *testing.T, b *browser, dir, corpusPath string) image.Image {
	t.Helper()
	src := filepath.Join("..", "testdata", "corpora", corpusPath)
	data, err := os.ReadFile(src)
	if err != nil {
		if os.Getenv("OHI_E2E_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("%s: %v (scripts/install-corpora.sh installs it)", src, err)
		}
		t.Skipf("%s: %v (scripts/install-corpora.sh installs it)", src, err)
	}
	prefix := strings.NewReplacer("/", "-", ".", "-", "+", "-").Replace(corpusPath)
	if err := os.MkdirAll(filepath.Join(dir, "buckets", "dicom-in", prefix), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "buckets", "dicom-in", prefix, "f.dcm"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	loc := b.post("/console/", "/console/datastores", url.Values{"name": {prefix}})
	ds := "/console/datastores/" + idRE.FindString(loc)
	waitUntil(t, "data store ACTIVE", func() bool { return strings.Contains(b.get(ds), "status-ACTIVE") })
	loc = b.post(ds, ds+"/imports", url.Values{"input": {"s3://dicom-in/" + prefix + "/"}, "output": {"s3://dicom-out/"}})
	job := ds + "/jobs/" + idRE.FindString(strings.TrimPrefix(loc, ds))
	waitUntil(t, "import of "+corpusPath, func() bool {
		_, _, body := b.do("GET", job+"/progress", nil)
		return strings.Contains(body, `"terminal":true`)
	})
	if _, _, body := b.do("GET", job+"/progress", nil); !strings.Contains(body, `"imported":1`) {
		t.Fatalf("%s not imported: %s\n%s", corpusPath, body, b.get(job))
	}
	set := regexp.MustCompile(`/imagesets/([0-9a-z]{32})/thumbnail.png`).FindStringSubmatch(b.get(ds + "/imagesets"))
	if set == nil {
		t.Fatalf("%s: no image set listed", corpusPath)
	}
	code, h, body := b.do("GET", ds+"/imagesets/"+set[1]+"/thumbnail.png", nil)
	if code != http.StatusOK || h.Get("Content-Type") != "image/png" {
		t.Fatalf("%s thumbnail: %d %s", corpusPath, code, body)
	}
	img, err := png.Decode(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// meanDiff is the mean absolute difference of the colour channels.
func meanDiff(a, b image.Image) float64 {
	if a.Bounds().Size() != b.Bounds().Size() {
		return 1e9
	}
	var sum, n float64
	for y := 0; y < a.Bounds().Dy(); y++ {
		for x := 0; x < a.Bounds().Dx(); x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			for _, p := range [][2]uint32{{r1, r2}, {g1, g2}, {b1, b2}} {
				d := float64(p[0]>>8) - float64(p[1]>>8)
				if d < 0 {
					d = -d
				}
				sum += d
				n++
			}
		}
	}
	return sum / n
}

// colourful reports whether some pixel has channels far apart.
func colourful(img image.Image) bool {
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if max(r, g, b)>>8-min(r, g, b)>>8 > 100 {
				return true
			}
		}
	}
	return false
}

// TestThumbnailColour imports colour images of the corpora through the
// console: the same RGB picture stored losslessly (RLE, transcoded to
// HTJ2K), as YBR_FULL_422 and as lossy JPEG (kept as received, decoded in
// a codec worker under ohi serve) gives the same thumbnail, in colour; a
// PALETTE COLOR ultrasound comes out in colour through its lookup tables.
func TestThumbnailColour(t *testing.T) {
	dir, _, srv := startApp(t, nil, 0, nil)
	b := newBrowser(t, srv.URL)
	rgb := importFile(t, b, dir, "pydicom/SC_rgb_rle.dcm")
	if !colourful(rgb) {
		t.Error("RGB thumbnail has no colour")
	}
	for _, f := range []string{"pydicom/SC_ybr_full_422_uncompressed.dcm", "pydicom/SC_rgb_jpeg_dcmtk.dcm", "pydicom/SC_rgb_jpeg_gdcm.dcm"} {
		if d := meanDiff(importFile(t, b, dir, f), rgb); d > 4 {
			t.Errorf("%s thumbnail differs from the lossless RGB one by %.1f levels on average", f, d)
		}
	}
	pal := importFile(t, b, dir, "dicomweb-client/US-PAL-8-10x-echo.dcm")
	if !colourful(pal) {
		t.Error("PALETTE COLOR thumbnail has no colour")
	}
}
