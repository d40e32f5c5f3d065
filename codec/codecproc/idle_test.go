package codecproc

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/codec"
)

// idlePool returns a one-worker pool that has decoded a frame, the frame,
// its pixels and its image, and the pid of its idle worker.
func idlePool(t *testing.T) (p *Pool, cs, want []byte, img codec.Image, pid int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("OHI_CODECPROC_TEST_WORKER", "1")
	p = &Pool{Command: []string{exe}, Size: 1}
	t.Cleanup(p.Close)
	img = codec.Image{Rows: 8, Columns: 8, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, Photometric: "MONOCHROME2"}
	cs, want = htj2kFrame(t, 4)
	if got, err := p.Decode(context.Background(), cs, "1.2.840.10008.1.2.4.202", img); err != nil || !bytes.Equal(got.Data, want) {
		t.Fatalf("first decode: %v", err)
	}
	w := <-p.idle
	pid = w.cmd.Process.Pid
	p.idle <- w
	return p, cs, want, img, pid
}

// killAndWait kills pid and waits (at most 5 s) until it has exited: it is
// gone, or a zombie whose other threads (which share its open files) have
// exited too.
func killAndWait(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			return // reaped
		}
		if s := string(b); strings.Contains(s, "\nState:\tZ") && strings.Contains(s, "\nThreads:\t1\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d still running 5 s after SIGKILL", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIdleWorkerDeathIsNotTheFramesFault: a worker killed while idle does
// not make the next good frame fail as a decoder crash; the frame decodes
// in a new worker.
func TestIdleWorkerDeathIsNotTheFramesFault(t *testing.T) {
	p, cs, want, img, pid := idlePool(t)
	killAndWait(t, pid)
	got, err := p.Decode(context.Background(), cs, "1.2.840.10008.1.2.4.202", img)
	if err != nil || !bytes.Equal(got.Data, want) {
		t.Fatalf("decode after the idle worker was killed: %v", err)
	}
}

// TestUnnoticedDeadWorkerRetried: when the pool has not yet seen that an
// idle worker died, sending it the frame fails, and the frame is sent once
// more to a new worker instead of being blamed.
func TestUnnoticedDeadWorkerRetried(t *testing.T) {
	p, cs, want, img, pid := idlePool(t)
	w := <-p.idle
	killAndWait(t, pid)
	<-w.exited
	// Hide the death from get for a while (stop waits for it).
	hidden := make(chan struct{})
	w.exited = hidden
	time.AfterFunc(200*time.Millisecond, func() { close(hidden) })
	p.idle <- w
	got, err := p.Decode(context.Background(), cs, "1.2.840.10008.1.2.4.202", img)
	if err != nil || !bytes.Equal(got.Data, want) {
		t.Fatalf("decode after an unnoticed worker death: %v", err)
	}
	// A frame that kills the worker while it has it is still a crash.
	t.Setenv(AbortEnv, "\x07\x07\x07\x07\x07\x07")
	p.Close()
	evil := append(append([]byte(nil), cs...), bytes.Repeat([]byte{7}, 6)...)
	if _, err := p.Decode(context.Background(), evil, "1.2.840.10008.1.2.4.202", img); !errors.Is(err, ErrCrashed) {
		t.Fatalf("crashing frame = %v, want ErrCrashed", err)
	}
}
