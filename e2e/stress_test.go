package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"

	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/synth"
)

// Size of the stress test: OHI_STRESS_FILES hostile files (default
// stressFiles, stressFilesShort with -short), mutated with the random seed
// OHI_STRESS_SEED (default 12).
const (
	stressFiles      = 3000
	stressFilesShort = 400
	stressSeedBytes  = 160 << 10 // corpus files larger than this are not used as seeds
)

// stressSeed is one file the mutations start from, with where its frames
// are (offset and length of each frame's first fragment).
type stressSeed struct {
	name   string
	data   []byte
	frames [][2]int64
}

// TestImportStress imports thousands of mutated multi-frame files of every
// transfer syntax ohi handles (synth's, frames re-encoded as JPEG 2000,
// HTJ2K and RLE, the corpora's JPEG, JPEG-LS and JPEG 2000 frames
// re-wrapped as multi-frame files, and the corpora's files themselves),
// through `ohi serve --import-workers 2`. The hostile import must end
// COMPLETED within its time limit with every file listed exactly once, as
// imported or failed with a reason, and its counters adding up; then a
// clean import on the same server must import every file. This is the
// wedge of issue 12 (a failed frame leaking a codec slot until every
// import hung) and its whole class: whatever the input, no import waits
// forever and the server keeps working.
func TestImportStress(t *testing.T) {
	n := stressFiles
	if testing.Short() {
		n = stressFilesShort
	}
	if v := os.Getenv("OHI_STRESS_FILES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("OHI_STRESS_FILES=%q is not a positive number", v)
		}
	}
	seed := uint64(12)
	if v := os.Getenv("OHI_STRESS_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("OHI_STRESS_SEED=%q is not a number", v)
		}
	}
	generated := generatedSeeds(t)
	seeds := append(append([]stressSeed(nil), generated...), corpusSeeds(t)...)
	var multi []stressSeed
	for _, s := range seeds {
		if len(s.frames) > 1 {
			multi = append(multi, s)
		}
	}
	t.Logf("%d hostile files from %d seeds (%d multi-frame), OHI_STRESS_SEED=%d", n, len(seeds), len(multi), seed)
	// Half the files through one worker, half through two.
	for workers := 1; workers <= 2; workers++ {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(workers)))
			stressImport(t, rng, workers, n/2, seeds, multi, generated)
		})
	}
}

