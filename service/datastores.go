package service

import (
	"context"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/metadoc"
)

// CreateDatastore implements api.Service. The data store is CREATING when
// the call returns and ACTIVE after Config.TransitionDelay.
func (s *Service) CreateDatastore(ctx context.Context, in *api.CreateDatastoreRequest) (*api.CreateDatastoreResponse, error) {
	if len(in.Tags) > maxTags {
		return nil, ohi.Validationf("tags", "a resource can have at most %d tags", maxTags)
	}
	// HTJ2K (the default) or JPEG_2000_LOSSLESS (the api layer checks the
	// enum): the importer transcodes lossless frames to HTJ2K Lossless RPCL
	// (1.2.840.10008.1.2.4.202) or to JPEG 2000 Lossless
	// (1.2.840.10008.1.2.4.90) accordingly. The format is fixed for the
	// life of the data store.
	format := string(in.LosslessStorageFormat)
	if format == "" {
		format = string(api.LosslessStorageFormatHtj2k)
	}
	hash := fingerprint(str(in.DatastoreName), in.Tags, str(in.KmsKeyArn), str(in.LambdaAuthorizerArn), format)
	now := time.Now().UTC()
	ds := &ohi.Datastore{
		ID: ohi.NewID(), Name: str(in.DatastoreName), Status: ohi.DatastoreCreating,
		KMSKeyARN: str(in.KmsKeyArn), LambdaAuthorizerARN: str(in.LambdaAuthorizerArn),
		LosslessStorageFormat: format, CreatedAt: now, UpdatedAt: now,
	}
	if ds.Name == "" {
		ds.Name = "datastore-" + ds.ID[:8]
	}
	got, created, err := s.store.DatastoreCreate(ctx, ds, str(in.ClientToken), hash, s.cfg.MaxDatastores)
	if err != nil {
		return nil, err
	}
	if created {
		if len(in.Tags) > 0 {
			if err := s.store.TagsSet(ctx, s.DatastoreARN(ds.ID), in.Tags); err != nil {
				return nil, err
			}
		}
		s.settleDatastore(ds.ID, ohi.DatastoreActive, ohi.DatastoreCreating)
	}
	return &api.CreateDatastoreResponse{DatastoreId: &got.ID, DatastoreStatus: api.DatastoreStatus(got.Status)}, nil
}

// settleDatastore moves a data store from from to to after the transition delay, in
// the background.
func (s *Service) settleDatastore(id string, to, from ohi.DatastoreStatus) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.cfg.TransitionDelay)
		defer t.Stop()
		select {
		case <-s.ctx.Done():
			return // resumed at the next start
		case <-t.C:
		}
		if err := s.store.DatastoreSetStatus(context.Background(), id, to, from); err != nil {
			s.logger.Error("data store transition failed", "datastoreId", id, "to", to, "err", err)
			return
		}
		if to == ohi.DatastoreDeleted {
			arn := s.DatastoreARN(id)
			_ = s.store.TagsDelete(context.Background(), arn, s.tagKeysOf(arn))
			s.reclaimDatastore(id)
		}
		s.logger.Info("data store "+string(to), "datastoreId", id)
	}()
}

// reclaimDatastore removes every blob left under a deleted data store.
func (s *Service) reclaimDatastore(id string) {
	ctx := context.Background()
	var keys []string
	err := s.blobs.List(ctx, metadoc.DatastorePrefix(id), func(o ohi.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	})
	for _, k := range keys {
		if derr := s.blobs.Delete(ctx, k); derr != nil && err == nil {
			err = derr
		}
	}
	if err != nil {
		s.logger.Warn("reclaim storage of deleted data store", "datastoreId", id, "err", err)
	}
}

