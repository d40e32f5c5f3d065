package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/internal/testdb"
)

// backends runs fn against SQLite and against PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "ohi.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := OpenPostgres(context.Background(), testdb.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

func TestDatastoreIdempotencyAndQuota(t *testing.T) { backends(t, testDatastoreIdempotencyAndQuota) }

func testDatastoreIdempotencyAndQuota(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now()
	ds := &ohi.Datastore{ID: ohi.NewID(), Name: "a", Status: ohi.DatastoreCreating, LosslessStorageFormat: "HTJ2K", CreatedAt: now, UpdatedAt: now}
	got, created, err := s.DatastoreCreate(ctx, ds, "tok", "h1", 2)
	if err != nil || !created || got.ID != ds.ID {
		t.Fatalf("create = %v %v %v", got, created, err)
	}
	got, created, err = s.DatastoreCreate(ctx, &ohi.Datastore{ID: ohi.NewID(), Name: "a"}, "tok", "h1", 2)
	if err != nil || created || got.ID != ds.ID {
		t.Fatalf("replay = %v %v %v", got, created, err)
	}
	if _, _, err = s.DatastoreCreate(ctx, &ohi.Datastore{ID: ohi.NewID()}, "tok", "h2", 2); !errors.Is(err, ohi.ErrConflict) {
		t.Fatalf("token reuse = %v, want conflict", err)
	}
	ds2 := &ohi.Datastore{ID: ohi.NewID(), Name: "b", Status: ohi.DatastoreActive, LosslessStorageFormat: "HTJ2K", CreatedAt: now, UpdatedAt: now}
	if _, _, err := s.DatastoreCreate(ctx, ds2, "tok2", "h", 2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.DatastoreCreate(ctx, &ohi.Datastore{ID: ohi.NewID()}, "tok3", "h", 2); !errors.Is(err, ohi.ErrQuotaExceeded) {
		t.Fatalf("over quota = %v", err)
	}
	if err := s.DatastoreSetStatus(ctx, ds.ID, ohi.DatastoreDeleted, ohi.DatastoreActive); !errors.Is(err, ohi.ErrConflict) {
		t.Fatalf("transition from wrong state = %v", err)
	}
	if err := s.DatastoreSetStatus(ctx, ohi.NewID(), ohi.DatastoreDeleted); !errors.Is(err, ohi.ErrNotFound) {
		t.Fatalf("transition of unknown = %v", err)
	}
}

func commit(t *testing.T, s *Store, ds, id, series, patient string, version int64, primary bool, at time.Time) error {
	t.Helper()
	return s.ImageSetCommit(context.Background(), &ohi.ImageSetCommit{
		ImageSet: ohi.ImageSet{ID: id, DatastoreID: ds, Version: version, State: ohi.ImageSetActive, WorkflowStatus: ohi.WorkflowCreated,
			IsPrimary: primary, CreatedAt: at, UpdatedAt: at,
			Tags: ohi.DICOMTags{PatientID: patient, SeriesInstanceUID: series, StudyInstanceUID: "1.2." + patient, StudyDate: "20240102", StudyTime: "1030", InstanceCount: 2}},
		MetadataKey: fmt.Sprintf("k/%s/%d", id, version),
		Frames:      []*ohi.Frame{{ID: ohi.NewID(), BlobKey: "f", TransferSyntaxUID: "1.2.840.10008.1.2.1", Size: 4}},
	})
}

func TestImageSetCommitRules(t *testing.T) { backends(t, testImageSetCommitRules) }

func testImageSetCommitRules(t *testing.T, s *Store) {
	ds, now := ohi.NewID(), time.Now()
	id := ohi.NewID()
	if err := commit(t, s, ds, id, "1.1", "P1", 1, true, now); err != nil {
		t.Fatal(err)
	}
	// A second primary image set for the same series is refused.
	if err := commit(t, s, ds, ohi.NewID(), "1.1", "P1", 1, true, now); !errors.Is(err, ohi.ErrConflict) {
		t.Fatalf("second primary = %v", err)
	}
	// Non-primary image sets of the same series are fine.
	if err := commit(t, s, ds, ohi.NewID(), "1.1", "P2", 1, false, now); err != nil {
		t.Fatal(err)
	}
	// Versions must follow each other.
	if err := commit(t, s, ds, id, "1.1", "P1", 3, true, now); !errors.Is(err, ohi.ErrConflict) {
		t.Fatalf("skipped version = %v", err)
	}
	if err := commit(t, s, ds, id, "1.1", "P1", 2, true, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	vs, err := s.ImageSetVersions(context.Background(), ds, id, 0, 10)
	if err != nil || len(vs) != 2 || vs[0].Version != 2 || vs[1].Version != 1 {
		t.Fatalf("versions = %v, %v", vs, err)
	}
	p, err := s.ImageSetPrimaryForSeries(context.Background(), ds, "1.1")
	if err != nil || p.ID != id || p.Version != 2 {
		t.Fatalf("primary = %+v, %v", p, err)
	}
}

func TestSearchPaginationAndPlans(t *testing.T) { backends(t, testSearchPaginationAndPlans) }

func testSearchPaginationAndPlans(t *testing.T, s *Store) {
	ctx := context.Background()
	ds := ohi.NewID()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 57
	for i := 0; i < n; i++ {
		// Several image sets share each timestamp so the id tie-break matters.
		if err := commit(t, s, ds, ohi.NewID(), fmt.Sprintf("1.%d", i), fmt.Sprintf("P%d", i%5), 1, true, base.Add(time.Duration(i/3)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for _, desc := range []bool{true, false} {
		seen := map[string]bool{}
		q := &ohi.ImageSetQuery{DatastoreID: ds, SortField: "createdAt", SortDesc: desc, Limit: 10}
		var prev *ohi.ImageSet
		for page := 0; page < 10; page++ {
			list, err := s.ImageSetSearch(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, is := range list {
				if seen[is.ID] {
					t.Fatalf("image set %s returned twice", is.ID)
				}
				seen[is.ID] = true
				if prev != nil {
					before := prev.CreatedAt.Before(is.CreatedAt) || prev.CreatedAt.Equal(is.CreatedAt) && prev.ID < is.ID
					if before == desc {
						t.Fatalf("order broken (desc=%v): %v/%s then %v/%s", desc, prev.CreatedAt, prev.ID, is.CreatedAt, is.ID)
					}
				}
				prev = is
			}
			if len(list) < 10 {
				break
			}
			last := list[len(list)-1]
			q.After = &ohi.SearchCursor{Key: last.SortKey("createdAt"), ID: last.ID}
		}
		if len(seen) != n {
			t.Fatalf("desc=%v: paged through %d image sets, want %d", desc, len(seen), n)
		}
	}
	list, err := s.ImageSetSearch(ctx, &ohi.ImageSetQuery{DatastoreID: ds, Limit: 100,
		Conds: []ohi.SearchCond{{Field: "patientId", Lo: "P3"}, {Field: "createdAt", Lo: base, Hi: base.Add(10 * time.Second)}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range list {
		if is.Tags.PatientID != "P3" || is.CreatedAt.After(base.Add(10*time.Second)) {
			t.Fatalf("filter let through %+v", is)
		}
	}
	if len(list) != 6 { // i%5 == 3 and i/3 <= 10: i in {3,8,13,18,23,28}
		t.Fatalf("patient P3 in the first 10s: %d image sets, want 6", len(list))
	}

	// Every search shape must use an index, not scan the table.
	if s.dialect != dialectSQLite {
		return // PostgreSQL plans depend on table statistics; see bench/search
	}
	for _, q := range []string{
		`SELECT id FROM image_sets WHERE datastore_id = $1 AND state <> 'DELETED' ORDER BY updated_at DESC, id DESC LIMIT 51`,
		`SELECT id FROM image_sets WHERE datastore_id = $1 AND state <> 'DELETED' AND patient_id = $2 ORDER BY updated_at DESC, id DESC LIMIT 51`,
		`SELECT id FROM image_sets WHERE datastore_id = $1 AND state <> 'DELETED' AND series_uid = $2 ORDER BY updated_at DESC, id DESC LIMIT 51`,
		`SELECT id FROM image_sets WHERE datastore_id = $1 AND state <> 'DELETED' AND study_uid = $2 ORDER BY updated_at DESC, id DESC LIMIT 51`,
		`SELECT id FROM image_sets WHERE datastore_id = $1 AND state <> 'DELETED' AND accession = $2 ORDER BY updated_at DESC, id DESC LIMIT 51`,
		`SELECT id FROM image_sets WHERE datastore_id = $1 AND state <> 'DELETED' AND study_id = $2 ORDER BY updated_at DESC, id DESC LIMIT 51`,
		`SELECT id FROM image_sets WHERE datastore_id = $1 AND state <> 'DELETED' AND created_at BETWEEN $2 AND $3 ORDER BY created_at ASC, id ASC LIMIT 51`,
		`SELECT id FROM image_sets WHERE datastore_id = $1 AND state <> 'DELETED' AND study_datetime BETWEEN $2 AND $3 ORDER BY study_datetime DESC, id DESC LIMIT 51`,
	} {
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, ds, "x", "y")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		t.Logf("%s\n  plan: %s", q, joined)
		if !strings.Contains(joined, "USING INDEX") || strings.Contains(joined, "SCAN ") || strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("query does not use an index:\n%s\nplan: %s", q, joined)
		}
	}
}

func TestImportItemsPut(t *testing.T) { backends(t, testImportItemsPut) }

// testImportItemsPut checks that ImportItemsPut records several items at
// once, replaces earlier records, and records none when one of them fails.
func testImportItemsPut(t *testing.T, s *Store) {
	ctx := context.Background()
	job := ohi.NewID()
	item := func(key, state string) *ohi.ImportItem {
		return &ohi.ImportItem{JobID: job, Key: key, State: state, Result: []byte(`{"k":"` + key + `"}`)}
	}
	if err := s.ImportItemsPut(ctx); err != nil {
		t.Fatalf("no items: %v", err)
	}
	if err := s.ImportItemsPut(ctx, item("a", "decoding")); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportItemsPut(ctx, item("a", "parsed"), item("b", "parsed"), item("c", "failed")); err != nil {
		t.Fatal(err)
	}
	bad := item("e", "parsed")
	bad.Result = nil // violates NOT NULL
	if err := s.ImportItemsPut(ctx, item("d", "parsed"), bad); err == nil {
		t.Fatal("an item without a result was recorded")
	}
	got, err := s.ImportItems(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, it := range got {
		states = append(states, it.Key+"="+it.State)
	}
	if want := "a=parsed b=parsed c=failed"; strings.Join(states, " ") != want {
		t.Fatalf("recorded %q, want %q (d must not be recorded without e)", strings.Join(states, " "), want)
	}
}

func TestImportJobLeases(t *testing.T) { backends(t, testImportJobLeases) }

func testImportJobLeases(t *testing.T, s *Store) {
	ctx := context.Background()
	ds := ohi.NewID()
	now := time.Now()
	job := &ohi.ImportJob{ID: ohi.NewID(), DatastoreID: ds, Name: "j", Status: ohi.JobSubmitted, DataAccessRoleARN: "r",
		InputS3URI: "s3://a/b", OutputS3URI: "s3://c/d", SubmittedAt: now}
	if _, created, err := s.ImportJobCreate(ctx, job, "t", "h"); err != nil || !created {
		t.Fatal(err)
	}
	got, err := s.ImportJobClaim(ctx, "w1", now, now.Add(time.Minute))
	if err != nil || got == nil || got.ID != job.ID {
		t.Fatalf("claim = %v, %v", got, err)
	}
	if again, err := s.ImportJobClaim(ctx, "w2", now, now.Add(time.Minute)); err != nil || again != nil {
		t.Fatalf("claimed a leased job: %v, %v", again, err)
	}
	if err := s.ImportJobRenew(ctx, job.ID, "w2", now.Add(time.Minute)); !errors.Is(err, ohi.ErrConflict) {
		t.Fatalf("renew by non-owner = %v", err)
	}
	// After the lease expires another worker takes over.
	later := now.Add(2 * time.Minute)
	if got, err := s.ImportJobClaim(ctx, "w2", later, later.Add(time.Minute)); err != nil || got == nil {
		t.Fatalf("claim after expiry = %v, %v", got, err)
	}
	if err := s.ImportJobReleaseLeases(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ImportJobClaim(ctx, "w3", now, now.Add(time.Minute)); err != nil || got == nil {
		t.Fatalf("claim after release = %v, %v", got, err)
	}
	job.Status, job.EndedAt = ohi.JobCompleted, now
	if err := s.ImportJobUpdate(ctx, job); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ImportJobClaim(ctx, "w4", later.Add(time.Hour), later.Add(2*time.Hour)); err != nil || got != nil {
		t.Fatalf("claimed a finished job: %v, %v", got, err)
	}
}

func TestImportWorkNotifications(t *testing.T) {
	url := testdb.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan struct{}, 10)
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.ListenImportWork(lctx, func() { got <- struct{}{} }) }()
	// The listener needs a moment to issue LISTEN; notify until heard.
	deadline := time.After(10 * time.Second)
	for heard := false; !heard; {
		if err := b.NotifyImportWork(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			heard = true
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("no notification within 10s")
		}
	}
	stop()
	<-done
	// The store still works after the listening connection was dropped.
	if _, err := a.DatastoreList(ctx, "", "", 1); err != nil {
		t.Fatal(err)
	}
}

func TestImageFrameGet(t *testing.T) { backends(t, testImageFrameGet) }

// testImageFrameGet checks GetImageFrame's one-query lookup against every
// way it can miss, with the messages of the separate lookups.
func testImageFrameGet(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now()
	ds := &ohi.Datastore{ID: ohi.NewID(), Name: "frames", Status: ohi.DatastoreActive, LosslessStorageFormat: "HTJ2K", CreatedAt: now, UpdatedAt: now}
	if _, _, err := s.DatastoreCreate(ctx, ds, "frames-1", "h", 10); err != nil {
		t.Fatal(err)
	}
	id, gone := ohi.NewID(), ohi.NewID()
	frame := &ohi.Frame{ID: ohi.NewID(), BlobKey: "datastores/x/frames/j/f1", TransferSyntaxUID: "1.2.840.10008.1.2.4.202", Size: 1234}
	for _, is := range []string{id, gone} {
		c := &ohi.ImageSetCommit{
			ImageSet: ohi.ImageSet{ID: is, DatastoreID: ds.ID, Version: 1, State: ohi.ImageSetActive, WorkflowStatus: ohi.WorkflowCreated,
				CreatedAt: now, UpdatedAt: now, Tags: ohi.DICOMTags{SeriesInstanceUID: "1.2." + is}},
			MetadataKey: "k/" + is,
			Frames:      []*ohi.Frame{{ID: ohi.NewID(), BlobKey: "other", TransferSyntaxUID: "1.2.840.10008.1.2.1", Size: 4}},
		}
		if is == id {
			c.Frames = append(c.Frames, frame)
		}
		if err := s.ImageSetCommit(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ImageFrameGet(ctx, ds.ID, id, frame.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *got != (ohi.Frame{ID: frame.ID, ImageSetID: id, BlobKey: frame.BlobKey, TransferSyntaxUID: frame.TransferSyntaxUID, Size: frame.Size}) {
		t.Fatalf("ImageFrameGet = %+v", got)
	}
	if err := s.ImageSetChange(ctx, &ohi.ImageSetChange{Locks: []ohi.ImageSetLock{{DatastoreID: ds.ID, ImageSetID: gone, Version: 1,
		State: ohi.ImageSetDeleted, Status: ohi.WorkflowDeleted, UpdatedAt: now}}}); err != nil {
		t.Fatal(err)
	}
	other := &ohi.Datastore{ID: ohi.NewID(), Name: "other", Status: ohi.DatastoreActive, LosslessStorageFormat: "HTJ2K", CreatedAt: now, UpdatedAt: now}
	if _, _, err := s.DatastoreCreate(ctx, other, "frames-2", "h", 10); err != nil {
		t.Fatal(err)
	}
	miss := func(dsID, isID, frameID, want string) {
		t.Helper()
		f, err := s.ImageFrameGet(ctx, dsID, isID, frameID)
		if !errors.Is(err, ohi.ErrNotFound) || !strings.Contains(err.Error(), want) {
			t.Errorf("ImageFrameGet(%s, %s, %s) = %+v, %v; want not found: %q", dsID, isID, frameID, f, err, want)
		}
	}
	unknown := ohi.NewID()
	miss(unknown, id, frame.ID, "data store "+unknown+" does not exist")
	miss(other.ID, id, frame.ID, "image set "+id+" does not exist in data store "+other.ID)
	miss(ds.ID, unknown, frame.ID, "image set "+unknown+" does not exist")
	miss(ds.ID, gone, frame.ID, "image set "+gone+" was deleted")
	miss(ds.ID, id, unknown, "image frame "+unknown+" does not exist in image set "+id)
	if err := s.DatastoreSetStatus(ctx, ds.ID, ohi.DatastoreDeleted, ohi.DatastoreActive); err != nil {
		t.Fatal(err)
	}
	miss(ds.ID, id, frame.ID, "data store "+ds.ID+" was deleted")
}

func TestImportProgress(t *testing.T) { backends(t, testImportProgress) }

// testImportProgress checks the progress summary of a job's task records:
// files listed across tasks, tasks done, outcomes by state, and the first
// failures in key order, bounded.
func testImportProgress(t *testing.T, s *Store) {
	ctx := context.Background()
	job := ohi.NewID()
	p, err := s.ImportProgress(ctx, job, 10)
	if err != nil || p.Files != 0 || p.Tasks != 0 || p.Done() != 0 {
		t.Fatalf("job without tasks: %+v %v", p, err)
	}
	objs := func(keys ...string) []ohi.ObjectInfo {
		var out []ohi.ObjectInfo
		for _, k := range keys {
			out = append(out, ohi.ObjectInfo{Key: k, Size: 1})
		}
		return out
	}
	if _, err := s.ImportTasksCreate(ctx, job, [][]ohi.ObjectInfo{objs("a", "b", "c"), objs("d", "e"), objs("f")}); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportTaskDone(ctx, &ohi.ImportTask{JobID: job, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	item := func(key, state string) *ohi.ImportItem {
		return &ohi.ImportItem{JobID: job, Key: key, State: state, Result: []byte(`{"exceptionType":"ValidationException","message":"` + key + `"}`)}
	}
	if err := s.ImportItemsPut(ctx, item("e", "failed"), item("d", "failed"), item("a", "parsed"), item("b", "committed"), item("c", "decoding"), item("f", "failed")); err != nil {
		t.Fatal(err)
	}
	// Another job's records do not count.
	if err := s.ImportItemsPut(ctx, &ohi.ImportItem{JobID: ohi.NewID(), Key: "a", State: "failed", Result: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	p, err = s.ImportProgress(ctx, job, 2)
	if err != nil {
		t.Fatal(err)
	}
	if p.Files != 6 || p.Tasks != 3 || p.TasksDone != 1 || p.Parsed != 1 || p.Committed != 1 || p.Failed != 3 || p.Done() != 5 {
		t.Fatalf("progress %+v", p)
	}
	if len(p.Failures) != 2 || p.Failures[0].Key != "d" || p.Failures[1].Key != "e" || !strings.Contains(string(p.Failures[0].Result), `"message":"d"`) {
		t.Fatalf("failures %+v", p.Failures)
	}
	if p, err := s.ImportProgress(ctx, job, 0); err != nil || p.Failures != nil || p.Failed != 3 {
		t.Fatalf("no failures asked: %+v %v", p, err)
	}
}
