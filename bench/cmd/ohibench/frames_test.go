package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openhealthimaging/ohi/codec"
)

func TestTimeFrames(t *testing.T) {
	var calls [5]atomic.Int64
	fetch := func(_ context.Context, i int, buf *bytes.Buffer) error {
		calls[i].Add(1)
		buf.Reset()
		buf.WriteString(strings.Repeat("x", 10*(i+1)))
		return nil
	}
	run, err := timeFrames(context.Background(), []fetchFunc{fetch, fetch}, 5, 3, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.requests != 15 || len(run.lat) != 15 || run.bytes != 3*(10+20+30+40+50) {
		t.Fatalf("requests %d, latencies %d, bytes %d", run.requests, len(run.lat), run.bytes)
	}
	// 2 warm-up requests (frames 0 and 1), then every frame 3 times.
	for i, want := range []int64{4, 4, 3, 3, 3} {
		if got := calls[i].Load(); got != want {
			t.Errorf("frame %d fetched %d times, want %d", i, got, want)
		}
	}
	if run.serverCPU != -1 {
		t.Errorf("server CPU %v without a pid", run.serverCPU)
	}
	boom := errors.New("boom")
	_, err = timeFrames(context.Background(), []fetchFunc{func(_ context.Context, i int, _ *bytes.Buffer) error {
		if i == 3 {
			return boom
		}
		return nil
	}}, 5, 1, 0, 0)
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
}

func TestPGMMatchesCodecPrecision(t *testing.T) {
	if got := decompositions(512, 512); got != 3 {
		t.Errorf("decompositions(512) = %d", got)
	}
	if got := decompositions(2048, 1024); got != 5 {
		t.Errorf("decompositions(2048) = %d", got)
	}
	p := &codec.Pixels{Width: 64, Height: 32, Components: 1, BitsStored: 12, BytesPerSample: 2, Data: make([]byte, 64*32*2)}
	for i := range 64 * 32 {
		binary.LittleEndian.PutUint16(p.Data[2*i:], uint16(i*7%4096))
	}
	cs, err := codec.EncodeHTJ2K(p)
	if err != nil {
		t.Fatal(err)
	}
	prec, err := sizPrecision(cs)
	if err != nil || prec != 12 {
		t.Fatalf("precision %d, %v; want 12", prec, err)
	}
	if _, err := sizPrecision([]byte{0xFF, 0x4F}); err == nil {
		t.Error("sizPrecision accepted a truncated codestream")
	}
	path := filepath.Join(t.TempDir(), "f.pgm")
	if err := writePGM(path, p, prec); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head := "P5\n64 32\n4095\n"
	if !strings.HasPrefix(string(b), head) || len(b) != len(head)+len(p.Data) {
		t.Fatalf("PGM header %q, %d bytes", b[:min(len(b), 20)], len(b))
	}
	if got := binary.BigEndian.Uint16(b[len(head)+2*5:]); got != 35 {
		t.Errorf("sample 5 = %d, want 35 (big endian)", got)
	}
}
