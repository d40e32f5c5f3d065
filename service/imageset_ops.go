package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/metadoc"
)

// MaxUpdatePayload is the UpdateImageSetMetadata payload quota (10 KB, as
// AWS), over updatableAttributes and removableAttributes together.
const MaxUpdatePayload = 10 * 1024

// MaxCopyFrames is the number of image frames one CopyImageSet may copy.
const MaxCopyFrames = 1000

// Update, copy and delete are asynchronous, as in AWS: the request is
// checked, the new version is written and committed LOCKED with the
// in-progress status, and the answer goes out; after Config.TransitionDelay
// the image sets settle (ACTIVE/UPDATED, ACTIVE/COPIED, DELETED). The
// settlement is a durable row, so a restart finishes it.

func (s *Service) loadDoc(ctx context.Context, key string) (*metadoc.Document, error) {
	obj, err := s.blobs.Open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open metadata %s: %w", key, err)
	}
	defer obj.Close()
	return metadoc.Decode(obj)
}

func (s *Service) saveDoc(ctx context.Context, d *metadoc.Document, version int64) (string, error) {
	var buf bytes.Buffer
	if err := d.Encode(&buf); err != nil {
		return "", err
	}
	key := metadoc.BlobKey(d.DatastoreID, d.ImageSetID, version)
	return key, s.blobs.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()))
}

// writableImageSet returns an image set that can be written: it exists,
// is not deleted (ResourceNotFoundException) and not locked by another
// operation (ConflictException).
func (s *Service) writableImageSet(ctx context.Context, dsID, id string) (*ohi.ImageSet, error) {
	is, err := s.store.ImageSetGet(ctx, dsID, id)
	if err != nil {
		return nil, err
	}
	switch is.State {
	case ohi.ImageSetDeleted:
		return nil, ohi.NotFoundf("image set %s was deleted", id)
	case ohi.ImageSetLocked:
		return nil, ohi.Conflictf("image set %s is LOCKED by an operation in progress (%s); retry when it is ACTIVE", id, is.WorkflowStatus)
	}
	return is, nil
}

func expectVersion(is *ohi.ImageSet, given, field string) error {
	v, err := strconv.ParseInt(given, 10, 64)
	if err != nil {
		return ohi.Validationf(field, "%q is not a version number", given)
	}
	if v != is.Version {
		return ohi.Conflictf("%s %d is not the latest version of image set %s (it is %d)", field, v, is.ID, is.Version)
	}
	return nil
}

func (s *Service) settleLater(id, dsID string, state ohi.ImageSetState, status ohi.WorkflowStatus, msg string, updateVersion bool) *ohi.PendingSettle {
	return &ohi.PendingSettle{DatastoreID: dsID, ImageSetID: id, Kind: "settle", State: state, Status: status, Message: msg,
		UpdateVersion: updateVersion, Due: time.Now().Add(s.cfg.TransitionDelay)}
}

