package ohi

import (
	"errors"
	"fmt"
)

// Sentinel errors shared by every layer. Adapters translate their own errors
// into these; the protocol layer maps them to AWS error codes in one place.
var (
	// ErrNotFound reports that a referenced resource does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports that a request conflicts with the resource's state.
	ErrConflict = errors.New("conflict")
	// ErrQuotaExceeded reports that a request would exceed a service quota.
	ErrQuotaExceeded = errors.New("service quota exceeded")
	// ErrInvalidKey reports an object key that cannot be stored safely
	// (path traversal, NUL bytes, empty segments on a file system).
	ErrInvalidKey = errors.New("invalid object key")
)

// ValidationError reports a request that fails a constraint. Field names the
// offending member using the AWS path notation (for example
// "searchCriteria.filters.1.operator").
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Reason)
}

// Validationf returns a *ValidationError for field with a formatted reason.
func Validationf(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Error is an error with an explicit kind (one of the sentinels above) and a
// message meant for the API caller.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the kind so errors.Is(err, ErrNotFound) works.
func (e *Error) Unwrap() error { return e.Kind }

// NotFoundf returns an ErrNotFound error with a caller-facing message.
func NotFoundf(format string, args ...any) error {
	return &Error{Kind: ErrNotFound, Message: fmt.Sprintf(format, args...)}
}

// Conflictf returns an ErrConflict error with a caller-facing message.
func Conflictf(format string, args ...any) error {
	return &Error{Kind: ErrConflict, Message: fmt.Sprintf(format, args...)}
}

// QuotaExceededf returns an ErrQuotaExceeded error with a caller-facing message.
func QuotaExceededf(format string, args ...any) error {
	return &Error{Kind: ErrQuotaExceeded, Message: fmt.Sprintf(format, args...)}
}
