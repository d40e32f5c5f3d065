// Package jobqueue runs import jobs durably, across every worker of every
// process that shares the metadata store. Jobs and their tasks live in the
// store (import_jobs and import_tasks are the queue):
//
//   - a worker claims the oldest unfinished job with a lease, plans it
//     (lists the input and splits it into tasks of a few files), and
//     becomes its coordinator;
//   - any worker claims any task of a running job with a lease and reads its
//     files; so one large import uses the cores of every replica;
//   - when no task is left, the coordinator groups the files into image
//     sets, writes the output and records the final status.
//
// Leases are renewed while work runs. A job or task whose worker died is
// claimed again once its lease expires (at once in embedded mode, where the
// restarting process is the only one); the importer resumes it from its
// recorded per-file progress, so each file is imported exactly once.
package jobqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/openhealthimaging/ohi"
)

// JobRunner does the work of import jobs; see importer.Importer.
type JobRunner interface {
	// Start plans a job; a job-level failure leaves job.Status FAILED.
	Start(ctx context.Context, job *ohi.ImportJob) error
	// RunTask reads the files of one task.
	RunTask(ctx context.Context, task *ohi.ImportTask) error
	// Finish groups, writes the output and records the final status.
	Finish(ctx context.Context, job *ohi.ImportJob) error
}

// Runner claims and runs import jobs.
type Runner struct {
	Store  ohi.MetadataStore
	Jobs   JobRunner
	Logger *slog.Logger
	// Owner identifies this process in leases (default a random id).
	Owner string
	// Lease is how long a claim lasts without renewal (default 30s); it is
	// renewed every Lease/3.
	Lease time.Duration
	// Poll is how often the queue is checked without a notification
	// (default 2s).
	Poll time.Duration
	// Concurrency is the number of workers (default 1; each task already
	// reads its files on every core).
	Concurrency int
	// GiveUpAfter and GiveUpAttempts bound a job that keeps failing the
	// same way (a bug, not an outage): once its coordination has been
	// interrupted by errors GiveUpAttempts times (default 10) over at
	// least GiveUpAfter (default 30 minutes), with no success in between,
	// the job ends FAILED with the last error instead of staying
	// IN_PROGRESS forever.
	GiveUpAfter    time.Duration
	GiveUpAttempts int

	once    sync.Once
	wake    chan struct{}
	mu      sync.Mutex
	failing map[string]*jobFailures // job id -> interruptions by errors
}

// jobFailures counts the interruptions of one job by errors.
type jobFailures struct {
	n     int
	first time.Time
}

func (r *Runner) init() {
	r.once.Do(func() {
		if r.Concurrency <= 0 {
			r.Concurrency = 1
		}
		r.wake = make(chan struct{}, r.Concurrency)
		if r.Owner == "" {
			r.Owner = ohi.NewID()
		}
		if r.Lease == 0 {
			r.Lease = 30 * time.Second
		}
		if r.Poll == 0 {
			r.Poll = 2 * time.Second
		}
		if r.Logger == nil {
			r.Logger = slog.Default()
		}
		if r.GiveUpAfter == 0 {
			r.GiveUpAfter = 30 * time.Minute
		}
		if r.GiveUpAttempts == 0 {
			r.GiveUpAttempts = 10
		}
		r.failing = map[string]*jobFailures{}
	})
}

// WorkNotifier is implemented by metadata stores that several processes
// share (sqlstore on PostgreSQL): it tells the other processes at once that
// import work is waiting, instead of leaving them to find it at their next
// poll.
type WorkNotifier interface {
	NotifyImportWork(ctx context.Context) error
	ListenImportWork(ctx context.Context, fn func()) error
}

// Notify wakes a worker of this process, and of every process sharing the
// store, to look for a new job or new tasks.
func (r *Runner) Notify() {
	r.wakeLocal()
	if n, ok := r.Store.(WorkNotifier); ok {
		if err := n.NotifyImportWork(context.Background()); err != nil {
			r.Logger.Warn("notify other processes of import work", "err", err)
		}
	}
}