// stressImport writes n files mutated from seeds (mostly from the
// multi-frame ones), imports them with `ohi serve --import-workers
// workers`, then (with two workers) imports them again, requiring the same
// outcome for every file, then imports the generated seeds unchanged on the
// same server.
func stressImport(t *testing.T, rng *rand.Rand, workers, n int, seeds, multi, generated []stressSeed) {
	dir := t.TempDir()
	hostile := filepath.Join(dir, "buckets", "stress-in", "hostile")
	want := map[string]bool{}
	for i := range n {
		s := seeds[rng.IntN(len(seeds))]
		if rng.IntN(4) != 0 {
			s = multi[rng.IntN(len(multi))]
		}
		name := fmt.Sprintf("%04d-%s.dcm", i, s.name)
		writeTestFile(t, filepath.Join(hostile, name), mutate(rng, s))
		want["hostile/"+name] = true
	}
	clean := filepath.Join(dir, "buckets", "stress-in", "clean")
	wantClean := map[string]bool{}
	for _, s := range generated {
		writeTestFile(t, filepath.Join(clean, s.name+".dcm"), s.data)
		wantClean["clean/"+s.name+".dcm"] = true
	}

	args := append([]string{"--import-workers", strconv.Itoa(workers), "--max-files-per-job", strconv.Itoa(max(5000, n+1))}, authArgs...)
	srv := startServer(t, serverOpts{DataDir: dir, Args: args})
	c := newClient(srv.Endpoint, testAK, testSecret)
	ds := createDatastore(t, c, "stress")

	start := time.Now()
	m, fail := importAndCheck(t, srv, c, ds, "hostile", want, 2*time.Minute+time.Duration(n)*60*time.Millisecond)
	t.Logf("hostile import in %s: imported %d, customer errors %d, server errors %d, image sets %d",
		time.Since(start).Round(time.Millisecond), m.NumberOfImportedFiles, m.NumberOfFilesWithCustomerError,
		m.NumberOfFilesWithServerError, m.NumberOfGeneratedImageSets)
	if m.NumberOfImportedFiles == 0 || m.NumberOfImportedFiles == n {
		t.Errorf("%d of %d mutated files imported: the mutations do not exercise both outcomes", m.NumberOfImportedFiles, n)
	}
	// The wedge's trigger: a frame that fails after others of its file
	// were handed to the codec.
	midFile := 0
	for _, l := range fail {
		if strings.Contains(l.Exception.Message, "the pixel data of frame ") && !strings.Contains(l.Exception.Message, "frame 1 ") {
			midFile++
		}
	}
	t.Logf("%d files failed on a frame after the first", midFile)
	if midFile < n/50 {
		t.Errorf("only %d of %d files failed on a frame after the first: the mutations miss the wedge's trigger", midFile, n)
	}

	if workers == 2 {
		// The same files again: each must have the same outcome, whatever
		// order its frames and the task's files finish in.
		_, again := importAndCheck(t, srv, c, ds, "hostile", want, 2*time.Minute+time.Duration(n)*60*time.Millisecond)
		failed := map[string]bool{}
		for _, l := range fail {
			failed[l.InputFile] = true
		}
		for _, l := range again {
			if !failed[l.InputFile] {
				t.Errorf("%s imported the first time, failed the second: %s", l.InputFile, l.Exception.Message)
			}
			delete(failed, l.InputFile)
		}
		for f := range failed {
			t.Errorf("%s failed the first time, imported the second", f)
		}
	}

	start = time.Now()
	m, _ = importAndCheck(t, srv, c, ds, "clean", wantClean, 2*time.Minute)
	t.Logf("clean import in %s", time.Since(start).Round(time.Millisecond))
	if m.NumberOfImportedFiles != len(wantClean) {
		t.Errorf("clean import after the hostile one: %d of %d files imported", m.NumberOfImportedFiles, len(wantClean))
	}
	if l := srv.Log.Count("import file stuck"); l > 0 {
		t.Logf("%d files failed by the watchdog", l)
	}
}

