package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/importer"
	"github.com/openhealthimaging/ohi/internal/s3test"
	"github.com/openhealthimaging/ohi/internal/testdb"
	"github.com/openhealthimaging/ohi/synth"
)

// Input of the chaos test: 4 studies × 5 series × 100 instances of 32×32,
// 2,000 files in 20 series, 125 import tasks of importer.BatchSize (16) files.
var chaosInput = synth.Config{Studies: 4, Series: 5, Instances: 100, Rows: 32, Cols: 32, Patients: 2, Seed: 61}

const (
	// chaosLease is the lease of the replicas (--lease): a task or job held
	// by the killed replica is taken over this long after its last renewal.
	chaosLease  = 6 * time.Second
	taskDoneMsg = `msg="import task done"`
)

var taskSeqRE = regexp.MustCompile(` task=(\d+) `)

// TestReplicasChaos runs three replicas of `ohi serve` on one PostgreSQL
// database and one S3-compatible service (moto), imports 2,000 files through
// replica 1, SIGKILLs one replica while it holds an import task lease (after
// it has finished some tasks), restarts it a few seconds later and checks
// that the job completes with every file imported exactly once and that
// every replica serves the same image sets and the same frames. The killed
// replica is replica 2 (a worker), then whichever replica coordinates the
// job (so the job lease is taken over too).
func TestReplicasChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: three replicas import 2,000 files while one of them is killed and restarted")
	}
	t.Run("kill-worker", func(t *testing.T) { testReplicasChaos(t, 1, 100) })
	t.Run("kill-coordinator", func(t *testing.T) { testReplicasChaos(t, -1, 10) })
}

