package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/openhealthimaging/ohi/console"
	"github.com/openhealthimaging/ohi/synth"
)

// installTimeout bounds scripts/install-ohif.sh (an npm pack on the first
// run, a cache hit afterwards).
const installTimeout = 5 * time.Minute

// installViewer installs the OHIF viewer with the project's script into
// the user cache (once per version) and returns its directory. It skips the
// test when that fails, or fails it with OHI_E2E_REQUIRE_CLIENTS=1.
func installViewer(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "ohi", "viewer-e2e")
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(moduleRoot, "scripts", "install-ohif.sh"), dir)
	cmd.Dir = moduleRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		skipClient(t, "scripts/install-ohif.sh %s: %v\n%s", dir, err, out)
	}
	return dir
}

// rect is an element's box on the page, in CSS pixels (the device scale
// factor is 1).
type rect struct{ X, Y, W, H float64 }

func crop(t *testing.T, shot []byte, r image.Rectangle) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	return img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(r)
}

// meanGreyDiff is the mean absolute difference of the red channels (the
// images are grey) of two images of the same size.
func meanGreyDiff(a, b image.Image) float64 {
	if a.Bounds().Size() != b.Bounds().Size() {
		return 1e9
	}
	var sum float64
	for y := 0; y < a.Bounds().Dy(); y++ {
		for x := 0; x < a.Bounds().Dx(); x++ {
			r1, _, _, _ := a.At(a.Bounds().Min.X+x, a.Bounds().Min.Y+y).RGBA()
			r2, _, _, _ := b.At(b.Bounds().Min.X+x, b.Bounds().Min.Y+y).RGBA()
			sum += float64(abs(int(r1>>8) - int(r2>>8)))
		}
	}
	return sum / float64(a.Bounds().Dx()*a.Bounds().Dy())
}

