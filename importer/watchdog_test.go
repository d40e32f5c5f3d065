package importer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/codec/codecproc"
	"github.com/openhealthimaging/ohi/importer"
	"github.com/openhealthimaging/ohi/synth"
)

// logBuffer collects a logger's text lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// checkStuck checks that the job failed exactly the files in stuck, with a
// reason naming stage, committed every other file, and logged each stuck
// file with its stage.
func checkStuck(t *testing.T, env *testEnv, job *ohi.ImportJob, logs *logBuffer, stage string, stuck ...string) {
	t.Helper()
	items, err := env.Store.ImportItems(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, k := range stuck {
		want[k] = true
	}
	for _, it := range items {
		switch {
		case want[it.Key]:
			if it.State != "failed" || !strings.Contains(string(it.Result), "stuck in "+stage+" for ") {
				t.Errorf("%s: %s %s, want failed as stuck in %s", it.Key, it.State, it.Result, stage)
			}
			if l := logs.String(); !strings.Contains(l, "key="+it.Key) || !strings.Contains(l, `stage="`+stage+`"`) {
				t.Errorf("no log line names %s stuck in %s:\n%s", it.Key, stage, l)
			}
		case it.State != "committed":
			t.Errorf("%s: %s %s, want committed", it.Key, it.State, it.Result)
		}
	}
	if len(items) == 0 {
		t.Fatal("no file recorded")
	}
}

// TestWatchdogFailsFileStuckInDecoder: a decoder call that never returns
// and ignores its context (as a C decoder in this process would) costs its
// file only: the watchdog fails it as stuck in decode, gives back its
// codec slot, and the job completes without waiting for it.
func TestWatchdogFailsFileStuckInDecoder(t *testing.T) {
	env := newTestEnv(t)
	dir := filepath.Join(env.Dir, "buckets", "input", "ht")
	for i := range 4 {
		writeHTJ2KFileSeed(t, filepath.Join(dir, fmt.Sprintf("%d.dcm", i)), fmt.Sprintf("1.2.826.0.1.77.3.1.%d", i+1), 13)
	}
	unblock := make(chan struct{})
	var calls atomic.Int32
	logs := &logBuffer{}
	im := env.importer()
	t.Cleanup(func() {
		close(unblock)
		for deadline := time.Now().Add(10 * time.Second); importer.StuckReaders(im) > 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Error("the stuck reader did not return once its decoder did")
				return
			}
		}
	})
	im.Workers, im.StallTimeout = 2, 300*time.Millisecond
	im.Logger = slog.New(slog.NewTextHandler(logs, nil))
	var stuckKey atomic.Value
	im.Decode = func(ctx context.Context, frame []byte, ts string, img codec.Image) (*codec.Pixels, error) {
		if calls.Add(1) == 1 {
			<-unblock // deaf to ctx
			return nil, errors.New("released by the test")
		}
		return codec.Decode(frame, ts, img)
	}
	start := time.Now()
	job := runJob(t, env, im, "ht", 30*time.Second)
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the job took %s with a 300ms stall timeout", d)
	}
	items, err := env.Store.ImportItems(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.State == "failed" {
			stuckKey.Store(it.Key)
		}
	}
	key, _ := stuckKey.Load().(string)
	if key == "" {
		t.Fatal("no file failed")
	}
	checkStuck(t, env, job, logs, "decode of frame 1", key)
	if !strings.Contains(string(itemResult(t, env, job, key)), "ValidationException") {
		t.Errorf("a file stuck in its decoder is a customer error: %s", itemResult(t, env, job, key))
	}
	if held := importer.CodecSlotsHeld(im); held != 0 {
		t.Fatalf("%d codec slots held after the job", held)
	}
}

func itemResult(t *testing.T, env *testEnv, job *ohi.ImportJob, key string) []byte {
	t.Helper()
	it, err := env.Store.ImportItemGet(context.Background(), job.ID, key)
	if err != nil {
		t.Fatal(err)
	}
	return it.Result
}

// TestWatchdogStopsHungDecoderProcess: a codec worker process that never
// answers (codecproc.HangEnv) is stopped when the watchdog fails its file,
// well before the pool's own timeout; its decode call returns, and the
// other files, decoded by fresh workers, are imported.
func TestWatchdogStopsHungDecoderProcess(t *testing.T) {
	env := newTestEnv(t)
	dir := filepath.Join(env.Dir, "buckets", "input", "ht")
	var good, evil []byte
	for i := range 3 {
		_, cs := writeHTJ2KFileSeed(t, filepath.Join(dir, fmt.Sprintf("good%d.dcm", i)), fmt.Sprintf("1.2.826.0.1.77.4.1.%d", i+1), 13)
		good = cs
	}
	_, evil = writeHTJ2KFileSeed(t, filepath.Join(dir, "evil.dcm"), "1.2.826.0.1.77.4.1.9", 29)
	marker := uniqueWindow(t, evil, good, 12)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(workerEnv, "1")
	t.Setenv(codecproc.HangEnv, string(marker))
	pool := &codecproc.Pool{Command: []string{exe}, Size: 2, Timeout: 10 * time.Minute}
	defer pool.Close()
	var inFlight atomic.Int32
	logs := &logBuffer{}
	im := env.importer()
	im.Workers, im.StallTimeout = 2, 500*time.Millisecond
	im.Logger = slog.New(slog.NewTextHandler(logs, nil))
	im.Decode = func(ctx context.Context, frame []byte, ts string, img codec.Image) (*codec.Pixels, error) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		return pool.Decode(ctx, frame, ts, img)
	}
	job := runJob(t, env, im, "ht", 60*time.Second)
	checkStuck(t, env, job, logs, "decode of frame 1", "ht/evil.dcm")
	deadline := time.Now().Add(10 * time.Second)
	for inFlight.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the decode call of the stuck file did not return: its worker process was not stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if held := importer.CodecSlotsHeld(im); held != 0 {
		t.Fatalf("%d codec slots held after the job", held)
	}
}

// uniqueWindow returns n bytes of a, none zero (an environment variable
// holds it), that occur once in a and nowhere in b.
func uniqueWindow(t *testing.T, a, b []byte, n int) []byte {
	t.Helper()
	for i := 0; i+n <= len(a); i++ {
		w := a[i : i+n]
		if bytes.IndexByte(w, 0) < 0 && !bytes.Contains(b, w) && !bytes.Contains(a[i+1:], w) {
			return w
		}
	}
	t.Fatal("no distinctive window")
	return nil
}

// TestWatchdogFailsFilesWaitingForLostSlots: should codec slots ever be
// lost again (the wedge of issue 12), the files waiting for one fail as
// stuck waiting for a codec slot, and the job still completes.
func TestWatchdogFailsFilesWaitingForLostSlots(t *testing.T) {
	env := newTestEnv(t)
	g, err := synth.New(synth.Config{Instances: 3, Rows: 16, Cols: 16, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(filepath.Join(env.Dir, "buckets", "input", "syn")); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	im := env.importer()
	im.Workers, im.StallTimeout = 2, 200*time.Millisecond
	im.Logger = slog.New(slog.NewTextHandler(logs, nil))
	importer.LeakCodecSlots(im, 2)
	job := runJob(t, env, im, "syn", 30*time.Second)
	items, err := env.Store.ImportItems(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	if len(keys) != 3 {
		t.Fatalf("%d files recorded, want 3", len(keys))
	}
	checkStuck(t, env, job, logs, "wait for a codec slot of frame 1", keys...)
}
