package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"

	"github.com/openhealthimaging/ohi/codec"
)

// fetchFunc fetches frame i of a list into buf (reset first) and checks it.
type fetchFunc func(ctx context.Context, i int, buf *bytes.Buffer) error

// frameRun is the outcome of one timed pass over the frames.
type frameRun struct {
	requests  int
	bytes     int64
	wall      time.Duration
	lat       []time.Duration
	serverCPU time.Duration // -1 when unknown
	clientCPU time.Duration // this process: every client of the run
}

func (r *frameRun) fps() float64  { return float64(r.requests) / r.wall.Seconds() }
func (r *frameRun) mbps() float64 { return float64(r.bytes) / 1e6 / r.wall.Seconds() }

// timeFrames fetches every one of nframes frames passes times with one
// fetchFunc per client (len(clients) goroutines sharing the work in frame
// order), after warmup untimed requests on the first client. With pid > 0
// it also measures the CPU time that process (the server) used.
func timeFrames(ctx context.Context, clients []fetchFunc, nframes, passes, warmup, pid int) (*frameRun, error) {
	var buf bytes.Buffer
	for i := range min(warmup, nframes) {
		if err := clients[0](ctx, i, &buf); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	total := nframes * passes
	var next atomic.Int64
	lats := make([][]time.Duration, len(clients))
	sizes := make([]int64, len(clients))
	errs := make([]error, len(clients))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	serverBefore := time.Duration(-1)
	if pid > 0 {
		var err error
		if serverBefore, err = procCPU(pid); err != nil {
			return nil, err
		}
	}
	clientBefore := selfCPU()
	start := time.Now()
	for c, fetch := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			lat := make([]time.Duration, 0, total/len(clients)+1)
			for {
				k := int(next.Add(1)) - 1
				if k >= total {
					break
				}
				t0 := time.Now()
				if err := fetch(ctx, k%nframes, &buf); err != nil {
					errs[c] = fmt.Errorf("frame %d: %w", k%nframes, err)
					cancel()
					return
				}
				lat = append(lat, time.Since(t0))
				sizes[c] += int64(buf.Len())
			}
			lats[c] = lat
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r := &frameRun{requests: total, wall: wall, lat: slices.Concat(lats...), serverCPU: -1, clientCPU: selfCPU() - clientBefore}
	if pid > 0 {
		after, err := procCPU(pid)
		if err != nil {
			return nil, err
		}
		r.serverCPU = after - serverBefore
	}
	for _, s := range sizes {
		r.bytes += s
	}
	return r, nil
}

// frameReport prints one run and records its figures under prefix.
func frameReport(r *results, prefix, label string, run *frameRun) {
	p50, p99 := percentile(run.lat, 50), percentile(run.lat, 99)
	perFrame := func(d time.Duration) string {
		if d < 0 {
			return "n/a"
		}
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond)/float64(run.requests), 'f', 3, 64)
	}
	fmt.Printf("  %-40s %7d %8s %8s %9.1f %8.1f %9.1f %10s %10s\n", label, run.requests, msec(p50), msec(p99),
		run.fps(), run.mbps(), float64(run.bytes)/float64(run.requests)/1e3, perFrame(run.serverCPU), perFrame(run.clientCPU))
	r.set(prefix+"_SERVER_CPU_MS", "%s", perFrame(run.serverCPU))
	r.set(prefix+"_CLIENT_CPU_MS", "%s", perFrame(run.clientCPU))
	r.set(prefix+"_P50_MS", "%s", msec(p50))
	r.set(prefix+"_P99_MS", "%s", msec(p99))
	r.set(prefix+"_FPS", "%.1f", run.fps())
	r.set(prefix+"_MBPS", "%.1f", run.mbps())
	r.set(prefix+"_KB", "%.1f", float64(run.bytes)/float64(run.requests)/1e3)
	r.set(prefix+"_N", "%d", run.requests)
}

func frameHeader() {
	fmt.Printf("  %-40s %7s %8s %8s %9s %8s %9s %10s %10s\n", "", "frames", "p50 ms", "p99 ms", "frames/s", "MB/s", "KB/frame",
		"srv CPU ms", "cli CPU ms")
}

// ohiFrame is one image frame of an image set.
type ohiFrame struct {
	imageSet, id string
	size         int64
}

