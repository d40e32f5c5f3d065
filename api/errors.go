package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/openhealthimaging/ohi"
)

// Error is an error with an explicit AWS error code, for the codes that have
// no ohi sentinel (BadRequestException, NotAcceptableException,
// ThrottlingException, AccessDeniedException, and the authentication errors
// of the protocol: MissingAuthenticationTokenException,
// InvalidSignatureException, UnrecognizedClientException, ...).
type Error struct {
	Code    string
	Status  int // HTTP status; 0 means the model's status for Code, else 400
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the AWS error code, HTTP status and caller-facing
// message for err. Unrecognised errors are InternalServerException; their
// text is not shown to the caller.
func ErrorCode(err error) (code string, status int, message string) {
	var ae *Error
	var ve *ohi.ValidationError
	var oe *ohi.Error
	switch {
	case errors.As(err, &ae):
		status = ae.Status
		if status == 0 {
			status = errorStatus[ae.Code]
		}
		if status == 0 {
			status = http.StatusBadRequest
		}
		return ae.Code, status, ae.Message
	case errors.As(err, &ve):
		msg := ve.Reason
		if ve.Field != "" && !containsField(ve.Reason, ve.Field) {
			msg = fmt.Sprintf("1 validation error detected: Value at '%s' failed to satisfy constraint: %s", ve.Field, ve.Reason)
		}
		return "ValidationException", http.StatusBadRequest, msg
	}
	message = err.Error()
	if errors.As(err, &oe) {
		message = oe.Message
	}
	switch {
	case errors.Is(err, ohi.ErrNotFound):
		return "ResourceNotFoundException", http.StatusNotFound, message
	case errors.Is(err, ohi.ErrConflict):
		return "ConflictException", http.StatusConflict, message
	case errors.Is(err, ohi.ErrQuotaExceeded):
		return "ServiceQuotaExceededException", http.StatusPaymentRequired, message
	case errors.Is(err, ohi.ErrInvalidKey):
		return "ValidationException", http.StatusBadRequest, message
	}
	return "InternalServerException", http.StatusInternalServerError, "An internal error occurred; see the server log for request id details."
}

func containsField(s, field string) bool {
	return len(s) >= len(field) && (indexOf(s, "'"+field+"'") >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// WriteError writes err as an AWS rest-json error: the status, the
// X-Amzn-ErrorType header and a JSON body with __type and message, which
// botocore, the AWS CLI and aws-sdk-go-v2 all parse. It returns the code.
func WriteError(w http.ResponseWriter, err error) (code string, status int) {
	code, status, msg := ErrorCode(err)
	h := w.Header()
	h.Del("Content-Encoding")
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{code, msg})
	_, _ = w.Write(body)
	return code, status
}
