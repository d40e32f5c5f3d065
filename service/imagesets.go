package service

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/api"
)

var (
	studyDateRE = regexp.MustCompile(`^\d{8}$`)
	studyTimeRE = regexp.MustCompile(`^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$`)
)

// searchValue turns one SearchByAttributeValue (validated to have exactly
// one member) into a store field and value.
func searchValue(v *api.SearchByAttributeValue, path string) (field string, val any, err error) {
	switch {
	case v.DICOMPatientId != nil:
		return "patientId", *v.DICOMPatientId, nil
	case v.DICOMAccessionNumber != nil:
		return "accessionNumber", *v.DICOMAccessionNumber, nil
	case v.DICOMStudyId != nil:
		return "studyId", *v.DICOMStudyId, nil
	case v.DICOMStudyInstanceUID != nil:
		return "studyUID", *v.DICOMStudyInstanceUID, nil
	case v.DICOMSeriesInstanceUID != nil:
		return "seriesUID", *v.DICOMSeriesInstanceUID, nil
	case v.CreatedAt != nil:
		return "createdAt", v.CreatedAt.Time, nil
	case v.UpdatedAt != nil:
		return "updatedAt", v.UpdatedAt.Time, nil
	case v.IsPrimary != nil:
		return "isPrimary", *v.IsPrimary, nil
	case v.DICOMStudyDateAndTime != nil:
		d, t := str(v.DICOMStudyDateAndTime.DICOMStudyDate), str(v.DICOMStudyDateAndTime.DICOMStudyTime)
		if !studyDateRE.MatchString(d) {
			return "", nil, ohi.Validationf(path+".DICOMStudyDateAndTime.DICOMStudyDate", "must be a date in YYYYMMDD form, got %q", d)
		}
		if t != "" && !studyTimeRE.MatchString(t) {
			return "", nil, ohi.Validationf(path+".DICOMStudyDateAndTime.DICOMStudyTime", "must be a time in HHMMSS.FFFFFF form, got %q", t)
		}
		return "studyDateTime", ohi.StudyDateTimeKey(d, t), nil
	}
	return "", nil, ohi.Validationf(path, "exactly one search attribute must be set")
}

// searchQuery translates search criteria into a store query.
func searchQuery(dsID string, c *api.SearchCriteria) (*ohi.ImageSetQuery, error) {
	q := &ohi.ImageSetQuery{DatastoreID: dsID, SortField: "updatedAt", SortDesc: true}
	if c == nil {
		return q, nil
	}
	for i, f := range c.Filters {
		path := fmt.Sprintf("searchCriteria.filters.%d", i+1)
		var vals []any
		var field string
		for j := range f.Values {
			fd, v, err := searchValue(&f.Values[j], fmt.Sprintf("%s.values.%d", path, j+1))
			if err != nil {
				return nil, err
			}
			if field != "" && fd != field {
				return nil, ohi.Validationf(path+".values", "both values of a BETWEEN filter must be the same attribute (got %s and %s)", field, fd)
			}
			field = fd
			vals = append(vals, v)
		}
		switch f.Operator {
		case api.OperatorEqual:
			if len(vals) != 1 {
				return nil, ohi.Validationf(path+".values", "operator EQUAL takes exactly one value, got %d", len(vals))
			}
			cond := ohi.SearchCond{Field: field, Lo: vals[0]}
			if field == "studyDateTime" && f.Values[0].DICOMStudyDateAndTime.DICOMStudyTime == nil {
				// A date alone matches the whole day.
				d := *f.Values[0].DICOMStudyDateAndTime.DICOMStudyDate
				cond = ohi.SearchCond{Field: field, Lo: ohi.StudyDateTimeKey(d, ""), Hi: ohi.StudyDateTimeKey(d, "235959.999999")}
			}
			q.Conds = append(q.Conds, cond)
		case api.OperatorBetween:
			if len(vals) != 2 {
				return nil, ohi.Validationf(path+".values", "operator BETWEEN takes exactly two values (lower and upper bound), got %d", len(vals))
			}
			switch field {
			case "createdAt", "updatedAt":
				if vals[0].(time.Time).After(vals[1].(time.Time)) {
					return nil, ohi.Validationf(path+".values", "the lower bound of BETWEEN is after the upper bound")
				}
			case "studyDateTime":
				if vals[0].(string) > vals[1].(string) {
					return nil, ohi.Validationf(path+".values", "the lower bound of BETWEEN is after the upper bound")
				}
			default:
				return nil, ohi.Validationf(path+".operator", "operator BETWEEN applies to createdAt, updatedAt and DICOMStudyDateAndTime, not to %s", field)
			}
			q.Conds = append(q.Conds, ohi.SearchCond{Field: field, Lo: vals[0], Hi: vals[1]})
		}
	}
	if c.Sort != nil {
		q.SortField = string(c.Sort.SortField)
		q.SortDesc = c.Sort.SortOrder == api.SortOrderDesc
	}
	return q, nil
}

