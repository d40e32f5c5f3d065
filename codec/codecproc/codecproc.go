// Package codecproc decodes untrusted compressed frames in child processes.
// The C and C++ decoders (CharLS, GDCM, OpenJPEG, OpenJPH) are built with
// assertions and can abort the whole process on a hostile codestream (GDCM
// does on some JPEG-LS frames); run in a worker process,
// such a crash costs one frame (the file fails with a clear reason) instead
// of the server.
//
// A Pool starts workers lazily (the ohi binary itself, `ohi codec-worker`),
// sends each a request over its stdin and reads the answer on its stdout
// (encoding/gob), and replaces a worker that died or timed out.
package codecproc

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/openhealthimaging/ohi/codec"
)

// request is one frame to decode.
type request struct {
	Frame []byte
	TS    string
	Img   codec.Image
}

// response is the decoded frame or the codec error.
type response struct {
	Pixels          *codec.Pixels
	ErrCode, Reason string
	Failed          bool
}

// AbortEnv names a fault-injection variable for tests: a worker whose
// environment sets it aborts on any frame containing its value.
const AbortEnv = "OHI_CODEC_WORKER_ABORT_ON"

// HangEnv names a fault-injection variable for tests: a worker whose
// environment sets it never answers a frame containing its value, as a
// decoder caught in an endless loop would.
const HangEnv = "OHI_CODEC_WORKER_HANG_ON"

// Serve is the worker loop: it decodes requests from r and writes answers
// to w until r ends.
func Serve(r io.Reader, w io.Writer) error {
	dec, enc := gob.NewDecoder(r), gob.NewEncoder(w)
	abortOn := []byte(os.Getenv(AbortEnv))
	hangOn := []byte(os.Getenv(HangEnv))
	for {
		var req request
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(abortOn) > 0 && bytes.Contains(req.Frame, abortOn) {
			os.Exit(134) // as an assertion failure would
		}
		for len(hangOn) > 0 && bytes.Contains(req.Frame, hangOn) {
			time.Sleep(time.Hour)
		}
		var res response
		px, err := codec.Decode(req.Frame, req.TS, req.Img)
		var ce *codec.Error
		switch {
		case err == nil:
			res.Pixels = px
		case errors.As(err, &ce):
			res.Failed, res.ErrCode, res.Reason = true, ce.Code, ce.Reason
		default:
			res.Failed, res.ErrCode, res.Reason = true, codec.CodeCorrupt, err.Error()
		}
		if err := enc.Encode(&res); err != nil {
			return err
		}
	}
}

// ErrCrashed reports that the worker decoding a frame stopped (crashed, or
// was stopped after Pool.Timeout: ErrTimeout).
var ErrCrashed = errors.New("the pixel data decoder process stopped while decoding this frame")

// ErrTimeout reports that the worker decoding a frame did not answer within
// Pool.Timeout and was stopped. Errors that are ErrTimeout are ErrCrashed
// too.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string {
	return "the pixel data decoder process did not finish this frame in time and was stopped"
}

func (timeoutError) Is(target error) bool { return target == ErrCrashed }

// Pool runs up to Size workers. The zero value is not usable: set Command.
type Pool struct {
	// Command is the worker's command line, e.g. {os.Executable(), "codec-worker"}.
	Command []string
	// Size bounds the workers (default 2).
	Size int
	// Timeout bounds one decode (default 2 minutes).
	Timeout time.Duration

	once sync.Once
	idle chan *worker
	sem  chan struct{}
}

type worker struct {
	cmd    *exec.Cmd
	enc    *gob.Encoder
	dec    *gob.Decoder
	in     *os.File      // the worker's stdin (our end)
	out    *os.File      // the worker's stdout (our end)
	exited chan struct{} // closed once the process has exited
}

func (p *Pool) init() {
	p.once.Do(func() {
		if p.Size <= 0 {
			p.Size = 2
		}
		if p.Timeout <= 0 {
			p.Timeout = 2 * time.Minute
		}
		p.idle = make(chan *worker, p.Size)
		p.sem = make(chan struct{}, p.Size)
	})
}

