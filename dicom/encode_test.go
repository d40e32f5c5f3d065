package dicom

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/openhealthimaging/ohi/synth"
)

// TestEncodeDatasetRoundTrip encodes the data sets of corpus files in
// several encodings (explicit and implicit little endian, big endian with
// swapped values, deflated, with sequences, palette colour) with
// EncodeDataset and reads them back with ReadDataset: the metadata must
// equal the original's but for the file meta information, which
// EncodeDataset leaves out with the pixel data.
func TestEncodeDatasetRoundTrip(t *testing.T) {
	for _, rel := range []string{
		"pydicom/CT_small.dcm", "pydicom/MR_small_implicit.dcm", "pydicom/MR_small_bigendian.dcm",
		"pydicom/rtdose_expb.dcm", "pydicom/image_dfl.dcm", "pydicom/rtplan.dcm",
		"pydicom/waveform_ecg.dcm", "dicomweb-client/US-PAL-8-10x-echo.dcm",
	} {
		t.Run(rel, func(t *testing.T) {
			path := filepath.Join(corpusDir, rel)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Skipf("corpora not installed (%v); run scripts/install-corpora.sh", err)
			}
			in, err := readBytes(raw, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			ds, err := in.EncodeDataset()
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) >= len(raw) && in.NumberOfFrames > 0 {
				t.Errorf("data set of %d bytes, the file has %d: pixel data kept?", len(ds), len(raw))
			}
			sopClass, _ := in.Instance["SOPClassUID"].(string)
			sop, _ := in.Instance["SOPInstanceUID"].(string)
			got, vrs, err := ReadDataset(ds, sopClass, sop)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{}
			for _, l := range []map[string]any{in.Patient, in.Study, in.Series, in.Instance} {
				for k, v := range l {
					want[k] = v
				}
			}
			for k := range want {
				if a, _ := LookupAttribute(k); a.Tag>>16 == 0x0002 {
					delete(want, k) // file meta information
				}
			}
			for k, w := range want {
				wj, _ := json.Marshal(w)
				gj, _ := json.Marshal(got[k])
				if string(wj) != string(gj) {
					t.Errorf("%s: read back %.200s, want %.200s", k, gj, wj)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s: read back but not in the original", k)
				}
			}
			if _, ok := vrs["PixelData"]; ok {
				t.Error("the data set holds PixelData")
			}
		})
	}
}

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