// testReplicasChaos kills replica victimIdx+1 (victimIdx -1: the replica
// that coordinates the job) mid-import and reads back framesPerSeries
// frames of every series from every replica.
func testReplicasChaos(t *testing.T, victimIdx, framesPerSeries int) {
	killCoordinator := victimIdx < 0
	began := time.Now()
	dbURL := testdb.Postgres(t)
	moto := s3test.Start(t, "ohi-storage", "dicom-in", "dicom-out")
	s3c := moto.Client()

	g, err := synth.New(chaosInput)
	if err != nil {
		t.Fatal(err)
	}
	cfg := g.Config()
	var refs []synth.Ref
	for st := 0; st < cfg.Studies; st++ {
		for se := 0; se < cfg.Series; se++ {
			for in := 0; in < cfg.Instances; in++ {
				refs = append(refs, synth.Ref{Study: st, Series: se, Instance: in})
			}
		}
	}
	n, nSeries := len(refs), cfg.Studies*cfg.Series
	uploadInput(t, s3c, g, refs)
	t.Logf("uploaded %d files to s3://dicom-in/chaos/ in %v", n, time.Since(began).Round(time.Millisecond))

	// Three replicas with the same flags and their own scratch directories.
	args := append([]string{"--database", dbURL, "--blob-store", "s3://ohi-storage/ohi/", "--s3-endpoint", moto.Endpoint,
		"--lease", chaosLease.String(), "--import-workers", "2"}, authArgs...)
	env := s3Env(moto.Endpoint)[1:] // credentials only: the endpoint comes from the flag
	opts := make([]serverOpts, 3)
	replicas := make([]*serverProc, 3)
	for i := range replicas {
		opts[i] = serverOpts{DataDir: t.TempDir(), Args: args, Env: env}
		replicas[i] = startServer(t, opts[i])
	}
	clients := func() []*mi.Client {
		var cs []*mi.Client
		for _, r := range replicas {
			cs = append(cs, newClient(r.Endpoint, testAK, testSecret))
		}
		return cs
	}
	c := clients()
	ds := createDatastore(t, c[0], "chaos")

	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	jobID := startImport(t, c[0], ds, "s3://dicom-in/chaos/", "s3://dicom-out/jobs/")
	importStart := time.Now()
	nTasks := (n + importer.BatchSize - 1) / importer.BatchSize

	if killCoordinator {
		// Every replica is woken for the job; the one that claims it logs
		// that it started it.
		waitFor(t, "a replica coordinating the job", 30*time.Second, 20*time.Millisecond, func() (bool, error) {
			for i, r := range replicas {
				if r.Log.Count(`msg="import job started"`) > 0 {
					victimIdx = i
					return true, nil
				}
			}
			return false, nil
		})
	}

	// Watch the task queue and the victim's log; kill the victim while it
	// holds a task lease, once it has finished at least three tasks, a
	// quarter of the tasks are done and at least a third are still to do.
	w := &taskWatch{db: db, jobID: jobID, owners: map[int64]string{}}
	victim := replicas[victimIdx]
	name := fmt.Sprintf("replica %d", victimIdx+1)
	var victimOwner string
	var killedTask taskLease
	var doneAtKill, victimDone int
	waitFor(t, name+" holding a task lease mid-import", 90*time.Second, 20*time.Millisecond, func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), callLimit)
		defer cancel()
		snap, err := w.poll(ctx)
		if err != nil {
			return false, err
		}
		if victim.Exited() {
			return false, fmt.Errorf("%s exited before the kill:\n%s", name, victim.Log.Tail(20))
		}
		if len(snap.all) > 0 && len(snap.all) != nTasks {
			return false, fmt.Errorf("the job has %d tasks, want %d", len(snap.all), nTasks)
		}
		if len(snap.all) > 0 && snap.done*3 > nTasks*2 {
			return false, fmt.Errorf("%d of %d tasks done before %s was caught holding a lease: make the input bigger", snap.done, nTasks, name)
		}
		if victimOwner == "" {
			for _, seq := range doneTasks(victim.Log) {
				if o := w.owners[seq]; o != "" {
					victimOwner = o
				}
			}
		}
		if victimOwner == "" || len(doneTasks(victim.Log)) < 3 || snap.done < nTasks/4 {
			return false, nil
		}
		for _, l := range snap.leased {
			if l.owner == victimOwner {
				victim.Kill()
				victimDone, doneAtKill = len(doneTasks(victim.Log)), snap.done
				return true, nil
			}
		}
		return false, nil
	})
	killedAt := time.Now()
	// The lease the dead replica left (read after the kill: it may have
	// renewed it, or moved on to its next task, since the snapshot).
	leases, err := w.db.QueryContext(callCtx(t), `SELECT seq, lease_until FROM import_tasks WHERE job_id = $1 AND lease_owner = $2 AND NOT done`, jobID, victimOwner)
	if err != nil {
		t.Fatal(err)
	}
	var held []taskLease
	for leases.Next() {
		l := taskLease{owner: victimOwner}
		if err := leases.Scan(&l.seq, &l.until); err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
	}
	if err := errors.Join(leases.Err(), leases.Close()); err != nil {
		t.Fatal(err)
	}
	switch len(held) {
	case 0:
		// It finished its task in the milliseconds between the snapshot
		// and the kill: it still did work, but left no lease to take over.
		killedTask.seq = -1
	case 1:
		killedTask = held[0]
	default:
		t.Fatalf("%s held %d task leases when it was killed, want at most 1 (it runs one task at a time): %+v", name, len(held), held)
	}
	t.Logf("SIGKILLed %s %v into the import: it had finished %d tasks (%s) and held task %d; %d of %d tasks done",
		name, killedAt.Sub(importStart).Round(time.Millisecond), victimDone, strings.Join(seqStrings(doneTasks(victim.Log)), ","),
		killedTask.seq, doneAtKill, nTasks)
	if victimDone < 3 || victim.Log.Count(`msg="import job completed"`) != 0 {
		t.Fatalf("%s had not done work before the kill, or the job had completed: %d tasks done", name, victimDone)
	}
	// Ask a replica that is still running.
	live := c[(victimIdx+1)%len(c)]
	if g, err := live.GetDICOMImportJob(callCtx(t), &mi.GetDICOMImportJobInput{DatastoreId: &ds, JobId: &jobID}); err != nil {
		t.Fatal(err)
	} else if g.JobProperties.JobStatus != types.JobStatusInProgress {
		t.Fatalf("job is %s right after the kill, want IN_PROGRESS", g.JobProperties.JobStatus)
	}

	// The killed lease is not renewed: after a live replica would have
	// renewed it (lease/3 after its last renewal) and well before it
	// expires, the task still carries the lease of the dead replica,
	// unchanged.
	if killedTask.seq < 0 {
		time.Sleep(chaosLease / 3)
	} else {
		lastRenewal := time.UnixMilli(killedTask.until).Add(-chaosLease)
		time.Sleep(time.Until(lastRenewal.Add(chaosLease/3 + 500*time.Millisecond)))
		var owner string
		var until sql.NullInt64
		var done bool
		if err := db.QueryRowContext(callCtx(t), `SELECT COALESCE(lease_owner, ''), lease_until, done FROM import_tasks WHERE job_id = $1 AND seq = $2`,
			jobID, killedTask.seq).Scan(&owner, &until, &done); err != nil {
			t.Fatal(err)
		}
		if done || owner != victimOwner || until.Int64 != killedTask.until {
			t.Fatalf("task %d %v after the kill: done %v, owner %q lease until %d; want the dead lease (owner %q until %d)",
				killedTask.seq, time.Since(killedAt).Round(time.Millisecond), done, owner, until.Int64, victimOwner, killedTask.until)
		}
	}

	// Restart the victim on the same flags and wait for the job via
	// replica 3, still watching the queue (to see the dead lease taken over).
	time.Sleep(time.Second)
	replicas[victimIdx] = startServer(t, opts[victimIdx])
	c = clients()
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(20 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), callLimit)
			_, _ = w.poll(ctx)
			cancel()
		}
	}()
	p := waitJob(t, live, ds, jobID, 150*time.Second)
	close(stopWatch)
	<-watched
	wantCompleted(t, p, "s3://dicom-out/jobs/", ds)
	importWall := time.Since(importStart)

	perReplica := make([]int, 3)
	for i, r := range replicas {
		perReplica[i] = r.Log.Count(taskDoneMsg)
	}
	t.Logf("job COMPLETED %v after the start; import tasks done per replica after the restart: %v (killed %s did %d before the kill)",
		importWall.Round(time.Millisecond), perReplica, name, victimDone)
	resumed := 0
	for i, r := range replicas {
		if r.Log.Count(`msg="import job started"`) > 0 {
			t.Logf("replica %d coordinated the job", i+1)
		}
		if n := r.Log.Count(`msg="import job resumed"`); n > 0 {
			resumed += n
			t.Logf("replica %d resumed the job as its coordinator", i+1)
		}
	}
	switch coordinator := victim.Log.Count(`msg="import job started"`) > 0; {
	case coordinator && resumed == 0:
		t.Fatalf("%s coordinated the job and was killed, but no replica logged that it resumed the job", name)
	case !coordinator && resumed > 0:
		t.Fatalf("the job was resumed %d times although its coordinator was not killed", resumed)
	}
	if killCoordinator && victim.Log.Count(`msg="import job started"`) == 0 {
		t.Fatalf("%s did not coordinate the job: this case no longer kills the coordinator", name)
	}
	if o, ok := w.takeover(killedTask.seq, victimOwner); ok && killedTask.seq >= 0 {
		t.Logf("task %d was seen claimed again (by owner %s) after its lease expired", killedTask.seq, o)
	}
	// Every task was logged done, the killed one by a live replica; a task
	// done twice would mean a live lease was taken over.
	doneBy := map[int64][]string{}
	logs := map[string]*logLines{name + " (killed)": victim.Log}
	for i, r := range replicas {
		label := fmt.Sprintf("replica %d", i+1)
		if i == victimIdx {
			label += " (restarted)"
		}
		logs[label] = r.Log
	}
	for label, l := range logs {
		for _, seq := range doneTasks(l) {
			doneBy[seq] = append(doneBy[seq], label)
		}
	}
	for seq := range int64(nTasks) {
		switch by := doneBy[seq]; {
		case len(by) == 0:
			t.Errorf("no replica logged task %d done", seq)
		case len(by) > 1:
			t.Errorf("task %d was done %d times: %v", seq, len(by), by)
		}
	}
	if killedTask.seq >= 0 {
		t.Logf("the killed task %d was finished by %v", killedTask.seq, doneBy[killedTask.seq])
		if slices.Contains(doneBy[killedTask.seq], name+" (killed)") {
			t.Fatalf("the killed replica logged task %d done", killedTask.seq)
		}
	}

	// The job output: exact counts, every input key exactly once.
	prefix := "jobs/" + ds + "-DicomImport-" + jobID + "/"
	m := parseManifest(t, getObject(t, s3c, "dicom-out", prefix+"job-output-manifest.json"))
	if m.NumberOfScannedFiles != n || m.NumberOfImportedFiles != n || m.NumberOfFilesWithCustomerError != 0 ||
		m.NumberOfFilesWithServerError != 0 || m.NumberOfGeneratedImageSets != nSeries || len(m.ImageSetsSummary) != nSeries {
		t.Fatalf("manifest: scanned %d imported %d customer errors %d server errors %d image sets %d (%d summaries); want %d files, %d image sets",
			m.NumberOfScannedFiles, m.NumberOfImportedFiles, m.NumberOfFilesWithCustomerError, m.NumberOfFilesWithServerError,
			m.NumberOfGeneratedImageSets, len(m.ImageSetsSummary), n, nSeries)
	}
	for _, s := range m.ImageSetsSummary {
		if !s.IsPrimary || s.ImageSetVersion != 1 || s.NumberOfMatchedSOPInstances != cfg.Instances {
			t.Errorf("manifest image set summary %+v, want primary, version 1, %d instances", s, cfg.Instances)
		}
	}
	succ := ndjson[successLine](t, "success.ndjson", getObject(t, s3c, "dicom-out", prefix+"SUCCESS/success.ndjson"))
	seen := map[string]int{}
	setOfKey := map[string]string{}
	for _, l := range succ {
		seen[l.InputFile]++
		setOfKey[l.InputFile] = l.ImportResponse.ImageSetID
	}
	for _, r := range refs {
		if k := chaosKey(g, r); seen[k] != 1 {
			t.Errorf("success.ndjson lists %s %d times, want once", k, seen[k])
		}
	}
	if len(succ) != n || len(seen) != n {
		t.Fatalf("success.ndjson has %d lines for %d distinct keys, want %d", len(succ), len(seen), n)
	}
	if fail := ndjson[failureLine](t, "failure.ndjson", getObject(t, s3c, "dicom-out", prefix+"FAILURE/failure.ndjson")); len(fail) != 0 {
		t.Fatalf("failure.ndjson has %d lines, first %+v", len(fail), fail[0])
	}

	// Every replica returns the same image sets: one primary per series.
	var lists [3][]types.ImageSetsMetadataSummary
	for i := range c {
		lists[i] = searchAll(t, c[i], ds)
	}
	for i := 1; i < 3; i++ {
		if a, b := summaryKey(lists[0]), summaryKey(lists[i]); a != b {
			t.Fatalf("replica %d answers SearchImageSets differently from replica 1:\n%s\nvs\n%s", i+1, b, a)
		}
	}
	sets := lists[0]
	bySeries := map[string]string{}
	for _, s := range sets {
		series := aws.ToString(s.DICOMTags.DICOMSeriesInstanceUID)
		if prev, dup := bySeries[series]; dup {
			t.Errorf("series %s is in two image sets: %s and %s", series, prev, *s.ImageSetId)
		}
		bySeries[series] = *s.ImageSetId
		if !aws.ToBool(s.IsPrimary) || aws.ToInt32(s.Version) != 1 {
			t.Errorf("image set %s: primary %v version %d, want primary version 1", *s.ImageSetId, aws.ToBool(s.IsPrimary), aws.ToInt32(s.Version))
		}
	}
	if len(sets) != nSeries || len(bySeries) != nSeries {
		t.Fatalf("%d image sets for %d series, want %d", len(sets), len(bySeries), nSeries)
	}

	// Every SOP instance exactly once across the image sets' metadata, in
	// the image set of its series and of its success line; identical
	// metadata from every replica.
	type frameRef struct {
		ref            synth.Ref
		setID, frameID string
	}
	var frames []frameRef
	instances := map[string]string{} // SOP instance UID → image set id
	frameIDs := map[string]string{}  // SOP instance UID → frame id
	for _, s := range sets {
		setID := *s.ImageSetId
		doc := getMetadata(t, c[0], ds, setID)
		for i := 1; i < 3; i++ {
			if other := getMetadata(t, c[i], ds, setID); fmt.Sprint(other) != fmt.Sprint(doc) {
				t.Fatalf("replica %d returns different metadata for image set %s", i+1, setID)
			}
		}
		for seriesUID, se := range doc.Study.Series {
			if bySeries[seriesUID] != setID {
				t.Errorf("metadata of %s holds series %s, which search puts in %s", setID, seriesUID, bySeries[seriesUID])
			}
			for sop, inst := range se.Instances {
				if prev, dup := instances[sop]; dup {
					t.Errorf("SOP instance %s is in image sets %s and %s", sop, prev, setID)
				}
				instances[sop] = setID
				if len(inst.ImageFrames) != 1 {
					t.Fatalf("SOP instance %s has %d frames, want 1", sop, len(inst.ImageFrames))
				}
				frameIDs[sop] = inst.ImageFrames[0].ID
			}
		}
	}
	if len(instances) != n {
		t.Fatalf("the image sets hold %d SOP instances, want %d", len(instances), n)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, r := range refs {
		sop := g.SOPInstanceUID(r)
		setID, ok := instances[sop]
		switch {
		case !ok:
			t.Fatalf("SOP instance %s (%s) is in no image set", sop, chaosKey(g, r))
		case setID != bySeries[g.SeriesUID(r)] || setID != setOfKey[chaosKey(g, r)]:
			t.Fatalf("SOP instance %s is in image set %s; its series is in %s and success.ndjson says %s",
				sop, setID, bySeries[g.SeriesUID(r)], setOfKey[chaosKey(g, r)])
		}
		if rng.IntN(cfg.Instances) < framesPerSeries {
			frames = append(frames, frameRef{ref: r, setID: setID, frameID: frameIDs[sop]})
		}
	}

	// A sample of frames from every replica: identical bytes, and the
	// generated pixels once decoded.
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	work := make(chan frameRef)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				if msg := checkFrame(c, ds, f.setID, f.frameID, f.ref, g); msg != "" {
					mu.Lock()
					errs = append(errs, msg)
					mu.Unlock()
				}
			}
		}()
	}
	for _, f := range frames {
		work <- f
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d sampled frames are wrong; first: %s", len(errs), len(frames), errs[0])
	}
	t.Logf("checked %d SOP instances in %d image sets and %d frames × 3 replicas; total %v",
		len(instances), len(sets), len(frames), time.Since(began).Round(time.Millisecond))

	// For the record: objects in the shared storage area beyond the frames
	// and metadata documents the image sets reference would be leftovers of
	// the files the killed replica read but had not recorded (read again).
	stored := countObjects(t, s3c, "ohi-storage", "ohi/")
	t.Logf("%d objects in s3://ohi-storage/ohi/ for %d frames and %d metadata documents (%d more)",
		stored, n, len(sets), stored-n-len(sets))
}

