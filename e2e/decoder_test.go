package e2e

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"

	"github.com/openhealthimaging/ohi/codec/codecproc"
	"github.com/openhealthimaging/ohi/synth"
)

// TestDecoderProcessIsolation imports HTJ2K-compressed input (decoded by
// OpenJPH in `ohi codec-worker` processes) next to native input. First the
// compressed files import bit-exact; then, with a fault injected that makes
// the decoder process abort on every HTJ2K frame (as an assertion in a C
// library would on a hostile codestream), those files fail with a clear
// reason while the server keeps running and the native files import.
func TestDecoderProcessIsolation(t *testing.T) {
	t.Parallel()
	for _, abort := range []bool{false, true} {
		name := "decodes"
		if abort {
			name = "decoder-aborts"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var env []string
			if abort {
				// Every codestream of ours holds a TLM marker segment.
				env = append(env, codecproc.AbortEnv+"=\xff\x55")
			}
			srv := startServer(t, serverOpts{DataDir: dir, Args: authArgs, Env: env})
			c := newClient(srv.Endpoint, testAK, testSecret)
			ht := writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "mixed", "ht"),
				synth.Config{Series: 1, Instances: 3, Rows: 64, Cols: 64, Seed: 31, TransferSyntax: synth.HTJ2KLosslessRPCL})
			writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "mixed", "native"),
				synth.Config{Series: 1, Instances: 2, Rows: 64, Cols: 64, Seed: 32})
			ds := createDatastore(t, c, "decoders")
			job := startImport(t, c, ds, "s3://dicom-in/mixed/", "s3://dicom-out/mixed/")
			p := waitJob(t, c, ds, job, 60*time.Second)
			wantCompleted(t, p, "s3://dicom-out/mixed/", ds)
			base := filepath.Join(dir, "buckets", "dicom-out", "mixed", ds+"-DicomImport-"+job)
			m := parseManifest(t, readFile(t, filepath.Join(base, "job-output-manifest.json")))
			failures := string(readFile(t, filepath.Join(base, "FAILURE", "failure.ndjson")))
			if srv.Exited() {
				t.Fatal("the server stopped")
			}
			if !abort {
				if m.NumberOfImportedFiles != 5 || failures != "" {
					t.Fatalf("manifest %+v, failures %q", m, failures)
				}
				// The HTJ2K input's frames decode to the generated pixels.
				sets := imageSetsBySeries(t, c, ds)
				setID := sets[ht.SeriesUID(synth.Ref{})]
				md := getMetadata(t, c, ds, setID)
				for i := 0; i < 3; i++ {
					ref := synth.Ref{Instance: i}
					inst := md.Study.Series[ht.SeriesUID(ref)].Instances[ht.SOPInstanceUID(ref)]
					if len(inst.ImageFrames) != 1 {
						t.Fatalf("instance %d has %d frames", i, len(inst.ImageFrames))
					}
					got := decoded(t, getFrame(t, c, ds, setID, inst.ImageFrames[0].ID))
					if want := htPixels(t, ht, ref); !bytes.Equal(got, want) {
						t.Fatalf("frame of instance %d is not the generated pixels", i)
					}
				}
				return
			}
			if m.NumberOfImportedFiles != 2 || m.NumberOfFilesWithCustomerError != 3 || m.NumberOfFilesWithServerError != 0 {
				t.Fatalf("manifest with an aborting decoder: %+v", m)
			}
			lines := strings.Split(strings.TrimSpace(failures), "\n")
			for _, l := range lines {
				if !strings.Contains(l, "/ht/") || !strings.Contains(l, "decoder process stop") {
					t.Fatalf("failure line %s", l)
				}
			}
		})
	}
}

// htPixels returns the pixels synth encoded into an HTJ2K instance: the
// same instance generated natively has them as its last element.
func htPixels(t *testing.T, g *synth.Generator, r synth.Ref) []byte {
	t.Helper()
	cfg := g.Config()
	cfg.TransferSyntax = synth.ExplicitVRLittleEndian
	native, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pixels(t, native, r)
}

// imageSetsBySeries maps each series UID of the data store to its image set.
func imageSetsBySeries(t *testing.T, c *mi.Client, dsID string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range searchAll(t, c, dsID) {
		out[aws.ToString(s.DICOMTags.DICOMSeriesInstanceUID)] = aws.ToString(s.ImageSetId)
	}
	return out
}