// UpdateImageSetMetadata implements api.Service.
func (s *Service) UpdateImageSetMetadata(ctx context.Context, in *api.UpdateImageSetMetadataRequest) (*api.UpdateImageSetMetadataResponse, error) {
	dsID, isID := *in.DatastoreId, *in.ImageSetId
	if _, err := s.activeDatastore(ctx, dsID); err != nil {
		return nil, err
	}
	is, err := s.writableImageSet(ctx, dsID, isID)
	if err != nil {
		return nil, err
	}
	if err := expectVersion(is, *in.LatestVersionId, "latestVersion"); err != nil {
		return nil, err
	}
	force := in.Force != nil && *in.Force
	includeStudy := in.IncludeStudyImageSets != nil && *in.IncludeStudyImageSets
	cur, err := s.store.ImageSetVersionGet(ctx, dsID, isID, is.Version)
	if err != nil {
		return nil, err
	}
	u := in.UpdateImageSetMetadataUpdates
	var doc *metadoc.Document
	var res *metadoc.Result
	if u.RevertToVersionId != nil {
		rv, err := strconv.ParseInt(*u.RevertToVersionId, 10, 64)
		if err != nil || rv < 1 || rv >= is.Version {
			return nil, ohi.Validationf("revertToVersionId", "version %s is not an earlier version of image set %s (latest is %d)", *u.RevertToVersionId, isID, is.Version)
		}
		old, err := s.store.ImageSetVersionGet(ctx, dsID, isID, rv)
		if err != nil {
			return nil, err
		}
		if doc, err = s.loadDoc(ctx, old.MetadataKey); err != nil {
			return nil, err
		}
	} else {
		du := u.DICOMUpdates
		if du == nil || (du.UpdatableAttributes == nil && du.RemovableAttributes == nil) {
			return nil, ohi.Validationf("DICOMUpdates", "give updatableAttributes, removableAttributes or both")
		}
		if n := len(du.UpdatableAttributes) + len(du.RemovableAttributes); n > MaxUpdatePayload {
			return nil, ohi.QuotaExceededf("the update payload is %d bytes; the quota is %d bytes", n, MaxUpdatePayload)
		}
		var upd, rem *metadoc.Changes
		if du.UpdatableAttributes != nil {
			if upd, err = metadoc.ParseChanges(du.UpdatableAttributes, "updatableAttributes"); err != nil {
				return nil, err
			}
		}
		if du.RemovableAttributes != nil {
			if rem, err = metadoc.ParseChanges(du.RemovableAttributes, "removableAttributes"); err != nil {
				return nil, err
			}
		}
		if doc, err = s.loadDoc(ctx, cur.MetadataKey); err != nil {
			return nil, err
		}
		if res, err = metadoc.ApplyUpdates(doc, upd, rem, metadoc.UpdateOptions{Force: force, Primary: is.IsPrimary, IncludeStudyImageSets: includeStudy}); err != nil {
			return nil, err
		}
	}
	now := time.Now().UTC()
	change := &ohi.ImageSetChange{}
	var written []string
	defer func() {
		for _, k := range written { // only left set when the change failed
			_ = s.blobs.Delete(context.WithoutCancel(ctx), k)
		}
	}()
	newVersion := is.Version + 1
	key, err := s.saveDoc(ctx, doc, newVersion)
	if err != nil {
		return nil, err
	}
	written = append(written, key)
	next := *is
	next.Version, next.State, next.WorkflowStatus, next.Message, next.UpdatedAt, next.Tags = newVersion, ohi.ImageSetLocked, ohi.WorkflowUpdating, "", now, doc.Tags()
	idx, err := doc.Index()
	if err != nil {
		return nil, err
	}
	change.Commits = append(change.Commits, &ohi.ImageSetCommit{ImageSet: next, MetadataKey: key, Forced: force, Index: idx})
	change.Pending = append(change.Pending, s.settleLater(isID, dsID, ohi.ImageSetActive, ohi.WorkflowUpdated, "", true))

	if includeStudy && res != nil && res.HasStudyLevel() && is.Tags.StudyInstanceUID != "" {
		siblings, err := s.store.ImageSetSearch(ctx, &ohi.ImageSetQuery{DatastoreID: dsID, Limit: 1000,
			Conds: []ohi.SearchCond{{Field: "studyUID", Lo: is.Tags.StudyInstanceUID}}})
		if err != nil {
			return nil, err
		}
		for _, sib := range siblings {
			if sib.ID == isID {
				continue
			}
			if sib.State != ohi.ImageSetActive {
				return nil, ohi.Conflictf("image set %s of the same study is %s; retry when it is ACTIVE", sib.ID, sib.State)
			}
			sv, err := s.store.ImageSetVersionGet(ctx, dsID, sib.ID, sib.Version)
			if err != nil {
				return nil, err
			}
			sdoc, err := s.loadDoc(ctx, sv.MetadataKey)
			if err != nil {
				return nil, err
			}
			metadoc.ApplyStudyLevel(sdoc, res)
			skey, err := s.saveDoc(ctx, sdoc, sib.Version+1)
			if err != nil {
				return nil, err
			}
			written = append(written, skey)
			sn := *sib
			sn.Version, sn.State, sn.WorkflowStatus, sn.UpdatedAt, sn.Tags = sib.Version+1, ohi.ImageSetLocked, ohi.WorkflowUpdatingForStudyConsistency, now, sdoc.Tags()
			sidx, err := sdoc.Index()
			if err != nil {
				return nil, err
			}
			change.Commits = append(change.Commits, &ohi.ImageSetCommit{ImageSet: sn, MetadataKey: skey, Forced: force, Index: sidx})
			change.Pending = append(change.Pending, s.settleLater(sib.ID, dsID, ohi.ImageSetActive, ohi.WorkflowUpdated, "", true))
		}
	}
	if err := s.store.ImageSetChange(ctx, change); err != nil {
		return nil, err
	}
	written = nil
	s.schedule(change.Pending...)
	return &api.UpdateImageSetMetadataResponse{
		DatastoreId: &dsID, ImageSetId: &isID, LatestVersionId: ptr(strconv.FormatInt(newVersion, 10)),
		ImageSetState: api.ImageSetStateLocked, ImageSetWorkflowStatus: api.ImageSetWorkflowStatusUpdating,
		CreatedAt: api.NewTime(is.CreatedAt), UpdatedAt: api.NewTime(now),
	}, nil
}

