package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/api"
)

// StartDICOMImportJob implements api.Service. The job is durable once this
// returns: it runs (or resumes after a restart) in the import workers.
func (s *Service) StartDICOMImportJob(ctx context.Context, in *api.StartDICOMImportJobRequest) (*api.StartDICOMImportJobResponse, error) {
	dsID := *in.DatastoreId
	if _, err := s.activeDatastore(ctx, dsID); err != nil {
		return nil, err
	}
	if err := checkImportConfiguration(in.ImportConfiguration); err != nil {
		return nil, err
	}
	if in.InputOwnerAccountId != nil && *in.InputOwnerAccountId != s.cfg.AccountID {
		return nil, &api.Error{Code: "AccessDeniedException", Message: "inputOwnerAccountId " + *in.InputOwnerAccountId + " is not this server's account " + s.cfg.AccountID}
	}
	for field, uri := range map[string]string{"inputS3Uri": *in.InputS3Uri, "outputS3Uri": *in.OutputS3Uri} {
		if _, _, err := ohi.ParseS3URI(uri); err != nil {
			return nil, ohi.Validationf(field, "%v", err)
		}
	}
	var cfg []byte
	if in.ImportConfiguration != nil {
		cfg, _ = json.Marshal(in.ImportConfiguration)
	}
	hash := fingerprint(str(in.JobName), *in.DataAccessRoleArn, *in.InputS3Uri, *in.OutputS3Uri, str(in.InputOwnerAccountId), string(cfg))
	now := time.Now().UTC()
	job := &ohi.ImportJob{
		ID: ohi.NewID(), DatastoreID: dsID, Name: str(in.JobName), Status: ohi.JobSubmitted,
		DataAccessRoleARN: *in.DataAccessRoleArn, InputS3URI: *in.InputS3Uri, OutputS3URI: *in.OutputS3Uri,
		InputOwnerAccountID: str(in.InputOwnerAccountId), ImportConfiguration: string(cfg), SubmittedAt: now,
	}
	if job.Name == "" {
		job.Name = "import-" + job.ID[:8]
	}
	running := 0
	for _, st := range []ohi.JobStatus{ohi.JobSubmitted, ohi.JobInProgress} {
		list, err := s.store.ImportJobList(ctx, dsID, st, "", s.cfg.MaxConcurrentJobs)
		if err != nil {
			return nil, err
		}
		running += len(list)
	}
	if running >= s.cfg.MaxConcurrentJobs {
		return nil, ohi.QuotaExceededf("data store %s already has %d unfinished import jobs", dsID, running)
	}
	got, created, err := s.store.ImportJobCreate(ctx, job, *in.ClientToken, hash)
	if err != nil {
		return nil, err
	}
	if created && s.jobs != nil {
		s.jobs.Notify()
	}
	return &api.StartDICOMImportJobResponse{DatastoreId: &dsID, JobId: &got.ID, JobStatus: api.JobStatus(got.Status), SubmittedAt: api.NewTime(got.SubmittedAt)}, nil
}

