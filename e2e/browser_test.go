package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/chromedp/chromedp"

	"github.com/openhealthimaging/ohi/console"
	"github.com/openhealthimaging/ohi/synth"
)

// Bounds of the browser tests.
const (
	browserTimeout = 3 * time.Minute // one browser test, start to end
	pageWait       = 60 * time.Second
	// artefactsEnv names the directory for the screenshots of the last
	// run (default e2e/artefacts, which git ignores).
	artefactsEnv = "OHI_E2E_ARTEFACTS"
	// readmeShotsEnv names the directory that receives the README's
	// screenshots, console.png and viewer.png (make screenshots sets it to
	// docs).
	readmeShotsEnv = "OHI_E2E_README_SHOTS"
)

// writeCompact writes a screenshot cropped to the page's content (the rows
// below the last non-white one are dropped, and those below maxY when it is
// not 0), scaled to fit width when it is not 0, and recompressed, for the
// README.
func writeCompact(t *testing.T, shot []byte, path string, maxY, width int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	bottom := b.Min.Y
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r>>8 < 250 || g>>8 < 250 || bl>>8 < 250 {
				bottom = y + 1
				break
			}
		}
	}
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	bottom = min(bottom+16, b.Max.Y)
	if maxY > 0 {
		bottom = min(bottom, maxY)
	}
	if ok && bottom < b.Max.Y {
		img = sub.SubImage(image.Rect(b.Min.X, b.Min.Y, b.Max.X, bottom))
	}
	if width > 0 && img.Bounds().Dx() > width {
		img = console.Scale(img, width)
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// chromiumFlags are the flags Chromium runs with here: headless, no
// sandbox (tests run as root), nothing that reaches the network by itself,
// a fixed scale and colour profile so that screenshots hold the pixels the
// page drew, and WebGL on the software renderer (the viewer draws with it;
// the pages are the test's own).
var chromiumFlags = []chromedp.ExecAllocatorOption{
	chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
	chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.Flag("no-default-browser-check", true),
	chromedp.Flag("disable-extensions", true), chromedp.Flag("hide-scrollbars", true), chromedp.Flag("force-device-scale-factor", "1"),
	chromedp.Flag("force-color-profile", "srgb"), chromedp.Flag("mute-audio", true), chromedp.Flag("enable-unsafe-swiftshader", true),
	chromedp.WindowSize(1280, 900),
}

// newBrowser starts a headless Chromium with a fresh profile and returns a
// context that drives one tab of it; cleanups close it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		skipClient(t, "chromium is not on PATH: scripts/setup.sh installs it (apt-get install chromium)")
	}
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir())}, chromiumFlags...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	if err := chromedp.Do(tab); err != nil { // starts the browser
		cancelTab()
		cancelAlloc()
		t.Fatalf("start %s: %v", path, err)
	}
	ctx, cancelTime := context.WithTimeout(tab, browserTimeout)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	return ctx
}

