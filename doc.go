// Package ohi holds the domain of ohi (open health imaging), a self-hosted
// server compatible with the AWS HealthImaging API: data stores, DICOM import
// jobs, image sets with versioned metadata, and image frames.
//
// The package defines the nouns and the interfaces that adapters implement
// (metadata stores, blob stores, job queues); it performs no I/O itself and
// imports only the standard library. Adapters live in sibling packages named
// after what they adapt (sqlstore, blob/fileblob, blob/s3blob, jobqueue), the
// AWS wire protocol lives in api, and cmd/ohi wires everything together.
package ohi
