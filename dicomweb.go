package ohi

import "time"

// HeaderTransferSyntax marks the frame row of an instance's stored header:
// the non-pixel part of the original data set, re-encoded as explicit VR
// little endian, which DICOMweb's instance retrieval writes back. Header
// rows share frames' life cycle (shared by copies, reclaimed when no image
// set references them) but are never image frames.
const HeaderTransferSyntax = "ohi/dicom-header"

// DICOMIndex is the DICOMweb (QIDO-RS and WADO-RS) index entry of one
// image set version: its series and instances. It replaces the image set's
// previous entry when the version is committed.
type DICOMIndex struct {
	Series DICOMSeriesEntry
	// Instances are the SOP instances of the version. An instance without
	// a HeaderID keeps the header of the instance with the same SOP
	// Instance UID in this image set or in InheritFrom (a copy's source).
	Instances   []DICOMInstanceEntry
	InheritFrom string
}

// DICOMSeriesEntry holds the searchable Patient, Study and Series level
// attributes of an image set, and its levels as metadata JSON.
type DICOMSeriesEntry struct {
	StudyInstanceUID, SeriesInstanceUID                        string
	PatientID, PatientName, PatientBirthDate, PatientBirthTime string
	PatientSex, StudyDate, StudyTime, AccessionNumber          string
	ReferringPhysicianName, StudyDescription, StudyID          string
	Modality, SeriesDescription, PPSStartDate, PPSStartTime    string
	SeriesNumber                                               *int64
	// Levels is the JSON of the Patient, Study and Series level
	// attributes ({"Patient":{...},"Study":{...},"Series":{...}}).
	Levels []byte
}

// DICOMInstanceEntry is one SOP instance of the index.
type DICOMInstanceEntry struct {
	SOPInstanceUID, SOPClassUID                  string
	InstanceNumber                               *int64
	Rows, Columns, BitsAllocated, NumberOfFrames int
	// HeaderID is the frame row of the instance's stored header ("" to
	// inherit it, or when there is none).
	HeaderID string
}

// DICOMInstanceRef names an instance the way WADO-RS does. ImageSetID
// selects any image set; without it only primary image sets are seen.
type DICOMInstanceRef struct {
	DatastoreID, StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID string
	ImageSetID                                                       string
}

// DICOMInstanceLoc is where an indexed instance lives.
type DICOMInstanceLoc struct {
	ImageSetID  string
	Version     int64
	MetadataKey string
	UpdatedAt   time.Time
	Header      *Frame // nil when the instance has no stored header
}

// DICOMQuery is a QIDO-RS search of a data store's primary image sets.
// Conditions are ANDed. Studies come newest update first; series by
// Series Number, instances by Instance Number, unless ByUpdate orders them
// newest update first too (AWS's order for a study's instances).
type DICOMQuery struct {
	DatastoreID string
	Conds       []DICOMCond
	ByUpdate    bool
	Limit       int
	Offset      int
	// Fuzzy makes person name conditions case-insensitive matches of the
	// start of any name component.
	Fuzzy bool
}

// DICOMCond is one QIDO-RS matching condition on an indexed column
// (see sqlstore for the names): any of Values (exact, or with the
// wildcards * and ? when Wildcard), or the range Lo..Hi when Range
// (either bound may be empty).
type DICOMCond struct {
	Column   string
	Values   []string
	Wildcard bool
	Range    bool
	Lo, Hi   string
	Person   bool // a person name (fuzzy matching applies)
}

// DICOMSeriesRow is one series of a QIDO-RS result, with its image set.
type DICOMSeriesRow struct {
	ImageSetID string
	UpdatedAt  time.Time
	Entry      DICOMSeriesEntry
	Instances  int
}

// DICOMStudyRow is one study of a QIDO-RS result: its series in the
// primary image sets.
type DICOMStudyRow struct {
	StudyInstanceUID string
	UpdatedAt        time.Time
	Series           []DICOMSeriesRow
}

// DICOMInstanceRow is one instance of a QIDO-RS result.
type DICOMInstanceRow struct {
	Series      DICOMSeriesRow
	Instance    DICOMInstanceEntry
	Version     int64
	MetadataKey string
}
