package dicom

import (
	"bytes"
	"testing"

	"github.com/openhealthimaging/ohi/synth"
)

// FuzzEncodeDataset checks that every file Read accepts encodes
// (EncodeDataset) into a data set that ReadDataset parses again.
func FuzzEncodeDataset(f *testing.F) {
	for _, ts := range []string{synth.ExplicitVRLittleEndian, synth.ImplicitVRLittleEndian, synth.ExplicitVRBigEndian, synth.DeflatedExplicitVRLittleEndian} {
		g, err := synth.New(synth.Config{Rows: 4, Cols: 4, TransferSyntax: ts, Seed: 5})
		if err != nil {
			f.Fatal(err)
		}
		b, err := g.Instance(synth.Ref{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := Read(bytes.NewReader(b), int64(len(b)), Options{MaxMetadataBytes: 1 << 20, MaxElementBytes: 1 << 20})
		if err != nil {
			return
		}
		defer in.Close()
		ds, err := in.EncodeDataset()
		if err != nil {
			t.Fatalf("EncodeDataset: %v", err)
		}
		if _, _, err := ReadDataset(ds, in.SOPClassUID, in.SOPInstanceUID); err != nil {
			t.Fatalf("ReadDataset of the encoded data set: %v", err)
		}
	})
}
