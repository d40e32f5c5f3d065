package ohi

import (
	"context"
	"time"
)

// MetadataStore is the index: data stores, tags, import jobs and their
// per-file progress, image sets, versions and frames. Implementations
// (package sqlstore, on SQLite or PostgreSQL) make every method atomic and
// translate their errors into ErrNotFound and ErrConflict.
type MetadataStore interface {
	// DatastoreCreate inserts ds unless a data store was already created
	// with the same client token: then it returns that one and created is
	// false if requestHash matches, or an ErrConflict error if it differs.
	// It fails with ErrQuotaExceeded when maxActive data stores that are
	// not deleted already exist.
	DatastoreCreate(ctx context.Context, ds *Datastore, clientToken, requestHash string, maxActive int) (got *Datastore, created bool, err error)
	// DatastoreGet returns the data store or ErrNotFound.
	DatastoreGet(ctx context.Context, id string) (*Datastore, error)
	// DatastoreList lists data stores ordered by creation time then id,
	// starting after the cursor (a data store id, or "").
	DatastoreList(ctx context.Context, status DatastoreStatus, after string, limit int) ([]*Datastore, error)
	// DatastoreSetStatus moves a data store from one of the from states to
	// the to state. It returns ErrNotFound or, when the current state is not
	// one of from, ErrConflict.
	DatastoreSetStatus(ctx context.Context, id string, to DatastoreStatus, from ...DatastoreStatus) error
	// DatastoreImageSetCount counts the image sets of a data store that are
	// not deleted.
	DatastoreImageSetCount(ctx context.Context, id string) (int, error)

	// TagsSet adds or replaces tags on a resource ARN.
	TagsSet(ctx context.Context, arn string, tags map[string]string) error
	// TagsDelete removes the given keys from a resource ARN.
	TagsDelete(ctx context.Context, arn string, keys []string) error
	// TagsList returns a resource ARN's tags (an empty map when none).
	TagsList(ctx context.Context, arn string) (map[string]string, error)

	// ImportJobCreate inserts job (status SUBMITTED), or returns the job
	// previously created in the same data store with the same client token
	// (ErrConflict if requestHash differs).
	ImportJobCreate(ctx context.Context, job *ImportJob, clientToken, requestHash string) (got *ImportJob, created bool, err error)
	// ImportJobGet returns a job of a data store (any data store when
	// datastoreID is ""), or ErrNotFound.
	ImportJobGet(ctx context.Context, datastoreID, id string) (*ImportJob, error)
	// ImportJobList lists a data store's jobs, newest first, after the
	// cursor (a job id or "").
	ImportJobList(ctx context.Context, datastoreID string, status JobStatus, after string, limit int) ([]*ImportJob, error)
	// ImportJobUpdate records a job's new status, message and end time.
	ImportJobUpdate(ctx context.Context, job *ImportJob) error
	// ImportJobClaim leases the oldest unfinished job whose lease expired to
	// owner until leaseUntil, and returns it; nil when there is none.
	ImportJobClaim(ctx context.Context, owner string, now, leaseUntil time.Time) (*ImportJob, error)
	// ImportJobRenew extends owner's lease on a job. It returns ErrConflict
	// if owner no longer holds the lease.
	ImportJobRenew(ctx context.Context, id, owner string, leaseUntil time.Time) error
	// ImportJobReleaseLeases clears every lease (for a single-process store
	// at start-up, when no other process can hold one).
	ImportJobReleaseLeases(ctx context.Context) error

	// ImportTasksCreate splits a job into tasks, one per batch of input
	// keys, unless the job already has tasks. It reports whether it created
	// them.
	ImportTasksCreate(ctx context.Context, jobID string, batches [][]ObjectInfo) (bool, error)
	// ImportTaskClaim leases a task that is not done, of a job that is
	// IN_PROGRESS, whose lease expired; nil when there is none. With jobID
	// set it only considers that job's tasks.
	ImportTaskClaim(ctx context.Context, jobID, owner string, now, leaseUntil time.Time) (*ImportTask, error)
	// ImportTaskRenew extends owner's lease on a task (ErrConflict when lost).
	ImportTaskRenew(ctx context.Context, t *ImportTask, owner string, leaseUntil time.Time) error
	// ImportTaskDone marks a task done.
	ImportTaskDone(ctx context.Context, t *ImportTask) error
	// ImportTasksPending counts a job's tasks that are not done, and all
	// its tasks.
	ImportTasksPending(ctx context.Context, jobID string) (pending, total int, err error)

	// ImportItemsPut records the outcome of input files of a job, all or
	// none, each replacing any earlier record for the same key.
	ImportItemsPut(ctx context.Context, items ...*ImportItem) error
	// ImportItemGet returns one recorded item, or ErrNotFound.
	ImportItemGet(ctx context.Context, jobID, key string) (*ImportItem, error)
	// ImportItemsRecorded reports which of keys have a recorded outcome
	// (items still in the "decoding" state do not count).
	ImportItemsRecorded(ctx context.Context, jobID string, keys []string) (map[string]bool, error)
	// ImportItems returns every recorded item of a job in key order.
	ImportItems(ctx context.Context, jobID string) ([]*ImportItem, error)
	// ImportProgress summarises a job's task records: the files listed,
	// the outcomes recorded so far, and the first maxFailures failed items
	// in key order.
	ImportProgress(ctx context.Context, jobID string, maxFailures int) (*ImportProgress, error)

	// ImageSetGet returns the latest state of an image set, or ErrNotFound.
	ImageSetGet(ctx context.Context, datastoreID, id string) (*ImageSet, error)
	// ImageSetVersionGet returns one version (0 = latest), or ErrNotFound.
	ImageSetVersionGet(ctx context.Context, datastoreID, id string, version int64) (*ImageSetVersion, error)
	// ImageSetVersions lists versions newest first, starting below the
	// version before (0 = from the newest).
	ImageSetVersions(ctx context.Context, datastoreID, id string, before int64, limit int) ([]*ImageSetVersion, error)
	// ImageSetPrimaryForSeries returns the primary image set of a series in
	// a data store, or ErrNotFound.
	ImageSetPrimaryForSeries(ctx context.Context, datastoreID, seriesUID string) (*ImageSet, error)
	// ImageSetCommit writes a new version of an image set atomically: the
	// image set row (inserted when c.Version is 1), the version row, the
	// frames, and the import items marked committed. For an existing image
	// set it fails with ErrConflict unless its latest version is
	// c.Version-1.
	ImageSetCommit(ctx context.Context, c *ImageSetCommit) error
	// ImageSetChange applies new versions, locks and pending settlements to
	// one or more image sets in one transaction; see ImageSetChange.
	ImageSetChange(ctx context.Context, c *ImageSetChange) error
	// PendingSettles lists pending settlements due at or before due.
	PendingSettles(ctx context.Context, due time.Time, limit int) ([]*PendingSettle, error)
	// ImageSetSettle applies a pending settlement and removes it. For kind
	// "delete" it also unlinks the image set's frames, forgets frames no
	// other image set uses, and records the deletion time.
	ImageSetSettle(ctx context.Context, p *PendingSettle, at time.Time) error
	// MetadataKeysKnown reports which of the blob keys an image set version
	// references.
	MetadataKeysKnown(ctx context.Context, keys []string) (map[string]bool, error)
	// FramesKnown reports which of the frame ids have a frame row.
	FramesKnown(ctx context.Context, ids []string) (map[string]bool, error)
	// FramesOnlyIn returns the frames that no image set other than the
	// given one references.
	FramesOnlyIn(ctx context.Context, imageSetID string) ([]*Frame, error)
	// ImageSetSearch runs a search; see ImageSetQuery.
	ImageSetSearch(ctx context.Context, q *ImageSetQuery) ([]*ImageSet, error)

	// FrameGet returns a frame of an image set, or ErrNotFound.
	FrameGet(ctx context.Context, datastoreID, imageSetID, frameID string) (*Frame, error)
	// ImageFrameGet is GetImageFrame's lookup, in one query: the frame of
	// an image set that is not deleted, in a data store that is not
	// deleted. It returns an error wrapping ErrNotFound that names the
	// first of the three that is missing or deleted.
	ImageFrameGet(ctx context.Context, datastoreID, imageSetID, frameID string) (*Frame, error)

	// DICOMInstanceFind resolves a WADO-RS reference to the indexed
	// instance (or, with ref.SOPInstanceUID "", to its series) in an image
	// set that is not deleted: the primary image set of the series, or
	// ref.ImageSetID when given. It returns an error wrapping ErrNotFound
	// that names what is missing.
	DICOMInstanceFind(ctx context.Context, ref DICOMInstanceRef) (*DICOMInstanceLoc, error)
	// DICOMSearchStudies, DICOMSearchSeries and DICOMSearchInstances run
	// QIDO-RS searches over the index of the primary image sets; see
	// DICOMQuery for the orderings.
	DICOMSearchStudies(ctx context.Context, q *DICOMQuery) ([]*DICOMStudyRow, error)
	DICOMSearchSeries(ctx context.Context, q *DICOMQuery) ([]*DICOMSeriesRow, error)
	DICOMSearchInstances(ctx context.Context, q *DICOMQuery) ([]*DICOMInstanceRow, error)
	// DICOMUnindexed lists image sets that are not deleted and have no
	// DICOMweb index entry (committed before the index existed), with the
	// metadata key of their latest version.
	DICOMUnindexed(ctx context.Context, limit int) ([]*ImageSetVersion, error)
	// DICOMIndexPut writes the index entry of an image set if it is still
	// at version and has none; it reports whether it wrote it.
	DICOMIndexPut(ctx context.Context, imageSetID string, version int64, x *DICOMIndex) (bool, error)

	// Setting returns a persistent server setting, creating it with init()
	// on first use.
	Setting(ctx context.Context, name string, init func() string) (string, error)
}

