package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/dicom"
)

// pixelBytes returns the decoded size of the pixel data of the files
// (Rows x Columns x SamplesPerPixel x BitsAllocated/8 per frame, 1-bit
// frames counted as one byte a pixel, the way package codec decodes them)
// and their number of frames. It reads the headers only.
func pixelBytes(files []string) (total int64, frames int, err error) {
	for _, p := range files {
		err := withInstance(p, func(inst *dicom.Instance) error {
			total += int64(len(inst.Frames)) * decodedFrameBytes(inst)
			frames += len(inst.Frames)
			return nil
		})
		if err != nil {
			return 0, 0, err
		}
	}
	return total, frames, nil
}

func decodedFrameBytes(inst *dicom.Instance) int64 {
	bps := int64(max(1, (inst.BitsAllocated+7)/8))
	if bps == 3 {
		bps = 4
	}
	return int64(inst.Rows) * int64(inst.Columns) * int64(max(1, inst.SamplesPerPixel)) * bps
}

// withInstance reads the file at p with package dicom and calls fn.
func withInstance(p string, fn func(*dicom.Instance) error) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	inst, err := dicom.Read(f, st.Size(), dicom.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer inst.Close()
	return fn(inst)
}

// sampleFrame is one decoded frame of the sample.
type sampleFrame struct {
	name  string
	raw   []byte // the frame as stored in the file
	ts    string
	img   codec.Image
	px    *codec.Pixels
	prec  int
	steps int
}

// stepTimes is the CPU time of each per-frame step over a set of frames:
// decoding the input, codec.Transcode (encode, verifying decode, checksums,
// min/max) and, measured separately, codec.EncodeHTJ2K alone.
type stepTimes struct{ decode, transcode, encode time.Duration }

// total is the importer's codec work: decode and Transcode.
func (s stepTimes) total() time.Duration { return s.decode + s.transcode }

// codecPass runs the importer's per-frame codec steps on frames, split
// over jobs goroutines, one step at a time for every frame: decode, then
// Transcode, then EncodeHTJ2K alone. Each step is timed with the CPU time of
// the whole process (getrusage(RUSAGE_SELF)), which also counts the Go
// runtime's own work (garbage collection, the scheduler's monitor thread)
// as the import's CPU time does. It returns the times and the total
// codestream size.
func codecPass(frames []*sampleFrame, jobs int) (times stepTimes, size int64, err error) {
	pxs := make([]*codec.Pixels, len(frames))
	sizes := make([]int64, len(frames))
	step := func(fn func(i int) error) (time.Duration, error) {
		t0 := processCPU()
		var wg sync.WaitGroup
		errs := make([]error, jobs)
		for j := range jobs {
			wg.Go(func() {
				for i := j; i < len(frames) && errs[j] == nil; i += jobs {
					if err := fn(i); err != nil {
						errs[j] = fmt.Errorf("%s: %w", frames[i].name, err)
					}
				}
			})
		}
		wg.Wait()
		return processCPU() - t0, errors.Join(errs...)
	}
	if times.decode, err = step(func(i int) (err error) {
		f := frames[i]
		pxs[i], err = codec.Decode(f.raw, f.ts, f.img)
		return err
	}); err != nil {
		return stepTimes{}, 0, err
	}
	if times.transcode, err = step(func(i int) error {
		st, err := codec.Transcode(pxs[i], codec.FormatHTJ2K)
		if err == nil {
			sizes[i] = int64(len(st.Codestream))
		}
		return err
	}); err != nil {
		return stepTimes{}, 0, err
	}
	if times.encode, err = step(func(i int) error {
		_, err := codec.EncodeHTJ2K(pxs[i])
		return err
	}); err != nil {
		return stepTimes{}, 0, err
	}
	for _, n := range sizes {
		size += n
	}
	return times, size, nil
}

// ojphPass encodes frames[i] from wd/fNNNN.pgm with ojph_compress and
// returns the sum of its reported times and the codestream sizes.
func ojphPass(bin, wd string, frames []*sampleFrame, first int) (elapsed time.Duration, size int64, err error) {
	for i, f := range frames {
		pgm := filepath.Join(wd, fmt.Sprintf("f%04d.pgm", first+i))
		j2c := filepath.Join(wd, fmt.Sprintf("f%04d.j2c", first+i))
		d, err := ojphCompress(bin, pgm, j2c, f.steps)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", f.name, err)
		}
		elapsed += d
		st, err := os.Stat(j2c)
		if err != nil {
			return 0, 0, err
		}
		size += st.Size()
	}
	return elapsed, size, nil
}

