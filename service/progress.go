package service

import (
	"context"
	"encoding/json"

	"github.com/openhealthimaging/ohi"
)

// ImportFailure is one input file that an import job did not import.
type ImportFailure struct {
	Key           string // object key in the input bucket
	ExceptionType string // as in the job's failure.ndjson
	Message       string
}

// JobProgress is an import job with how far it got: an ohi extension that
// the HealthImaging API does not have, read from the job's task records.
type JobProgress struct {
	Job *ohi.ImportJob
	ohi.ImportProgress
	// Failures are the first failed files in key order, with their reasons.
	Failures []ImportFailure
}

// ImportJobProgress returns a job of a data store that is not deleted with
// its progress and at most maxFailures of its failed files.
func (s *Service) ImportJobProgress(ctx context.Context, datastoreID, jobID string, maxFailures int) (*JobProgress, error) {
	if _, err := s.existingDatastore(ctx, datastoreID); err != nil {
		return nil, err
	}
	j, err := s.store.ImportJobGet(ctx, datastoreID, jobID)
	if err != nil {
		return nil, err
	}
	p, err := s.store.ImportProgress(ctx, jobID, maxFailures)
	if err != nil {
		return nil, err
	}
	out := &JobProgress{Job: j, ImportProgress: *p}
	for _, it := range p.Failures {
		var f struct {
			ExceptionType string `json:"exceptionType"`
			Message       string `json:"message"`
		}
		if json.Unmarshal(it.Result, &f) != nil {
			f.Message = "(unreadable failure record)"
		}
		out.Failures = append(out.Failures, ImportFailure{Key: it.Key, ExceptionType: f.ExceptionType, Message: f.Message})
	}
	out.ImportProgress.Failures = nil
	return out, nil
}

// AccountID returns the account id of the server's ARNs.
func (s *Service) AccountID() string { return s.cfg.AccountID }
