// Package importer runs DICOM import jobs: it lists the input prefix, reads
// every file safely (package dicom), stores each frame in the blob store,
// groups instances into primary and non-primary image sets by series, commits
// new image set versions, and writes the job's output manifest and NDJSON
// files the way AWS HealthImaging does.
//
// Every step is idempotent and keyed by (job id, input object key): the
// outcome of each file is recorded before the next phase uses it, blobs are
// written before the rows that reference them, and an image set version is
// committed together with the import items it contains. A job interrupted at
// any point (crash, SIGKILL, restart) therefore resumes where it stopped and
// ends with every instance present exactly once.
package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/codec"
	"github.com/openhealthimaging/ohi/codec/codecproc"
	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/metadoc"
)

// Limits are the per-job quotas. Zero fields take the AWS HealthImaging
// defaults.
type Limits struct {
	MaxFiles         int   // files per job (default 5,000)
	MaxTotalBytes    int64 // total input size (default 10 GB)
	MaxFileBytes     int64 // size of one P10 file (default 4 GB)
	MaxNestedFolders int   // distinct folders under the prefix (default 10,000)
}

// WithDefaults fills zero fields.
func (l Limits) WithDefaults() Limits {
	if l.MaxFiles == 0 {
		l.MaxFiles = 5000
	}
	if l.MaxTotalBytes == 0 {
		l.MaxTotalBytes = 10 << 30
	}
	if l.MaxFileBytes == 0 {
		l.MaxFileBytes = 4 << 30
	}
	if l.MaxNestedFolders == 0 {
		l.MaxNestedFolders = 10000
	}
	return l
}

// Importer runs import jobs.
type Importer struct {
	Store   ohi.MetadataStore
	Blobs   ohi.BlobStore // the storage area for frames and metadata
	Buckets ohi.Buckets   // s3:// input and output
	Logger  *slog.Logger
	Limits  Limits
	// Workers is the number of files read in parallel (default NumCPU).
	Workers int
	// TempDir holds copies of input objects that cannot be read at random
	// offsets (S3), one per worker at a time (default os.TempDir()).
	TempDir string
	// DICOM bounds the work on one file.
	DICOM dicom.Options
	// Decode decodes frames of the transfer syntaxes whose decoders are C
	// or C++ code (see codec/codecproc, which runs them in worker
	// processes so a hostile codestream cannot stop the server). Nil means
	// codec.Decode in this process.
	Decode func(ctx context.Context, frame []byte, ts string, img codec.Image) (*codec.Pixels, error)
	// StallTimeout bounds how long one stage of a file's import (open,
	// parse, and the read, decode, transcode and store of each frame) may
	// make no progress: the file is then failed with the stage it was
	// stuck in, its resources are released, and the task carries on
	// (default DefaultStallTimeout; negative disables the watchdog).
	StallTimeout time.Duration
	// TestHook is for tests only (nil otherwise): it is called at named
	// points of an import ("list", "parse", "frame", "override", "group",
	// "output", and for STOW-RS "parse", "frame", "commit"), with the
	// file's key, spool path, SOP instance UID or series UID where there is
	// one, so that a test can make them panic.
	TestHook func(point, key string)

	stuckReaders atomic.Int64 // readers of files the watchdog failed, still running
	slotsOnce    sync.Once
	slots        *slots
	formats      sync.Map // data store id -> codec.Format (immutable once created)
}

// format returns the lossless storage format of a data store.
func (im *Importer) format(ctx context.Context, datastoreID string) (codec.Format, error) {
	if f, ok := im.formats.Load(datastoreID); ok {
		return f.(codec.Format), nil
	}
	ds, err := im.Store.DatastoreGet(ctx, datastoreID)
	if err != nil {
		return "", err
	}
	f := codec.Format(ds.LosslessStorageFormat)
	if f == "" {
		f = codec.FormatHTJ2K
	}
	im.formats.Store(datastoreID, f)
	return f, nil
}

// jobError is a job-level failure: the job ends FAILED with this message.
type jobError struct{ msg string }

func (e *jobError) Error() string { return e.msg }

func jobFailf(format string, args ...any) error { return &jobError{fmt.Sprintf(format, args...)} }

// IsJobFailure reports whether err ends the job as FAILED (as opposed to an
// interruption, after which the job resumes).
func IsJobFailure(err error) bool {
	var je *jobError
	return errors.As(err, &je)
}