// inParallel splits frames into jobs contiguous shares, runs fn on each
// share concurrently and adds up the results.
func inParallel[T any](frames []*sampleFrame, jobs int, fn func(share []*sampleFrame, first int) (T, int64, error), add func(*T, T)) (T, int64, error) {
	var sum T
	var size int64
	type out struct {
		t   T
		n   int64
		err error
	}
	outs := make([]out, jobs)
	done := make(chan struct{})
	for j := range jobs {
		lo, hi := j*len(frames)/jobs, (j+1)*len(frames)/jobs
		go func() {
			defer func() { done <- struct{}{} }()
			t, n, err := fn(frames[lo:hi], lo)
			outs[j] = out{t, n, err}
		}()
	}
	for range jobs {
		<-done
	}
	for _, o := range outs {
		if o.err != nil {
			return sum, 0, o.err
		}
		add(&sum, o.t)
		size += o.n
	}
	return sum, size, nil
}

// median returns the median of the values by key.
func median[T any](v []T, key func(T) time.Duration) T {
	sort.Slice(v, func(i, j int) bool { return key(v[i]) < key(v[j]) })
	return v[len(v)/2]
}

// runPixels measures, on -sample frames spread evenly over the files under
// -dir, what package codec costs per frame (decode, HTJ2K encode,
// verifying decode with checksums, min/max: the importer's per-frame
// pipeline without I/O) and, with -ojph, what OpenJPH's ojph_compress costs
// to encode the same frames from PGM files with the same coding parameters
// (its own "Elapsed time", file I/O included). Both are CPU times:
// ojph_compress's "Elapsed time" comes from clock() (a busy loop on the
// same core does not lengthen it), and package codec is timed with the CPU
// time of this process. Each is measured on one thread, and again with
// -jobs threads (processes for ojph_compress) at once, as the importer runs
// one file per CPU.
func runPixels(args []string) error {
	fl := flag.NewFlagSet("pixels", flag.ExitOnError)
	dir := fl.String("dir", "", "directory of .dcm files")
	sample := fl.Int("sample", 50, "frames to sample")
	passes := fl.Int("passes", 3, "passes over the sample; the median pass is reported")
	jobs := fl.Int("jobs", runtime.NumCPU(), "threads at once for the second measurement (1: skip it)")
	ojph := fl.String("ojph", "", "path of ojph_compress (empty: skip OpenJPH)")
	work := fl.String("work", "", "directory for the PGM and codestream files (default: a temporary one)")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	_ = fl.Parse(args)
	if *dir == "" || *sample < 1 || *passes < 1 || *jobs < 1 {
		return errors.New("-dir, -sample >= 1, -passes >= 1 and -jobs >= 1 are required")
	}
	files, _, err := dicomFiles(*dir)
	if err != nil {
		return err
	}
	frames, err := loadSample(files, *sample)
	if err != nil {
		return err
	}
	var raw int64
	for _, f := range frames {
		raw += int64(len(f.px.Data))
	}
	mbps := func(d time.Duration) float64 { return float64(raw) / 1e6 / d.Seconds() }
	n := float64(len(frames))
	ms := func(d time.Duration) string { return msec(time.Duration(float64(d) / n)) }
	var r results
	fmt.Printf("sample: %d frames, %.1f MB of pixels, %d passes (median reported), CPU time per frame\n", len(frames), float64(raw)/1e6, *passes)
	fmt.Printf("  %-52s %9s %9s\n", "", "ms/frame", "MB/s")

	var runs []stepTimes
	var ours int64
	for range *passes {
		st, size, err := codecPass(frames, 1)
		if err != nil {
			return err
		}
		runs, ours = append(runs, st), size
	}
	med := median(runs, stepTimes.total)
	fmt.Printf("  %-52s %9s %9.1f\n", "codec.Decode (native), 1 thread", ms(med.decode), mbps(med.decode))
	fmt.Printf("  %-52s %9s %9.1f\n", "codec.EncodeHTJ2K alone, 1 thread", ms(med.encode), mbps(med.encode))
	fmt.Printf("  %-52s %9s %9.1f\n", "codec.Transcode (encode+verify+checksums+min/max)", ms(med.transcode), mbps(med.transcode))
	fmt.Printf("  %-52s %9s %9.1f\n", "decode + Transcode (the importer's codec work)", ms(med.total()), mbps(med.total()))
	r.set("CODEC_SAMPLE_FRAMES", "%d", len(frames))
	r.set("CODEC_DECODE_MBPS", "%.1f", mbps(med.decode))
	r.set("CODEC_ENCODE_MBPS", "%.1f", mbps(med.encode))
	r.set("CODEC_TRANSCODE_MBPS", "%.1f", mbps(med.transcode))
	r.set("CODEC_PIPELINE_MBPS", "%.1f", mbps(med.total()))
	r.set("CODEC_HTJ2K_KB", "%.1f", float64(ours)/n/1e3)
	if *jobs > 1 {
		var par []stepTimes
		for range *passes {
			st, _, err := codecPass(frames, *jobs)
			if err != nil {
				return err
			}
			par = append(par, st)
		}
		pm := median(par, stepTimes.total)
		fmt.Printf("  %-52s %9s %9.1f\n", fmt.Sprintf("codec.EncodeHTJ2K, %d threads at once", *jobs), ms(pm.encode), mbps(pm.encode))
		fmt.Printf("  %-52s %9s %9.1f\n", fmt.Sprintf("decode + Transcode, %d threads at once", *jobs), ms(pm.total()), mbps(pm.total()))
		r.set("CODEC_ENCODE_MBPS_PAR", "%.1f", mbps(pm.encode))
		r.set("CODEC_PIPELINE_MBPS_PAR", "%.1f", mbps(pm.total()))
	}

	if *ojph != "" {
		wd := *work
		if wd == "" {
			if wd, err = os.MkdirTemp("", "ohibench-pgm-"); err != nil {
				return err
			}
			defer os.RemoveAll(wd)
		}
		for i, f := range frames {
			if err := writePGM(filepath.Join(wd, fmt.Sprintf("f%04d.pgm", i)), f.px, f.prec); err != nil {
				return err
			}
		}
		id := func(d time.Duration) time.Duration { return d }
		addDur := func(a *time.Duration, b time.Duration) { *a += b }
		var seq, par []time.Duration
		var theirs int64
		for range *passes {
			d, size, err := ojphPass(*ojph, wd, frames, 0)
			if err != nil {
				return err
			}
			seq, theirs = append(seq, d), size
			if *jobs > 1 {
				d, _, err := inParallel(frames, *jobs, func(share []*sampleFrame, first int) (time.Duration, int64, error) {
					return ojphPass(*ojph, wd, share, first)
				}, addDur)
				if err != nil {
					return err
				}
				par = append(par, d)
			}
		}
		d := median(seq, id)
		fmt.Printf("  %-52s %9s %9.1f\n", "ojph_compress (PGM in, .j2c out), 1 process", ms(d), mbps(d))
		r.set("OJPH_ENCODE_MBPS", "%.1f", mbps(d))
		r.set("OJPH_HTJ2K_KB", "%.1f", float64(theirs)/n/1e3)
		if *jobs > 1 {
			pd := median(par, id)
			fmt.Printf("  %-52s %9s %9.1f\n", fmt.Sprintf("ojph_compress, %d processes at once", *jobs), ms(pd), mbps(pd))
			r.set("OJPH_ENCODE_MBPS_PAR", "%.1f", mbps(pd))
		}
		fmt.Printf("  HTJ2K size: codec %.1f KB a frame (%.2f:1, with its TLM segment), ojph_compress %.1f KB (%+.2f%%)\n",
			float64(ours)/n/1e3, float64(raw)/float64(ours), float64(theirs)/n/1e3, 100*(float64(ours)-float64(theirs))/float64(theirs))
		fmt.Printf("  ratio codec.EncodeHTJ2K / ojph_compress, 1 thread: %.2f\n", mbps(med.encode)/mbps(d))
	} else {
		fmt.Printf("  HTJ2K size: %.1f KB a frame (%.2f:1)\n", float64(ours)/n/1e3, float64(raw)/float64(ours))
	}
	return r.write(*result)
}

