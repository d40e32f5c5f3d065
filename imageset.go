package ohi

import (
	"strings"
	"time"
)

// ImageSetState is the coarse state of an image set.
type ImageSetState string

// Image set states.
const (
	ImageSetActive  ImageSetState = "ACTIVE"
	ImageSetLocked  ImageSetState = "LOCKED"
	ImageSetDeleted ImageSetState = "DELETED"
)

// WorkflowStatus is the detailed status of an image set version.
type WorkflowStatus string

// Workflow statuses (the model's ImageSetWorkflowStatus).
const (
	WorkflowCreated                     WorkflowStatus = "CREATED"
	WorkflowCopied                      WorkflowStatus = "COPIED"
	WorkflowCopying                     WorkflowStatus = "COPYING"
	WorkflowCopyingWithReadOnlyAccess   WorkflowStatus = "COPYING_WITH_READ_ONLY_ACCESS"
	WorkflowCopyFailed                  WorkflowStatus = "COPY_FAILED"
	WorkflowUpdating                    WorkflowStatus = "UPDATING"
	WorkflowUpdatingForStudyConsistency WorkflowStatus = "UPDATING_FOR_STUDY_CONSISTENCY"
	WorkflowUpdated                     WorkflowStatus = "UPDATED"
	WorkflowUpdateFailed                WorkflowStatus = "UPDATE_FAILED"
	WorkflowDeleting                    WorkflowStatus = "DELETING"
	WorkflowDeleted                     WorkflowStatus = "DELETED"
	WorkflowImporting                   WorkflowStatus = "IMPORTING"
	WorkflowImported                    WorkflowStatus = "IMPORTED"
	WorkflowImportFailed                WorkflowStatus = "IMPORT_FAILED"
)

// ImageSet is the latest state of an image set: one DICOM series (or a
// non-primary part of one) with versioned metadata.
type ImageSet struct {
	ID             string
	DatastoreID    string
	Version        int64 // latest version
	State          ImageSetState
	WorkflowStatus WorkflowStatus
	IsPrimary      bool
	Message        string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DeletedAt      time.Time
	Tags           DICOMTags // search attributes of the latest version
}

// ImageSetVersion is one version of an image set.
type ImageSetVersion struct {
	ImageSetID     string
	Version        int64
	State          ImageSetState
	WorkflowStatus WorkflowStatus
	IsPrimary      bool
	Message        string
	Forced         bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DeletedAt      time.Time
	MetadataKey    string // blob key of the gzipped metadata document
}

// DICOMTags are the searchable and summarised attributes of an image set.
type DICOMTags struct {
	PatientID, PatientName, PatientBirthDate, PatientSex string
	StudyInstanceUID, StudyID, StudyDescription          string
	AccessionNumber, StudyDate, StudyTime                string
	SeriesInstanceUID, SeriesModality, SeriesBodyPart    string
	SeriesNumber                                         *int32
	// Study-wide counts, computed over the data store's primary image sets.
	NumberOfStudyRelatedSeries, NumberOfStudyRelatedInstances int
	// InstanceCount is the number of SOP instances in this image set.
	InstanceCount int
}

// Frame is a stored image frame.
type Frame struct {
	ID                string
	ImageSetID        string
	BlobKey           string
	TransferSyntaxUID string // stored transfer syntax
	Size              int64
}

// StudyDateTimeKey returns the sortable key of a study date and time:
// YYYYMMDD followed by HHMMSS.FFFFFF, with missing time parts as zeros.
func StudyDateTimeKey(date, tm string) string {
	date = strings.TrimSpace(date)
	if date == "" {
		return ""
	}
	tm = strings.TrimSpace(tm)
	digits, frac, _ := strings.Cut(tm, ".")
	digits = strings.ReplaceAll(digits, ":", "")
	for len(digits) < 6 {
		digits += "0"
	}
	for len(frac) < 6 {
		frac += "0"
	}
	return date + digits[:6] + "." + frac[:6]
}

// SortKey returns the value of the sort column of the image set for a search cursor.
func (is *ImageSet) SortKey(sortField string) any {
	switch sortField {
	case "createdAt":
		return is.CreatedAt.UnixMilli()
	case "DICOMStudyDateAndTime":
		return StudyDateTimeKey(is.Tags.StudyDate, is.Tags.StudyTime)
	}
	return is.UpdatedAt.UnixMilli()
}