// CopyImageSet implements api.Service. Source and destination are in the
// same data store (the operation names one), so they share its lossless
// storage format; frames are referenced as they are stored, never
// re-encoded.
func (s *Service) CopyImageSet(ctx context.Context, in *api.CopyImageSetRequest) (*api.CopyImageSetResponse, error) {
	dsID, srcID := *in.DatastoreId, *in.SourceImageSetId
	if _, err := s.activeDatastore(ctx, dsID); err != nil {
		return nil, err
	}
	info := in.CopyImageSetInformation
	force := in.Force != nil && *in.Force
	promote := in.PromoteToPrimary != nil && *in.PromoteToPrimary
	src, err := s.writableImageSet(ctx, dsID, srcID)
	if err != nil {
		return nil, err
	}
	if err := expectVersion(src, *info.SourceImageSet.LatestVersionId, "sourceImageSet.latestVersionId"); err != nil {
		return nil, err
	}
	sv, err := s.store.ImageSetVersionGet(ctx, dsID, srcID, src.Version)
	if err != nil {
		return nil, err
	}
	srcDoc, err := s.loadDoc(ctx, sv.MetadataKey)
	if err != nil {
		return nil, err
	}
	seriesUID, _ := srcDoc.Series()
	sops := srcDoc.SOPInstanceUIDs()
	if c := info.SourceImageSet.DICOMCopies; c != nil {
		sel, err := metadoc.ParseSelection(*c.CopiableAttributes)
		if err != nil {
			return nil, err
		}
		if sel.SeriesUID != seriesUID {
			return nil, ohi.Validationf("copiableAttributes", "series %s is not the series of source image set %s (%s)", sel.SeriesUID, srcID, seriesUID)
		}
		if sel.SOPInstanceUIDs != nil {
			for _, sop := range sel.SOPInstanceUIDs {
				if _, err := srcDoc.Instance(sop); err != nil {
					return nil, ohi.Validationf("copiableAttributes", "instance %s is not in source image set %s", sop, srcID)
				}
			}
			sops = sel.SOPInstanceUIDs
		}
	}
	frameIDs, err := srcDoc.Frames()
	if err != nil {
		return nil, err
	}
	selected := map[string]bool{}
	for _, sop := range sops {
		selected[sop] = true
	}
	var frames []*ohi.Frame
	for id, sop := range frameIDs {
		if !selected[sop] {
			continue
		}
		f, err := s.store.FrameGet(ctx, dsID, srcID, id)
		if err != nil {
			return nil, err
		}
		frames = append(frames, f)
	}
	if len(frames) > MaxCopyFrames {
		return nil, ohi.QuotaExceededf("the copy selects %d image frames; the quota is %d per request", len(frames), MaxCopyFrames)
	}

	now := time.Now().UTC()
	var dest ohi.ImageSet
	var destDoc *metadoc.Document
	failMsg := ""
	if d := info.DestinationImageSet; d == nil {
		dest = ohi.ImageSet{ID: ohi.NewID(), DatastoreID: dsID, Version: 1, CreatedAt: now, IsPrimary: promote}
		if promote {
			if p, err := s.store.ImageSetPrimaryForSeries(ctx, dsID, seriesUID); err == nil {
				return nil, ohi.Conflictf("series %s already has the primary image set %s; copy into it instead", seriesUID, p.ID)
			} else if !errors.Is(err, ohi.ErrNotFound) {
				return nil, err
			}
		}
		_, ss := srcDoc.Series()
		destDoc = metadoc.New(dsID, dest.ID, srcDoc.Patient.DICOM, srcDoc.Study.DICOM, seriesUID, ss.DICOM)
	} else {
		if *d.ImageSetId == srcID {
			return nil, ohi.Validationf("destinationImageSet.imageSetId", "the destination must differ from the source image set")
		}
		cur, err := s.writableImageSet(ctx, dsID, *d.ImageSetId)
		if err != nil {
			return nil, err
		}
		if err := expectVersion(cur, *d.LatestVersionId, "destinationImageSet.latestVersionId"); err != nil {
			return nil, err
		}
		dv, err := s.store.ImageSetVersionGet(ctx, dsID, cur.ID, cur.Version)
		if err != nil {
			return nil, err
		}
		if destDoc, err = s.loadDoc(ctx, dv.MetadataKey); err != nil {
			return nil, err
		}
		dest = *cur
		dest.Version = cur.Version + 1
		if promote && !cur.IsPrimary {
			if p, err := s.store.ImageSetPrimaryForSeries(ctx, dsID, seriesUID); err == nil {
				return nil, ohi.Conflictf("series %s already has the primary image set %s", seriesUID, p.ID)
			} else if !errors.Is(err, ohi.ErrNotFound) {
				return nil, err
			}
			dest.IsPrimary = true
		}
		if destDoc.Key() != srcDoc.Key() && !force {
			// As in AWS, this surfaces as a failed version of the destination.
			failMsg = "INVALID_REQUEST:  Series of SourceImageSet and DestinationImageSet don't match."
		} else {
			_, ds := destDoc.Series()
			for _, sop := range sops {
				if _, dup := ds.Instances[sop]; dup {
					return nil, ohi.Validationf("copiableAttributes", "SOP Instance UID %s is already in destination image set %s; SOP Instance UIDs are unique within an image set", sop, cur.ID)
				}
			}
		}
	}
	if failMsg == "" {
		for _, sop := range sops {
			if err := destDoc.CopyInstance(srcDoc, sop); err != nil {
				return nil, err
			}
		}
	}
	key, err := s.saveDoc(ctx, destDoc, dest.Version)
	if err != nil {
		return nil, err
	}
	dest.State, dest.WorkflowStatus, dest.Message, dest.UpdatedAt, dest.Tags = ohi.ImageSetLocked, ohi.WorkflowCopying, "", now, destDoc.Tags()
	final := ohi.WorkflowCopied
	if failMsg != "" {
		final, frames = ohi.WorkflowCopyFailed, nil
	}
	for _, f := range frames {
		f.ImageSetID = dest.ID
	}
	idx, err := destDoc.Index()
	if err != nil {
		return nil, err
	}
	idx.InheritFrom = srcID
	change := &ohi.ImageSetChange{
		Locks:   []ohi.ImageSetLock{{DatastoreID: dsID, ImageSetID: srcID, Version: src.Version, State: ohi.ImageSetLocked, Status: ohi.WorkflowCopyingWithReadOnlyAccess, UpdatedAt: src.UpdatedAt}},
		Commits: []*ohi.ImageSetCommit{{ImageSet: dest, MetadataKey: key, Frames: frames, Forced: force, Index: idx}},
		Pending: []*ohi.PendingSettle{
			s.settleLater(srcID, dsID, ohi.ImageSetActive, src.WorkflowStatus, src.Message, false),
			s.settleLater(dest.ID, dsID, ohi.ImageSetActive, final, failMsg, true),
		},
	}
	if err := s.store.ImageSetChange(ctx, change); err != nil {
		_ = s.blobs.Delete(context.WithoutCancel(ctx), key)
		return nil, err
	}
	s.schedule(change.Pending...)
	return &api.CopyImageSetResponse{
		DatastoreId: &dsID,
		SourceImageSetProperties: &api.CopySourceImageSetProperties{
			ImageSetId: &srcID, LatestVersionId: ptr(strconv.FormatInt(src.Version, 10)), ImageSetState: api.ImageSetStateLocked,
			ImageSetWorkflowStatus: api.ImageSetWorkflowStatusCopyingWithReadOnlyAccess, CreatedAt: api.NewTime(src.CreatedAt),
			UpdatedAt: api.NewTime(src.UpdatedAt), ImageSetArn: ptr(s.ImageSetARN(dsID, srcID)),
		},
		DestinationImageSetProperties: &api.CopyDestinationImageSetProperties{
			ImageSetId: &dest.ID, LatestVersionId: ptr(strconv.FormatInt(dest.Version, 10)), ImageSetState: api.ImageSetStateLocked,
			ImageSetWorkflowStatus: api.ImageSetWorkflowStatusCopying, CreatedAt: api.NewTime(dest.CreatedAt),
			UpdatedAt: api.NewTime(now), ImageSetArn: ptr(s.ImageSetARN(dsID, dest.ID)),
		},
	}, nil
}

