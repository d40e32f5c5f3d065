package sigv4

import (
	"fmt"
	"net/http"
)

// Error codes returned in Error.Code. They are the codes AWS services use in
// the X-Amzn-ErrorType header and the "__type" member of JSON error bodies.
const (
	// CodeMissingAuthenticationToken: the request carries no signature at all.
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	// CodeIncompleteSignature: the signature is malformed or lacks parts.
	CodeIncompleteSignature = "IncompleteSignatureException"
	// CodeInvalidSignature: the signature does not match, its credential
	// scope is wrong, or it has expired.
	CodeInvalidSignature = "InvalidSignatureException"
	// CodeUnrecognizedClient: the access key id (or session token) is unknown.
	CodeUnrecognizedClient = "UnrecognizedClientException"
	// CodeContentSHA256Mismatch: X-Amz-Content-Sha256 does not match the body.
	CodeContentSHA256Mismatch = "XAmzContentSHA256Mismatch"
	// CodeRequestEntityTooLarge: the body exceeds Verifier.MaxBodyBytes.
	CodeRequestEntityTooLarge = "RequestEntityTooLarge"
	// CodeIncompleteBody: the body could not be read completely.
	CodeIncompleteBody = "IncompleteBody"
	// CodeNotImplemented: the request uses a signing feature this service
	// does not support (streaming aws-chunked payloads).
	CodeNotImplemented = "NotImplemented"
)

// Error is an authentication failure, shaped like the error AWS returns in
// the same situation. Status is the HTTP status to answer with.
type Error struct {
	Code    string
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newError(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

func errMissing() *Error {
	return newError(CodeMissingAuthenticationToken, http.StatusForbidden, "Missing Authentication Token")
}

func errIncomplete(format string, args ...any) *Error {
	return newError(CodeIncompleteSignature, http.StatusForbidden, format, args...)
}

func errInvalid(format string, args ...any) *Error {
	return newError(CodeInvalidSignature, http.StatusForbidden, format, args...)
}

func errUnrecognized() *Error {
	return newError(CodeUnrecognizedClient, http.StatusForbidden, "The security token included in the request is invalid.")
}
