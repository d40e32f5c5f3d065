package ohi

import "time"

// DatastoreStatus is the lifecycle state of a data store:
// CREATING → ACTIVE (or CREATE_FAILED); DeleteDatastore moves ACTIVE →
// DELETING → DELETED.
type DatastoreStatus string

// Data store states.
const (
	DatastoreCreating     DatastoreStatus = "CREATING"
	DatastoreCreateFailed DatastoreStatus = "CREATE_FAILED"
	DatastoreActive       DatastoreStatus = "ACTIVE"
	DatastoreDeleting     DatastoreStatus = "DELETING"
	DatastoreDeleted      DatastoreStatus = "DELETED"
)

// Datastore is a HealthImaging data store.
type Datastore struct {
	ID                    string
	Name                  string
	Status                DatastoreStatus
	KMSKeyARN             string
	LambdaAuthorizerARN   string
	LosslessStorageFormat string // HTJ2K (default) or JPEG_2000_LOSSLESS
	CreatedAt             time.Time
	UpdatedAt             time.Time
}
