// Package dicomweb is ohi's second front door: the DICOMweb services AWS
// HealthImaging offers (STOW-RS, WADO-RS, QIDO-RS, PS3.18) on the image
// sets the HealthImaging API serves, with AWS's paths under
// /datastore/{datastoreId}. It is an ordinary http.Handler that the server
// mounts behind the same SigV4 check as the API; the service (package
// service) and the importer do the work, and the one route table, Routes,
// both serves the requests and describes them as OpenAPI.
package dicomweb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/service"
)

// Handler serves the DICOMweb routes.
type Handler struct {
	svc    *service.Service
	storer Storer
	logger *slog.Logger
	mux    *http.ServeMux
	// decoded caches uncompressed frames (DecodedCacheBytes).
	decoded *byteLRU
	// TempDir holds the instances of a STOW-RS request while they are
	// stored (default os.TempDir()).
	TempDir string
}

// Config configures a Handler.
type Config struct {
	Service *service.Service
	Storer  Storer // nil: STOW-RS answers 503
	Logger  *slog.Logger
	TempDir string
}

// New returns the DICOMweb handler.
func New(cfg Config) *Handler {
	h := &Handler{svc: cfg.Service, storer: cfg.Storer, logger: cfg.Logger, TempDir: cfg.TempDir, mux: http.NewServeMux(),
		decoded: newByteLRU(DecodedCacheBytes)}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	for _, rt := range Routes {
		rt := rt
		h.mux.HandleFunc(rt.Method+" "+Prefix+rt.Path, func(w http.ResponseWriter, r *http.Request) {
			info := api.RequestInfoFrom(r.Context())
			if info != nil {
				info.Operation = rt.Name // for the access log
			}
			err := acceptsJSON(rt, r)
			if err == nil {
				err = rt.handle(h, w, r)
			}
			if err != nil {
				if info != nil {
					info.ErrorCode = http.StatusText(statusOf(err))
				}
				h.writeError(w, r, err)
			}
		})
	}
	// A route's path with another method is a 405 naming the methods it
	// takes; any other path a 404.
	methods := map[string][]string{}
	var paths []string
	for _, rt := range Routes {
		if methods[rt.Path] == nil {
			paths = append(paths, rt.Path)
		}
		methods[rt.Path] = append(methods[rt.Path], rt.Method)
	}
	other := http.NewServeMux()
	for _, p := range paths {
		allow := strings.Join(methods[p], ", ")
		other.HandleFunc(Prefix+p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			h.writeError(w, r, errorf(http.StatusMethodNotAllowed, "%s %s is not a DICOMweb operation; the path takes %s", r.Method, r.URL.Path, allow))
		})
	}
	other.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, &httpError{http.StatusNotFound, fmt.Sprintf("no DICOMweb route for %s %s", r.Method, r.URL.Path)})
	})
	h.mux.Handle("/", other)
	return h
}

// acceptsJSON answers 406 for a GET route that produces DICOM JSON only
// when no range of the Accept header admits it. Any range that does is
// enough, so combined headers (OHIF's JSON and multipart list) work.
func acceptsJSON(rt Route, r *http.Request) error {
	if rt.Method != "GET" || len(rt.Produces) != 1 || rt.Produces[0] != mtDICOMJSON {
		return nil
	}
	for _, m := range parseAccept(r.Header.Get("Accept")) {
		if m.matches(mtDICOMJSON) || m.typ == "application/json" {
			return nil
		}
	}
	return errorf(http.StatusNotAcceptable, "none of the accepted media types (%s) can be produced; %s answers %s", r.Header.Get("Accept"), rt.Name, mtDICOMJSON)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Prefix is the path prefix of every route.
const Prefix = "/datastore/{datastoreId}"

var pathRE = regexp.MustCompile(`^/datastore/[^/]+/(studies|series|instances)(/|$)`)

// Matches reports whether a request path belongs to DICOMweb (rather than
// to the HealthImaging API, which shares the /datastore/ prefix).
func Matches(path string) bool { return pathRE.MatchString(path) }

// httpError is an error with its HTTP status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status, fmt.Sprintf(format, args...)}
}

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	var he *httpError
	var ve *ohi.ValidationError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &ve):
		return http.StatusBadRequest
	case errors.Is(err, ohi.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ohi.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ohi.ErrQuotaExceeded):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// writeError answers {"message": ...} with the error's status.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The client went away: nobody reads an answer, and it is not a
		// server error.
		h.logger.Info("dicomweb request abandoned", "method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	status := statusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		// The cause (paths, SQL, storage errors) goes to the log only.
		h.logger.Error("dicomweb", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
		if info := api.RequestInfoFrom(r.Context()); info != nil {
			info.Err = err
			if info.ID != "" {
				msg += " (request " + info.ID + ")"
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// uidRE is the form of a DICOM UID path segment.
var uidRE = regexp.MustCompile(`^[0-9.]{1,64}$`)

var imageSetIDRE = regexp.MustCompile(`^[0-9a-z]{32}$`)

// ref reads the instance reference of a request's path.
func ref(r *http.Request) (ohi.DICOMInstanceRef, error) {
	x := ohi.DICOMInstanceRef{
		DatastoreID: r.PathValue("datastoreId"), StudyInstanceUID: r.PathValue("StudyInstanceUID"),
		SeriesInstanceUID: r.PathValue("SeriesInstanceUID"), SOPInstanceUID: r.PathValue("SOPInstanceUID"),
		ImageSetID: r.URL.Query().Get("imageSetId"),
	}
	if !imageSetIDRE.MatchString(x.DatastoreID) {
		return x, errorf(http.StatusBadRequest, "datastoreId %q is not a data store id (32 lower-case letters and digits)", x.DatastoreID)
	}
	for name, v := range map[string]string{"StudyInstanceUID": x.StudyInstanceUID, "SeriesInstanceUID": x.SeriesInstanceUID, "SOPInstanceUID": x.SOPInstanceUID} {
		if v != "" && !uidRE.MatchString(v) {
			return x, errorf(http.StatusBadRequest, "%s %q is not a DICOM UID", name, v)
		}
	}
	if x.ImageSetID != "" && !imageSetIDRE.MatchString(x.ImageSetID) {
		return x, errorf(http.StatusBadRequest, "imageSetId %q is not an image set id (32 lower-case letters and digits)", x.ImageSetID)
	}
	return x, nil
}

// baseURL is the absolute URL of the request's data store.
func baseURL(r *http.Request, datastoreID string) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/datastore/" + datastoreID
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/dicom+json")
	return writeJSONBody(w, v)
}

func writeJSONBody(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