// countObjects counts the objects under a prefix (at most 100,000).
func countObjects(t *testing.T, c *s3.Client, bucket, prefix string) int {
	t.Helper()
	n := 0
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() && n < 100000 {
		page, err := p.NextPage(callCtx(t))
		if err != nil {
			t.Fatalf("list s3://%s/%s: %v", bucket, prefix, err)
		}
		n += len(page.Contents)
	}
	return n
}

// chaosKey is the input object key of an instance.
func chaosKey(g *synth.Generator, r synth.Ref) string {
	return "chaos/" + strings.ReplaceAll(g.Path(r), "\\", "/")
}

// uploadInput generates the instances and puts them into s3://dicom-in/chaos/
// from 8 parallel clients.
func uploadInput(t *testing.T, c *s3.Client, g *synth.Generator, refs []synth.Ref) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	work := make(chan synth.Ref)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				b, err := g.Instance(r)
				if err == nil {
					ctx, cancel := context.WithTimeout(context.Background(), callLimit)
					_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dicom-in"), Key: aws.String(chaosKey(g, r)), Body: bytes.NewReader(b)})
					cancel()
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s: %w", chaosKey(g, r), err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, r := range refs {
		work <- r
	}
	close(work)
	wg.Wait()
	if first != nil {
		t.Fatalf("upload the input: %v", first)
	}
}

