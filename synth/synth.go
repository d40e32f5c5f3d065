// Package synth generates synthetic DICOM Part-10 studies for demos, tests
// and benchmarks: CT and MR series of a plausible phantom (body outline,
// lungs, spine, noise) with configurable size, bit depth, frame count and
// study/series/instance counts. Output is deterministic for a given seed and
// contains no third-party data.
//
// The package has its own small Part-10 writer (WriteP10, Marshal): explicit
// and implicit VR little endian, explicit VR big endian, deflated, defined or
// undefined lengths, and encapsulated pixel data with a Basic Offset Table.
package synth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Config describes what to generate.
type Config struct {
	Studies   int // number of studies (default 1)
	Series    int // series per study (default 1)
	Instances int // instances per series (default 1)
	Rows      int // default 512
	Cols      int // default 512
	Frames    int // frames per instance (default 1; > 1 writes Enhanced CT/MR)
	Bits      int // BitsAllocated: 8 or 16 (default 16)
	Signed    bool
	Modality  string // CT (default) or MR
	Seed      int64
	// Patients is the number of distinct patients the studies are spread
	// over (default: one patient per study).
	Patients int
	// PatientID and PatientName are printf patterns taking the patient
	// number (1-based); defaults "SYN%04d" and "Synthetic^Patient%04d".
	PatientID, PatientName string
	// TransferSyntax is one of the UIDs this package writes (default
	// Explicit VR Little Endian). Encapsulated Uncompressed writes one
	// fragment per frame with a Basic Offset Table.
	TransferSyntax string
	// Workers bounds the goroutines of Generate (default GOMAXPROCS).
	Workers int
}

func (c Config) withDefaults() (Config, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Studies, 1)
	def(&c.Series, 1)
	def(&c.Instances, 1)
	def(&c.Rows, 512)
	def(&c.Cols, 512)
	def(&c.Frames, 1)
	def(&c.Bits, 16)
	def(&c.Patients, c.Studies)
	def(&c.Workers, runtime.GOMAXPROCS(0))
	if c.Modality == "" {
		c.Modality = "CT"
	}
	c.Modality = strings.ToUpper(c.Modality)
	if c.PatientID == "" {
		c.PatientID = "SYN%04d"
	}
	if c.PatientName == "" {
		c.PatientName = "Synthetic^Patient%04d"
	}
	if c.TransferSyntax == "" {
		c.TransferSyntax = ExplicitVRLittleEndian
	}
	switch {
	case c.Studies < 0, c.Series < 0, c.Instances < 0, c.Frames < 0, c.Patients < 0:
		return c, errors.New("synth: counts must be positive")
	case c.Rows < 1 || c.Rows > 65535 || c.Cols < 1 || c.Cols > 65535:
		return c, fmt.Errorf("synth: rows and cols must be 1..65535, got %dx%d", c.Rows, c.Cols)
	case c.Bits != 8 && c.Bits != 16:
		return c, fmt.Errorf("synth: bits must be 8 or 16, got %d", c.Bits)
	case c.Modality != "CT" && c.Modality != "MR":
		return c, fmt.Errorf("synth: modality must be CT or MR, got %q", c.Modality)
	case int64(c.Rows)*int64(c.Cols)*int64(c.Bits/8)*int64(c.Frames) > 1<<32-2:
		return c, errors.New("synth: pixel data would exceed 4 GiB")
	}
	switch c.TransferSyntax {
	case ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian, EncapsulatedUncompressedLE,
		HTJ2KLosslessRPCL:
	default:
		return c, fmt.Errorf("synth: unsupported transfer syntax %q", c.TransferSyntax)
	}
	return c, nil
}

// UID returns a deterministic UID under the 2.25 (UUID-derived) root for
// the given seed and path, e.g. UID(seed, "study", 1).
func UID(seed int64, parts ...any) string {
	h := sha256.Sum256(fmt.Appendf(nil, "ohi-synth/%d/%v", seed, parts))
	h[6] = h[6]&0x0f | 0x40 // UUID version 4 layout, as 2.25 expects
	h[8] = h[8]&0x3f | 0x80
	return "2.25." + new(big.Int).SetBytes(h[:16]).String()
}

// Generator produces instances for one Config.
type Generator struct {
	cfg Config
}

// New validates cfg and returns a Generator.
func New(cfg Config) (*Generator, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Generator{cfg: c}, nil
}

// Config returns the effective configuration (defaults applied).
func (g *Generator) Config() Config { return g.cfg }

// Ref identifies one instance: 0-based study, series and instance numbers.
type Ref struct{ Study, Series, Instance int }

// StudyUID, SeriesUID and SOPInstanceUID return the UIDs of ref.
func (g *Generator) StudyUID(r Ref) string { return UID(g.cfg.Seed, "study", r.Study) }

// SeriesUID returns the SeriesInstanceUID of ref.
func (g *Generator) SeriesUID(r Ref) string { return UID(g.cfg.Seed, "series", r.Study, r.Series) }

// SOPInstanceUID returns the SOPInstanceUID of ref.
func (g *Generator) SOPInstanceUID(r Ref) string {
	return UID(g.cfg.Seed, "instance", r.Study, r.Series, r.Instance)
}

// Path returns the relative output path of ref: <study>/<series>/<n>.dcm
// with the Study and Series Instance UIDs as directory names and n the
// 1-based instance number.
func (g *Generator) Path(r Ref) string {
	return filepath.Join(g.StudyUID(r), g.SeriesUID(r), fmt.Sprintf("%d.dcm", r.Instance+1))
}

// Stats summarizes a Generate run.
type Stats struct {
	Files int
	Bytes int64
}

// Generate writes every instance of the configuration under dir.
func (g *Generator) Generate(dir string) (Stats, error) {
	c := g.cfg
	refs := make(chan Ref)
	var (
		files atomic.Int64
		bytes atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		stop  atomic.Bool
	)
	for range c.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := g.newWorker()
			for r := range refs {
				if stop.Load() {
					continue
				}
				n, err := w.writeFile(filepath.Join(dir, g.Path(r)), r)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					stop.Store(true)
					continue
				}
				files.Add(1)
				bytes.Add(n)
			}
		}()
	}
	for s := range c.Studies {
		for e := range c.Series {
			if err := os.MkdirAll(filepath.Join(dir, g.StudyUID(Ref{s, e, 0}), g.SeriesUID(Ref{s, e, 0})), 0o755); err != nil {
				stop.Store(true)
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
			for i := range c.Instances {
				if stop.Load() {
					break
				}
				refs <- Ref{s, e, i}
			}
		}
	}
	close(refs)
	wg.Wait()
	return Stats{Files: int(files.Load()), Bytes: bytes.Load()}, first
}

// Instance returns the complete Part-10 bytes of one instance.
func (g *Generator) Instance(r Ref) ([]byte, error) {
	w := g.newWorker()
	hdr, px, err := w.encode(r)
	if err != nil {
		return nil, err
	}
	return append(hdr, px...), nil
}

// worker holds per-goroutine buffers.
type worker struct {
	g   *Generator
	pix []byte
}

func (g *Generator) newWorker() *worker { return &worker{g: g} }

func (w *worker) writeFile(path string, r Ref) (int64, error) {
	hdr, px, err := w.encode(r)
	if err != nil {
		return 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	_, err = f.Write(hdr)
	if err == nil && len(px) > 0 {
		_, err = f.Write(px)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("synth: write %s: %w", path, err)
	}
	return int64(len(hdr) + len(px)), nil
}
