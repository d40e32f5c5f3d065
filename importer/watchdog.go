package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/openhealthimaging/ohi"
)

// DefaultStallTimeout is how long one stage of a file's import may go
// without progress before the watchdog fails the file.
const DefaultStallTimeout = 3 * time.Minute

// The stages of a file's import that the watchdog names.
const (
	stageOpen      = "open"                  // opening (or copying) the input object
	stageParse     = "parse"                 // dicom.Read
	stageRecord    = "record"                // recording the decoding attempt
	stageSlot      = "wait for a codec slot" // queued behind other frames
	stageRead      = "read"                  // reading a frame's bytes
	stageDecode    = "decode"                // decoding a frame (a codec worker process)
	stageTranscode = "transcode"             // encoding and verifying a frame
	stageStore     = "store"                 // writing a frame to the blob store
)

// A stall is why the watchdog failed a file.
type stall struct {
	stage string
	after time.Duration
}

func (s *stall) Error() string {
	return fmt.Sprintf("stuck in %s for %s", s.stage, roundDuration(s.after))
}

func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// watchdog fails the files of one task that stop making progress: a file
// none of whose activities (the file's own stage, or the stage of each of
// its frames in flight) has moved for the timeout is failed with the stage
// it was stuck in, its context is cancelled (which stops a codec worker
// process), the codec slots its frames hold are given back, and the task
// carries on without waiting for it.
type watchdog struct {
	timeout time.Duration
	slots   *slots
	log     *slog.Logger

	mu    sync.Mutex
	files map[*fileWatch]bool
}

// fileWatch is the watchdog's view of one file being read.
type fileWatch struct {
	key    string
	cancel context.CancelCauseFunc
	stuck  chan struct{} // closed once the watchdog failed the file

	mu        sync.Mutex
	acts      map[int]*activity // 0: the file itself; i+1: frame i
	held      map[int]func()    // slot releases of the frames in flight
	nextHold  int
	abandoned *stall
}

type activity struct {
	stage string
	frame int // 1-based; 0 for the file itself
	since time.Time
}

// String names the stage, with its frame.
func (a *activity) String() string {
	if a.frame > 0 {
		return fmt.Sprintf("%s of frame %d", a.stage, a.frame)
	}
	return a.stage
}

// newWatchdog returns the watchdog of one task, nil when it is disabled.
func (im *Importer) newWatchdog() *watchdog {
	d := im.StallTimeout
	if d < 0 {
		return nil
	}
	if d == 0 {
		d = DefaultStallTimeout
	}
	return &watchdog{timeout: d, slots: im.codecSlots(), log: im.logger(), files: map[*fileWatch]bool{}}
}

// run checks the files until ctx ends.
func (w *watchdog) run(ctx context.Context, jobID string) {
	t := time.NewTicker(min(max(w.timeout/10, 5*time.Millisecond), 10*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w.check(now, jobID)
		}
	}
}

func (w *watchdog) check(now time.Time, jobID string) {
	w.mu.Lock()
	files := make([]*fileWatch, 0, len(w.files))
	for f := range w.files {
		files = append(files, f)
	}
	w.mu.Unlock()
	freed := w.slots.released()
	for _, f := range files {
		if s := f.stalled(now, freed, w.timeout); s != nil {
			w.log.Warn("import file stuck: failing it and carrying on", "jobId", jobID, "key", f.key, "stage", s.stage,
				"stuckFor", roundDuration(s.after))
		}
	}
}

// watch starts watching the file key, read under ctx; stop ends it.
func (w *watchdog) watch(ctx context.Context, key string) (fctx context.Context, f *fileWatch, stop func()) {
	fctx, cancel := context.WithCancelCause(ctx)
	f = &fileWatch{key: key, cancel: cancel, stuck: make(chan struct{}),
		acts: map[int]*activity{0: {stage: stageOpen, since: time.Now()}}, held: map[int]func(){}}
	w.mu.Lock()
	w.files[f] = true
	w.mu.Unlock()
	return context.WithValue(fctx, fileWatchKey{}, f), f, func() {
		w.mu.Lock()
		delete(w.files, f)
		w.mu.Unlock()
		cancel(nil)
	}
}

// stalled fails f when one of its activities has not moved for timeout; a
// frame waiting for a codec slot moves whenever a slot is given back.
func (f *fileWatch) stalled(now, freed time.Time, timeout time.Duration) *stall {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.abandoned != nil {
		return nil
	}
	var worst *activity
	var age time.Duration
	for _, a := range f.acts {
		since := a.since
		if a.stage == stageSlot && freed.After(since) {
			since = freed
		}
		if d := now.Sub(since); d > age {
			worst, age = a, d
		}
	}
	if worst == nil || age < timeout {
		return nil
	}
	f.abandoned = &stall{stage: worst.String(), after: age}
	f.cancel(f.abandoned)
	for _, release := range f.held {
		release()
	}
	clear(f.held)
	close(f.stuck)
	return f.abandoned
}

type fileWatchKey struct{}

// watchOf returns the fileWatch of the file ctx reads, or nil.
func watchOf(ctx context.Context) *fileWatch {
	f, _ := ctx.Value(fileWatchKey{}).(*fileWatch)
	return f
}