// checkFrame fetches one frame from every replica and returns a description
// of what is wrong with it ("" when the bytes are identical and decode to
// the generated pixels).
func checkFrame(cs []*mi.Client, ds, setID, frameID string, r synth.Ref, g *synth.Generator) string {
	var first []byte
	for i, c := range cs {
		ctx, cancel := context.WithTimeout(context.Background(), callLimit)
		out, err := c.GetImageFrame(ctx, &mi.GetImageFrameInput{DatastoreId: &ds, ImageSetId: &setID,
			ImageFrameInformation: &types.ImageFrameInformation{ImageFrameId: &frameID}})
		var b []byte
		if err == nil {
			b, err = readAllLimit(out.ImageFrameBlob, 1<<20)
			out.ImageFrameBlob.Close()
		}
		cancel()
		if err != nil {
			return fmt.Sprintf("replica %d GetImageFrame %s/%s: %v", i+1, setID, frameID, err)
		}
		if i == 0 {
			first = b
		} else if !bytes.Equal(b, first) {
			return fmt.Sprintf("frame %s: replica %d returns %d bytes that differ from replica 1's %d", frameID, i+1, len(b), len(first))
		}
	}
	return decodeMatches(first, r, g)
}

// taskLease is one import task's lease.
type taskLease struct {
	seq   int64
	owner string
	until int64
}

