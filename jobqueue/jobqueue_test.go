package jobqueue_test

import (
	"context"
	"errors"
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

// brokenFinish plans jobs without tasks and fails every Finish, as a bug
// that no retry can get past would.
type brokenFinish struct{ finishes atomic.Int32 }

func (b *brokenFinish) Start(ctx context.Context, job *ohi.ImportJob) error {
	job.Status = ohi.JobInProgress
	return nil
}

func (b *brokenFinish) RunTask(ctx context.Context, task *ohi.ImportTask) error { return nil }

func (b *brokenFinish) Finish(ctx context.Context, job *ohi.ImportJob) error {
	b.finishes.Add(1)
	return errors.New("the same bug again")
}

// TestJobThatKeepsFailingEnds: a job whose coordination fails every time
// ends FAILED, with the error, once it has failed GiveUpAttempts times over
// GiveUpAfter, instead of staying IN_PROGRESS forever.
func TestJobThatKeepsFailingEnds(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ohi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
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
	jobs := &brokenFinish{}
	r := &jobqueue.Runner{Store: store, Jobs: jobs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Poll: 10 * time.Millisecond, Lease: 300 * time.Millisecond, GiveUpAttempts: 4, GiveUpAfter: 100 * time.Millisecond}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := store.ImportJobGet(ctx, ds.ID, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == ohi.JobFailed {
			if !strings.Contains(got.Message, "the same bug again") || got.EndedAt.IsZero() {
				t.Fatalf("FAILED job: message %q, ended %v", got.Message, got.EndedAt)
			}
			if n := jobs.finishes.Load(); n < 4 {
				t.Fatalf("the job failed after %d attempts, want 4", n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s after %d failed attempts", got.Status, jobs.finishes.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