// loadSample reads n frames spread evenly over every frame of the files.
func loadSample(files []string, n int) ([]*sampleFrame, error) {
	_, count, err := pixelBytes(files)
	if err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, errors.New("the files hold no frames")
	}
	n = min(n, count)
	want := map[int]bool{}
	for i := range n {
		want[i*count/n] = true
	}
	var out []*sampleFrame
	k := 0
	for _, p := range files {
		err := withInstance(p, func(inst *dicom.Instance) error {
			for fi, fr := range inst.Frames {
				if !want[k] {
					k++
					continue
				}
				k++
				raw, err := io.ReadAll(io.LimitReader(fr.Reader(inst.Source), codec.MaxFrameBytes))
				if err != nil {
					return err
				}
				img := codec.Image{Rows: inst.Rows, Columns: inst.Columns, SamplesPerPixel: inst.SamplesPerPixel,
					BitsAllocated: inst.BitsAllocated, BitsStored: inst.BitsStored, PixelRepresentation: inst.PixelRepresentation,
					PlanarConfiguration: inst.PlanarConfiguration, Photometric: inst.PhotometricInterpretation, BitOffset: fr.BitOffset}
				px, err := codec.Decode(raw, inst.TransferSyntaxUID, img)
				if err != nil {
					return fmt.Errorf("%s frame %d: %w", p, fi+1, err)
				}
				if px.Components != 1 || px.Signed || px.BytesPerSample > 2 {
					return fmt.Errorf("%s: only unsigned 8 or 16-bit grey frames can be written as PGM", p)
				}
				cs, err := codec.EncodeHTJ2K(px)
				if err != nil {
					return err
				}
				prec, err := sizPrecision(cs)
				if err != nil {
					return err
				}
				out = append(out, &sampleFrame{name: fmt.Sprintf("%s frame %d", filepath.Base(p), fi+1), raw: raw,
					ts: inst.TransferSyntaxUID, img: img, px: px, prec: prec, steps: decompositions(px.Width, px.Height)})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sizPrecision returns the bit depth of component 0 in the SIZ marker
// segment that follows SOC in a codestream.
func sizPrecision(cs []byte) (int, error) {
	// SOC(2) SIZ(2) Lsiz(2) Rsiz(2) 8 x 32-bit sizes, Csiz(2), then Ssiz.
	if len(cs) < 43 || cs[2] != 0xFF || cs[3] != 0x51 {
		return 0, errors.New("codestream does not start with SOC SIZ")
	}
	return int(cs[42]&0x7F) + 1, nil
}

// decompositions mirrors package codec's rule: the lowest resolution is at
// most 64 pixels wide and high.
func decompositions(w, h int) int {
	d := 0
	for n := max(w, h); n > 64 && d < 32; n = (n + 1) / 2 {
		d++
	}
	return d
}

// writePGM writes unsigned grey pixels as a binary PGM whose maxval gives
// OpenJPH the same precision as package codec chose.
func writePGM(path string, p *codec.Pixels, prec int) error {
	b := fmt.Appendf(nil, "P5\n%d %d\n%d\n", p.Width, p.Height, 1<<prec-1)
	if p.BytesPerSample == 1 && prec <= 8 {
		b = append(b, p.Data...)
	} else {
		for i := 0; i < len(p.Data); i += p.BytesPerSample {
			v := uint16(p.Data[i])
			if p.BytesPerSample == 2 {
				v = binary.LittleEndian.Uint16(p.Data[i:])
			}
			b = binary.BigEndian.AppendUint16(b, v)
		}
	}
	return os.WriteFile(path, b, 0o644)
}

var elapsedRE = regexp.MustCompile(`[Ee]lapsed time = ([0-9.eE+-]+)`)

// ojphCompress runs ojph_compress with package codec's coding parameters
// and returns the time it reports.
func ojphCompress(bin, in, out string, decomps int) (time.Duration, error) {
	cmd := exec.Command(bin, "-i", in, "-o", out, "-reversible", "true", "-prog_order", "RPCL",
		"-num_decomps", strconv.Itoa(decomps), "-block_size", "{64,64}")
	b, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s", bin, err, b)
	}
	m := elapsedRE.FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("%s printed no elapsed time: %s", bin, b)
	}
	s, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(s * float64(time.Second)), nil
}

// processCPU returns the CPU time of the process: getrusage(RUSAGE_SELF).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
