package jobqueue_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/jobqueue"
	"github.com/openhealthimaging/ohi/sqlstore"
)

// panicky plans one task per job; its first RunTask panics when
// panicTask is set, and its Finish panics when panicFinish is set (else
// it records COMPLETED).
type panicky struct {
	store       *sqlstore.Store
	panicTask   bool
	panicFinish bool
	tasks       atomic.Int32
}

func (p *panicky) Start(ctx context.Context, job *ohi.ImportJob) error {
	job.Status = ohi.JobInProgress
	if err := p.store.ImportJobUpdate(ctx, job); err != nil {
		return err
	}
	_, err := p.store.ImportTasksCreate(ctx, job.ID, [][]ohi.ObjectInfo{{{Key: "x/a.dcm", Size: 1}}})
	return err
}

func (p *panicky) RunTask(ctx context.Context, task *ohi.ImportTask) error {
	if p.tasks.Add(1) == 1 && p.panicTask {
		panic("task bug")
	}
	return nil
}

func (p *panicky) Finish(ctx context.Context, job *ohi.ImportJob) error {
	if p.panicFinish {
		panic("finish bug")
	}
	job.Status, job.EndedAt = ohi.JobCompleted, time.Now()
	return p.store.ImportJobUpdate(ctx, job)
}

// runPanicky runs one job with jobs under a Runner whose leases last a
// minute, and returns the job once it has ended (within 15 s).
func runPanicky(t *testing.T, jobs *panicky) *ohi.ImportJob {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ohi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	jobs.store = store
	now := time.Now()
	ds := &ohi.Datastore{ID: ohi.NewID(), Name: "d", Status: ohi.DatastoreActive, LosslessStorageFormat: "HTJ2K", CreatedAt: now, UpdatedAt: now}
	if _, _, err := store.DatastoreCreate(ctx, ds, "", "", 10); err != nil {
		t.Fatal(err)
	}
	job := &ohi.ImportJob{ID: ohi.NewID(), DatastoreID: ds.ID, Name: "j", Status: ohi.JobSubmitted, DataAccessRoleARN: "arn:aws:iam::123456789012:role/x",
		InputS3URI: "s3://input/x/", OutputS3URI: "s3://output/o/", SubmittedAt: now}
	if _, _, err := store.ImportJobCreate(ctx, job, "t", "h"); err != nil {
		t.Fatal(err)
	}
	r := &jobqueue.Runner{Store: store, Jobs: jobs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Poll: 20 * time.Millisecond, Lease: time.Minute}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := store.ImportJobGet(ctx, ds.ID, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == ohi.JobFailed || got.Status == ohi.JobCompleted {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s after 15 s (%d task runs)", got.Status, jobs.tasks.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPanickingCoordinationFailsJob: a panic while coordinating a job
// ends it FAILED with the panic instead of stopping the process.
func TestPanickingCoordinationFailsJob(t *testing.T) {
	got := runPanicky(t, &panicky{panicFinish: true})
	if got.Status != ohi.JobFailed || !strings.Contains(got.Message, "panic: finish bug") || got.EndedAt.IsZero() {
		t.Fatalf("job %s: %q, ended %v", got.Status, got.Message, got.EndedAt)
	}
}

// TestPanickingTaskReleasesLease: a task whose run panicked is given back
// at once (its one-minute lease released), so it is run again and the job
// completes within seconds.
func TestPanickingTaskReleasesLease(t *testing.T) {
	jobs := &panicky{panicTask: true}
	got := runPanicky(t, jobs)
	if got.Status != ohi.JobCompleted || jobs.tasks.Load() != 2 {
		t.Fatalf("job %s: %q after %d task runs", got.Status, got.Message, jobs.tasks.Load())
	}
}