func (im *Importer) logger() *slog.Logger {
	if im.Logger == nil {
		return slog.Default()
	}
	return im.Logger
}

// BatchSize is the number of input files in one import task (default 16).
// Tasks are the unit of work that any worker of any process may claim.
const BatchSize = 16

// Start moves a SUBMITTED job to IN_PROGRESS, lists its input within the
// quotas and splits it into tasks. It is idempotent. A job-level failure
// (bad input prefix, quota exceeded) is recorded as FAILED and Start then
// returns nil with job.Status FAILED; other errors interrupt the job, which
// can be started again.
func (im *Importer) Start(ctx context.Context, job *ohi.ImportJob) (err error) {
	log := im.logger().With("jobId", job.ID, "datastoreId", job.DatastoreID)
	phase := "listing the input"
	defer im.recoverJob(ctx, job, &phase, log, &err)
	if job.Status == ohi.JobSubmitted {
		job.Status = ohi.JobInProgress
		if err := im.Store.ImportJobUpdate(ctx, job); err != nil {
			return err
		}
		log.Info("import job started", "input", job.InputS3URI)
	} else {
		log.Info("import job resumed", "input", job.InputS3URI)
	}
	if _, total, err := im.Store.ImportTasksPending(ctx, job.ID); err != nil || total > 0 {
		return err // planned before the job was interrupted: never list again
	}
	in, inBucket, inPrefix, err := im.bucket(job.InputS3URI, "input")
	if err == nil {
		var objects []ohi.ObjectInfo
		im.hook("list", "")
		if objects, err = im.list(ctx, in, inBucket, inPrefix); err == nil {
			objects, err = withoutMetadataFiles(job, objects)
		}
		if err == nil {
			var batches [][]ohi.ObjectInfo
			for len(objects) > 0 {
				n := min(len(objects), BatchSize)
				batches = append(batches, objects[:n])
				objects = objects[n:]
			}
			var created bool
			if created, err = im.Store.ImportTasksCreate(ctx, job.ID, batches); err == nil && created {
				log.Info("import job planned", "tasks", len(batches))
			}
		}
	}
	if IsJobFailure(err) {
		return im.end(ctx, job, err, nil, log)
	}
	return err
}

// RunTask reads the files of one task that have no recorded outcome yet
// and records each file's outcome.
func (im *Importer) RunTask(ctx context.Context, task *ohi.ImportTask) (err error) {
	defer func() {
		// The files' own panics fail them (readOne); this is the task's
		// plumbing. The task is interrupted, and retried.
		if v := recover(); v != nil {
			pe := recovered(v)
			im.logger().Error("internal error in an import task", "jobId", task.JobID, "task", task.Seq, "panic", fmt.Sprint(v), "stack", string(pe.stack))
			err = pe
		}
	}()
	job, err := im.Store.ImportJobGet(ctx, "", task.JobID)
	if err != nil {
		return err
	}
	in, _, _, err := im.bucket(job.InputS3URI, "input")
	if err != nil {
		return err
	}
	keys := make([]string, len(task.Objects))
	for i, o := range task.Objects {
		keys[i] = o.Key
	}
	done, err := im.Store.ImportItemsRecorded(ctx, job.ID, keys)
	if err != nil {
		return err
	}
	var todo []ohi.ObjectInfo
	for _, o := range task.Objects {
		if !done[o.Key] {
			todo = append(todo, o)
		}
	}
	return im.readAll(ctx, job, in, todo)
}

// Finish groups the job's read files into image sets, writes the output
// manifest and NDJSON files, and records COMPLETED (or FAILED when the
// output cannot be written). Call it once every task is done.
func (im *Importer) Finish(ctx context.Context, job *ohi.ImportJob) (err error) {
	log := im.logger().With("jobId", job.ID, "datastoreId", job.DatastoreID)
	phase := "grouping the files into image sets"
	defer im.recoverJob(ctx, job, &phase, log, &err)
	im.hook("group", "")
	if err := im.group(ctx, job, log); err != nil {
		return err
	}
	phase = "removing the storage of interrupted work"
	if err := im.sweep(ctx, job, log); err != nil {
		return err
	}
	items, err := im.Store.ImportItems(ctx, job.ID)
	if err != nil {
		return err
	}
	phase = "writing the job output"
	out, _, outPrefix, err := im.bucket(job.OutputPrefixURI(), "output")
	var sum *jobSummary
	if err == nil {
		im.hook("output", "")
		sum, err = im.writeOutputs(ctx, job, out, outPrefix, items)
		if err != nil && ctx.Err() == nil {
			err = jobFailf("cannot write the job output to %s: %v", job.OutputPrefixURI(), err)
		}
	}
	if err != nil && !IsJobFailure(err) {
		return err
	}
	return im.end(ctx, job, err, sum, log)
}