// taskSnapshot is the state of a job's import tasks at one moment.
type taskSnapshot struct {
	all    []taskLease
	leased []taskLease // not done, with a lease
	done   int
}

// taskWatch polls a job's import tasks and remembers the last owner seen on
// each leased task (the owner id of a replica is not in its log, but the
// numbers of the tasks it finished are).
type taskWatch struct {
	db     *sql.DB
	jobID  string
	owners map[int64]string
	// history of owners per task, in the order they were seen.
	mu      sync.Mutex
	history map[int64][]string
}

func (w *taskWatch) poll(ctx context.Context) (*taskSnapshot, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT seq, COALESCE(lease_owner, ''), COALESCE(lease_until, 0), done FROM import_tasks WHERE job_id = $1 ORDER BY seq`, w.jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	s := &taskSnapshot{}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.history == nil {
		w.history = map[int64][]string{}
	}
	for rows.Next() {
		var l taskLease
		var done bool
		if err := rows.Scan(&l.seq, &l.owner, &l.until, &done); err != nil {
			return nil, err
		}
		s.all = append(s.all, l)
		if done {
			s.done++
			continue
		}
		if l.owner != "" {
			s.leased = append(s.leased, l)
			w.owners[l.seq] = l.owner
			if h := w.history[l.seq]; len(h) == 0 || h[len(h)-1] != l.owner {
				w.history[l.seq] = append(h, l.owner)
			}
		}
	}
	return s, rows.Err()
}

// takeover reports another owner seen on task seq after owner.
func (w *taskWatch) takeover(seq int64, owner string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.history[seq]
	if i := slices.Index(h, owner); i >= 0 && i+1 < len(h) {
		return h[i+1], true
	}
	return "", false
}

// doneTasks returns the numbers of the tasks a replica logged as done.
func doneTasks(l *logLines) []int64 {
	var out []int64
	for _, line := range l.Lines() {
		if !strings.Contains(line, taskDoneMsg) {
			continue
		}
		if m := taskSeqRE.FindStringSubmatch(line + " "); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			out = append(out, n)
		}
	}
	return out
}

func seqStrings(s []int64) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strconv.FormatInt(v, 10)
	}
	return out
}

// summaryKey renders what SearchImageSets returned, for comparing replicas.
func summaryKey(sets []types.ImageSetsMetadataSummary) string {
	var b strings.Builder
	for _, s := range sets {
		t := s.DICOMTags
		fmt.Fprintf(&b, "%s v%d primary=%v created=%s updated=%s series=%s study=%s patient=%s instances=%d/%d\n",
			aws.ToString(s.ImageSetId), aws.ToInt32(s.Version), aws.ToBool(s.IsPrimary),
			aws.ToTime(s.CreatedAt).Format(time.RFC3339Nano), aws.ToTime(s.UpdatedAt).Format(time.RFC3339Nano),
			aws.ToString(t.DICOMSeriesInstanceUID), aws.ToString(t.DICOMStudyInstanceUID), aws.ToString(t.DICOMPatientId),
			t.DICOMNumberOfStudyRelatedInstances, t.DICOMNumberOfStudyRelatedSeries)
	}
	return b.String()
}

// readAllLimit reads r to the end, failing beyond limit bytes.
func readAllLimit(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("more than %d bytes", limit)
	}
	return b, err
}

// decodeMatches decodes an HTJ2K frame and compares it with the generated
// pixels of r; it returns what differs ("" when they are equal).
func decodeMatches(frame []byte, r synth.Ref, g *synth.Generator) string {
	px, err := codec.DecodeHTJ2K(frame, 0)
	if err != nil {
		return fmt.Sprintf("frame of %+v (%d bytes) is not HTJ2K: %v", r, len(frame), err)
	}
	file, err := g.Instance(r)
	if err != nil {
		return err.Error()
	}
	cfg := g.Config()
	want := file[len(file)-cfg.Rows*cfg.Cols*cfg.Bits/8:]
	if !bytes.Equal(px.Data, want) {
		return fmt.Sprintf("frame of %+v decodes to %d bytes that are not the generated pixels", r, len(px.Data))
	}
	return ""
}
