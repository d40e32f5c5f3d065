package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"

	"github.com/openhealthimaging/ohi/synth"
)

// This file and boto3_test.go run the client programs of e2e/clients, each
// driving every operation with an unmodified AWS SDK, and check the summary
// they print against the generated study and, through the Go SDK, against
// the server's state.

const (
	npmTimeout    = 5 * time.Minute  // npm ci of e2e/clients
	clientTimeout = 90 * time.Second // one run of a conformance program
	// requireClientsEnv set to 1 turns the skips for a missing node, npm,
	// python3 or boto3, or a failed npm ci, into failures.
	requireClientsEnv = "OHI_E2E_REQUIRE_CLIENTS"
)

// apiOperations are the 18 operations of the HealthImaging API.
var apiOperations = []string{
	"CopyImageSet", "CreateDatastore", "DeleteDatastore", "DeleteImageSet", "GetDICOMImportJob", "GetDatastore",
	"GetImageFrame", "GetImageSet", "GetImageSetMetadata", "ListDICOMImportJobs", "ListDatastores",
	"ListImageSetVersions", "ListTagsForResource", "SearchImageSets", "StartDICOMImportJob", "TagResource",
	"UntagResource", "UpdateImageSetMetadata",
}

// TestJSSDK drives `ohi serve` with the AWS SDK for JavaScript v3
// (@aws-sdk/client-medical-imaging at the version e2e/clients/package.json
// pins), through e2e/clients/conformance.mjs.
func TestJSSDK(t *testing.T) {
	t.Parallel()
	node := lookClient(t, "node")
	prefix := npmInstall(t)
	dir := t.TempDir()
	cfg := synth.Config{Series: 2, Instances: 2, Rows: 32, Cols: 40, Seed: 31, PatientID: "SDKJS%04d"}
	g := writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "sdkjs"), cfg)
	srv := startServer(t, serverOpts{DataDir: dir, Args: authArgs})

	s := runConformance(t, []string{node, filepath.Join(moduleRoot, "e2e", "clients", "conformance.mjs")}, clientEnv(srv, dir,
		"OHI_INPUT_S3_URI=s3://dicom-in/sdkjs/", "OHI_OUTPUT_S3_URI=s3://dicom-out/sdkjs/", "OHI_PATIENT_ID=SDKJS0001",
		"OHI_SDKJS_PREFIX="+prefix))
	if s.Client != "aws-sdk-js" || !strings.HasPrefix(s.SDKVersion, "3.") {
		t.Errorf("client %q version %q, want aws-sdk-js 3.x", s.Client, s.SDKVersion)
	}
	checkSummary(t, srv, g, s)
}

// lookClient returns the path of a client program, skipping the test when
// it is not installed.
func lookClient(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipClient(t, "%s is not on PATH: install it to run this test", name)
	}
	return p
}

// skipClient skips the test, or fails it when requireClientsEnv is 1.
func skipClient(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv(requireClientsEnv) == "1" {
		t.Fatalf(format+" (%s=1)", append(args, requireClientsEnv)...)
	}
	t.Skipf(format, args...)
}

