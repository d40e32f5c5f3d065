package server

import (
	"encoding/json"
	"net/http"

	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/sigv4"
)

// MaxDICOMwebBody is the largest DICOMweb request body: AWS's 1 GB of
// DICOM data per STOW-RS request, plus room for the multipart framing.
const MaxDICOMwebBody = 1<<30 + 1<<20

// signedDICOMweb is cfg.DICOMweb behind SigV4 (service medical-imaging,
// the API's credentials) with the DICOMweb body limit and streamed payload
// verification; errors keep the API's JSON shape.
func signedDICOMweb(cfg Config) http.Handler {
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
	return http.MaxBytesHandler(dw, MaxDICOMwebBody)
}