func (r *Runner) wakeLocal() {
	r.init()
	for i := 0; i < r.Concurrency; i++ {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// listen wakes this process's workers on other processes' notifications,
// reconnecting after failures, until ctx ends.
func (r *Runner) listen(ctx context.Context, n WorkNotifier) {
	for ctx.Err() == nil {
		if err := n.ListenImportWork(ctx, r.wakeLocal); err != nil && ctx.Err() == nil {
			r.Logger.Warn("listen for import work", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.Poll):
		}
	}
}

// Run works until ctx is cancelled, then waits for running jobs to stop
// (they stop at their next cancellation point and resume on the next start).
func (r *Runner) Run(ctx context.Context) {
	r.init()
	var wg sync.WaitGroup
	if n, ok := r.Store.(WorkNotifier); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.listen(ctx, n)
		}()
	}
	for i := 0; i < r.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(ctx)
		}()
	}
	wg.Wait()
}

func (r *Runner) worker(ctx context.Context) {
	t := time.NewTicker(r.Poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil && (r.runTask(ctx, "") || r.runJob(ctx)) {
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
		}
	}
}

// backoff waits after a failure so a failing store is not hammered; the
// lease then expires and the work is retried.
func (r *Runner) backoff(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(r.Poll):
	}
}

// runTask claims and runs one task (of job jobID, or of any job); it
// reports whether it found one.
func (r *Runner) runTask(ctx context.Context, jobID string) bool {
	now := time.Now()
	task, err := r.Store.ImportTaskClaim(ctx, jobID, r.Owner, now, now.Add(r.Lease))
	if err != nil {
		if ctx.Err() == nil {
			r.Logger.Error("claim import task", "err", err)
			r.backoff(ctx)
		}
		return false
	}
	if task == nil {
		return false
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go r.renew(tctx, cancel, func(c context.Context, until time.Time) error {
		return r.Store.ImportTaskRenew(c, task, r.Owner, until)
	})
	if err := r.safely(func() error { return r.Jobs.RunTask(tctx, task) }); err != nil {
		var pe *panicError
		if errors.As(err, &pe) {
			// Give the task back at once: it is retried after the
			// backoff rather than after its lease expires.
			if rerr := r.Store.ImportTaskRenew(context.WithoutCancel(ctx), task, r.Owner, time.Now()); rerr != nil {
				r.Logger.Warn("release import task lease", "jobId", task.JobID, "task", task.Seq, "err", rerr)
			}
		}
		if ctx.Err() == nil && tctx.Err() == nil {
			r.Logger.Error("import task interrupted", "jobId", task.JobID, "task", task.Seq, "err", err)
			r.backoff(ctx)
		}
		return true
	}
	if err := r.Store.ImportTaskDone(ctx, task); err != nil {
		if ctx.Err() == nil {
			r.Logger.Error("record import task done", "jobId", task.JobID, "task", task.Seq, "err", err)
		}
		return true
	}
	r.Logger.Info("import task done", "jobId", task.JobID, "task", task.Seq, "files", len(task.Objects))
	return true
}

// runJob claims a job and coordinates it to its end; it reports whether it
// found one.
func (r *Runner) runJob(ctx context.Context) bool {
	now := time.Now()
	job, err := r.Store.ImportJobClaim(ctx, r.Owner, now, now.Add(r.Lease))
	if err != nil {
		if ctx.Err() == nil {
			r.Logger.Error("claim import job", "err", err)
			r.backoff(ctx)
		}
		return false
	}
	if job == nil {
		return false
	}
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go r.renew(jctx, cancel, func(c context.Context, until time.Time) error {
		return r.Store.ImportJobRenew(c, job.ID, r.Owner, until)
	})
	err = r.safely(func() error { return r.coordinate(jctx, job) })
	var pe *panicError
	switch {
	case errors.As(err, &pe):
		// A bug: retrying would meet it again. The job ends FAILED and
		// its lease is given back.
		job.Status, job.EndedAt = ohi.JobFailed, time.Now().UTC()
		job.Message = "an internal error stopped the import job (" + pe.Error() + "); the server log has the details"
		wctx := context.WithoutCancel(ctx)
		if uerr := r.Store.ImportJobUpdate(wctx, job); uerr != nil {
			r.Logger.Error("record import job failed", "jobId", job.ID, "err", uerr)
		}
		if rerr := r.Store.ImportJobRenew(wctx, job.ID, r.Owner, time.Now()); rerr != nil && !errors.Is(rerr, ohi.ErrConflict) {
			r.Logger.Warn("release import job lease", "jobId", job.ID, "err", rerr)
		}
	case err == nil:
		r.mu.Lock()
		delete(r.failing, job.ID)
		r.mu.Unlock()
	case ctx.Err() != nil:
		r.Logger.Info("import job interrupted by shutdown; it resumes at the next start", "jobId", job.ID)
	case jctx.Err() != nil:
		r.Logger.Warn("import job lease lost; another worker resumes it", "jobId", job.ID)
	default:
		r.Logger.Error("import job interrupted", "jobId", job.ID, "err", err)
		if !r.giveUp(ctx, job, err) {
			r.backoff(ctx)
		}
	}
	return true
}

// giveUp counts an interruption of job by err and, when the job has kept
// failing for long enough, ends it FAILED; it reports whether it did.
func (r *Runner) giveUp(ctx context.Context, job *ohi.ImportJob, err error) bool {
	now := time.Now()
	r.mu.Lock()
	f := r.failing[job.ID]
	if f == nil {
		f = &jobFailures{first: now}
		r.failing[job.ID] = f
	}
	f.n++
	n, since := f.n, now.Sub(f.first)
	if n < r.GiveUpAttempts || since < r.GiveUpAfter {
		r.mu.Unlock()
		return false
	}
	delete(r.failing, job.ID)
	r.mu.Unlock()
	job.Status, job.EndedAt = ohi.JobFailed, now.UTC()
	job.Message = fmt.Sprintf("the import job could not finish: it was interrupted %d times over %s, last by: %v", n, since.Round(time.Second), err)
	if uerr := r.Store.ImportJobUpdate(context.WithoutCancel(ctx), job); uerr != nil {
		r.Logger.Error("record import job failed", "jobId", job.ID, "err", uerr)
		return false
	}
	r.Logger.Error("import job failed: it kept being interrupted by errors", "jobId", job.ID, "attempts", n, "err", err)
	return true
}

func (r *Runner) coordinate(ctx context.Context, job *ohi.ImportJob) error {
	if err := r.Jobs.Start(ctx, job); err != nil || job.Status == ohi.JobFailed {
		return err
	}
	r.Notify() // the job's tasks exist: every process may help now
	wait := time.NewTicker(min(r.Poll, 200*time.Millisecond))
	defer wait.Stop()
	for {
		if r.runTask(ctx, job.ID) {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n, _, err := r.Store.ImportTasksPending(ctx, job.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			return r.Jobs.Finish(ctx, job)
		}
		// Other workers hold the remaining tasks; help with other jobs'
		// tasks meanwhile, then look again.
		if !r.runTask(ctx, "") {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-wait.C:
			}
		}
	}
}

func (r *Runner) renew(ctx context.Context, cancel context.CancelFunc, renew func(context.Context, time.Time) error) {
	t := time.NewTicker(r.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := renew(ctx, time.Now().Add(r.Lease)); err != nil {
				if errors.Is(err, ohi.ErrConflict) {
					cancel()
					return
				}
				if ctx.Err() == nil {
					r.Logger.Warn("renew lease", "err", err)
				}
			}
		}
	}
}

// panicError is a panic of the JobRunner, recovered.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// safely runs fn, turning a panic into a *panicError (and logging its
// stack) so that a bug in one job does not stop the process.
func (r *Runner) safely(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.Logger.Error("internal error in import work", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = &panicError{v}
		}
	}()
	return fn()
}