// artefacts returns the directory for this run's screenshots.
func artefacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(artefactsEnv)
	if dir == "" {
		dir = filepath.Join(moduleRoot, "e2e", "artefacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func browse(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs an action that returns a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitJS evaluates a JavaScript expression until it is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(pageWait)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("timed out waiting for %s (%s)\n%s", what, expr, html)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) []byte {
	t.Helper()
	buf := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return buf
}

// signedGet fetches a path with a SigV4 signature, as AWS clients send.
func signedGet(t *testing.T, srv *serverProc, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.Endpoint+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	h := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", h)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret}, req, h, "medical-imaging", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: callLimit}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// maxPixelDiff is the largest difference of a colour channel between two
// images of the same size.
func maxPixelDiff(a, b image.Image) int {
	if a.Bounds().Size() != b.Bounds().Size() {
		return 1 << 30
	}
	d := 0
	for y := 0; y < a.Bounds().Dy(); y++ {
		for x := 0; x < a.Bounds().Dx(); x++ {
			r1, g1, b1, _ := a.At(a.Bounds().Min.X+x, a.Bounds().Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(b.Bounds().Min.X+x, b.Bounds().Min.Y+y).RGBA()
			for _, p := range [][2]uint32{{r1, r2}, {g1, g2}, {b1, b2}} {
				d = max(d, abs(int(p[0]>>8)-int(p[1]>>8)))
			}
		}
	}
	return d
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// TestBrowserConsole drives the web console in headless Chromium against
// `ohi serve` with signature verification on: log in with the key pair,
// create a data store, import a synthetic study from a local bucket prefix
// and watch its progress, list the image sets with their thumbnails and
// open one. It asserts on the DOM (the data store, the job's progress, the
// search results) and on the pixels of the screenshots (the thumbnail the
// browser drew equals the server's rendering of the middle frame), and
// keeps the screenshots in the artefacts directory.
func TestBrowserConsole(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	art := artefacts(t)
	dir := t.TempDir()
	writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "browser"), synth.Config{Series: 2, Instances: 6, Rows: 192, Cols: 192, Seed: 43,
		PatientID: "BROWSER%04d", PatientName: "Browser^Test%04d"})
	if err := os.WriteFile(filepath.Join(dir, "buckets", "dicom-in", "browser", "README.txt"), []byte("not DICOM"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, serverOpts{DataDir: dir, Args: authArgs})

	// Not logged in: the console sends the browser to its login page.
	browse(t, ctx, "open the console", chromedp.Navigate(srv.Endpoint+"/console/"), chromedp.WaitVisible(chromedp.ID("login")))
	if url := get(t, ctx, "location", chromedp.Location()); !strings.Contains(url, "/console/login?next=") {
		t.Fatalf("console without a session is at %s, want the login page", url)
	}
	screenshot(t, ctx, art, "console-login.png")
	browse(t, ctx, "log in",
		chromedp.SendKeys(chromedp.ID("ak"), testAK), chromedp.SendKeys(chromedp.ID("sk"), testSecret),
		chromedp.Submit(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("create-datastore")))

	// Create a data store and wait until it is ACTIVE.
	browse(t, ctx, "create a data store",
		chromedp.SendKeys(chromedp.ID("ds-name"), "browser-demo"), chromedp.Submit(chromedp.ID("create-datastore")),
		chromedp.WaitVisible(chromedp.ID("datastore-id")))
	dsID := get(t, ctx, "data store id", chromedp.Text(chromedp.ID("datastore-id")))
	deadline := time.Now().Add(pageWait)
	for {
		browse(t, ctx, "reload the data store", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("datastore-id")))
		if get(t, ctx, "status", chromedp.Evaluate[bool](`document.querySelector(".status-ACTIVE") !== null`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("data store did not become ACTIVE")
		}
		time.Sleep(300 * time.Millisecond)
	}

	// Start the import from the console and watch the job page until it
	// ends (its script refreshes the progress, then the page).
	browse(t, ctx, "start an import",
		chromedp.SetValue(chromedp.ID("imp-in"), "s3://dicom-in/browser/"), chromedp.SetValue(chromedp.ID("imp-name"), "browser-import"),
		chromedp.Submit(chromedp.ID("start-import")), chromedp.WaitVisible(chromedp.ID("job")))
	waitJS(t, ctx, "the import to complete", `document.querySelector('#job [data-field="status"]').textContent === "COMPLETED" && document.querySelector("#failures") !== null`)
	count := get(t, ctx, "job count", chromedp.Text(chromedp.CSS(`#job [data-field="count"]`)))
	failures := get(t, ctx, "job failures", chromedp.Text(chromedp.ID("failures")))
	if count != "13 / 13" || !strings.Contains(failures, "README.txt") || !strings.Contains(failures, "ValidationException") {
		t.Errorf("job page: count %q, failures %q; want 13 / 13 and README.txt's reason", count, failures)
	}
	screenshot(t, ctx, art, "console-job.png")

	// The data store lists the job with its progress; the console lists the data store.
	browse(t, ctx, "data store page", chromedp.Navigate(srv.Endpoint+"/console/datastores/"+dsID), chromedp.WaitVisible(chromedp.ID("jobs")))
	if jobs := get(t, ctx, "jobs", chromedp.Text(chromedp.ID("jobs"))); !strings.Contains(jobs, "browser-import") || !strings.Contains(jobs, "COMPLETED") || !strings.Contains(jobs, "13 / 13") {
		t.Errorf("data store page lists the jobs as %q", jobs)
	}
	browse(t, ctx, "data stores", chromedp.Navigate(srv.Endpoint+"/console/"), chromedp.WaitVisible(chromedp.ID("datastores")))
	if stores := get(t, ctx, "data stores", chromedp.Text(chromedp.ID("datastores"))); !strings.Contains(stores, "browser-demo") || !strings.Contains(stores, dsID) || !strings.Contains(stores, "ACTIVE") {
		t.Errorf("console lists the data stores as %q", stores)
	}
	screenshot(t, ctx, art, "console-datastores.png")

	// Image sets with their thumbnails, then a search by patient.
	browse(t, ctx, "image sets", chromedp.Navigate(srv.Endpoint+"/console/datastores/"+dsID+"/imagesets"), chromedp.WaitVisible(chromedp.ID("imagesets")))
	waitJS(t, ctx, "the thumbnails", `(() => { const t = [...document.querySelectorAll("img.thumb")]; return t.length === 2 && t.every(i => i.complete && i.naturalWidth > 0); })()`)
	readme := screenshot(t, ctx, art, "console-imagesets.png")
	if d := os.Getenv(readmeShotsEnv); d != "" {
		writeCompact(t, readme, filepath.Join(d, "console.png"), 0, 0)
	}
	browse(t, ctx, "search", chromedp.SetValue(chromedp.ID("q-patient"), "BROWSER0001"), chromedp.Submit(chromedp.ID("search")), chromedp.WaitVisible(chromedp.ID("imagesets")))
	if n := get(t, ctx, "results", chromedp.Evaluate[int](`document.querySelectorAll("#imagesets tbody tr").length`)); n != 2 {
		t.Errorf("search by patient lists %d image sets, want 2", n)
	}
	browse(t, ctx, "search for nobody", chromedp.SetValue(chromedp.ID("q-patient"), "NOBODY"), chromedp.Submit(chromedp.ID("search")),
		chromedp.WaitVisible(chromedp.ID("no-results")))

	// One image set: the thumbnail the browser drew is the server's
	// rendering of the middle frame, pixel for pixel.
	browse(t, ctx, "open an image set", chromedp.Navigate(srv.Endpoint+"/console/datastores/"+dsID+"/imagesets"), chromedp.WaitVisible(chromedp.ID("imagesets")),
		chromedp.Click(chromedp.CSS(`#imagesets tbody tr:first-child td a`)), chromedp.WaitVisible(chromedp.ID("versions")))
	waitJS(t, ctx, "the thumbnail", `document.querySelector("#thumbnail").complete && document.querySelector("#thumbnail").naturalWidth > 0`)
	src := get(t, ctx, "thumbnail src", chromedp.AttributeValue(chromedp.ID("thumbnail"), "src")).Value
	shot := get(t, ctx, "thumbnail screenshot", chromedp.Screenshot(chromedp.ID("thumbnail")))
	screenshot(t, ctx, art, "console-imageset.png")
	if err := os.WriteFile(filepath.Join(art, "console-thumbnail.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := signedGet(t, srv, src)
	if code != http.StatusOK {
		t.Fatalf("GET %s signed: %d %s", src, code, body)
	}
	want, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if d := maxPixelDiff(got, want); d > 2 {
		t.Errorf("the thumbnail on screen (%v) differs from the server's rendering (%v) by up to %d levels", got.Bounds(), want.Bounds(), d)
	}
	// And the rendering is the frame, not a blank: it has contrast.
	lo, hi := 255, 0
	for y := 0; y < want.Bounds().Dy(); y++ {
		for x := 0; x < want.Bounds().Dx(); x++ {
			r, _, _, _ := want.At(x, y).RGBA()
			lo, hi = min(lo, int(r>>8)), max(hi, int(r>>8))
		}
	}
	if hi-lo < 100 {
		t.Errorf("thumbnail spans grey levels %d..%d: nothing drawn", lo, hi)
	}
}
