package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/console"
	"github.com/openhealthimaging/ohi/internal/app"
	"github.com/openhealthimaging/ohi/metadoc"
	"github.com/openhealthimaging/ohi/synth"
)

const (
	testAK     = "AKIDCONSOLETEST"
	testSecret = "console-test-secret"
)

func testLogger() *slog.Logger {
	if os.Getenv("OHI_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startApp runs the real server in process: SQLite, files, import workers.
func startApp(t *testing.T, creds map[string]string, ttl time.Duration, setup func(*app.App)) (string, *app.App, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	a, err := app.New(context.Background(), app.Config{DataDir: dir, Credentials: creds, TransitionDelay: 20 * time.Millisecond,
		JobPoll: 50 * time.Millisecond, ImportWorkers: 2, SessionTTL: ttl, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(a)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); _ = a.Close() })
	return dir, a, srv
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

func (b *browser) get(path string) string {
	b.t.Helper()
	code, _, body := b.do("GET", path, nil)
	if code != http.StatusOK {
		b.t.Fatalf("GET %s: %d\n%s", path, code, body)
	}
	return body
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// post submits a form of the page at from, with that page's CSRF token,
// and returns the redirect target.
func (b *browser) post(from, action string, form url.Values) string {
	b.t.Helper()
	m := csrfRE.FindStringSubmatch(b.get(from))
	if m == nil {
		b.t.Fatalf("no CSRF token on %s", from)
	}
	form.Set("csrf", m[1])
	code, h, body := b.do("POST", action, form)
	if code != http.StatusSeeOther {
		b.t.Fatalf("POST %s: %d, want 303\n%s", action, code, body)
	}
	return h.Get("Location")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var idRE = regexp.MustCompile(`[0-9a-z]{32}`)

// TestConsoleImportAndBrowse drives the console as a browser would, with
// --no-auth: create a data store, import a synthetic study from a local
// bucket prefix (plus a file that is not DICOM), watch the job's progress,
// search the image sets, open one with its versions and its thumbnail, and
// delete a data store; the thumbnail is checked against the source pixels.
func TestConsoleImportAndBrowse(t *testing.T) {
	dir, a, srv := startApp(t, nil, 0, nil)
	b := newBrowser(t, srv.URL)
	if !strings.Contains(b.get("/console/"), "No data stores yet") {
		t.Fatal("empty console does not say so")
	}
	loc := b.post("/console/", "/console/datastores", url.Values{"name": {"console-test"}, "format": {"HTJ2K"}})
	dsID := idRE.FindString(loc)
	if dsID == "" || !strings.HasPrefix(loc, "/console/datastores/"+dsID) {
		t.Fatalf("create redirected to %q", loc)
	}
	dsPage := "/console/datastores/" + dsID
	waitUntil(t, "data store ACTIVE", func() bool { return strings.Contains(b.get(dsPage), "status-ACTIVE") })
	if list := b.get("/console/"); !strings.Contains(list, "console-test") || !strings.Contains(list, dsID) {
		t.Fatal("data store list lacks the new data store")
	}

	// Bad input is refused with the model's constraint, not stored.
	code, _, body := b.do("POST", "/console/datastores", url.Values{"name": {"bad name!"}, "csrf": {csrfRE.FindStringSubmatch(b.get("/console/"))[1]}})
	if code != http.StatusBadRequest || !strings.Contains(body, "datastoreName") {
		t.Fatalf("invalid name: %d %s", code, body)
	}

	g, err := synth.New(synth.Config{Series: 2, Instances: 5, Rows: 64, Cols: 96, Seed: 7, Modality: "CT"})
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "buckets", "dicom-in", "study")
	if _, err := g.Generate(in); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "notes.txt"), []byte("not a DICOM file"), 0o644); err != nil {
		t.Fatal(err)
	}
	loc = b.post(dsPage, dsPage+"/imports", url.Values{"input": {"s3://dicom-in/study/"}, "output": {"s3://dicom-out/jobs/"}, "name": {"console-import"}})
	jobID := idRE.FindString(strings.TrimPrefix(loc, dsPage))
	if !strings.HasPrefix(loc, dsPage+"/jobs/"+jobID) {
		t.Fatalf("import redirected to %q", loc)
	}
	type progress struct {
		Status                        string
		Files, Done, Imported, Failed int
		Terminal                      bool
	}
	var p progress
	waitUntil(t, "import job to end", func() bool {
		code, _, body := b.do("GET", dsPage+"/jobs/"+jobID+"/progress", nil)
		if code != http.StatusOK {
			t.Fatalf("progress: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		return p.Terminal
	})
	if p.Status != "COMPLETED" || p.Files != 11 || p.Done != 11 || p.Imported != 10 || p.Failed != 1 {
		t.Fatalf("progress %+v, want COMPLETED with 11 files, 10 imported, 1 failed", p)
	}
	job := b.get(dsPage + "/jobs/" + jobID)
	for _, want := range []string{"console-import", "11 / 11", "notes.txt", "COMPLETED"} {
		if !strings.Contains(job, want) {
			t.Errorf("job page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`<td><code>[^<]*notes.txt</code></td><td>\w+Exception</td><td>[^<]+</td>`).MatchString(job) {
		t.Errorf("job page does not give the failure's reason:\n%s", job)
	}
	if ds := b.get(dsPage); !strings.Contains(ds, "console-import") || !strings.Contains(ds, "11 / 11") {
		t.Error("data store page lacks the job's progress")
	}

	// Search: everything, then by patient, study and accession.
	all := b.get(dsPage + "/imagesets")
	sets := map[string]bool{}
	for _, m := range regexp.MustCompile(`/imagesets/([0-9a-z]{32})/thumbnail.png`).FindAllStringSubmatch(all, -1) {
		sets[m[1]] = true
	}
	if len(sets) != 2 {
		t.Fatalf("image set list shows %d image sets, want 2", len(sets))
	}
	study := g.StudyUID(synth.Ref{})
	for _, q := range []string{"patientId=SYN0001", "studyUID=" + study, "accession=ACC000001", "patientId=SYN0001&studyUID=" + study} {
		if n := strings.Count(b.get(dsPage+"/imagesets?"+q), "thumbnail.png"); n != 2 {
			t.Errorf("search %s: %d results, want 2", q, n)
		}
	}
	if page := b.get(dsPage + "/imagesets?patientId=NOBODY"); !strings.Contains(page, "No image set matches") {
		t.Error("a search without results does not say so")
	}
	viewer := "/viewer?" + url.Values{"datastoreId": {dsID}, "StudyInstanceUIDs": {study}}.Encode()
	if !strings.Contains(all, strings.ReplaceAll(viewer, "&", "&amp;")) {
		t.Error("image set list does not link to the viewer")
	}

	// One image set: versions, primary flag, thumbnail.
	seriesUID := g.SeriesUID(synth.Ref{Series: 1})
	var setID string
	for id := range sets {
		if strings.Contains(b.get(dsPage+"/imagesets/"+id), seriesUID) {
			setID = id
		}
	}
	if setID == "" {
		t.Fatalf("no image set page shows series %s", seriesUID)
	}
	page := b.get(dsPage + "/imagesets/" + setID)
	for _, want := range []string{"<dt>Primary</dt><dd>yes</dd>", "<dt>Latest version</dt><dd>1</dd>", "Instances / frames</dt><dd>5 / 5", `id="versions"`, "SYN0001"} {
		if !strings.Contains(page, want) {
			t.Errorf("image set page lacks %q", want)
		}
	}
	code, h, png1 := b.do("GET", dsPage+"/imagesets/"+setID+"/thumbnail.png", nil)
	if code != http.StatusOK || h.Get("Content-Type") != "image/png" {
		t.Fatalf("thumbnail: %d %s", code, h.Get("Content-Type"))
	}
	got, err := png.Decode(strings.NewReader(png1))
	if err != nil {
		t.Fatal(err)
	}
	// The middle instance (InstanceNumber 3 of 1..5) rendered from the
	// source file's pixels, with the file's rescale and CT window.
	want := expectedThumbnail(t, g, synth.Ref{Series: 1, Instance: 2})
	if d := maxDiff(got, want); d > 1 {
		t.Errorf("thumbnail differs from the source rendering by %d grey levels", d)
	}
	if d := maxDiff(got, expectedThumbnail(t, g, synth.Ref{Series: 1, Instance: 0})); d <= 1 {
		t.Error("thumbnail matches the first instance too: the test cannot tell them apart")
	}
	code, _, _ = b.do("GET", dsPage+"/imagesets/"+strings.Repeat("0", 32)+"/thumbnail.png", nil)
	if code != http.StatusNotFound {
		t.Errorf("thumbnail of a missing image set: %d", code)
	}
	// Any frame, rendered at full size: the first instance's.
	md, err := a.Service.GetImageSetMetadata(context.Background(), &api.GetImageSetMetadataRequest{DatastoreId: &dsID, ImageSetId: &setID})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := metadoc.Decode(md.ImageSetMetadataBlob)
	md.ImageSetMetadataBlob.Close()
	if err != nil {
		t.Fatal(err)
	}
	first, err := doc.Instance(g.SOPInstanceUID(synth.Ref{Series: 1, Instance: 0}))
	if err != nil {
		t.Fatal(err)
	}
	code, h, body = b.do("GET", dsPage+"/imagesets/"+setID+"/frames/"+first.ImageFrames[0].ID+"/image.png", nil)
	if code != http.StatusOK || h.Get("Content-Type") != "image/png" {
		t.Fatalf("frame image: %d %s", code, body)
	}
	frame, err := png.Decode(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(frame, expectedThumbnail(t, g, synth.Ref{Series: 1, Instance: 0})); d > 1 {
		t.Errorf("frame image differs from the source rendering by %d grey levels", d)
	}
	if code, _, _ := b.do("GET", dsPage+"/imagesets/"+setID+"/frames/"+strings.Repeat("0", 32)+"/image.png", nil); code != http.StatusNotFound {
		t.Errorf("image of a missing frame: %d", code)
	}

	// A data store with image sets cannot be deleted; an empty one can.
	m := csrfRE.FindStringSubmatch(b.get(dsPage))
	code, _, body = b.do("POST", dsPage+"/delete", url.Values{"csrf": {m[1]}})
	if code != http.StatusConflict || !strings.Contains(body, "image sets") {
		t.Errorf("delete of a data store with image sets: %d %s", code, body)
	}
	loc = b.post("/console/", "/console/datastores", url.Values{"name": {"to-delete"}})
	other := "/console/datastores/" + idRE.FindString(loc)
	waitUntil(t, "second data store ACTIVE", func() bool { return strings.Contains(b.get(other), "status-ACTIVE") })
	if loc := b.post(other, other+"/delete", url.Values{}); !strings.HasPrefix(loc, "/console/?done=deleting") {
		t.Errorf("delete redirected to %q", loc)
	}
	waitUntil(t, "data store DELETED", func() bool { return strings.Contains(b.get(other), "status-DELETED") })
}

// expectedThumbnail renders a synthetic instance's pixels, read from the
// generated file, as the thumbnail of its series should look.
func expectedThumbnail(t *testing.T, g *synth.Generator, r synth.Ref) image.Image {
	t.Helper()
	file, err := g.Instance(r)
	if err != nil {
		t.Fatal(err)
	}
	cfg := g.Config()
	n := cfg.Rows * cfg.Cols * 2
	px := &codec.Pixels{Width: cfg.Cols, Height: cfg.Rows, Components: 1, BitsStored: 16, BytesPerSample: 2, Data: file[len(file)-n:]}
	slope, intercept := dsValue(t, file, "\x28\x00\x53\x10"), dsValue(t, file, "\x28\x00\x52\x10")
	center, width := dsValue(t, file, "\x28\x00\x50\x10"), dsValue(t, file, "\x28\x00\x51\x10")
	img, err := console.Render(px, console.Attributes{Image: codec.Image{Photometric: "MONOCHROME2"}, RescaleSlope: slope, RescaleIntercept: intercept,
		WindowCenter: center, WindowWidth: width, HasWindow: true})
	if err != nil {
		t.Fatal(err)
	}
	return console.Scale(img, console.ThumbnailSize)
}

// dsValue reads a DS element of an explicit VR little endian file by its
// tag bytes.
func dsValue(t *testing.T, file []byte, tag string) float64 {
	t.Helper()
	i := bytes.Index(file, []byte(tag+"DS"))
	if i < 0 {
		t.Fatalf("no DS element %x", tag)
	}
	n := int(file[i+6]) | int(file[i+7])<<8
	var v float64
	if _, err := fmtSscan(strings.TrimSpace(string(file[i+8:i+8+n])), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func maxDiff(a, b image.Image) int {
	if a.Bounds() != b.Bounds() {
		return 1 << 30
	}
	d := 0
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			for _, p := range [][2]uint32{{r1, r2}, {g1, g2}, {b1, b2}} {
				v := int(p[0]>>8) - int(p[1]>>8)
				if v < 0 {
					v = -v
				}
				d = max(d, v)
			}
		}
	}
	return d
}

var fmtSscan = fmt.Sscan