func (s *Service) tagKeysOf(arn string) []string {
	tags, err := s.store.TagsList(context.Background(), arn)
	if err != nil {
		return nil
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	return keys
}

// resumeTransitions finishes CREATING and DELETING transitions that a stop
// interrupted.
func (s *Service) resumeTransitions(ctx context.Context) error {
	for _, st := range []ohi.DatastoreStatus{ohi.DatastoreCreating, ohi.DatastoreDeleting} {
		after := ""
		for {
			list, err := s.store.DatastoreList(ctx, st, after, 100)
			if err != nil {
				return err
			}
			for _, ds := range list {
				to := ohi.DatastoreActive
				if st == ohi.DatastoreDeleting {
					to = ohi.DatastoreDeleted
				}
				s.settleDatastore(ds.ID, to, st)
			}
			if len(list) < 100 {
				break
			}
			after = list[len(list)-1].ID
		}
	}
	return nil
}

func (s *Service) datastoreProperties(ds *ohi.Datastore) *api.DatastoreProperties {
	return &api.DatastoreProperties{
		DatastoreId: ptr(ds.ID), DatastoreName: ptr(ds.Name), DatastoreStatus: api.DatastoreStatus(ds.Status),
		KmsKeyArn: optStr(ds.KMSKeyARN), LambdaAuthorizerArn: optStr(ds.LambdaAuthorizerARN),
		LosslessStorageFormat: api.LosslessStorageFormat(ds.LosslessStorageFormat),
		DatastoreArn:          ptr(s.DatastoreARN(ds.ID)), CreatedAt: api.NewTime(ds.CreatedAt), UpdatedAt: api.NewTime(ds.UpdatedAt),
	}
}

// GetDatastore implements api.Service.
func (s *Service) GetDatastore(ctx context.Context, in *api.GetDatastoreRequest) (*api.GetDatastoreResponse, error) {
	ds, err := s.store.DatastoreGet(ctx, *in.DatastoreId)
	if err != nil {
		return nil, err
	}
	return &api.GetDatastoreResponse{DatastoreProperties: s.datastoreProperties(ds)}, nil
}

// ListDatastores implements api.Service.
func (s *Service) ListDatastores(ctx context.Context, in *api.ListDatastoresRequest) (*api.ListDatastoresResponse, error) {
	pg, err := s.startPage(in.NextToken, in.MaxResults, "ListDatastores", in.DatastoreStatus)
	if err != nil {
		return nil, err
	}
	list, err := s.store.DatastoreList(ctx, ohi.DatastoreStatus(in.DatastoreStatus), pg.after, pg.limit+1)
	if err != nil {
		return nil, err
	}
	out := &api.ListDatastoresResponse{DatastoreSummaries: []api.DatastoreSummary{}}
	list, out.NextToken = endPage(s, pg, list, func(d *ohi.Datastore) string { return d.ID })
	for _, ds := range list {
		out.DatastoreSummaries = append(out.DatastoreSummaries, api.DatastoreSummary{
			DatastoreId: ptr(ds.ID), DatastoreName: ptr(ds.Name), DatastoreStatus: api.DatastoreStatus(ds.Status),
			DatastoreArn: ptr(s.DatastoreARN(ds.ID)), CreatedAt: api.NewTime(ds.CreatedAt), UpdatedAt: api.NewTime(ds.UpdatedAt),
		})
	}
	return out, nil
}

// DeleteDatastore implements api.Service. A data store that still has
// image sets or unfinished import jobs cannot be deleted (ConflictException).
func (s *Service) DeleteDatastore(ctx context.Context, in *api.DeleteDatastoreRequest) (*api.DeleteDatastoreResponse, error) {
	id := *in.DatastoreId
	ds, err := s.store.DatastoreGet(ctx, id)
	if err != nil {
		return nil, err
	}
	switch ds.Status {
	case ohi.DatastoreDeleting, ohi.DatastoreDeleted:
		// DeleteDatastore is idempotent.
		return &api.DeleteDatastoreResponse{DatastoreId: &id, DatastoreStatus: api.DatastoreStatus(ds.Status)}, nil
	case ohi.DatastoreCreating:
		return nil, ohi.Conflictf("data store %s is still CREATING", id)
	}
	n, err := s.store.DatastoreImageSetCount(ctx, id)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, ohi.Conflictf("data store %s still has %d image sets; delete them first", id, n)
	}
	for _, st := range []ohi.JobStatus{ohi.JobSubmitted, ohi.JobInProgress} {
		jobs, err := s.store.ImportJobList(ctx, id, st, "", 1)
		if err != nil {
			return nil, err
		}
		if len(jobs) > 0 {
			return nil, ohi.Conflictf("data store %s has an unfinished import job (%s)", id, jobs[0].ID)
		}
	}
	if err := s.store.DatastoreSetStatus(ctx, id, ohi.DatastoreDeleting, ohi.DatastoreActive, ohi.DatastoreCreateFailed); err != nil {
		return nil, err
	}
	s.settleDatastore(id, ohi.DatastoreDeleted, ohi.DatastoreDeleting)
	return &api.DeleteDatastoreResponse{DatastoreId: &id, DatastoreStatus: api.DatastoreStatusDeleting}, nil
}

// activeDatastore returns the data store if it is ACTIVE. A deleted data
// store is not found; one in another state is a conflict.
func (s *Service) activeDatastore(ctx context.Context, id string) (*ohi.Datastore, error) {
	ds, err := s.store.DatastoreGet(ctx, id)
	if err != nil {
		return nil, err
	}
	switch ds.Status {
	case ohi.DatastoreActive:
		return ds, nil
	case ohi.DatastoreDeleted:
		return nil, ohi.NotFoundf("data store %s was deleted", id)
	}
	return nil, ohi.Conflictf("data store %s is %s, not ACTIVE", id, ds.Status)
}

// existingDatastore returns the data store unless it does not exist or was
// deleted.
func (s *Service) existingDatastore(ctx context.Context, id string) (*ohi.Datastore, error) {
	ds, err := s.store.DatastoreGet(ctx, id)
	if err != nil {
		return nil, err
	}
	if ds.Status == ohi.DatastoreDeleted {
		return nil, ohi.NotFoundf("data store %s was deleted", id)
	}
	return ds, nil
}