// runFrames times GetImageFrame on every frame of a data store: -n
// sequential passes on one keep-alive connection, then -n passes shared by
// -clients concurrent clients, then (with -decode) one sequential pass that
// also decodes each HTJ2K frame to pixels in the client.
func runFrames(args []string) error {
	fl := flag.NewFlagSet("frames", flag.ExitOnError)
	endpoint := fl.String("endpoint", "", "ohi endpoint URL")
	ak := fl.String("access-key", "bench", "access key id")
	sk := fl.String("secret", "bench-secret", "secret access key")
	ds := fl.String("datastore", "", "data store id")
	n := fl.Int("n", 3, "times each frame is fetched, sequentially and again concurrently")
	clients := fl.Int("clients", 2, "concurrent clients for the frames/s figure")
	pid := fl.Int("pid", 0, "server process id, for its CPU time per frame")
	warmup := fl.Int("warmup", 20, "untimed requests first")
	decode := fl.Bool("decode", true, "add a sequential pass that decodes every fetched frame in the client")
	timeout := fl.Duration("timeout", 5*time.Minute, "give up after this long")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	_ = fl.Parse(args)
	if *endpoint == "" || *ds == "" || *n < 1 || *clients < 1 {
		return errors.New("-endpoint, -datastore, -n >= 1 and -clients >= 1 are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := newClient(*endpoint, *ak, *sk)
	frames, err := listFrames(ctx, c, *ds)
	if err != nil {
		return err
	}
	newFetch := func(decode bool) fetchFunc {
		c := newClient(*endpoint, *ak, *sk) // its own keep-alive connection
		return func(ctx context.Context, i int, buf *bytes.Buffer) error {
			f := frames[i]
			out, err := c.GetImageFrame(ctx, &mi.GetImageFrameInput{DatastoreId: ds, ImageSetId: &f.imageSet,
				ImageFrameInformation: &types.ImageFrameInformation{ImageFrameId: &f.id}})
			if err != nil {
				return err
			}
			buf.Reset()
			_, err = buf.ReadFrom(out.ImageFrameBlob)
			out.ImageFrameBlob.Close()
			if err != nil {
				return err
			}
			b := buf.Bytes()
			if ct := aws.ToString(out.ContentType); ct != "image/jph" {
				return fmt.Errorf("Content-Type %q, want image/jph", ct)
			}
			if int64(len(b)) != f.size || !bytes.HasPrefix(b, []byte{0xFF, 0x4F, 0xFF, 0x51}) {
				return fmt.Errorf("got %d bytes (want %d) starting % x, not an HTJ2K codestream", len(b), f.size, b[:min(4, len(b))])
			}
			if decode {
				if _, err := codec.DecodeHTJ2K(b, 0); err != nil {
					return err
				}
			}
			return nil
		}
	}

	var r results
	fmt.Printf("ohi GetImageFrame: %d frames in %d image sets, Go SDK (SigV4, keep-alive, no host prefix)\n",
		len(frames), countSets(frames))
	frameHeader()
	seq, err := timeFrames(ctx, []fetchFunc{newFetch(false)}, len(frames), *n, *warmup, *pid)
	if err != nil {
		return err
	}
	frameReport(&r, "OHI_FRAMES_SEQ", "1 client, sequential", seq)
	var cs []fetchFunc
	for range *clients {
		cs = append(cs, newFetch(false))
	}
	par, err := timeFrames(ctx, cs, len(frames), *n, *warmup, *pid)
	if err != nil {
		return err
	}
	frameReport(&r, "OHI_FRAMES_PAR", fmt.Sprintf("%d concurrent clients", *clients), par)
	if *decode {
		dec, err := timeFrames(ctx, []fetchFunc{newFetch(true)}, len(frames), 1, *warmup, *pid)
		if err != nil {
			return err
		}
		frameReport(&r, "OHI_FRAMES_DEC", "1 client, sequential, + HTJ2K decode", dec)
	}
	r.set("OHI_FRAMES_COUNT", "%d", len(frames))
	r.set("OHI_FRAMES_CLIENTS", "%d", *clients)
	return r.write(*result)
}

func countSets(frames []ohiFrame) int {
	sets := map[string]bool{}
	for _, f := range frames {
		sets[f.imageSet] = true
	}
	return len(sets)
}

// listFrames returns every image frame of a data store, image set by image
// set and, within one, by SOP Instance UID and frame order.
func listFrames(ctx context.Context, c *mi.Client, ds string) ([]ohiFrame, error) {
	var sets []string
	if err := eachImageSet(ctx, c, ds, func(is types.ImageSetsMetadataSummary) {
		sets = append(sets, aws.ToString(is.ImageSetId))
	}); err != nil {
		return nil, err
	}
	var frames []ohiFrame
	for _, id := range sets {
		out, err := c.GetImageSetMetadata(ctx, &mi.GetImageSetMetadataInput{DatastoreId: &ds, ImageSetId: &id})
		if err != nil {
			return nil, fmt.Errorf("GetImageSetMetadata %s: %w", id, err)
		}
		doc, err := readMetadata(out.ImageSetMetadataBlob)
		out.ImageSetMetadataBlob.Close()
		if err != nil {
			return nil, fmt.Errorf("metadata of %s: %w", id, err)
		}
		for _, s := range doc.Study.Series {
			for _, sop := range slices.Sorted(maps.Keys(s.Instances)) {
				for _, f := range s.Instances[sop].ImageFrames {
					frames = append(frames, ohiFrame{imageSet: id, id: f.ID, size: f.FrameSizeInBytes})
				}
			}
		}
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("data store %s has no image frames", ds)
	}
	return frames, nil
}

// metadataDoc is the part of an image set metadata document listFrames uses.
type metadataDoc struct {
	Study struct {
		Series map[string]struct {
			Instances map[string]struct {
				StoredTransferSyntaxUID string
				ImageFrames             []struct {
					ID               string
					FrameSizeInBytes int64
				}
			}
		}
	}
}

// readMetadata decodes a metadata document, gunzipping it unless the HTTP
// client already did.
func readMetadata(body io.Reader) (*metadataDoc, error) {
	b, err := io.ReadAll(io.LimitReader(body, 1<<30))
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		if b, err = io.ReadAll(io.LimitReader(zr, 1<<30)); err != nil {
			return nil, err
		}
	}
	var doc metadataDoc
	return &doc, json.Unmarshal(b, &doc)
}

// runOrthancFrames times GET /instances/{id}/frames/0/raw on every instance
// of an Orthanc server the same way runFrames times ohi.
func runOrthancFrames(args []string) error {
	fl := flag.NewFlagSet("orthanc-frames", flag.ExitOnError)
	base := fl.String("url", "", "Orthanc base URL")
	n := fl.Int("n", 3, "times each frame is fetched, sequentially and again concurrently")
	clients := fl.Int("clients", 2, "concurrent clients for the frames/s figure")
	pid := fl.Int("pid", 0, "server process id, for its CPU time per frame")
	warmup := fl.Int("warmup", 20, "untimed requests first")
	frameBytes := fl.Int64("frame-bytes", 0, "expected size of every frame (0: any)")
	timeout := fl.Duration("timeout", 5*time.Minute, "give up after this long")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	_ = fl.Parse(args)
	if *base == "" || *n < 1 || *clients < 1 {
		return errors.New("-url, -n >= 1 and -clients >= 1 are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var ids []string
	if err := getJSON(ctx, orthancClient(), *base+"/instances", &ids); err != nil {
		return err
	}
	if len(ids) == 0 {
		return errors.New("Orthanc holds no instances")
	}
	slices.Sort(ids)
	newFetch := func() fetchFunc {
		hc := orthancClient()
		return func(ctx context.Context, i int, buf *bytes.Buffer) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, *base+"/instances/"+ids[i]+"/frames/0/raw", nil)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			buf.Reset()
			if _, err := buf.ReadFrom(io.LimitReader(resp.Body, 1<<30)); err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET frame of %s: %s", ids[i], resp.Status)
			}
			if *frameBytes > 0 && int64(buf.Len()) != *frameBytes {
				return fmt.Errorf("frame of %s has %d bytes, want %d", ids[i], buf.Len(), *frameBytes)
			}
			return nil
		}
	}
	var r results
	fmt.Printf("Orthanc GET /instances/{id}/frames/0/raw: %d instances, net/http keep-alive\n", len(ids))
	frameHeader()
	seq, err := timeFrames(ctx, []fetchFunc{newFetch()}, len(ids), *n, *warmup, *pid)
	if err != nil {
		return err
	}
	frameReport(&r, "ORTHANC_FRAMES_SEQ", "1 client, sequential", seq)
	var cs []fetchFunc
	for range *clients {
		cs = append(cs, newFetch())
	}
	par, err := timeFrames(ctx, cs, len(ids), *n, *warmup, *pid)
	if err != nil {
		return err
	}
	frameReport(&r, "ORTHANC_FRAMES_PAR", fmt.Sprintf("%d concurrent clients", *clients), par)
	r.set("ORTHANC_FRAMES_COUNT", "%d", len(ids))
	return r.write(*result)
}

// selfCPU returns the user plus system CPU time of this process so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