// ImportTask is a batch of one import job's input files that any worker
// of any process may read.
type ImportTask struct {
	JobID   string
	Seq     int64
	Objects []ObjectInfo
}

// ImportItem is the recorded outcome of one input file of an import job.
type ImportItem struct {
	JobID string
	Key   string // object key in the input bucket
	// State is "decoding" (being read by a C decoder; Result counts the
	// attempts), "parsed" (frames stored, waiting to be grouped), "failed",
	// or "committed" (part of an image set).
	State string
	// Result is the JSON the importer keeps for the file: the parsed
	// instance for "parsed", the failure for "failed", the image set
	// reference for "committed".
	Result     []byte
	ImageSetID string
}

// ImportProgress is how far an import job got, from its task records (an
// ohi extension: the HealthImaging API reports only the job's status).
type ImportProgress struct {
	// Files is the number of input files the job listed; 0 until it has
	// been split into tasks.
	Files            int
	Tasks, TasksDone int
	// Parsed files have their frames stored and wait to be grouped into
	// image sets; Committed ones are part of an image set; Failed ones
	// were not imported.
	Parsed, Committed, Failed int
	// Failures are the first failed items (Result holds the importer's
	// failure JSON, {"exceptionType","message"}).
	Failures []*ImportItem
}

// Done is the number of files with a recorded outcome.
func (p *ImportProgress) Done() int { return p.Parsed + p.Committed + p.Failed }