// SearchImageSets implements api.Service. Results are ordered by the sort
// field (default updatedAt, newest first) then image set id; deleted image
// sets are not returned.
func (s *Service) SearchImageSets(ctx context.Context, in *api.SearchImageSetsRequest) (*api.SearchImageSetsResponse, error) {
	dsID := *in.DatastoreId
	if _, err := s.existingDatastore(ctx, dsID); err != nil {
		return nil, err
	}
	q, err := searchQuery(dsID, in.SearchCriteria)
	if err != nil {
		return nil, err
	}
	crit, _ := json.Marshal(in.SearchCriteria)
	scope := fingerprint("SearchImageSets", dsID, string(crit))
	tok, err := s.tokens.decode(in.NextToken, scope)
	if err != nil {
		return nil, err
	}
	if tok != nil {
		key := tok.Key
		if n, ok := key.(json.Number); ok {
			v, err := n.Int64()
			if err != nil {
				return nil, ohi.Validationf("nextToken", "invalid pagination token")
			}
			key = v
		}
		q.After = &ohi.SearchCursor{Key: key, ID: tok.ID}
	}
	limit := limitOf(in.MaxResults, 50)
	q.Limit = limit + 1
	list, err := s.store.ImageSetSearch(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &api.SearchImageSetsResponse{ImageSetsMetadataSummaries: []api.ImageSetsMetadataSummary{}}
	if in.SearchCriteria != nil && in.SearchCriteria.Sort != nil {
		out.Sort = in.SearchCriteria.Sort
	}
	if len(list) > limit {
		list = list[:limit]
		last := list[len(list)-1]
		out.NextToken = s.tokens.encode(pageToken{Scope: scope, Key: last.SortKey(q.SortField), ID: last.ID})
	}
	for _, is := range list {
		out.ImageSetsMetadataSummaries = append(out.ImageSetsMetadataSummaries, api.ImageSetsMetadataSummary{
			ImageSetId: ptr(is.ID), Version: ptr(int32(is.Version)), CreatedAt: api.NewTime(is.CreatedAt), UpdatedAt: api.NewTime(is.UpdatedAt),
			StorageTier: api.StorageTierFrequentAccess, IsPrimary: ptr(is.IsPrimary), DICOMTags: dicomTags(&is.Tags),
		})
	}
	return out, nil
}

func dicomTags(t *ohi.DICOMTags) *api.DICOMTags {
	out := &api.DICOMTags{
		DICOMPatientId: optStr(t.PatientID), DICOMPatientName: optStr(t.PatientName), DICOMPatientBirthDate: optStr(t.PatientBirthDate),
		DICOMPatientSex: optStr(t.PatientSex), DICOMStudyInstanceUID: optStr(t.StudyInstanceUID), DICOMStudyId: optStr(t.StudyID),
		DICOMStudyDescription: optStr(t.StudyDescription), DICOMAccessionNumber: optStr(t.AccessionNumber),
		DICOMSeriesInstanceUID: optStr(t.SeriesInstanceUID), DICOMSeriesModality: optStr(t.SeriesModality),
		DICOMSeriesBodyPart: optStr(t.SeriesBodyPart), DICOMSeriesNumber: t.SeriesNumber,
		DICOMStudyDate: optStr(t.StudyDate), DICOMStudyTime: optStr(t.StudyTime),
	}
	if t.StudyInstanceUID != "" {
		out.DICOMNumberOfStudyRelatedSeries = ptr(int32(t.NumberOfStudyRelatedSeries))
		out.DICOMNumberOfStudyRelatedInstances = ptr(int32(t.NumberOfStudyRelatedInstances))
	}
	return out
}

func parseVersion(p *string, field string) (int64, error) {
	if p == nil {
		return 0, nil
	}
	v, err := strconv.ParseInt(*p, 10, 64)
	if err != nil || v < 1 {
		return 0, ohi.Validationf(field, "version %q is not a version number", *p)
	}
	return v, nil
}

// imageSetVersion resolves an image set version of an existing data store.
func (s *Service) imageSetVersion(ctx context.Context, dsID, isID string, version *string) (*ohi.ImageSet, *ohi.ImageSetVersion, error) {
	if _, err := s.existingDatastore(ctx, dsID); err != nil {
		return nil, nil, err
	}
	v, err := parseVersion(version, "version")
	if err != nil {
		return nil, nil, err
	}
	is, err := s.store.ImageSetGet(ctx, dsID, isID)
	if err != nil {
		return nil, nil, err
	}
	ver, err := s.store.ImageSetVersionGet(ctx, dsID, isID, v)
	if err != nil {
		return nil, nil, err
	}
	return is, ver, nil
}

// GetImageSet implements api.Service.
func (s *Service) GetImageSet(ctx context.Context, in *api.GetImageSetRequest) (*api.GetImageSetResponse, error) {
	is, ver, err := s.imageSetVersion(ctx, *in.DatastoreId, *in.ImageSetId, in.VersionId)
	if err != nil {
		return nil, err
	}
	state, status, msg := ver.State, ver.WorkflowStatus, ver.Message
	if ver.Version == is.Version {
		state, status = is.State, is.WorkflowStatus
		if is.Message != "" {
			msg = is.Message
		}
	}
	out := &api.GetImageSetResponse{
		DatastoreId: in.DatastoreId, ImageSetId: in.ImageSetId, VersionId: ptr(strconv.FormatInt(ver.Version, 10)),
		ImageSetState: api.ImageSetState(state), ImageSetWorkflowStatus: api.ImageSetWorkflowStatus(status),
		CreatedAt: api.NewTime(is.CreatedAt), UpdatedAt: api.NewTime(ver.UpdatedAt), DeletedAt: api.NewTime(is.DeletedAt),
		Message: optStr(msg), ImageSetArn: ptr(s.ImageSetARN(is.DatastoreID, is.ID)), IsPrimary: ptr(ver.IsPrimary),
		StorageTier: api.StorageTierFrequentAccess,
	}
	if ver.Forced {
		out.Overrides = &api.Overrides{Forced: ptr(true)}
	}
	return out, nil
}

// GetImageSetMetadata implements api.Service. The document is stored
// gzip-compressed and streamed as is, with Content-Encoding: gzip.
func (s *Service) GetImageSetMetadata(ctx context.Context, in *api.GetImageSetMetadataRequest) (*api.GetImageSetMetadataResponse, error) {
	is, ver, err := s.imageSetVersion(ctx, *in.DatastoreId, *in.ImageSetId, in.VersionId)
	if err != nil {
		return nil, err
	}
	if is.State == ohi.ImageSetDeleted {
		return nil, ohi.NotFoundf("image set %s was deleted", is.ID)
	}
	obj, err := s.blobs.Open(ctx, ver.MetadataKey)
	if err != nil {
		return nil, fmt.Errorf("open metadata of image set %s version %d: %w", is.ID, ver.Version, err)
	}
	return &api.GetImageSetMetadataResponse{ImageSetMetadataBlob: obj, ContentType: ptr("application/json"), ContentEncoding: ptr("gzip")}, nil
}

// FrameContentType returns the GetImageFrame Content-Type for a stored
// transfer syntax (the model's mapping). The model says nothing about JPEG
// 2000 Lossless (1.2.840.10008.1.2.4.90), which data stores created with
// losslessStorageFormat JPEG_2000_LOSSLESS store: it gets image/j2c, the
// type the model gives lossy JPEG 2000 (.91), since both are raw JPEG 2000
// Part 1 codestreams.
func FrameContentType(ts string) string {
	switch ts {
	case "", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.201":
		return "image/jph"
	case "1.2.840.10008.1.2.4.203":
		return "image/jphc"
	case "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.90":
		return "image/j2c"
	case "1.2.840.10008.1.2.4.50":
		return "image/jpeg"
	case "1.2.840.10008.1.2.4.112":
		return "image/jxl"
	case "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.100.1", "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.101.1":
		return "video/mpeg"
	case "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.102.1", "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.103.1",
		"1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.104.1", "1.2.840.10008.1.2.4.105", "1.2.840.10008.1.2.4.105.1",
		"1.2.840.10008.1.2.4.106", "1.2.840.10008.1.2.4.106.1":
		return "video/mp4"
	case "1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108":
		return "video/H256"
	}
	return "application/octet-stream"
}

// GetImageFrame implements api.Service: it streams the stored frame.
func (s *Service) GetImageFrame(ctx context.Context, in *api.GetImageFrameRequest) (*api.GetImageFrameResponse, error) {
	dsID, isID := *in.DatastoreId, *in.ImageSetId
	// One query checks the data store, the image set and the frame.
	f, err := s.store.ImageFrameGet(ctx, dsID, isID, *in.ImageFrameInformation.ImageFrameId)
	if err != nil {
		return nil, err
	}
	obj, err := s.blobs.Open(ctx, f.BlobKey)
	if err != nil {
		return nil, fmt.Errorf("open frame %s: %w", f.ID, err)
	}
	return &api.GetImageFrameResponse{ImageFrameBlob: obj, ContentType: ptr(FrameContentType(f.TransferSyntaxUID))}, nil
}

// ListImageSetVersions implements api.Service (newest version first).
func (s *Service) ListImageSetVersions(ctx context.Context, in *api.ListImageSetVersionsRequest) (*api.ListImageSetVersionsResponse, error) {
	dsID, isID := *in.DatastoreId, *in.ImageSetId
	if _, err := s.existingDatastore(ctx, dsID); err != nil {
		return nil, err
	}
	scope := fingerprint("ListImageSetVersions", dsID, isID)
	tok, err := s.tokens.decode(in.NextToken, scope)
	if err != nil {
		return nil, err
	}
	var before int64
	if tok != nil {
		if before, err = strconv.ParseInt(tok.ID, 10, 64); err != nil {
			return nil, ohi.Validationf("nextToken", "invalid pagination token")
		}
	}
	is, err := s.store.ImageSetGet(ctx, dsID, isID)
	if err != nil {
		return nil, err
	}
	limit := limitOf(in.MaxResults, 50)
	list, err := s.store.ImageSetVersions(ctx, dsID, isID, before, limit+1)
	if err != nil {
		return nil, err
	}
	out := &api.ListImageSetVersionsResponse{ImageSetPropertiesList: []api.ImageSetProperties{}}
	if len(list) > limit {
		list = list[:limit]
		out.NextToken = s.tokens.encode(pageToken{Scope: scope, ID: strconv.FormatInt(list[len(list)-1].Version, 10)})
	}
	for _, v := range list {
		state, status := v.State, v.WorkflowStatus
		if v.Version == is.Version {
			state, status = is.State, is.WorkflowStatus
		}
		p := api.ImageSetProperties{
			ImageSetId: ptr(isID), VersionId: ptr(strconv.FormatInt(v.Version, 10)), ImageSetState: api.ImageSetState(state),
			ImageSetWorkflowStatus: api.ImageSetWorkflowStatus(status), CreatedAt: api.NewTime(is.CreatedAt), UpdatedAt: api.NewTime(v.UpdatedAt),
			DeletedAt: api.NewTime(v.DeletedAt), Message: optStr(v.Message), IsPrimary: ptr(v.IsPrimary),
		}
		if v.Forced {
			p.Overrides = &api.Overrides{Forced: ptr(true)}
		}
		out.ImageSetPropertiesList = append(out.ImageSetPropertiesList, p)
	}
	return out, nil
}
