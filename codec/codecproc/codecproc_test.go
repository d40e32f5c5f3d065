package codecproc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/dicom"
)

// The test binary doubles as the worker.
func TestMain(m *testing.M) {
	if os.Getenv("OHI_CODECPROC_TEST_WORKER") == "1" {
		if err := Serve(os.Stdin, os.Stdout); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func htj2kFrame(t *testing.T, fill byte) (cs, pixels []byte) {
	t.Helper()
	px := &codec.Pixels{Width: 8, Height: 8, Components: 1, BitsStored: 8, BytesPerSample: 1, Data: bytes.Repeat([]byte{fill}, 64)}
	px.Data[5] = 200
	cs, err := codec.EncodeHTJ2K(px)
	if err != nil {
		t.Fatal(err)
	}
	return cs, px.Data
}

func TestPoolDecodesAndSurvivesCrashes(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("OHI_CODECPROC_TEST_WORKER", "1")
	t.Setenv(AbortEnv, "\x07\x07\x07\x07\x07\x07")
	p := &Pool{Command: []string{exe}, Size: 2}
	defer p.Close()
	img := codec.Image{Rows: 8, Columns: 8, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, Photometric: "MONOCHROME2"}
	ctx := context.Background()

	cs, want := htj2kFrame(t, 3)
	got, err := p.Decode(ctx, cs, "1.2.840.10008.1.2.4.202", img)
	if err != nil || !bytes.Equal(got.Data, want) {
		t.Fatalf("decode in a worker: %v", err)
	}
	// A frame that makes the worker abort costs that frame only.
	evil := append(append([]byte(nil), cs...), bytes.Repeat([]byte{7}, 6)...)
	if _, err := p.Decode(ctx, evil, "1.2.840.10008.1.2.4.202", img); !errors.Is(err, ErrCrashed) {
		t.Fatalf("crashing decode = %v, want ErrCrashed", err)
	}
	for i := 0; i < 3; i++ {
		got, err = p.Decode(ctx, cs, "1.2.840.10008.1.2.4.202", img)
		if err != nil || !bytes.Equal(got.Data, want) {
			t.Fatalf("decode after a crash: %v", err)
		}
	}
	// Codec errors come back typed.
	_, err = p.Decode(ctx, []byte("garbage"), "1.2.840.10008.1.2.4.202", img)
	var ce *codec.Error
	if !errors.As(err, &ce) {
		t.Fatalf("garbage = %v, want a *codec.Error", err)
	}
}

// TestPoolJPEGLS decodes a real JPEG-LS frame in a worker (CharLS, with
// GDCM as the fallback, both in the child process) and checks that the
// error of a frame both decoders fail comes back with both reasons.
func TestPoolJPEGLS(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "corpora", "pydicom", "MR_small_jpeg_ls_lossless.dcm")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("corpora not installed (%v); run scripts/install-corpora.sh", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	in, err := dicom.Read(f, st.Size(), dicom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	frame, err := io.ReadAll(in.Frames[0].Reader(in.Source))
	if err != nil {
		t.Fatal(err)
	}
	img := codec.Image{Rows: in.Rows, Columns: in.Columns, SamplesPerPixel: in.SamplesPerPixel, BitsAllocated: in.BitsAllocated,
		BitsStored: in.BitsStored, PixelRepresentation: in.PixelRepresentation, Photometric: in.PhotometricInterpretation}
	want, err := codec.Decode(frame, in.TransferSyntaxUID, img)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("OHI_CODECPROC_TEST_WORKER", "1")
	p := &Pool{Command: []string{exe}, Size: 1}
	defer p.Close()
	got, err := p.Decode(context.Background(), frame, in.TransferSyntaxUID, img)
	if err != nil || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("decode in a worker: %v", err)
	}
	// Without its end-of-image marker the scan is short for both decoders.
	_, err = p.Decode(context.Background(), frame[:len(frame)-2], in.TransferSyntaxUID, img)
	var ce *codec.Error
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "CharLS: ") || !strings.Contains(ce.Reason, "; GDCM: ") {
		t.Fatalf("truncated frame = %v, want a *codec.Error naming both decoders", err)
	}
}