// ImageSetCommit is one new version of an image set; see
// MetadataStore.ImageSetCommit.
type ImageSetCommit struct {
	ImageSet    ImageSet // the state after the commit; Version is the new version
	MetadataKey string
	Forced      bool // the version was produced with force
	Frames      []*Frame
	// Items are the import items this version includes; they are marked
	// committed to ImageSet.ID in the same transaction.
	Items []*ImportItem
	// Index, when set, replaces the image set's DICOMweb index entry.
	Index *DICOMIndex
}

// ImageSetChange is an atomic change of image sets: every commit, lock and
// pending settlement is applied, or none is.
type ImageSetChange struct {
	Commits []*ImageSetCommit
	Locks   []ImageSetLock
	Pending []*PendingSettle
}

// ImageSetLock changes the state and status of an image set without a new
// version. It fails with ErrConflict unless the image set is ACTIVE at
// version Version.
type ImageSetLock struct {
	DatastoreID, ImageSetID string
	Version                 int64
	State                   ImageSetState
	Status                  WorkflowStatus
	UpdatedAt               time.Time
}

// PendingSettle is a state change due later: an asynchronous operation
// (update, copy, delete) that settles its image set when it finishes.
type PendingSettle struct {
	DatastoreID, ImageSetID string
	Kind                    string // "settle" or "delete"
	State                   ImageSetState
	Status                  WorkflowStatus
	Message                 string
	// UpdateVersion also sets the state, status and message of the
	// image set's latest version row.
	UpdateVersion bool
	Due           time.Time
}

// ImageSetQuery is a search over a data store's image sets (deleted ones
// excluded). Conditions are ANDed.
type ImageSetQuery struct {
	DatastoreID string
	Conds       []SearchCond
	SortField   string // "updatedAt" (default), "createdAt" or "DICOMStudyDateAndTime"
	SortDesc    bool
	// After resumes a search after the row with these sort values.
	After *SearchCursor
	Limit int
}

// SearchCond is one condition: Field = Lo, or Lo <= Field <= Hi when Hi is
// set. Field is one of patientId, accessionNumber, studyId, studyUID,
// seriesUID, createdAt, updatedAt, studyDateTime, isPrimary. Times are
// time.Time, isPrimary is bool, studyDateTime and the rest are strings.
type SearchCond struct {
	Field  string
	Lo, Hi any
}

// SearchCursor is the position after the last row of a search page.
type SearchCursor struct {
	Key any // the sort column's value: int64 milliseconds or a string
	ID  string
}