// Run executes (or resumes) job to its end in this process: Start, every
// task, Finish. It returns an error only when the job was interrupted.
func (im *Importer) Run(ctx context.Context, job *ohi.ImportJob) error {
	if err := im.Start(ctx, job); err != nil || job.Status == ohi.JobFailed {
		return err
	}
	for {
		now := time.Now()
		task, err := im.Store.ImportTaskClaim(ctx, job.ID, "run-"+job.ID, now, now.Add(time.Hour))
		if err != nil {
			return err
		}
		if task == nil {
			break
		}
		if err := im.RunTask(ctx, task); err != nil {
			return err
		}
		if err := im.Store.ImportTaskDone(ctx, task); err != nil {
			return err
		}
	}
	return im.Finish(ctx, job)
}

// end records the job's final status.
func (im *Importer) end(ctx context.Context, job *ohi.ImportJob, failure error, sum *jobSummary, log *slog.Logger) error {
	job.EndedAt = time.Now().UTC()
	if failure != nil {
		job.Status, job.Message = ohi.JobFailed, failure.Error()
		log.Warn("import job failed", "reason", job.Message)
	} else {
		job.Status, job.Message = ohi.JobCompleted, ""
		log.Info("import job completed", "scanned", sum.NumberOfScannedFiles, "imported", sum.NumberOfImportedFiles,
			"customerErrors", sum.NumberOfFilesWithCustomerError, "serverErrors", sum.NumberOfFilesWithServerError,
			"imageSets", sum.NumberOfGeneratedImageSets, "elapsed", job.EndedAt.Sub(job.SubmittedAt).Round(time.Millisecond))
	}
	// The final status must be recorded even if the caller is shutting down.
	return im.Store.ImportJobUpdate(context.WithoutCancel(ctx), job)
}

// bucket resolves an s3:// URI to its bucket store and key prefix; an
// invalid URI or bucket is a job-level failure.
func (im *Importer) bucket(uri, what string) (ohi.BlobStore, string, string, error) {
	bucket, prefix, err := ohi.ParseS3URI(uri)
	if err != nil {
		return nil, "", "", jobFailf("invalid %s URI: %v", what, err)
	}
	b, err := im.Buckets.Bucket(bucket)
	if err != nil {
		return nil, "", "", jobFailf("cannot open %s bucket %s: %v", what, bucket, err)
	}
	return b, bucket, prefix, nil
}

// list returns the input objects under prefix within the quotas.
func (im *Importer) list(ctx context.Context, in ohi.BlobStore, bucket, prefix string) ([]ohi.ObjectInfo, error) {
	lim := im.Limits.WithDefaults()
	var objs []ohi.ObjectInfo
	var total int64
	folders := map[string]bool{}
	errQuota := errors.New("quota")
	var quotaMsg string
	err := in.List(ctx, prefix, func(o ohi.ObjectInfo) error {
		if strings.HasSuffix(o.Key, "/") {
			return nil // folder marker objects
		}
		objs = append(objs, o)
		total += o.Size
		folders[path.Dir(o.Key)] = true
		switch {
		case len(objs) > lim.MaxFiles:
			quotaMsg = fmt.Sprintf("the input prefix holds more than %d files, the quota of files per import job", lim.MaxFiles)
		case total > lim.MaxTotalBytes:
			quotaMsg = fmt.Sprintf("the input files total more than %d bytes, the quota of one import job", lim.MaxTotalBytes)
		case len(folders) > lim.MaxNestedFolders:
			quotaMsg = fmt.Sprintf("the input prefix has more than %d nested folders, the quota of one import job", lim.MaxNestedFolders)
		default:
			return nil
		}
		return errQuota
	})
	switch {
	case errors.Is(err, errQuota):
		return nil, jobFailf("%s", quotaMsg)
	case errors.Is(err, ohi.ErrNotFound):
		return nil, jobFailf("input bucket %s does not exist", bucket)
	case errors.Is(err, ohi.ErrInvalidKey):
		return nil, jobFailf("invalid input prefix %q: %v", prefix, err)
	case err != nil:
		return nil, err
	}
	if len(objs) == 0 {
		return nil, jobFailf("no files found under s3://%s/%s", bucket, prefix)
	}
	return objs, nil
}

