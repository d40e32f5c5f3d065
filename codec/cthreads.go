package codec

/*
#cgo LDFLAGS: -lpthread
#include "cthreads.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// offloadMinSamples is the size (in samples) from which a codec call runs
// on a codec thread; smaller frames take less time than the two thread
// switches. (A variable for the tests.)
var offloadMinSamples = 1 << 15

// maxIdleWakers bounds the pipes kept for later calls.
const maxIdleWakers = 64

var cthreads struct {
	once      sync.Once
	ready     bool
	mu        sync.Mutex
	idle      []*waker
	offloaded atomic.Int64 // calls run on a codec thread, for the tests
}

// waker is the pipe a codec thread signals the end of one call on. Its
// read end is non-blocking, so a goroutine waiting on it is parked by the
// runtime's network poller and holds no P.
type waker struct {
	r, w *os.File
	fd   C.int
}

func getWaker() (*waker, error) {
	cthreads.mu.Lock()
	if n := len(cthreads.idle); n > 0 {
		w := cthreads.idle[n-1]
		cthreads.idle = cthreads.idle[:n-1]
		cthreads.mu.Unlock()
		return w, nil
	}
	cthreads.mu.Unlock()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// Fd puts w in blocking mode, which is what the codec thread needs;
	// w stays open (and referenced) for as long as the waker lives.
	return &waker{r: r, w: w, fd: C.int(w.Fd())}, nil
}

func putWaker(w *waker) {
	cthreads.mu.Lock()
	if len(cthreads.idle) < maxIdleWakers {
		cthreads.idle = append(cthreads.idle, w)
		w = nil
	}
	cthreads.mu.Unlock()
	if w != nil {
		w.r.Close()
		w.w.Close()
	}
}

// wait returns once the codec thread has written its byte. It cannot give
// up earlier: the thread may still be using the call's memory.
func (w *waker) wait() {
	var b [1]byte
	for {
		n, err := w.r.Read(b[:])
		if n == 1 {
			return
		}
		if err != nil {
			panic(fmt.Sprintf("codec: waiting for a codec thread: %v", err))
		}
	}
}

// cjob is one codec call for run: the C function and the ohi_*_call struct
// it takes.
type cjob struct {
	fn   C.ohi_call_fn
	call unsafe.Pointer
}

// run runs the calls one after the other and returns when they are done:
// on one codec thread (cthreads.h) when the first call covers at least
// offloadMinSamples samples, else on the calling thread. Chaining calls
// saves a switch between threads per call. Each call struct, and every Go
// buffer it points to, must be pinned by pin, which run also uses for the
// jobs it submits.
func run(pin *runtime.Pinner, samples int, calls ...cjob) {
	var first, last *C.ohi_job
	for _, c := range calls {
		job := &C.ohi_job{fn: c.fn, call: c.call}
		pin.Pin(job)
		if last == nil {
			first = job
		} else {
			last.then = job
		}
		last = job
	}
	if first == nil {
		return
	}
	if samples < offloadMinSamples || !cthreadsReady() {
		C.ohi_run(first)
		return
	}
	w, err := getWaker()
	if err != nil { // out of file descriptors: run it here
		C.ohi_run(first)
		return
	}
	first.done_fd = w.fd
	C.ohi_cthreads_submit(first)
	w.wait()
	putWaker(w)
	cthreads.offloaded.Add(1)
}

// cthreadsReady starts the codec threads on first use: as many as there
// are CPUs (at least GOMAXPROCS), since every call keeps one busy.
func cthreadsReady() bool {
	cthreads.once.Do(func() {
		n := max(runtime.NumCPU(), runtime.GOMAXPROCS(0))
		cthreads.ready = C.ohi_cthreads_start(C.int(n)) == 0
	})
	return cthreads.ready
}

// pinBytes pins b for a call and returns it as a C pointer (nil if empty).
func pinBytes(pin *runtime.Pinner, b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	pin.Pin(&b[0])
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// pinChars is pinBytes for an error message buffer.
func pinChars(pin *runtime.Pinner, b []byte) *C.char {
	return (*C.char)(unsafe.Pointer(pinBytes(pin, b)))
}
