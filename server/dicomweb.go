package server

import (
	"encoding/json"
	"net/http"

	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/dicomweb"
	"github.com/openhealthimaging/ohi/sigv4"
)

// MaxDICOMwebBody is the largest DICOMweb request body: AWS's 1 GB of
// DICOM data per STOW-RS request, plus room for the multipart framing.
const MaxDICOMwebBody = 1<<30 + 1<<20

// withDICOMweb sends the DICOMweb paths to cfg.DICOMweb, signed like the
// API (service medical-imaging, the same credentials) but with the
// DICOMweb body limit and streamed payload verification, and everything
// else to api.
func withDICOMweb(apiHandler http.Handler, cfg Config) http.Handler {
	var dw http.Handler = cfg.DICOMweb
	if cfg.Verifier != nil {
		v := *cfg.Verifier
		v.MaxBodyBytes, v.SpoolDir, v.StreamVerify = MaxDICOMwebBody, cfg.DICOMwebSpoolDir, true
		dw = v.Middleware(dw, func(w http.ResponseWriter, r *http.Request, e *sigv4.Error) {
			if info := api.RequestInfoFrom(r.Context()); info != nil {
				info.ErrorCode = e.Code
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", e.Code)
			w.WriteHeader(e.Status)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
		})
	}
	dw = http.MaxBytesHandler(dw, MaxDICOMwebBody)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if dicomweb.Matches(r.URL.Path) {
			dw.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
}
