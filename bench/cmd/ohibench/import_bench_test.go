package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"

	"github.com/openhealthimaging/ohi/internal/app"
	"github.com/openhealthimaging/ohi/synth"
)

// BenchmarkImport runs an import job through an in-process server, to
// profile the import path: each iteration imports the series into a fresh
// data directory. The input is OHI_BENCH_IMPORT_DIR (a directory of .dcm
// files, for example .cache/bench/ct-1000x512x512-seed1 or the big file of
// bench/bigfile.sh), else 50 generated 512x512 CT instances. With
// OHI_BENCH_HEAP_PROFILE=FILE it also writes the in-use heap profile taken
// when the live heap was largest (sampled every 250 ms after a GC).
//
//	OHI_BENCH_IMPORT_DIR=.cache/bench/ct-1000x512x512-seed1 go test -run '^$' -bench Import -benchtime 1x -cpuprofile cpu.out ./bench/cmd/ohibench
//	go tool pprof -top -cum cpu.out
func BenchmarkImport(b *testing.B) {
	src := os.Getenv("OHI_BENCH_IMPORT_DIR")
	if src == "" {
		src = synthCT(b, 50)
	}
	files, _, err := dicomFiles(src)
	if err != nil {
		b.Fatal(err)
	}
	pixels, _, err := pixelBytes(files)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(pixels)
	var heap *heapPeak
	if p := os.Getenv("OHI_BENCH_HEAP_PROFILE"); p != "" {
		heap = startHeapPeak(p)
		defer heap.stop(b)
	}
	for b.Loop() {
		b.StopTimer()
		c, ds, stop := newBenchServer(b, src, files)
		b.StartTimer()
		benchImportJob(b, c, ds)
		b.StopTimer()
		stop()
		b.StartTimer()
	}
}

// newBenchServer starts an in-process server on a fresh data directory
// whose s3://bench-in/in/ holds hard links to files (under src), creates
// an ACTIVE data store and returns a client, the data store id and a
// function that stops the server.
func newBenchServer(tb testing.TB, src string, files []string) (*mi.Client, string, func()) {
	ctx := context.Background()
	dir := tb.TempDir()
	in := filepath.Join(dir, "buckets", "bench-in", "in")
	for _, f := range files {
		rel, _ := filepath.Rel(src, f)
		dst := filepath.Join(in, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.Link(f, dst); err != nil {
			tb.Fatal(err)
		}
	}
	a, err := app.New(ctx, app.Config{DataDir: dir, Credentials: map[string]string{"bench": "bench-secret"},
		JobPoll: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	stop := func() {
		srv.Close()
		if err := a.Close(); err != nil {
			tb.Error(err)
		}
	}
	c := newClient(srv.URL, "bench", "bench-secret")
	cd, err := c.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String("bench")})
	if err != nil {
		stop()
		tb.Fatal(err)
	}
	for {
		g, err := c.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: cd.DatastoreId})
		if err != nil {
			stop()
			tb.Fatal(err)
		}
		if g.DatastoreProperties.DatastoreStatus == types.DatastoreStatusActive {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c, *cd.DatastoreId, stop
}

// benchImportJob imports s3://bench-in/in/ and waits for COMPLETED.
func benchImportJob(tb testing.TB, c *mi.Client, ds string) {
	ctx := context.Background()
	job, err := c.StartDICOMImportJob(ctx, &mi.StartDICOMImportJobInput{DatastoreId: &ds,
		DataAccessRoleArn: aws.String("arn:aws:iam::123456789012:role/ImportRole"),
		InputS3Uri:        aws.String("s3://bench-in/in/"), OutputS3Uri: aws.String("s3://bench-out/jobs/")})
	if err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Minute)
	for {
		g, err := c.GetDICOMImportJob(ctx, &mi.GetDICOMImportJobInput{DatastoreId: &ds, JobId: job.JobId})
		if err != nil {
			tb.Fatal(err)
		}
		if s := g.JobProperties.JobStatus; s == types.JobStatusCompleted {
			return
		} else if s == types.JobStatusFailed || time.Now().After(deadline) {
			tb.Fatalf("job %s: %s", s, aws.ToString(g.JobProperties.Message))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkGetImageFrame fetches the frames of 20 imported 512x512 CT
// instances round-robin through an in-process server with the Go SDK; to
// see the server's share of a profile, focus on net/http.(*conn).serve:
//
//	go test -run '^$' -bench GetImageFrame -cpuprofile cpu.out ./bench/cmd/ohibench
//	go tool pprof -top -cum -focus 'net/http.\(\*conn\).serve' cpu.out
func BenchmarkGetImageFrame(b *testing.B) {
	src := synthCT(b, 20)
	files, _, err := dicomFiles(src)
	if err != nil {
		b.Fatal(err)
	}
	c, ds, stop := newBenchServer(b, src, files)
	defer stop()
	benchImportJob(b, c, ds)
	ctx := context.Background()
	frames, err := listFrames(ctx, c, ds)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	i := 0
	for b.Loop() {
		f := frames[i%len(frames)]
		i++
		out, err := c.GetImageFrame(ctx, &mi.GetImageFrameInput{DatastoreId: &ds, ImageSetId: &f.imageSet,
			ImageFrameInformation: &types.ImageFrameInformation{ImageFrameId: &f.id}})
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		_, err = buf.ReadFrom(out.ImageFrameBlob)
		out.ImageFrameBlob.Close()
		if err != nil || int64(buf.Len()) != f.size {
			b.Fatalf("frame %s: %d bytes, %v", f.id, buf.Len(), err)
		}
	}
}

// heapPeak keeps the in-use heap profile of the moment the live heap (as
// of the last GC) was largest.
type heapPeak struct {
	path string
	done chan struct{}
	quit chan struct{}
	max  uint64
	prof []byte
}

func startHeapPeak(path string) *heapPeak {
	h := &heapPeak{path: path, done: make(chan struct{}), quit: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		var lastGC uint32
		for {
			select {
			case <-h.quit:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.NumGC == lastGC || ms.HeapAlloc <= h.max {
				continue
			}
			lastGC = ms.NumGC
			h.max = ms.HeapAlloc
			var buf strings.Builder
			if err := pprof.Lookup("heap").WriteTo(&buf, 0); err == nil {
				h.prof = []byte(buf.String())
			}
		}
	}()
	return h
}

func (h *heapPeak) stop(b *testing.B) {
	close(h.quit)
	<-h.done
	b.Logf("largest heap sampled: %.0f MB; profile in %s", float64(h.max)/1e6, h.path)
	if err := os.WriteFile(h.path, h.prof, fs.FileMode(0o644)); err != nil {
		b.Error(err)
	}
}

// synthCT generates n 512x512 16-bit CT instances in a temporary directory.
func synthCT(tb testing.TB, n int) string {
	dir := tb.TempDir()
	g, err := synth.New(synth.Config{Instances: n, Rows: 512, Cols: 512, Bits: 16, Seed: 5})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := g.Generate(dir); err != nil {
		tb.Fatal(err)
	}
	return dir
}