// importAndCheck imports s3://stress-in/<prefix>/ and checks that the job
// COMPLETED within limit, that every input file is listed exactly once (in
// success.ndjson or, with a reason, in failure.ndjson) and that the
// manifest's counters add up. It returns the manifest's summary.
func importAndCheck(t *testing.T, srv *serverProc, c *mi.Client, ds, prefix string, want map[string]bool, limit time.Duration) (jobSummary, []failureLine) {
	t.Helper()
	job := startImport(t, c, ds, "s3://stress-in/"+prefix+"/", "s3://stress-out/"+prefix+"/")
	p := waitJob(t, c, ds, job, limit)
	if srv.Exited() {
		t.Fatalf("the server exited during the %s import: %v", prefix, srv.waitErr)
	}
	wantCompleted(t, p, "s3://stress-out/"+prefix+"/", ds)
	out := filepath.Join(srv.DataDir, "buckets", "stress-out", prefix, ds+"-DicomImport-"+job)
	m := parseManifest(t, readFile(t, filepath.Join(out, "job-output-manifest.json")))
	succ := ndjson[successLine](t, "success.ndjson", readFile(t, filepath.Join(out, "SUCCESS", "success.ndjson")))
	fail := ndjson[failureLine](t, "failure.ndjson", readFile(t, filepath.Join(out, "FAILURE", "failure.ndjson")))
	if m.NumberOfScannedFiles != len(want) ||
		m.NumberOfImportedFiles+m.NumberOfFilesWithCustomerError+m.NumberOfFilesWithServerError != m.NumberOfScannedFiles ||
		m.NumberOfImportedFiles != len(succ) || m.NumberOfFilesWithCustomerError+m.NumberOfFilesWithServerError != len(fail) {
		t.Errorf("%s: manifest %+v does not add up: %d input files, %d success lines, %d failure lines", prefix, m, len(want), len(succ), len(fail))
	}
	seen := map[string]string{}
	note := func(key, kind string) {
		if prev, ok := seen[key]; ok {
			t.Errorf("%s is listed twice (%s and %s)", key, prev, kind)
		}
		if !want[key] {
			t.Errorf("%s line for %q, which is not an input file", kind, key)
		}
		seen[key] = kind
	}
	for _, l := range succ {
		note(l.InputFile, "success")
	}
	var serverErrors []string
	for _, l := range fail {
		note(l.InputFile, "failure")
		if l.Exception.ExceptionType == "" || l.Exception.Message == "" {
			t.Errorf("failure line for %s has no exception type or message", l.InputFile)
		}
		if l.Exception.ExceptionType == "InternalServerException" {
			serverErrors = append(serverErrors, l.InputFile+": "+l.Exception.Message)
		}
	}
	for key := range want {
		if seen[key] == "" {
			t.Errorf("input file %s is in neither success.ndjson nor failure.ndjson", key)
		}
	}
	if len(serverErrors) > 0 {
		t.Logf("%s: %d server errors:\n%s", prefix, len(serverErrors), strings.Join(serverErrors[:min(len(serverErrors), 20)], "\n"))
	}
	return m, fail
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// seedOf locates the frames of a P10 file; ok is false when it does not
// parse.
func seedOf(name string, data []byte) (stressSeed, bool) {
	inst, err := dicom.Read(bytes.NewReader(data), int64(len(data)), dicom.Options{})
	if err != nil {
		return stressSeed{}, false
	}
	defer inst.Close()
	s := stressSeed{name: name, data: data}
	if _, deflated := inst.Source.(*os.File); !deflated {
		for _, f := range inst.Frames {
			if len(f.Segments) > 0 {
				s.frames = append(s.frames, [2]int64{f.Segments[0].Offset, f.Segments[0].Length})
			}
		}
	}
	return s, true
}

// generatedSeeds are valid multi-frame files of every transfer syntax that
// synth writes or codec encodes.
func generatedSeeds(t *testing.T) []stressSeed {
	t.Helper()
	var out []stressSeed
	add := func(name string, data []byte) {
		s, ok := seedOf(name, data)
		if !ok {
			t.Fatalf("generated seed %s does not parse", name)
		}
		out = append(out, s)
	}
	for i, ts := range []string{synth.ExplicitVRLittleEndian, synth.ImplicitVRLittleEndian, synth.ExplicitVRBigEndian,
		synth.DeflatedExplicitVRLittleEndian, synth.EncapsulatedUncompressedLE, synth.HTJ2KLosslessRPCL} {
		for _, bits := range []int{8, 16} {
			g, err := synth.New(synth.Config{Rows: 24, Cols: 20, Frames: 12, Bits: bits, Signed: bits == 16, TransferSyntax: ts, Seed: int64(100 + 2*i + bits/8)})
			if err != nil {
				t.Fatal(err)
			}
			b, err := g.Instance(synth.Ref{})
			if err != nil {
				t.Fatal(err)
			}
			add(fmt.Sprintf("synth-%s-%d", ts, bits), b)
		}
	}
	// Frames re-encoded by codec (and by a PackBits writer for RLE).
	px := &codec.Pixels{Width: 20, Height: 24, Components: 1, BitsStored: 12, BytesPerSample: 2}
	var frames [][]byte
	for f := range 12 {
		d := make([]byte, 24*20*2)
		for i := range 24 * 20 {
			binary.LittleEndian.PutUint16(d[2*i:], uint16((i*7+f*131)%4096))
		}
		frames = append(frames, d)
	}
	htj2k := func(d []byte) []byte { p := *px; p.Data = d; cs, _ := codec.EncodeHTJ2K(&p); return cs }
	encode := []struct {
		ts  string
		enc func([]byte) []byte
	}{ // in a fixed order: the mutations pick seeds by index
		{"1.2.840.10008.1.2.4.90", func(d []byte) []byte { p := *px; p.Data = d; cs, _ := codec.EncodeJ2K(&p); return cs }},
		{"1.2.840.10008.1.2.4.201", htj2k},
		{"1.2.840.10008.1.2.4.203", htj2k},
		{"1.2.840.10008.1.2.5", func(d []byte) []byte { return rleFrame(d, 2) }},
	}
	for _, e := range encode {
		ts := e.ts
		var css [][]byte
		for _, d := range frames {
			cs := e.enc(d)
			if len(cs) == 0 {
				t.Fatalf("encode a %s frame failed", ts)
			}
			css = append(css, cs)
		}
		add("encoded-"+ts, multiFrameFile(t, ts, css, imageAttrs{rows: 24, cols: 20, bits: 16, stored: 12, spp: 1, photometric: "MONOCHROME2"}))
	}
	return out
}

// corpusSeeds are the small files of the installed corpora, and their
// encapsulated frames re-wrapped as twelve-frame files.
func corpusSeeds(t *testing.T) []stressSeed {
	t.Helper()
	src, err := filepath.EvalSymlinks(filepath.Join(moduleRoot, "testdata", "corpora"))
	if err != nil {
		if os.Getenv("OHI_E2E_REQUIRE_CLIENTS") != "" {
			t.Fatalf("corpora not installed: %v", err)
		}
		t.Logf("corpora not installed (%v): generated seeds only", err)
		return nil
	}
	var out []stressSeed
	for _, rel := range relFiles(t, src) {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil || len(b) > stressSeedBytes {
			continue
		}
		name := strings.NewReplacer("/", "_", ".dcm", "").Replace(rel)
		s, ok := seedOf(name, b)
		if !ok {
			out = append(out, stressSeed{name: name, data: b}) // unreadable files stay hostile input
			continue
		}
		out = append(out, s)
		if w, ok := rewrapped(t, name+"-x12", b); ok {
			out = append(out, w)
		}
	}
	return out
}

// rewrapped returns the encapsulated frames of the P10 file b cycled into
// a twelve-frame file, if b has any.
func rewrapped(t *testing.T, name string, b []byte) (stressSeed, bool) {
	inst, err := dicom.Read(bytes.NewReader(b), int64(len(b)), dicom.Options{})
	if err != nil {
		return stressSeed{}, false
	}
	defer inst.Close()
	if !inst.Encapsulated || len(inst.Frames) == 0 || inst.Rows == 0 {
		return stressSeed{}, false
	}
	var css [][]byte
	for i := range 12 {
		f := inst.Frames[i%len(inst.Frames)]
		cs := make([]byte, f.Size())
		if _, err := io.ReadFull(f.Reader(inst.Source), cs); err != nil || len(cs) == 0 {
			return stressSeed{}, false
		}
		css = append(css, cs)
	}
	a := imageAttrs{rows: inst.Rows, cols: inst.Columns, bits: inst.BitsAllocated, stored: inst.BitsStored, signed: inst.PixelRepresentation,
		spp: inst.SamplesPerPixel, planar: inst.PlanarConfiguration, photometric: inst.PhotometricInterpretation}
	return seedOf(name, multiFrameFile(t, inst.TransferSyntaxUID, css, a))
}

type imageAttrs struct {
	rows, cols, bits, stored, signed, spp, planar int
	photometric                                   string
}

var multiFrameSeq int

// multiFrameFile writes an encapsulated multi-frame P10 file.
func multiFrameFile(t *testing.T, ts string, frames [][]byte, a imageAttrs) []byte {
	t.Helper()
	multiFrameSeq++
	sop := fmt.Sprintf("1.2.826.0.1.3680043.99.12.%d", multiFrameSeq)
	fr := make([][][]byte, len(frames))
	for i, f := range frames {
		if len(f)%2 == 1 {
			f = append(f, 0)
		}
		fr[i] = [][]byte{f}
	}
	ds := synth.DataSet{
		{Tag: 0x00080016, VR: "UI", Value: synth.CTImageStorage},
		{Tag: 0x00080018, VR: "UI", Value: sop},
		{Tag: 0x00080060, VR: "CS", Value: "CT"},
		{Tag: 0x00100020, VR: "LO", Value: "STRESS"},
		{Tag: 0x0020000D, VR: "UI", Value: "1.2.826.0.1.3680043.99.12"},
		{Tag: 0x0020000E, VR: "UI", Value: sop + ".1"},
		{Tag: 0x00280002, VR: "US", Value: a.spp},
		{Tag: 0x00280004, VR: "CS", Value: a.photometric},
		{Tag: 0x00280008, VR: "IS", Value: strconv.Itoa(len(frames))},
		{Tag: 0x00280010, VR: "US", Value: a.rows},
		{Tag: 0x00280011, VR: "US", Value: a.cols},
		{Tag: 0x00280100, VR: "US", Value: a.bits},
		{Tag: 0x00280101, VR: "US", Value: a.stored},
		{Tag: 0x00280102, VR: "US", Value: max(a.stored-1, 0)},
		{Tag: 0x00280103, VR: "US", Value: a.signed},
		{Tag: 0x7FE00010, VR: "OB", Value: synth.Encapsulated{Frames: fr, BOT: true}},
	}
	if a.spp > 1 {
		ds = append(ds, synth.Element{Tag: 0x00280006, VR: "US", Value: a.planar})
	}
	var buf bytes.Buffer
	if err := synth.WriteP10(&buf, ds, synth.CTImageStorage, sop, ts, false); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rleFrame encodes little-endian samples of bps bytes as one RLE Lossless
// frame (literal runs only; PS3.5 Annex G).
func rleFrame(d []byte, bps int) []byte {
	n := len(d) / bps
	hdr := make([]byte, 64)
	binary.LittleEndian.PutUint32(hdr, uint32(bps))
	out := hdr
	for s := range bps {
		binary.LittleEndian.PutUint32(hdr[4+4*s:], uint32(len(out)))
		plane := make([]byte, n)
		for i := range n {
			plane[i] = d[i*bps+bps-1-s] // most significant byte first
		}
		for len(plane) > 0 {
			k := min(len(plane), 128)
			out = append(out, byte(k-1))
			out = append(out, plane[:k]...)
			plane = plane[k:]
		}
		if len(out)%2 == 1 {
			out = append(out, 0x80) // no-op
		}
		hdr = out[:64]
	}
	return out
}

// mutate returns a copy of s with one to three random mutations: spoiled
// frames (the start of some frames overwritten, as in the wedge's
// reproduction), flipped bytes, a smashed window, a huge or zero length
// field in the header, a truncation, a dropped or a duplicated chunk.
func mutate(rng *rand.Rand, s stressSeed) []byte {
	b := bytes.Clone(s.data)
	for range 1 + rng.IntN(3) {
		if len(b) < 8 {
			return b
		}
		switch k := rng.IntN(10); {
		case k < 3 && len(s.frames) > 0 && len(b) == len(s.data):
			for i, f := range s.frames {
				if (i == 0 && rng.IntN(2) == 0) || rng.IntN(3) == 0 {
					continue
				}
				n := min(f[1], int64(1+rng.IntN(64)))
				fill := byte(rng.IntN(256))
				for j := f[0]; j < f[0]+n && j < int64(len(b)); j++ {
					if fill == 0 {
						b[j] = byte(rng.IntN(256))
					} else {
						b[j] = fill
					}
				}
			}
		case k < 5:
			for range 1 + rng.IntN(16) {
				b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			}
		case k < 6:
			off := rng.IntN(len(b))
			for j := off; j < min(len(b), off+4+rng.IntN(252)); j++ {
				b[j] = byte(rng.IntN(256))
			}
		case k < 7:
			off := rng.IntN(min(len(b)-4, 2048))
			v := []uint32{0xFFFFFFFF, 0x7FFFFFFF, 0, 0xFFFFFFFE, uint32(len(b))}[rng.IntN(5)]
			binary.LittleEndian.PutUint32(b[off:], v)
		case k < 8:
			b = b[:rng.IntN(len(b))]
		case k < 9:
			off := rng.IntN(len(b))
			end := min(len(b), off+1+rng.IntN(512))
			b = append(b[:off:off], b[end:]...)
		default:
			off := rng.IntN(len(b))
			end := min(len(b), off+1+rng.IntN(4096))
			at := rng.IntN(len(b))
			chunk := bytes.Clone(b[off:end])
			b = append(b[:at:at], append(chunk, b[at:]...)...)
		}
	}
	return b
}
