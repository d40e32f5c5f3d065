package main

import (
	"fmt"
	"os"
	"time"

	"github.com/openhealthimaging/ohi/synth"
)

// SynthCmd writes synthetic DICOM studies.
type SynthCmd struct {
	Out            string `help:"Output directory; files go to OUT/<StudyInstanceUID>/<SeriesInstanceUID>/<n>.dcm." required:"" type:"path"`
	Studies        int    `help:"Number of studies." default:"1"`
	Series         int    `help:"Series per study." default:"1"`
	Instances      int    `help:"Instances per series." default:"10"`
	Rows           int    `help:"Rows per frame." default:"512"`
	Cols           int    `help:"Columns per frame." default:"512"`
	Frames         int    `help:"Frames per instance (> 1 writes Enhanced CT/MR multi-frame instances)." default:"1"`
	Bits           int    `help:"Bits allocated: 8 or 16." default:"16" enum:"8,16"`
	Signed         bool   `help:"Signed pixel values (PixelRepresentation 1)."`
	Modality       string `help:"CT or MR." default:"CT" enum:"CT,MR,ct,mr"`
	Seed           int64  `help:"Seed; the same seed gives the same UIDs and pixels." default:"1"`
	Patients       int    `help:"Number of distinct patients the studies are spread over (default: one per study)."`
	PatientID      string `help:"printf pattern for patient IDs, given the patient number." default:"SYN%04d"`
	PatientName    string `help:"printf pattern for patient names, given the patient number." default:"Synthetic^Patient%04d"`
	TransferSyntax string `help:"Transfer syntax UID: 1.2.840.10008.1.2.1 (explicit LE), 1.2.840.10008.1.2 (implicit LE), 1.2.840.10008.1.2.2 (explicit BE), 1.2.840.10008.1.2.1.99 (deflated), 1.2.840.10008.1.2.1.98 (encapsulated uncompressed), 1.2.840.10008.1.2.4.202 (HTJ2K lossless RPCL)." default:"1.2.840.10008.1.2.1"`
	Workers        int    `help:"Parallel writers (default: number of CPUs)."`
}

// Run generates the studies.
func (c *SynthCmd) Run() error {
	g, err := synth.New(synth.Config{
		Studies: c.Studies, Series: c.Series, Instances: c.Instances,
		Rows: c.Rows, Cols: c.Cols, Frames: c.Frames, Bits: c.Bits, Signed: c.Signed,
		Modality: c.Modality, Seed: c.Seed, Patients: c.Patients,
		PatientID: c.PatientID, PatientName: c.PatientName,
		TransferSyntax: c.TransferSyntax, Workers: c.Workers,
	})
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	start := time.Now()
	st, err := g.Generate(c.Out)
	if err != nil {
		return err
	}
	d := time.Since(start)
	fmt.Fprintf(os.Stdout, "wrote %d files (%.1f MB) to %s in %s (%.0f files/s)\n",
		st.Files, float64(st.Bytes)/1e6, c.Out, d.Round(time.Millisecond), float64(st.Files)/d.Seconds())
	return nil
}
