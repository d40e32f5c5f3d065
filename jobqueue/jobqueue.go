// Package jobqueue runs import jobs durably. Jobs live in the metadata
// store (the import_jobs table is the queue): a worker claims the oldest
// unfinished job with a lease, renews the lease while it works, and records
// the final status. A job whose worker died is claimed again once its lease
// expires (or at once, in embedded mode, where the process that restarts is
// the only one); the importer resumes it from its recorded progress.
package jobqueue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/openhealthimaging/ohi"
)

// JobRunner runs one import job to its end; see importer.Importer.Run.
type JobRunner interface {
	Run(ctx context.Context, job *ohi.ImportJob) error
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
	// Concurrency is the number of jobs run at once (default 1; each job
	// already reads its files on every core).
	Concurrency int

	once sync.Once
	wake chan struct{}
}

func (r *Runner) init() {
	r.once.Do(func() {
		r.wake = make(chan struct{}, 1)
		if r.Owner == "" {
			r.Owner = ohi.NewID()
		}
		if r.Lease == 0 {
			r.Lease = 30 * time.Second
		}
		if r.Poll == 0 {
			r.Poll = 2 * time.Second
		}
		if r.Concurrency <= 0 {
			r.Concurrency = 1
		}
		if r.Logger == nil {
			r.Logger = slog.Default()
		}
	})
}

// Notify wakes a worker to look for a new job.
func (r *Runner) Notify() {
	r.init()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx is cancelled, then waits for running jobs to stop
// (they stop at their next cancellation point and resume on the next start).
func (r *Runner) Run(ctx context.Context) {
	r.init()
	var wg sync.WaitGroup
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
		for ctx.Err() == nil && r.runOne(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
		}
	}
}

// runOne claims and runs one job; it reports whether it found one.
func (r *Runner) runOne(ctx context.Context) bool {
	now := time.Now()
	job, err := r.Store.ImportJobClaim(ctx, r.Owner, now, now.Add(r.Lease))
	if err != nil {
		if ctx.Err() == nil {
			r.Logger.Error("claim import job", "err", err)
		}
		return false
	}
	if job == nil {
		return false
	}
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go r.renew(jctx, cancel, job.ID)
	err = r.Jobs.Run(jctx, job)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r.Logger.Info("import job interrupted by shutdown; it resumes at the next start", "jobId", job.ID)
	case errors.Is(jctx.Err(), context.Canceled):
		r.Logger.Warn("import job lease lost; another worker resumes it", "jobId", job.ID)
	default:
		r.Logger.Error("import job interrupted", "jobId", job.ID, "err", err)
		// Back off so a failing store is not hammered; the lease expires and
		// the job is retried.
		select {
		case <-ctx.Done():
		case <-time.After(r.Poll):
		}
	}
	return true
}

func (r *Runner) renew(ctx context.Context, cancel context.CancelFunc, id string) {
	t := time.NewTicker(r.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Store.ImportJobRenew(ctx, id, r.Owner, time.Now().Add(r.Lease)); err != nil {
				if errors.Is(err, ohi.ErrConflict) {
					cancel()
					return
				}
				if ctx.Err() == nil {
					r.Logger.Warn("renew import job lease", "jobId", id, "err", err)
				}
			}
		}
	}
}