// stage records that activity id (0 for the file, i+1 for frame i) enters
// stage now. A nil f ignores it, as do the other methods.
func (f *fileWatch) stage(id int, stage string) { f.set(id, 0, stage) }

func (f *fileWatch) set(id, frame int, stage string) {
	if f == nil {
		return
	}
	now := time.Now()
	f.mu.Lock()
	if a := f.acts[id]; a != nil {
		a.stage, a.frame, a.since = stage, frame, now
	} else {
		f.acts[id] = &activity{stage: stage, frame: frame, since: now}
	}
	f.mu.Unlock()
}

// frameStage records that frame i, in flight with others, enters stage.
func (f *fileWatch) frameStage(i int, stage string) { f.set(i+1, i+1, stage) }

// fileFrameStage records that the file itself enters stage for frame i
// (frames handled one after the other): reading the input is its
// progress.
func (f *fileWatch) fileFrameStage(i int, stage string) { f.set(0, i+1, stage) }

// done records that activity id ended.
func (f *fileWatch) done(id int) {
	if f == nil {
		return
	}
	f.mu.Lock()
	delete(f.acts, id)
	f.mu.Unlock()
}

// touch records progress of activity id within its stage.
func (f *fileWatch) touch(id int) {
	if f == nil {
		return
	}
	f.mu.Lock()
	if a := f.acts[id]; a != nil {
		a.since = time.Now()
	}
	f.mu.Unlock()
}

// acquireSlot takes a codec slot for frame i of the file ctx reads. The
// slot is given back by the returned release, or by the watchdog if it
// fails the file first.
func (im *Importer) acquireSlot(ctx context.Context, i int) (func(), error) {
	f := watchOf(ctx)
	f.frameStage(i, stageSlot)
	release, err := im.codecSlots().acquire(ctx)
	if err != nil || f == nil {
		return release, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.abandoned != nil {
		release()
		return nil, context.Cause(ctx)
	}
	id := f.nextHold
	f.nextHold++
	f.held[id] = release
	return func() {
		f.mu.Lock()
		delete(f.held, id)
		f.mu.Unlock()
		release()
	}, nil
}

// stalledItem is the failed item of a file the watchdog gave up on.
func stalledItem(jobID, key string, s *stall) *ohi.ImportItem {
	kind := "InternalServerException"
	if strings.HasPrefix(s.stage, stageDecode) {
		kind = "ValidationException" // a decoder that never ends: probably a malformed codestream
	}
	return &ohi.ImportItem{JobID: jobID, Key: key, State: "failed", Result: mustJSON(failure{ExceptionType: kind,
		Message: "the import of this file stopped making progress (" + s.Error() + "); the file is not imported"})}
}

// readWatched is readOne under the watchdog w (nil: readOne itself); its
// results are readOne's, and the item of a file w failed is recorded at
// once (marked). When w fails the file, readWatched returns at once, without
// waiting for the stuck reader (which returns when its stage ends: at
// once for a codec worker process, which is stopped, or a cancellable
// store call).
func (im *Importer) readWatched(ctx context.Context, w *watchdog, job *ohi.ImportJob, in ohi.BlobStore, o ohi.ObjectInfo) (item *ohi.ImportItem, marked bool) {
	if w == nil {
		return im.readOne(ctx, job, in, o)
	}
	fctx, f, stop := w.watch(ctx, o.Key)
	type result struct {
		item   *ohi.ImportItem
		marked bool
	}
	done := make(chan result, 1)
	go func() {
		item, marked := im.readOne(fctx, job, in, o)
		done <- result{item, marked}
	}()
	select {
	case r := <-done:
		stop()
		var s *stall
		if errors.As(context.Cause(fctx), &s) && ctx.Err() == nil {
			return stalledItem(job.ID, o.Key, s), true
		}
		return r.item, r.marked
	case <-f.stuck:
		im.stuckReaders.Add(1)
		go func() {
			<-done
			stop()
			im.stuckReaders.Add(-1)
			im.logger().Info("the reader of a file failed as stuck has returned", "jobId", job.ID, "key", o.Key)
		}()
		return stalledItem(job.ID, o.Key, f.abandoned), true
	}
}

// progressReaderAt touches activity 0 of a fileWatch on every read of the
// input, so that a long parse of a large file, or a frame streamed from it
// into the blob store, is progress.
type progressReaderAt struct {
	io.ReaderAt
	f *fileWatch
}

func (r progressReaderAt) ReadAt(p []byte, off int64) (int, error) {
	r.f.touch(0)
	return r.ReaderAt.ReadAt(p, off)
}

// progressWriter touches activity 0 on every write: the copy of an input
// object that cannot be read at random offsets (S3) is progress.
type progressWriter struct {
	io.Writer
	f *fileWatch
}

func (w progressWriter) Write(p []byte) (int, error) {
	w.f.touch(0)
	return w.Writer.Write(p)
}

// progressReader touches activity 0 on every read: a body written to the
// blob store from memory (a stored header) is progress while it is read.
type progressReader struct {
	io.Reader
	f *fileWatch
}

func (r progressReader) Read(p []byte) (int, error) {
	r.f.touch(0)
	return r.Reader.Read(p)
}
