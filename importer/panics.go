package importer

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/openhealthimaging/ohi"
)

// panicError is a panic recovered while importing: a bug in ohi or in a
// library it calls, met on one file or in one phase of a job. It fails
// that file (or that job) instead of stopping the process; the server log
// gets the stack.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// recovered makes a panicError of a recovered panic value, with the stack
// of the goroutine that panicked (call it in the deferred function).
func recovered(v any) *panicError { return &panicError{value: v, stack: debug.Stack()} }

// filePanic logs pe with its stack and returns the reason the file fails
// with.
func (im *Importer) filePanic(pe *panicError, attrs ...any) string {
	im.logger().Error("internal error while importing a file; the file fails, the import carries on",
		append(attrs, "panic", fmt.Sprint(pe.value), "stack", string(pe.stack))...)
	return "an internal error stopped the import of this file (" + pe.Error() + "); the server log has the details"
}

// recoverJob, deferred by the job-level phases, ends the job FAILED when
// the phase panicked, naming the phase and the panic, and logs the stack.
func (im *Importer) recoverJob(ctx context.Context, job *ohi.ImportJob, phase *string, log *slog.Logger, err *error) {
	v := recover()
	if v == nil {
		return
	}
	pe := recovered(v)
	log.Error("internal error in an import job; the job fails", "phase", *phase, "panic", fmt.Sprint(v), "stack", string(pe.stack))
	*err = im.end(ctx, job, jobFailf("an internal error stopped the import job while %s (%s); the server log has the details", *phase, pe.Error()), nil, log)
}

// hook calls Importer.TestHook at a point of the import.
func (im *Importer) hook(point, key string) {
	if im.TestHook != nil {
		im.TestHook(point, key)
	}
}