// readAll reads every file of todo in parallel and records their outcomes
// in one transaction once all are read and their frames synced
// (syncFrames). The exception is a file whose decoding was recorded as
// attempted (markDecoding): its frames are synced and its outcome recorded
// as soon as it is read, so that a crash caused by another file of the
// task does not count as an attempt against it. A task interrupted before
// its transaction reads its files again; the frames the first read stored
// are swept when the job finishes.
func (im *Importer) readAll(ctx context.Context, job *ohi.ImportJob, in ohi.BlobStore, todo []ohi.ObjectInfo) error {
	workers := im.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	wd := im.newWatchdog()
	if wd != nil {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go wd.run(wctx, job.ID)
	}
	var mu sync.Mutex // guards read and items
	read := 0
	items := make([]*ohi.ImportItem, 0, len(todo))
	for _, o := range todo {
		g.Go(func() error {
			item, marked := im.readWatched(gctx, wd, job, in, o)
			if gctx.Err() != nil {
				return gctx.Err()
			}
			if marked {
				if err := im.syncFrames(gctx, job); err != nil {
					return err
				}
				if err := im.Store.ImportItemsPut(gctx, item); err != nil {
					return err
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !marked {
				items = append(items, item)
			}
			if read++; read%500 == 0 {
				im.logger().Info("import progress", "jobId", job.ID, "read", read, "of", len(todo))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := im.syncFrames(ctx, job); err != nil {
		return err
	}
	return im.Store.ImportItemsPut(ctx, items...)
}

// putFrame stores a frame under key. When the blob store can batch the
// work that makes writes durable, the frame is durable only once syncFrames
// has run, which readAll does before it records the files whose frames
// they are.
func (im *Importer) putFrame(ctx context.Context, key string, r io.Reader, size int64) error {
	if bs, ok := im.Blobs.(ohi.BatchSyncer); ok {
		return bs.PutBatched(ctx, key, r, size)
	}
	return im.Blobs.Put(ctx, key, r, size)
}

// syncFrames makes the frames of job that putFrame stored durable (one
// directory sync on the file system store, whatever their number).
func (im *Importer) syncFrames(ctx context.Context, job *ohi.ImportJob) error {
	if bs, ok := im.Blobs.(ohi.BatchSyncer); ok {
		return bs.SyncBatch(ctx, jobFramesPrefix(job.DatastoreID, job.ID))
	}
	return nil
}

// readOne reads one input file, stores its frames and returns its item, and
// whether the attempt to decode it was recorded first (markDecoding).
func (im *Importer) readOne(ctx context.Context, job *ohi.ImportJob, in ohi.BlobStore, o ohi.ObjectInfo) (item *ohi.ImportItem, marked bool) {
	item = &ohi.ImportItem{JobID: job.ID, Key: o.Key}
	watch := watchOf(ctx)
	defer watch.done(0)
	fail := func(kind, msg string) (*ohi.ImportItem, bool) {
		item.State = "failed"
		item.Result = mustJSON(failure{ExceptionType: kind, Message: msg})
		return item, marked
	}
	defer func() {
		// A panic fails this file only. The deferred releases above and
		// below (input copy, instance, watch, and in transcode the codec
		// slots) have run by now.
		if v := recover(); v != nil {
			item, marked = fail("InternalServerException", im.filePanic(recovered(v), "jobId", job.ID, "key", o.Key))
		}
	}()
	lim := im.Limits.WithDefaults()
	if o.Size > lim.MaxFileBytes {
		return fail("ValidationException", fmt.Sprintf("file size %d exceeds the %d byte limit for one DICOM P10 file", o.Size, lim.MaxFileBytes))
	}
	src, size, cleanup, err := im.openAt(ctx, in, o)
	if err != nil {
		if errors.Is(err, ohi.ErrNotFound) {
			return fail("ValidationException", "the file disappeared from the input prefix during the import")
		}
		return fail("InternalServerException", "cannot read the file: "+err.Error())
	}
	defer cleanup()
	watch.stage(0, stageParse)
	if watch != nil {
		src = progressReaderAt{src, watch}
	}
	inst, err := dicom.Read(src, size, im.DICOM)
	if err != nil {
		var fe *dicom.FileError
		if errors.As(err, &fe) {
			return fail("ValidationException", fe.Reason)
		}
		return fail("InternalServerException", "cannot read the file: "+err.Error())
	}
	defer inst.Close()
	im.hook("parse", o.Key)
	for _, u := range []struct{ name, value string }{{"SOPClassUID", inst.SOPClassUID}, {"SOPInstanceUID", inst.SOPInstanceUID},
		{"StudyInstanceUID", inst.StudyInstanceUID}, {"SeriesInstanceUID", inst.SeriesInstanceUID}} {
		// The image sets are keyed by these UIDs, as text.
		if !utf8.ValidString(u.value) {
			return fail("ValidationException", fmt.Sprintf("DICOM attribute %s has an invalid value: it is not text", u.name))
		}
	}
	if len(inst.Frames) > 0 && usesNativeDecoder(inst.TransferSyntaxUID) {
		// The C decoders (GDCM, OpenJPH) can abort the process on a hostile
		// codestream. Record the attempt first, so that a file that stopped
		// the server twice fails instead of crashing every restart.
		marked = true
		watch.stage(0, stageRecord)
		if failed := im.markDecoding(ctx, item); failed != nil {
			return failed, marked
		}
	}
	parsed, err := im.storeFrames(ctx, job, inst)
	var ff *fileFailure
	var pe *panicError
	switch {
	case errors.As(err, &ff):
		return fail(ff.kind, ff.msg)
	case errors.As(err, &pe):
		return fail("InternalServerException", im.filePanic(pe, "jobId", job.ID, "key", o.Key))
	case err != nil:
		return fail("InternalServerException", "cannot store the image frames: "+err.Error())
	}
	item.State = "parsed"
	item.Result = mustJSON(parsed)
	return item, marked
}

// openAt returns the object as an io.ReaderAt: directly when the store's
// object supports it (local files), else through a temporary copy.
func (im *Importer) openAt(ctx context.Context, in ohi.BlobStore, o ohi.ObjectInfo) (io.ReaderAt, int64, func(), error) {
	obj, err := in.Open(ctx, o.Key)
	if err != nil {
		return nil, 0, nil, err
	}
	if ra, ok := obj.(io.ReaderAt); ok {
		return ra, obj.Size(), func() { obj.Close() }, nil
	}
	defer obj.Close()
	f, err := os.CreateTemp(im.TempDir, "ohi-import-*")
	if err != nil {
		return nil, 0, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	lim := im.Limits.WithDefaults()
	var w io.Writer = f
	if watch := watchOf(ctx); watch != nil {
		w = progressWriter{f, watch}
	}
	n, err := io.Copy(w, io.LimitReader(obj, lim.MaxFileBytes+1))
	if err != nil {
		cleanup()
		return nil, 0, nil, err
	}
	return f, n, cleanup, nil
}

// storeFrames writes each frame of inst to the blob store and returns the
// instance as the importer records it. Frames of transfer syntaxes that AWS
// HealthImaging transcodes are decoded, encoded in the data store's lossless
// storage format (HTJ2K Lossless RPCL 1.2.840.10008.1.2.4.202, or JPEG 2000
// Lossless 1.2.840.10008.1.2.4.90), verified by decoding them again and
// comparing with the source pixels, and stored with their checksums and
// pixel range;
// the others (JPEG baseline, lossy JPEG 2000 and HTJ2K, video) are stored as
// received, and so are frames the codecs cannot represent exactly.
func (im *Importer) storeFrames(ctx context.Context, job *ohi.ImportJob, inst *dicom.Instance) (*parsedInstance, error) {
	p := newParsedInstance(inst)
	if err := im.storeHeader(ctx, job, inst, p); err != nil {
		return nil, err
	}
	watch := watchOf(ctx)
	if len(inst.Frames) > 0 && inst.FloatPixels == 0 && !codec.KeepsOriginal(inst.TransferSyntaxUID) {
		watch.done(0) // the frames' own stages take over
		frames, ts, photometric, err := im.transcode(ctx, job, inst)
		var ce *codec.Error
		switch {
		case err == nil:
			p.Frames, p.TransferSyntax = frames, ts
			if photometric != "" {
				p.Instance["PhotometricInterpretation"] = photometric
			}
			return p, nil
		case errors.As(err, &ce) && ce.Code == codec.CodeUnsupported:
			p.Warnings = append(p.Warnings, dicom.Warning{Code: "StoredAsReceived",
				Message: "the pixel data is stored in its original transfer syntax: " + ce.Reason})
		default:
			return nil, err
		}
	}
	for i, fr := range inst.Frames {
		id := ohi.NewID()
		key := FrameKey(job.DatastoreID, job.ID, id)
		size := fr.Size()
		watch.fileFrameStage(i, stageStore)
		if err := im.putFrame(ctx, key, fr.Reader(inst.Source), size); err != nil {
			return nil, err
		}
		p.Frames = append(p.Frames, storedFrame{ID: id, Key: key, Size: size, Index: i})
	}
	return p, nil
}

// maxDecodeAttempts is how many times a file may be read with a C decoder
// that stopped the process before it is failed instead.
const maxDecodeAttempts = 2

// usesNativeDecoder reports whether frames of this transfer syntax are
// decoded by C or C++ code (everything but native and RLE pixel data).
func usesNativeDecoder(ts string) bool {
	switch strings.TrimRight(ts, "\x00 ") {
	case "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.5",
		"1.2.840.10008.1.2.1.98":
		return false
	}
	return !codec.KeepsOriginal(ts)
}

// decodingAttempt is the Result of an item whose file is being decoded.
type decodingAttempt struct {
	Attempts int `json:"decodingAttempts"`
}

// markDecoding records that item's file is about to be decoded. It returns
// a failed item when earlier attempts stopped the process too often.
func (im *Importer) markDecoding(ctx context.Context, item *ohi.ImportItem) *ohi.ImportItem {
	prev, err := im.Store.ImportItemGet(ctx, item.JobID, item.Key)
	attempts := 0
	if err == nil && prev.State == "decoding" {
		var a decodingAttempt
		_ = json.Unmarshal(prev.Result, &a)
		attempts = a.Attempts
	}
	if attempts >= maxDecodeAttempts {
		item.State = "failed"
		item.Result = mustJSON(failure{ExceptionType: "InternalServerException",
			Message: fmt.Sprintf("decoding this file's pixel data stopped the server %d times; the file is not imported", attempts)})
		return item
	}
	mark := &ohi.ImportItem{JobID: item.JobID, Key: item.Key, State: "decoding", Result: mustJSON(decodingAttempt{Attempts: attempts + 1})}
	if err := im.Store.ImportItemsPut(ctx, mark); err != nil {
		im.logger().Warn("record decoding attempt", "key", item.Key, "err", err)
	}
	return nil
}

// fileFailure is a reason to fail one file (not the job).
type fileFailure struct{ kind, msg string }

func (e *fileFailure) Error() string { return e.msg }

// transcode encodes every frame of inst as verified lossless HTJ2K, frames
// in parallel (bounded, with every file's frames, by the importer's codec
// slots, so a single multi-frame file uses every core). On an error it
// removes the frames it stored. Corrupt pixel data and a failed
// verification are *fileFailure; codec.CodeUnsupported means the frames
// should be kept as received. A frame the codecs cannot represent does not
// stop the others, so that a file with an undecodable frame fails whatever
// the order its frames finish in.
func (im *Importer) transcode(ctx context.Context, job *ohi.ImportJob, inst *dicom.Instance) (frames []storedFrame, ts, photometric string, err error) {
	format, err := im.format(ctx, job.DatastoreID)
	if err != nil {
		return nil, "", "", err
	}
	img := codec.Image{Rows: inst.Rows, Columns: inst.Columns, SamplesPerPixel: inst.SamplesPerPixel, BitsAllocated: inst.BitsAllocated,
		BitsStored: inst.BitsStored, PixelRepresentation: inst.PixelRepresentation, PlanarConfiguration: inst.PlanarConfiguration,
		Photometric: inst.PhotometricInterpretation}
	frames = make([]storedFrame, len(inst.Frames))
	pis := make([]string, len(inst.Frames))
	tss := make([]string, len(inst.Frames))
	unsupported := make([]error, len(inst.Frames))
	watch := watchOf(ctx)
	g, gctx := errgroup.WithContext(ctx)
	for i, fr := range inst.Frames {
		release, err := im.acquireSlot(gctx, i)
		if err != nil {
			watch.done(i + 1)
			break // a frame failed or ctx ended; nothing was taken
		}
		g.Go(func() (err error) {
			defer release()
			defer watch.done(i + 1)
			defer func() {
				// This goroutine is not the file's: a panic here would
				// stop the process, so it fails the file (readOne).
				if v := recover(); v != nil {
					err = recovered(v)
				}
			}()
			frames[i], tss[i], pis[i], err = im.transcodeFrame(gctx, job, inst, i, fr, img, format)
			if ce := (*codec.Error)(nil); errors.As(err, &ce) && ce.Code == codec.CodeUnsupported {
				unsupported[i] = err
				return nil
			}
			return err
		})
	}
	err = g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		for _, u := range unsupported {
			if u != nil {
				err = u
				break
			}
		}
	}
	if err != nil {
		for _, f := range frames {
			if f.Key != "" {
				_ = im.Blobs.Delete(context.WithoutCancel(ctx), f.Key)
			}
		}
		return nil, "", "", err
	}
	for _, p := range pis {
		if p != "" {
			photometric = p
		}
	}
	return frames, tss[0], photometric, nil
}

// codecSlots bounds the frames being transcoded at once across the whole
// importer (default: the number of workers).
func (im *Importer) codecSlots() *slots {
	im.slotsOnce.Do(func() {
		n := im.Workers
		if n <= 0 {
			n = runtime.NumCPU()
		}
		im.slots = newSlots(n)
	})
	return im.slots
}

// transcodeFrame decodes frame i, encodes it in the storage format, verifies
// it and stores it; it returns the frame and its stored transfer syntax.
func (im *Importer) transcodeFrame(ctx context.Context, job *ohi.ImportJob, inst *dicom.Instance, i int, fr dicom.Frame, img codec.Image, format codec.Format) (sf storedFrame, ts, photometric string, err error) {
	size := fr.Size()
	if size > codec.MaxFrameBytes {
		return storedFrame{}, "", "", &codec.Error{Code: codec.CodeUnsupported, Reason: fmt.Sprintf("frame %d has %d bytes", i+1, size)}
	}
	watch := watchOf(ctx)
	watch.frameStage(i, stageRead)
	buf := getFrameBuf(size)
	if _, err := io.ReadFull(fr.Reader(inst.Source), buf); err != nil {
		return storedFrame{}, "", "", err
	}
	img.BitOffset = fr.BitOffset
	var px *codec.Pixels
	watch.frameStage(i, stageDecode)
	if im.Decode != nil && usesNativeDecoder(inst.TransferSyntaxUID) {
		// The decoder process may still hold buf if ctx ends the call
		// early, so it is not reused.
		px, err = im.Decode(ctx, buf, inst.TransferSyntaxUID, img)
	} else {
		// codec.Decode returns native frames in buf itself; buf goes back
		// to the pool once Transcode is done with the pixels.
		px, err = codec.Decode(buf, inst.TransferSyntaxUID, img)
		defer putFrameBuf(buf)
	}
	if errors.Is(err, codecproc.ErrTimeout) && ctx.Err() == nil {
		return storedFrame{}, "", "", &fileFailure{"ValidationException", fmt.Sprintf("decoding the pixel data of frame %d did not finish within the decoder's time limit; the codestream is probably malformed", i+1)}
	}
	if errors.Is(err, codecproc.ErrCrashed) && ctx.Err() == nil {
		return storedFrame{}, "", "", &fileFailure{"ValidationException", fmt.Sprintf("the pixel data of frame %d made the decoder process stop; the codestream is probably malformed", i+1)}
	}
	if err != nil {
		var ce *codec.Error
		if errors.As(err, &ce) && ce.Code == codec.CodeCorrupt {
			return storedFrame{}, "", "", &fileFailure{"ValidationException", fmt.Sprintf("the pixel data of frame %d cannot be decoded: %s", i+1, ce.Reason)}
		}
		return storedFrame{}, "", "", err
	}
	im.hook("frame", inst.SOPInstanceUID)
	watch.frameStage(i, stageTranscode)
	st, err := codec.Transcode(px, format)
	if errors.Is(err, codec.ErrVerify) {
		return storedFrame{}, "", "", &fileFailure{"InternalServerException", fmt.Sprintf("pixel data verification failed for frame %d: the %s encoding does not decode to the original pixels", i+1, format)}
	}
	if err != nil {
		return storedFrame{}, "", "", err
	}
	cs := st.Codestream
	id := ohi.NewID()
	key := FrameKey(job.DatastoreID, job.ID, id)
	watch.frameStage(i, stageStore)
	if err := im.putFrame(ctx, key, bytes.NewReader(cs), int64(len(cs))); err != nil {
		return storedFrame{}, "", "", err
	}
	levels := make([]metadoc.LevelChecksum, len(st.Checksums))
	for j, s := range st.Checksums {
		levels[j] = metadoc.LevelChecksum{Width: s.Width, Height: s.Height, Checksum: s.Checksum}
	}
	// Copies: pointers into st would keep its codestream alive for as
	// long as the instance's frame list (a 4,000-frame file held 760 MB).
	lo, hi := st.Min, st.Max
	return storedFrame{ID: id, Key: key, Size: int64(len(cs)), Index: i, Checksums: levels, Min: &lo, Max: &hi}, st.TransferSyntax, px.Photometric, nil
}

// framePool recycles the buffers frames are read into: an import reads
// thousands of frames of the same size, and allocating each one anew is
// most of the importer's garbage. Buffers above maxPooledFrame are not kept.
var framePool sync.Pool

const maxPooledFrame = 16 << 20

func getFrameBuf(size int64) []byte {
	if bp, ok := framePool.Get().(*[]byte); ok {
		if int64(cap(*bp)) >= size {
			return (*bp)[:size]
		}
		framePool.Put(bp)
	}
	return make([]byte, size)
}

func putFrameBuf(b []byte) {
	if cap(b) <= maxPooledFrame {
		framePool.Put(&b)
	}
}

// FrameKey is the blob key of a frame written by an import job. Grouping
// frames by job lets Finish find the frames a crash left unreferenced.
func FrameKey(datastoreID, jobID, frameID string) string {
	return jobFramesPrefix(datastoreID, jobID) + frameID
}

func jobFramesPrefix(datastoreID, jobID string) string {
	return "datastores/" + datastoreID + "/frames/" + jobID + "/"
}

// MetadataKey is the blob key of a metadata document version an import job
// writes. Like frames, documents are grouped by job so that Finish can find
// those a crash left without their commit.
func MetadataKey(datastoreID, jobID, imageSetID string, version int64) string {
	return fmt.Sprintf("%s%s-v%d-%s.json.gz", jobDocsPrefix(datastoreID, jobID), imageSetID, version, ohi.NewID()[:8])
}

func jobDocsPrefix(datastoreID, jobID string) string {
	return "datastores/" + datastoreID + "/imports/" + jobID + "/"
}

// sweep deletes what a crash left unreferenced in a job's storage: frames
// stored by a read that was interrupted before it recorded the file's
// outcome (the file was then read again, with new frames), metadata
// documents whose commit never happened, and temporary files of interrupted
// writes. It runs when every file of the job is committed or failed.
func (im *Importer) sweep(ctx context.Context, job *ohi.ImportJob, log *slog.Logger) error {
	frames, err := im.sweepPrefix(ctx, jobFramesPrefix(job.DatastoreID, job.ID), func(keys []string) (map[string]bool, error) {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = path.Base(k)
		}
		known, err := im.Store.FramesKnown(ctx, ids)
		out := map[string]bool{}
		for i, k := range keys {
			out[k] = known[ids[i]]
		}
		return out, err
	})
	if err != nil {
		return err
	}
	docs, err := im.sweepPrefix(ctx, jobDocsPrefix(job.DatastoreID, job.ID), func(keys []string) (map[string]bool, error) {
		return im.Store.MetadataKeysKnown(ctx, keys)
	})
	if err != nil {
		return err
	}
	if frames+docs > 0 {
		log.Info("removed the storage of interrupted work", "frames", frames, "metadataDocuments", docs)
	}
	return nil
}

// sweepPrefix deletes the temporary files under prefix and every object
// under it that known does not report.
func (im *Importer) sweepPrefix(ctx context.Context, prefix string, known func([]string) (map[string]bool, error)) (int, error) {
	if tr, ok := im.Blobs.(ohi.TempRemover); ok {
		if err := tr.RemoveTemp(ctx, prefix); err != nil {
			return 0, err
		}
	}
	var keys []string
	if err := im.Blobs.List(ctx, prefix, func(o ohi.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		return 0, err
	}
	ok, err := known(keys)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if !ok[k] {
			if err := im.Blobs.Delete(ctx, k); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