// DeleteImageSet implements api.Service. The image set is LOCKED/DELETING
// until its storage is reclaimed, then DELETED.
func (s *Service) DeleteImageSet(ctx context.Context, in *api.DeleteImageSetRequest) (*api.DeleteImageSetResponse, error) {
	dsID, isID := *in.DatastoreId, *in.ImageSetId
	if _, err := s.existingDatastore(ctx, dsID); err != nil {
		return nil, err
	}
	is, err := s.writableImageSet(ctx, dsID, isID)
	if err != nil {
		return nil, err
	}
	p := s.settleLater(isID, dsID, ohi.ImageSetDeleted, ohi.WorkflowDeleted, "", true)
	p.Kind = "delete"
	change := &ohi.ImageSetChange{
		Locks:   []ohi.ImageSetLock{{DatastoreID: dsID, ImageSetID: isID, Version: is.Version, State: ohi.ImageSetLocked, Status: ohi.WorkflowDeleting, UpdatedAt: time.Now().UTC()}},
		Pending: []*ohi.PendingSettle{p},
	}
	if err := s.store.ImageSetChange(ctx, change); err != nil {
		return nil, err
	}
	s.schedule(p)
	return &api.DeleteImageSetResponse{DatastoreId: &dsID, ImageSetId: &isID, ImageSetState: api.ImageSetStateLocked,
		ImageSetWorkflowStatus: api.ImageSetWorkflowStatusDeleting}, nil
}

