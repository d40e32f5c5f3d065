package service

import (
	"context"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/api"
)

// maxTags is the number of tags a resource can carry (HealthImaging allows
// 50 on image sets; ohi applies the same bound to data stores).
const maxTags = 50

// checkResource returns an error unless arn names an existing data store or
// image set of this server.
func (s *Service) checkResource(ctx context.Context, arn string) error {
	dsID, isID, err := s.parseARN(arn)
	if err != nil {
		return err
	}
	if _, err := s.existingDatastore(ctx, dsID); err != nil {
		return err
	}
	if isID != "" {
		is, err := s.store.ImageSetGet(ctx, dsID, isID)
		if err != nil {
			return err
		}
		if is.State == ohi.ImageSetDeleted {
			return ohi.NotFoundf("image set %s was deleted", isID)
		}
	}
	return nil
}

// TagResource implements api.Service.
func (s *Service) TagResource(ctx context.Context, in *api.TagResourceRequest) (*api.TagResourceResponse, error) {
	arn := *in.ResourceArn
	if err := s.checkResource(ctx, arn); err != nil {
		return nil, err
	}
	cur, err := s.store.TagsList(ctx, arn)
	if err != nil {
		return nil, err
	}
	n := len(cur)
	for k := range in.Tags {
		if _, ok := cur[k]; !ok {
			n++
		}
	}
	if n > maxTags {
		return nil, ohi.Validationf("tags", "a resource can have at most %d tags (it would have %d)", maxTags, n)
	}
	if err := s.store.TagsSet(ctx, arn, in.Tags); err != nil {
		return nil, err
	}
	return &api.TagResourceResponse{}, nil
}

// UntagResource implements api.Service.
func (s *Service) UntagResource(ctx context.Context, in *api.UntagResourceRequest) (*api.UntagResourceResponse, error) {
	arn := *in.ResourceArn
	if err := s.checkResource(ctx, arn); err != nil {
		return nil, err
	}
	if err := s.store.TagsDelete(ctx, arn, in.TagKeys); err != nil {
		return nil, err
	}
	return &api.UntagResourceResponse{}, nil
}

// ListTagsForResource implements api.Service.
func (s *Service) ListTagsForResource(ctx context.Context, in *api.ListTagsForResourceRequest) (*api.ListTagsForResourceResponse, error) {
	arn := *in.ResourceArn
	if err := s.checkResource(ctx, arn); err != nil {
		return nil, err
	}
	tags, err := s.store.TagsList(ctx, arn)
	if err != nil {
		return nil, err
	}
	return &api.ListTagsForResourceResponse{Tags: tags}, nil
}
