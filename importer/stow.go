package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"runtime"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/metadoc"
)

// StowFile is one instance of a DICOMweb STOW-RS request, spooled to a
// local file.
type StowFile struct {
	Path string
	Size int64
}

// StowResult is the outcome of one StowFile.
type StowResult struct {
	SOPClassUID, SOPInstanceUID, StudyInstanceUID, SeriesInstanceUID string
	ImageSetID                                                       string
	IsPrimary                                                        bool
	// Failure is empty when the instance was stored; FailureCode is its
	// DICOM failure reason (PS3.4 C.4.2.1.4, PS3.18 10.5).
	Failure     string
	FailureCode int
}

// STOW-RS failure reasons.
const (
	FailureProcessing    = 0x0110 // processing failure (a server error)
	FailureOutOfResource = 0xA700
	FailureNoMatch       = 0xA900 // the data set does not match (e.g. another study)
	FailureCannotRead    = 0xC000 // cannot understand
)

// StoreInstances stores the instances of a STOW-RS request synchronously,
// on the import jobs' code path: each file is read (dicom.Read), its frames
// transcoded, verified and stored (storeFrames) and its header stored, and
// the instances are grouped into primary and non-primary image sets and
// committed (tryCommitGroup) exactly as an import job's files. With
// studyUID set, instances of another study fail. Per-instance problems
// are results; the error is for the request as a whole.
func (im *Importer) StoreInstances(ctx context.Context, datastoreID, studyUID string, files []StowFile) ([]StowResult, error) {
	ds, err := im.Store.DatastoreGet(ctx, datastoreID)
	if err != nil {
		return nil, err
	}
	switch ds.Status {
	case ohi.DatastoreActive:
	case ohi.DatastoreDeleted:
		return nil, ohi.NotFoundf("data store %s was deleted", datastoreID)
	default:
		return nil, ohi.Conflictf("data store %s is %s, not ACTIVE", datastoreID, ds.Status)
	}
	// The request is a job of its own for the storage layout: its frames
	// and documents are written under the job's prefixes.
	job := &ohi.ImportJob{ID: "stow-" + ohi.NewID(), DatastoreID: datastoreID}
	log := im.logger().With("stow", job.ID, "datastoreId", datastoreID)
	results := make([]StowResult, len(files))
	parsed := make([]*parsedInstance, len(files))
	workers := im.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	// Remove what failed instances, failed commits and an abandoned
	// request (the client went away) left stored, at once rather than
	// at SweepStow's next pass. Every worker has returned by then.
	defer func() {
		if err := im.sweep(context.WithoutCancel(ctx), job, log); err != nil {
			log.Warn("sweep after STOW-RS", "err", err)
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i, f := range files {
		g.Go(func() error {
			results[i], parsed[i] = im.stowOne(gctx, job, studyUID, f)
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := im.syncFrames(ctx, job); err != nil {
		return nil, err
	}
	// Group as import jobs do: by series, then by grouping key.
	type groupRef struct {
		g   *instanceGroup
		idx []int
	}
	bySeries := map[string][]*groupRef{}
	var order []string
	for i, p := range parsed {
		if p == nil {
			continue
		}
		k := metadoc.KeyOf(p.Patient, p.Study, p.Series)
		groups, ok := bySeries[p.SeriesUID]
		if !ok {
			order = append(order, p.SeriesUID)
		}
		var gr *groupRef
		for _, c := range groups {
			if c.g.key == k {
				gr = c
			}
		}
		if gr == nil {
			gr = &groupRef{g: &instanceGroup{key: k}}
			bySeries[p.SeriesUID] = append(groups, gr)
		}
		// A SOP instance given twice: the later one wins, as in an image set.
		replaced := false
		for j, q := range gr.g.insts {
			if q.SOPInstanceUID == p.SOPInstanceUID {
				gr.g.insts[j] = p
				results[gr.idx[j]].Failure, results[gr.idx[j]].FailureCode = "the request holds this SOP instance again; the later copy is stored", FailureNoMatch
				gr.idx[j] = i
				replaced = true
			}
		}
		if !replaced {
			gr.g.insts = append(gr.g.insts, p)
			gr.idx = append(gr.idx, i)
		}
	}
	sort.Strings(order)
	for _, uid := range order {
		for _, gr := range bySeries[uid] {
			set, err := im.stowCommit(ctx, job, uid, gr.g, log)
			for _, i := range gr.idx {
				if err != nil {
					results[i].Failure, results[i].FailureCode = "the image set could not be committed: "+clientReason(log, err), FailureProcessing
					continue
				}
				results[i].ImageSetID, results[i].IsPrimary = set.ID, set.IsPrimary
			}
			if err != nil && ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	return results, nil
}

// stowOne reads and stores one file of a STOW-RS request.
func (im *Importer) stowOne(ctx context.Context, job *ohi.ImportJob, studyUID string, f StowFile) (res StowResult, p *parsedInstance) {
	fail := func(code int, msg string) (StowResult, *parsedInstance) {
		res.Failure, res.FailureCode = msg, code
		return res, nil
	}
	defer func() {
		// A panic fails this instance only; the request carries on.
		if v := recover(); v != nil {
			res, p = fail(FailureProcessing, im.filePanic(recovered(v), "stow", job.ID, "path", f.Path))
		}
	}()
	lim := im.Limits.WithDefaults()
	if f.Size > lim.MaxFileBytes {
		return fail(FailureOutOfResource, fmt.Sprintf("the instance has %d bytes, more than the %d byte limit for one DICOM P10 file", f.Size, lim.MaxFileBytes))
	}
	file, err := os.Open(f.Path)
	if err != nil {
		return fail(FailureProcessing, "cannot read the instance: "+clientReason(im.logger().With("stow", job.ID), err))
	}
	defer file.Close()
	inst, err := dicom.Read(file, f.Size, im.DICOM)
	if err != nil {
		var fe *dicom.FileError
		if errors.As(err, &fe) {
			return fail(FailureCannotRead, fe.Reason)
		}
		return fail(FailureProcessing, "cannot read the instance: "+clientReason(im.logger().With("stow", job.ID), err))
	}
	defer inst.Close()
	im.hook("parse", f.Path)
	res.SOPClassUID, res.SOPInstanceUID = inst.SOPClassUID, inst.SOPInstanceUID
	res.StudyInstanceUID, res.SeriesInstanceUID = inst.StudyInstanceUID, inst.SeriesInstanceUID
	if studyUID != "" && inst.StudyInstanceUID != studyUID {
		return fail(FailureNoMatch, fmt.Sprintf("the instance belongs to study %s, not to study %s of the request", inst.StudyInstanceUID, studyUID))
	}
	p, err = im.storeFrames(ctx, job, inst)
	var ff *fileFailure
	var pe *panicError
	switch {
	case errors.As(err, &ff):
		return fail(FailureCannotRead, ff.msg)
	case errors.As(err, &pe):
		return fail(FailureProcessing, im.filePanic(pe, "stow", job.ID, "path", f.Path))
	case err != nil:
		return fail(FailureProcessing, "cannot store the image frames: "+clientReason(im.logger().With("stow", job.ID), err))
	}
	return res, p
}

// stowCommit commits one group of a STOW-RS request, retrying while
// another writer changes the series' primary image set.
func (im *Importer) stowCommit(ctx context.Context, job *ohi.ImportJob, seriesUID string, g *instanceGroup, log *slog.Logger) (set *ohi.ImageSet, err error) {
	defer func() {
		// A panic fails this group's instances; the request carries on.
		if v := recover(); v != nil {
			pe := recovered(v)
			log.Error("internal error while committing STOW-RS instances", "series", seriesUID, "panic", fmt.Sprint(v), "stack", string(pe.stack))
			set, err = nil, pe
		}
	}()
	im.hook("commit", seriesUID)
	for attempt := 0; ; attempt++ {
		set, err = im.commitGroupAs(ctx, job, seriesUID, g)
		if err == nil || !errors.Is(err, ohi.ErrConflict) || attempt >= 50 {
			return set, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(10*(attempt+1)) * time.Millisecond):
		}
	}
}

// commitGroupAs runs tryCommitGroup and returns the image set the group
// went into.
func (im *Importer) commitGroupAs(ctx context.Context, job *ohi.ImportJob, seriesUID string, g *instanceGroup) (*ohi.ImageSet, error) {
	if err := im.tryCommitGroup(ctx, job, seriesUID, g, im.logger()); err != nil {
		return nil, err
	}
	return g.committed, nil
}

// StowLeftoverAge is how old the storage of a STOW-RS request must be
// before SweepStow takes it for a crash's leftover (a request in progress
// on another replica writes newer objects).
const StowLeftoverAge = time.Hour

// SweepStow deletes what STOW-RS requests interrupted by a crash left
// stored without a commit: frames, headers and metadata documents under
// the requests' prefixes, older than StowLeftoverAge, that no image set
// references. It returns the number of objects deleted.
func (im *Importer) SweepStow(ctx context.Context) (int, error) {
	n, after := 0, ""
	cutoff := time.Now().Add(-StowLeftoverAge)
	for {
		list, err := im.Store.DatastoreList(ctx, "", after, 100)
		if err != nil || len(list) == 0 {
			return n, err
		}
		for _, ds := range list {
			after = ds.ID
			for _, p := range []struct {
				prefix string
				known  func([]string) (map[string]bool, error)
			}{
				{"datastores/" + ds.ID + "/frames/stow-", func(keys []string) (map[string]bool, error) {
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
				}},
				{"datastores/" + ds.ID + "/imports/stow-", func(keys []string) (map[string]bool, error) { return im.Store.MetadataKeysKnown(ctx, keys) }},
			} {
				var old []string
				if err := im.Blobs.List(ctx, p.prefix, func(o ohi.ObjectInfo) error {
					if o.ModTime.Before(cutoff) {
						old = append(old, o.Key)
					}
					return nil
				}); err != nil {
					return n, err
				}
				if len(old) == 0 {
					continue
				}
				known, err := p.known(old)
				if err != nil {
					return n, err
				}
				for _, k := range old {
					if !known[k] {
						if err := im.Blobs.Delete(ctx, k); err != nil {
							return n, err
						}
						n++
					}
				}
			}
		}
	}
}

// clientReason is what a STOW-RS client is told of a processing failure:
// the message of a typed error (validation, conflict, quota) or a panic
// (logged with its stack where it was recovered); otherwise a server error, whose cause (local paths,
// storage or database errors) goes to the log only.
func clientReason(log *slog.Logger, err error) string {
	var ve *ohi.ValidationError
	var pe *panicError
	if errors.As(err, &ve) || errors.As(err, &pe) || errors.Is(err, ohi.ErrConflict) || errors.Is(err, ohi.ErrQuotaExceeded) || errors.Is(err, ohi.ErrNotFound) {
		return err.Error()
	}
	log.Error("STOW-RS instance failed", "err", err)
	return "a server error (see the server log)"
}