// schedule settles each pending change when it is due.
func (s *Service) schedule(ps ...*ohi.PendingSettle) {
	for _, p := range ps {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if d := time.Until(p.Due); d > 0 {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-s.ctx.Done():
					return // resumed at the next start
				case <-t.C:
				}
			}
			for attempt := 0; ; attempt++ {
				err := s.settle(s.ctx, p)
				if err == nil || s.ctx.Err() != nil {
					return
				}
				s.logger.Error("settle image set", "imageSetId", p.ImageSetID, "kind", p.Kind, "attempt", attempt, "err", err)
				select {
				case <-s.ctx.Done():
					return
				case <-time.After(time.Duration(min(attempt+1, 30)) * time.Second):
				}
			}
		}()
	}
}

// settle applies one pending change. For a deletion it first reclaims the
// storage only this image set uses; every step can be repeated.
func (s *Service) settle(ctx context.Context, p *ohi.PendingSettle) error {
	if p.Kind == "delete" {
		frames, err := s.store.FramesOnlyIn(ctx, p.ImageSetID)
		if err != nil {
			return err
		}
		for _, f := range frames {
			if err := s.blobs.Delete(ctx, f.BlobKey); err != nil {
				return err
			}
		}
		versions, err := s.store.ImageSetVersions(ctx, p.DatastoreID, p.ImageSetID, 0, 1<<30)
		if err != nil {
			return err
		}
		for _, v := range versions {
			if err := s.blobs.Delete(ctx, v.MetadataKey); err != nil {
				return err
			}
		}
		if err := s.store.TagsDelete(ctx, s.ImageSetARN(p.DatastoreID, p.ImageSetID), s.tagKeysOf(s.ImageSetARN(p.DatastoreID, p.ImageSetID))); err != nil {
			return err
		}
	}
	if err := s.store.ImageSetSettle(ctx, p, time.Now().UTC()); err != nil {
		return err
	}
	s.logger.Info("image set settled", "imageSetId", p.ImageSetID, "state", p.State, "status", p.Status)
	return nil
}

// resumeSettles finishes, at once, the operations a stop interrupted.
func (s *Service) resumeSettles(ctx context.Context) error {
	ps, err := s.store.PendingSettles(ctx, time.Now().Add(100*365*24*time.Hour), 1<<30)
	if err != nil {
		return err
	}
	for _, p := range ps {
		p.Due = time.Now()
	}
	s.schedule(ps...)
	return nil
}