// TestBrowserViewer opens a study in the OHIF viewer in headless Chromium,
// logged in to the console, against `ohi serve` with signature
// verification on, once from an HTJ2K data store and once from a JPEG 2000
// Lossless one: the viewer reads the study through ohi's DICOMweb routes
// with the session cookie, the frames arrive in the stored syntax, and the
// image it draws is the server's rendering of the same frame (sampled at
// the source pixels' centres, within a small tolerance) and not that of
// another frame, nor the viewport of a study that does not exist. The screenshots stay in the artefacts
// directory.
func TestBrowserViewer(t *testing.T) {
	t.Parallel()
	viewerDir := installViewer(t)
	ctx := newBrowser(t)
	art := artefacts(t)
	dir := t.TempDir()
	g := writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "viewer"), synth.Config{Series: 2, Instances: 6, Rows: viewerSize, Cols: viewerSize, Seed: 47,
		PatientID: "VIEWER%04d"})
	srv := startServer(t, serverOpts{DataDir: dir, Args: append([]string{"--viewer-dir", viewerDir}, authArgs...)})
	c := newClient(srv.Endpoint, testAK, testSecret)
	htj2k := createDatastore(t, c, "viewer")
	out, err := c.CreateDatastore(callCtx(t), &mi.CreateDatastoreInput{DatastoreName: aws.String("viewer-j2k"), LosslessStorageFormat: types.LosslessStorageFormatJpeg2000Lossless})
	if err != nil {
		t.Fatal(err)
	}
	j2k := *out.DatastoreId
	waitFor(t, "JPEG 2000 data store ACTIVE", 20*time.Second, 50*time.Millisecond, func() (bool, error) {
		g, err := c.GetDatastore(callCtx(t), &mi.GetDatastoreInput{DatastoreId: &j2k})
		return err == nil && g.DatastoreProperties.DatastoreStatus == types.DatastoreStatusActive, err
	})
	for _, ds := range []string{htj2k, j2k} {
		wantCompleted(t, waitJob(t, c, ds, startImport(t, c, ds, "s3://dicom-in/viewer/", "s3://dicom-out/viewer/"), 2*time.Minute), "s3://dicom-out/viewer/", ds)
	}
	if code, body := signedGet(t, srv, "/datastore/"+htj2k+"/studies"); code == http.StatusNotFound {
		t.Skipf("this build serves no DICOMweb routes, which the viewer reads (%d %.100s)", code, body)
	}

	// The content types of the frames the browser receives.
	var mu sync.Mutex
	frameTypes := map[string]int{}
	evctx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	events := chromedp.Events(evctx, network.ResponseReceived)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			if strings.Contains(ev.Response.URL, "/frames/") {
				ct, _ := ev.Response.Headers["Content-Type"].(string)
				if ct == "" {
					ct, _ = ev.Response.Headers["content-type"].(string)
				}
				mu.Lock()
				frameTypes[ct]++
				mu.Unlock()
			}
		}
	}()
	received := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range frameTypes {
			out[k] = v
		}
		clear(frameTypes)
		return out
	}

	// Not logged in: the viewer link leads to the login page, and back.
	viewer := "/viewer?" + url.Values{"datastoreId": {htj2k}, "StudyInstanceUIDs": {g.StudyUID(synth.Ref{})}}.Encode()
	browse(t, ctx, "open the viewer", chromedp.Navigate(srv.Endpoint+viewer), chromedp.WaitVisible(chromedp.ID("login")))
	browse(t, ctx, "log in", chromedp.SendKeys(chromedp.ID("ak"), testAK), chromedp.SendKeys(chromedp.ID("sk"), testSecret),
		chromedp.Submit(chromedp.ID("login")))
	waitJS(t, ctx, "the viewport", `document.querySelector(".cornerstone-viewport-element canvas") !== null`)
	if loc := get(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, "/viewer?") || !strings.Contains(loc, htj2k) {
		t.Errorf("after the login the browser is at %s", loc)
	}
	square := checkViewer(t, ctx, srv, c, g, htj2k, art, "viewer")
	if n := count(received(), "image/jphc", "1.2.840.10008.1.2.4.202"); n == 0 {
		t.Errorf("no frame reached the browser as HTJ2K")
	}

	// JPEG 2000 Lossless frames: OHIF names them by their media type.
	browse(t, ctx, "open the JPEG 2000 study", chromedp.Navigate(srv.Endpoint+"/viewer?"+url.Values{"datastoreId": {j2k}, "StudyInstanceUIDs": {g.StudyUID(synth.Ref{})}}.Encode()))
	waitJS(t, ctx, "the viewport", `document.querySelector(".cornerstone-viewport-element canvas") !== null`)
	checkViewer(t, ctx, srv, c, g, j2k, art, "viewer-j2k")
	if n := count(received(), "image/jp2", "1.2.840.10008.1.2.4.90"); n == 0 {
		t.Errorf("no frame reached the browser as JPEG 2000 Lossless")
	}

	// A study that does not exist: the same part of the page is not the image.
	empty := "/viewer?" + url.Values{"datastoreId": {htj2k}, "StudyInstanceUIDs": {"2.25.1"}}.Encode()
	browse(t, ctx, "open an empty study", chromedp.Navigate(srv.Endpoint+empty))
	waitJS(t, ctx, "the viewer's answer", `document.body.innerText.includes("not available")`)
	emptyShot := screenshot(t, ctx, art, "viewer-empty.png")
	d := meanGreyDiff(console.Scale(crop(t, emptyShot, square), viewerSize), serverRendering(t, srv, c, g, htj2k, synth.Ref{}))
	t.Logf("empty study vs server rendering: %.2f grey levels on average", d)
	if d < 20 {
		t.Errorf("the viewport of an empty study differs from the image by only %.1f grey levels", d)
	}
}

// viewerSize is the rows and columns of the viewer test's images.
const viewerSize = 192

// count adds up the frame responses whose Content-Type has one of subs.
func count(types map[string]int, subs ...string) int {
	n := 0
	for ct, k := range types {
		for _, s := range subs {
			if strings.Contains(ct, s) {
				n += k
				break
			}
		}
	}
	return n
}

