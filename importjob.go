package ohi

import "time"

// JobStatus is the state of a DICOM import job: SUBMITTED → IN_PROGRESS →
// COMPLETED (even when some files failed) or FAILED (job-level failure).
type JobStatus string

// Import job states.
const (
	JobSubmitted  JobStatus = "SUBMITTED"
	JobInProgress JobStatus = "IN_PROGRESS"
	JobCompleted  JobStatus = "COMPLETED"
	JobFailed     JobStatus = "FAILED"
)

// Terminal reports whether s is a final state.
func (s JobStatus) Terminal() bool { return s == JobCompleted || s == JobFailed }

// ImportJob is a DICOM import job.
type ImportJob struct {
	ID                  string
	DatastoreID         string
	Name                string
	Status              JobStatus
	DataAccessRoleARN   string
	InputS3URI          string
	OutputS3URI         string // as submitted; see OutputPrefixURI
	InputOwnerAccountID string
	Message             string
	SubmittedAt         time.Time
	EndedAt             time.Time
	// ImportConfiguration is the raw JSON of the importConfiguration member,
	// or empty.
	ImportConfiguration string
}

// OutputPrefixURI returns the job's output location as HealthImaging reports
// it: the submitted outputS3Uri followed by "<datastoreId>-DicomImport-<jobId>/".
func (j *ImportJob) OutputPrefixURI() string {
	base := j.OutputS3URI
	if base != "" && base[len(base)-1] != '/' {
		base += "/"
	}
	return base + j.DatastoreID + "-DicomImport-" + j.ID + "/"
}