func (p *Pool) start() (*worker, error) {
	if len(p.Command) == 0 {
		return nil, errors.New("codecproc: no worker command")
	}
	cmd := exec.Command(p.Command[0], p.Command[1:]...)
	cmd.Stderr = nil // the decoders' messages are not ours to print
	// Plain pipes rather than cmd's: the process is reaped (Wait) as soon
	// as it exits, to tell a dead idle worker, and Wait must not close
	// our ends under a read in progress.
	childIn, in, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	out, childOut, err := os.Pipe()
	if err != nil {
		childIn.Close()
		in.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout = childIn, childOut
	err = cmd.Start()
	childIn.Close()
	childOut.Close()
	if err != nil {
		in.Close()
		out.Close()
		return nil, fmt.Errorf("codecproc: start worker: %w", err)
	}
	w := &worker{cmd: cmd, enc: gob.NewEncoder(in), dec: gob.NewDecoder(out), in: in, out: out, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(w.exited)
	}()
	return w, nil
}

// dead reports whether the worker's process has exited.
func (w *worker) dead() bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

func (w *worker) stop() {
	w.in.Close()
	_ = w.cmd.Process.Kill()
	<-w.exited
	w.out.Close()
}

// get returns an idle worker whose process is alive, or a new one.
func (p *Pool) get() (*worker, error) {
	for {
		select {
		case w := <-p.idle:
			if !w.dead() {
				return w, nil
			}
			w.stop() // it died while idle: not this frame's doing
		default:
			return p.start()
		}
	}
}

// Decode decodes one frame in a worker, like codec.Decode. A worker that
// stops (crash, or Timeout) while it has the frame makes it return
// ErrCrashed; the worker is replaced for the next call. A worker that died
// before the frame reached it (an idle worker killed from outside, say)
// is not the frame's fault: it is skipped, or the frame is sent once more
// to a new worker when sending it failed.
func (p *Pool) Decode(ctx context.Context, frame []byte, ts string, img codec.Image) (*codec.Pixels, error) {
	p.init()
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.sem }()
	if err := ctx.Err(); err != nil {
		// The select may take the slot although ctx had ended too: do not
		// start (or kill) a worker for a call that is already over.
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		px, unsent, err := p.decodeIn(ctx, frame, ts, img)
		if unsent && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return px, err
	}
}

// decodeIn decodes frame in one worker; unsent reports that the worker
// died before it could be sent the whole request.
func (p *Pool) decodeIn(ctx context.Context, frame []byte, ts string, img codec.Image) (px *codec.Pixels, unsent bool, err error) {
	w, err := p.get()
	if err != nil {
		return nil, false, err
	}
	type result struct {
		res    response
		err    error
		unsent bool
	}
	done := make(chan result, 1)
	go func() {
		var r result
		if r.err = w.enc.Encode(&request{Frame: frame, TS: ts, Img: img}); r.err == nil {
			r.err = w.dec.Decode(&r.res)
		} else {
			r.unsent = true
		}
		done <- r
	}()
	timer := time.NewTimer(p.Timeout)
	defer timer.Stop()
	var r result
	select {
	case r = <-done:
	case <-timer.C:
		w.stop()
		<-done
		return nil, false, ErrTimeout
	case <-ctx.Done():
		w.stop()
		<-done
		return nil, false, ctx.Err()
	}
	if r.err != nil {
		w.stop()
		return nil, r.unsent, ErrCrashed
	}
	p.idle <- w
	if r.res.Failed {
		return nil, false, &codec.Error{Code: r.res.ErrCode, Reason: r.res.Reason}
	}
	return r.res.Pixels, false, nil
}

// Close stops the idle workers.
func (p *Pool) Close() {
	p.init()
	for {
		select {
		case w := <-p.idle:
			w.stop()
		default:
			return
		}
	}
}