// npmInstall installs the packages of e2e/clients/package-lock.json with
// `npm ci` into a directory of the user cache named after the lock's hash,
// once per lock, and returns that directory. It skips the test when npm is
// missing or the install fails (no network, no npm cache).
func npmInstall(t *testing.T) string {
	t.Helper()
	npm := lookClient(t, "npm")
	src := filepath.Join(moduleRoot, "e2e", "clients")
	var files [2][]byte
	h := sha256.New()
	for i, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = b
		h.Write(b)
	}
	base := t.TempDir() // without a usable user cache: install for this test only
	if c, err := os.UserCacheDir(); err == nil && os.MkdirAll(filepath.Join(c, "ohi-e2e"), 0o755) == nil {
		base = filepath.Join(c, "ohi-e2e")
	}
	dir := filepath.Join(base, "sdkjs-"+hex.EncodeToString(h.Sum(nil))[:16])
	const marker = ".ohi-installed"
	if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
		return dir
	}
	// Install into a fresh directory, then rename it into place, so that a
	// concurrent or interrupted install never leaves a half-filled dir.
	tmp, err := os.MkdirTemp(base, "sdkjs-install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for i, name := range []string{"package.json", "package-lock.json"} {
		if err := os.WriteFile(filepath.Join(tmp, name), files[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	// Few, short retries: offline, the skip comes in seconds, not minutes.
	cmd := exec.CommandContext(ctx, npm, "ci", "--prefix", tmp, "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline",
		"--fetch-retries=2", "--fetch-retry-mintimeout=2000", "--fetch-retry-maxtimeout=10000")
	cmd.Dir = tmp
	cmd.Env = cleanEnv()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		skipClient(t, "npm ci of e2e/clients failed after %v (offline?): %v\n%s", time.Since(start).Round(time.Second), err, tail(out, 30))
	}
	t.Logf("npm ci of e2e/clients into %s took %v", dir, time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(filepath.Join(tmp, marker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another test process installed the same lock first.
		if _, serr := os.Stat(filepath.Join(dir, marker)); serr != nil {
			t.Fatalf("install into %s: %v", dir, err)
		}
	}
	return dir
}

// clientEnv is the environment of a conformance program: the endpoint and
// the test key pair, and no AWS configuration of the host.
func clientEnv(srv *serverProc, dir string, extra ...string) []string {
	none := filepath.Join(dir, "no-aws-config")
	return cleanEnv(append([]string{
		"OHI_ENDPOINT=" + srv.Endpoint,
		"AWS_ACCESS_KEY_ID=" + testAK, "AWS_SECRET_ACCESS_KEY=" + testSecret,
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + none, "AWS_SHARED_CREDENTIALS_FILE=" + none, "AWS_EC2_METADATA_DISABLED=true",
	}, extra...)...)
}

// clientSummary is the JSON line a conformance program prints on success.
type clientSummary struct {
	OK          bool   `json:"ok"`
	Client      string `json:"client"`
	SDKVersion  string `json:"sdkVersion"`
	DatastoreID string `json:"datastoreId"`
	JobID       string `json:"jobId"`
	SearchPages int    `json:"searchPages"`
	ImageSets   []struct {
		ImageSetID        string `json:"imageSetId"`
		SeriesInstanceUID string `json:"seriesInstanceUID"`
	} `json:"imageSets"`
	StudyInstanceUID string `json:"studyInstanceUID"`
	Metadata         struct {
		ImageSetID        string `json:"imageSetId"`
		SeriesInstanceUID string `json:"seriesInstanceUID"`
		Instances         int    `json:"instances"`
		Frames            int    `json:"frames"`
	} `json:"metadata"`
	Frame struct {
		ImageSetID     string `json:"imageSetId"`
		ImageFrameID   string `json:"imageFrameId"`
		SOPInstanceUID string `json:"sopInstanceUID"`
		Bytes          int    `json:"bytes"`
		SHA256         string `json:"sha256"`
		// FullResolutionChecksum is the metadata checksum the program
		// picked the way AWS's pixel verification examples do.
		FullResolutionChecksum *uint32 `json:"fullResolutionChecksum"`
	} `json:"frame"`
	StudyDescription string         `json:"studyDescription"`
	Versions         []string       `json:"versions"`
	Errors           map[string]int `json:"errors"`
	Copy             struct {
		ImageSetID     string `json:"imageSetId"`
		SOPInstanceUID string `json:"sopInstanceUID"`
		Deleted        bool   `json:"deleted"`
	} `json:"copy"`
	Tags       map[string]string `json:"tags"`
	Operations []string          `json:"operations"`
}

// runConformance runs a conformance program and decodes its summary; any
// exit status but 0 fails the test with the program's message.
func runConformance(t *testing.T, argv []string, env []string) clientSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = t.TempDir()
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s ran for %v", filepath.Base(argv[len(argv)-1]), time.Since(start).Round(time.Millisecond))
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s did not finish within %v\nstderr:\n%s", strings.Join(argv, " "), clientTimeout, tail(stderr.Bytes(), 40))
	case errors.As(err, &ee):
		t.Fatalf("%s exited %d\nstderr:\n%s\nstdout:\n%s", strings.Join(argv, " "), ee.ExitCode(), tail(stderr.Bytes(), 40), tail(stdout.Bytes(), 10))
	case err != nil:
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var s clientSummary
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("the summary line of %s does not decode: %v\nstdout:\n%s", argv[len(argv)-1], err, tail(stdout.Bytes(), 10))
	}
	if !s.OK {
		t.Fatalf("summary without ok: %s", lines[len(lines)-1])
	}
	t.Logf("summary: %s", lines[len(lines)-1])
	return s
}

// checkSummary checks a conformance summary against the generated study and,
// through the Go SDK, against the state the program left on the server.
func checkSummary(t *testing.T, srv *serverProc, g *synth.Generator, s clientSummary) {
	t.Helper()
	cfg := g.Config()
	if ops := slices.Sorted(slices.Values(s.Operations)); !slices.Equal(ops, apiOperations) {
		t.Errorf("operations called = %v, want all %d: %v", ops, len(apiOperations), apiOperations)
	}

	// Search: one image set per generated series, one item per page.
	wantSeries := map[string]bool{}
	for i := 0; i < cfg.Series; i++ {
		wantSeries[g.SeriesUID(synth.Ref{Series: i})] = true
	}
	gotSeries := map[string]bool{}
	for _, is := range s.ImageSets {
		gotSeries[is.SeriesInstanceUID] = true
	}
	if len(s.ImageSets) != cfg.Series || !sameSet(keys(gotSeries), wantSeries) {
		t.Errorf("search found %+v, want one image set for each of the series %v", s.ImageSets, keys(wantSeries))
	}
	if s.SearchPages < len(s.ImageSets) || s.SearchPages > len(s.ImageSets)+1 {
		t.Errorf("search took %d pages of maxResults 1 for %d image sets", s.SearchPages, len(s.ImageSets))
	}
	if s.StudyInstanceUID != g.StudyUID(synth.Ref{}) {
		t.Errorf("StudyInstanceUID = %q, want %q", s.StudyInstanceUID, g.StudyUID(synth.Ref{}))
	}
	if len(s.ImageSets) == 0 || s.Metadata.ImageSetID != s.ImageSets[0].ImageSetID || !wantSeries[s.Metadata.SeriesInstanceUID] ||
		s.Metadata.Instances != cfg.Instances || s.Metadata.Frames != cfg.Instances*cfg.Frames {
		t.Errorf("metadata summary %+v, want the first image set with %d instances of %d frames", s.Metadata, cfg.Instances, cfg.Frames)
	}

	// The frame the program read is the frame the Go SDK reads, and it
	// decodes to the generated pixels.
	c := newClient(srv.Endpoint, testAK, testSecret)
	ds := s.DatastoreID
	ref, ok := findInstance(g, s.Frame.SOPInstanceUID)
	if !ok || g.SeriesUID(ref) != s.Metadata.SeriesInstanceUID {
		t.Fatalf("frame of SOP instance %q: not a generated instance of series %s", s.Frame.SOPInstanceUID, s.Metadata.SeriesInstanceUID)
	}
	frame := getFrame(t, c, ds, s.Frame.ImageSetID, s.Frame.ImageFrameID)
	if sum := sha256.Sum256(frame); hex.EncodeToString(sum[:]) != s.Frame.SHA256 || len(frame) != s.Frame.Bytes {
		t.Errorf("frame %s: the Go SDK reads %d bytes (sha256 %x), the program read %d (sha256 %s)",
			s.Frame.ImageFrameID, len(frame), sum, s.Frame.Bytes, s.Frame.SHA256)
	}
	px := decoded(t, frame)
	if s.Frame.FullResolutionChecksum == nil || crc32.ChecksumIEEE(px) != *s.Frame.FullResolutionChecksum {
		t.Errorf("frame %s: the full-resolution checksum the program read (%v) is not the CRC-32 of the decoded frame (%d)",
			s.Frame.ImageFrameID, s.Frame.FullResolutionChecksum, crc32.ChecksumIEEE(px))
	}
	if !bytes.Equal(px, pixels(t, g, ref)) {
		t.Errorf("frame %s does not decode to the generated pixels of %+v", s.Frame.ImageFrameID, ref)
	}

	// The update the program made is the latest version.
	doc := getMetadata(t, c, ds, s.Metadata.ImageSetID)
	if got := doc.Study.DICOM["StudyDescription"]; s.StudyDescription == "" || got != s.StudyDescription {
		t.Errorf("StudyDescription on the server = %v, the program set %q", got, s.StudyDescription)
	}
	if want := []string{"2:UPDATED", "1:CREATED"}; !slices.Equal(s.Versions, want) {
		t.Errorf("versions = %v, want %v", s.Versions, want)
	}

	// The copy holds the one instance and is deleted.
	if s.Copy.SOPInstanceUID != s.Frame.SOPInstanceUID || !s.Copy.Deleted {
		t.Errorf("copy summary %+v", s.Copy)
	}
	cp, err := c.GetImageSet(callCtx(t), &mi.GetImageSetInput{DatastoreId: &ds, ImageSetId: &s.Copy.ImageSetID})
	if err != nil || cp.ImageSetState != types.ImageSetStateDeleted {
		t.Errorf("GetImageSet of the deleted copy %s: %+v, %v", s.Copy.ImageSetID, cp, err)
	}

	// Tags: the image set keeps the one the program did not remove.
	set, err := c.GetImageSet(callCtx(t), &mi.GetImageSetInput{DatastoreId: &ds, ImageSetId: &s.Metadata.ImageSetID})
	if err != nil {
		t.Fatalf("GetImageSet: %v", err)
	}
	tags, err := c.ListTagsForResource(callCtx(t), &mi.ListTagsForResourceInput{ResourceArn: set.ImageSetArn})
	if err != nil || len(tags.Tags) != 1 || tags.Tags["b"] != "2 two" {
		t.Errorf("tags of %s = %v (%v), want b=\"2 two\"", aws.ToString(set.ImageSetArn), tags, err)
	}

	wantErrors := map[string]int{"ValidationException": 400, "ResourceNotFoundException": 404, "ConflictException": 409,
		"InvalidSignatureException": 403, "UnrecognizedClientException": 403}
	if !maps.Equal(s.Errors, wantErrors) {
		t.Errorf("errors = %v, want %v", s.Errors, wantErrors)
	}
}

// findInstance returns the reference of the generated instance with the
// SOP Instance UID.
func findInstance(g *synth.Generator, sop string) (synth.Ref, bool) {
	cfg := g.Config()
	for st := 0; st < cfg.Studies; st++ {
		for se := 0; se < cfg.Series; se++ {
			for in := 0; in < cfg.Instances; in++ {
				r := synth.Ref{Study: st, Series: se, Instance: in}
				if g.SOPInstanceUID(r) == sop {
					return r, true
				}
			}
		}
	}
	return synth.Ref{}, false
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
