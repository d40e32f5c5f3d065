package api

import (
	"context"
	"net/http"
)

// Operation describes one operation of the model and its HTTP binding.
type Operation struct {
	Name       string
	Method     string
	Path       string // request URI template, e.g. /datastore/{datastoreId}
	HostPrefix string // "runtime-" for data-plane operations
	Input      string // input shape name
	Output     string // output shape name
	Errors     []string
	Idempotent bool
	ReadOnly   bool

	serve func(svc Service, w http.ResponseWriter, r *http.Request) error
}

// RequestInfo is per-request information shared between the server's
// middleware and the handler. The server stores it in the request context
// with WithRequestInfo; the handler fills in Operation and ErrorCode.
type RequestInfo struct {
	ID        string
	Operation string
	ErrorCode string
	Err       error // the error behind an InternalServerException, for logging
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying info.
func WithRequestInfo(ctx context.Context, info *RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// RequestInfoFrom returns the request info stored in ctx, or nil.
func RequestInfoFrom(ctx context.Context) *RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*RequestInfo)
	return info
}

// NewHandler returns an http.Handler that routes every operation of the
// model to svc by method and path (never by Host), binds and validates the
// input, and writes the output or an AWS error. Unknown routes answer
// UnknownOperationException (404).
func NewHandler(svc Service) http.Handler {
	mux := http.NewServeMux()
	for _, op := range Operations {
		mux.HandleFunc(op.Method+" "+op.Path, func(w http.ResponseWriter, r *http.Request) {
			info := RequestInfoFrom(r.Context())
			if info != nil {
				info.Operation = op.Name
			}
			if err := op.serve(svc, w, r); err != nil {
				code, _ := WriteError(w, err)
				if info != nil {
					info.ErrorCode = code
					if code == "InternalServerException" {
						info.Err = err
					}
				}
			}
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		code, _ := WriteError(w, &Error{Code: "UnknownOperationException", Status: http.StatusNotFound,
			Message: "no operation matches " + r.Method + " " + r.URL.EscapedPath()})
		if info := RequestInfoFrom(r.Context()); info != nil {
			info.ErrorCode = code
		}
	})
	return mux
}