// checkImportConfiguration checks what the model cannot say about the
// DICOM JSON metadata mappings: a study UID is given, every metadata file
// path stays under inputS3Uri, and no study or series is mapped twice.
func checkImportConfiguration(c *api.ImportConfiguration) error {
	if c == nil {
		return nil
	}
	if c.DicomJsonMetadataImportConfiguration == nil {
		return ohi.Validationf("importConfiguration", "set dicomJsonMetadataImportConfiguration")
	}
	seen := map[[2]string]int{}
	for i, m := range c.DicomJsonMetadataImportConfiguration.DicomMetadataMappings {
		field := fmt.Sprintf("importConfiguration.dicomJsonMetadataImportConfiguration.dicomMetadataMappings[%d]", i)
		study, series, file := str(m.StudyInstanceUID), str(m.SeriesInstanceUID), str(m.MetadataFilePath)
		if study == "" {
			return ohi.Validationf(field+".studyInstanceUID", "the Study Instance UID of the mapping is empty")
		}
		if strings.HasPrefix(file, "/") || strings.HasSuffix(file, "/") || strings.Contains(file, "\\") {
			return ohi.Validationf(field+".metadataFilePath", "%q is not a file path relative to inputS3Uri", file)
		}
		for _, seg := range strings.Split(file, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return ohi.Validationf(field+".metadataFilePath", "%q is not a file path relative to inputS3Uri", file)
			}
		}
		k := [2]string{study, series}
		if j, dup := seen[k]; dup {
			what := "study " + study
			if series != "" {
				what = "series " + series
			}
			return ohi.Validationf(field, "maps %s again (dicomMetadataMappings[%d] already does)", what, j)
		}
		seen[k] = i
	}
	return nil
}

func (s *Service) jobProperties(j *ohi.ImportJob) *api.DICOMImportJobProperties {
	p := &api.DICOMImportJobProperties{
		JobId: ptr(j.ID), JobName: ptr(j.Name), JobStatus: api.JobStatus(j.Status), DatastoreId: ptr(j.DatastoreID),
		DataAccessRoleArn: ptr(j.DataAccessRoleARN), SubmittedAt: api.NewTime(j.SubmittedAt), EndedAt: api.NewTime(j.EndedAt),
		InputS3Uri: ptr(j.InputS3URI), OutputS3Uri: ptr(j.OutputPrefixURI()), Message: optStr(j.Message),
	}
	if j.ImportConfiguration != "" {
		var c api.ImportConfiguration
		if json.Unmarshal([]byte(j.ImportConfiguration), &c) == nil {
			p.ImportConfiguration = &c
		}
	}
	return p
}

// GetDICOMImportJob implements api.Service.
func (s *Service) GetDICOMImportJob(ctx context.Context, in *api.GetDICOMImportJobRequest) (*api.GetDICOMImportJobResponse, error) {
	if _, err := s.store.DatastoreGet(ctx, *in.DatastoreId); err != nil {
		return nil, err
	}
	j, err := s.store.ImportJobGet(ctx, *in.DatastoreId, *in.JobId)
	if err != nil {
		return nil, err
	}
	return &api.GetDICOMImportJobResponse{JobProperties: s.jobProperties(j)}, nil
}

// ListDICOMImportJobs implements api.Service.
func (s *Service) ListDICOMImportJobs(ctx context.Context, in *api.ListDICOMImportJobsRequest) (*api.ListDICOMImportJobsResponse, error) {
	if _, err := s.store.DatastoreGet(ctx, *in.DatastoreId); err != nil {
		return nil, err
	}
	pg, err := s.startPage(in.NextToken, in.MaxResults, "ListDICOMImportJobs", *in.DatastoreId, in.JobStatus)
	if err != nil {
		return nil, err
	}
	list, err := s.store.ImportJobList(ctx, *in.DatastoreId, ohi.JobStatus(in.JobStatus), pg.after, pg.limit+1)
	if err != nil {
		return nil, err
	}
	out := &api.ListDICOMImportJobsResponse{JobSummaries: []api.DICOMImportJobSummary{}}
	list, out.NextToken = endPage(s, pg, list, func(j *ohi.ImportJob) string { return j.ID })
	for _, j := range list {
		out.JobSummaries = append(out.JobSummaries, api.DICOMImportJobSummary{
			JobId: ptr(j.ID), JobName: ptr(j.Name), JobStatus: api.JobStatus(j.Status), DatastoreId: ptr(j.DatastoreID),
			DataAccessRoleArn: ptr(j.DataAccessRoleARN), SubmittedAt: api.NewTime(j.SubmittedAt), EndedAt: api.NewTime(j.EndedAt),
			Message: optStr(j.Message),
		})
	}
	return out, nil
}