// serverRendering is the server's rendering of the frame of a synthetic
// instance (the viewer shows the first, synth.Ref{}, first).
func serverRendering(t *testing.T, srv *serverProc, c *mi.Client, g *synth.Generator, ds string, r synth.Ref) image.Image {
	t.Helper()
	setID := imageSetsBySeries(t, c, ds)[g.SeriesUID(r)]
	var frameID string
	for sop, in := range getMetadata(t, c, ds, setID).Study.Series[g.SeriesUID(r)].Instances {
		if sop == g.SOPInstanceUID(r) {
			frameID = in.ImageFrames[0].ID
		}
	}
	if frameID == "" {
		t.Fatalf("no frame for instance %+v", r)
	}
	code, body := signedGet(t, srv, "/console/datastores/"+ds+"/imagesets/"+setID+"/frames/"+frameID+"/image.png")
	if code != http.StatusOK {
		t.Fatalf("server rendering: %d %s", code, body)
	}
	want, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// sampleCenters reads the image drawn in square of a screenshot at the
// centres of its size×size source pixels, where the viewer's interpolation
// passes through the source values.
func sampleCenters(t *testing.T, shot []byte, square image.Rectangle, size int) *image.Gray {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewGray(image.Rect(0, 0, size, size))
	step := float64(square.Dx()) / float64(size)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			r, _, _, _ := img.At(square.Min.X+int((float64(x)+0.5)*step), square.Min.Y+int((float64(y)+0.5)*step)).RGBA()
			out.Pix[y*out.Stride+x] = uint8(r >> 8)
		}
	}
	return out
}

// Tolerances of the viewer's image against the server's rendering, in mean
// grey levels: the right frame is within viewerTolerance, and each other
// frame (controls) at least viewerMargin further away.
const (
	viewerTolerance = 2.5
	viewerMargin    = 1.5
)

// checkViewer waits until the viewer's viewport shows the server's
// rendering of the first frame, and no other, saves the screenshot as
// name.png, and returns where the image is on the page.
func checkViewer(t *testing.T, ctx context.Context, srv *serverProc, c *mi.Client, g *synth.Generator, ds, art, name string) image.Rectangle {
	t.Helper()
	want := serverRendering(t, srv, c, g, ds, synth.Ref{})
	controls := map[string]image.Image{}
	for _, r := range []synth.Ref{{Instance: 5}, {Series: 1}} {
		controls[fmt.Sprintf("%+v", r)] = serverRendering(t, srv, c, g, ds, r)
	}
	var shot []byte
	var got image.Image
	var diff float64
	var square image.Rectangle
	var vp rect
	deadline := time.Now().Add(pageWait)
	for {
		// The layout settles (side panels open) and the image streams in
		// and is drawn progressively: wait until the drawing matches, or
		// the time is up. cornerstone fits the square image to the
		// viewport's smaller side, centred.
		vp = get(t, ctx, "viewport box", chromedp.Evaluate[rect](`(() => { const r = document.querySelector(".cornerstone-viewport-element").getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height}; })()`))
		side := int(min(vp.W, vp.H))
		x0, y0 := int(vp.X+(vp.W-float64(side))/2), int(vp.Y+(vp.H-float64(side))/2)
		square = image.Rect(x0, y0, x0+side, y0+side)
		shot = get(t, ctx, "screenshot", chromedp.FullScreenshot(100))
		got = sampleCenters(t, shot, square, viewerSize)
		if diff = meanGreyDiff(got, want); diff <= viewerTolerance || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := os.WriteFile(filepath.Join(art, name+".png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, got)
	_ = os.WriteFile(filepath.Join(art, name+"-frame.png"), buf.Bytes(), 0o644)
	t.Logf("%s: viewer image vs server rendering: %.2f grey levels on average", name, diff)
	for r, img := range controls {
		d := meanGreyDiff(got, img)
		t.Logf("%s: viewer image vs frame %s: %.2f", name, r, d)
		if d < diff+viewerMargin {
			t.Errorf("%s: the viewer's image is as close to frame %s (%.2f) as to the frame shown (%.2f): the comparison cannot tell them apart", name, r, d, diff)
		}
	}
	if diff > viewerTolerance {
		t.Errorf("%s: the viewer's image differs from the server's rendering of the frame by %.2f grey levels on average", name, diff)
	} else if d := os.Getenv(readmeShotsEnv); d != "" && name == "viewer" {
		writeCompact(t, shot, filepath.Join(d, "viewer.png"), int(vp.Y+vp.H)+8, 800)
	}
	return square
}
