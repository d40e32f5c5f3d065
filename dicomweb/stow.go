package dicomweb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/openhealthimaging/ohi/importer"
	"github.com/openhealthimaging/ohi/sigv4"
)

// Storer stores the instances of a STOW-RS request: the importer
// (importer.Importer.StoreInstances), so that they are parsed, transcoded,
// verified and grouped exactly like the files of an import job.
type Storer interface {
	StoreInstances(ctx context.Context, datastoreID, studyUID string, files []importer.StowFile) ([]importer.StowResult, error)
}

// MaxStowParts bounds the instances of one STOW-RS request.
const MaxStowParts = 10000

// bodyError turns a request body read error into its HTTP answer.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.Is(err, sigv4.ErrBodyTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "the request body is larger than the STOW-RS limit of 1 GB of DICOM data")
	case errors.Is(err, sigv4.ErrPayloadMismatch):
		return errorf(http.StatusBadRequest, "the request body does not match its x-amz-content-sha256 header; nothing was stored")
	}
	return errorf(http.StatusBadRequest, "the request body could not be read: %v", err)
}

// spool copies r into a new file of dir.
func spool(dir string, r io.Reader) (importer.StowFile, error) {
	f, err := os.CreateTemp(dir, "part-*.dcm")
	if err != nil {
		return importer.StowFile{}, err
	}
	defer f.Close()
	n, err := io.Copy(f, r)
	if err != nil {
		return importer.StowFile{}, bodyError(err)
	}
	return importer.StowFile{Path: f.Name(), Size: n}, nil
}

// store answers StoreDICOM and StoreDICOMStudy.
func (h *Handler) store(w http.ResponseWriter, r *http.Request) error {
	dsID := r.PathValue("datastoreId")
	if !imageSetIDRE.MatchString(dsID) {
		return errorf(http.StatusBadRequest, "datastoreId %q is not a data store id", dsID)
	}
	study := r.PathValue("StudyInstanceUID")
	if study != "" && !uidRE.MatchString(study) {
		return errorf(http.StatusBadRequest, "StudyInstanceUID %q is not a DICOM UID", study)
	}
	if h.storer == nil {
		return errorf(http.StatusServiceUnavailable, "STOW-RS is not configured on this server")
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return errorf(http.StatusUnsupportedMediaType, "Content-Type %q is not application/dicom or multipart/related; type=\"application/dicom\"", r.Header.Get("Content-Type"))
	}
	start := time.Now()
	dir, err := os.MkdirTemp(h.TempDir, "stow-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var files []importer.StowFile
	switch strings.ToLower(mt) {
	case mtDICOM:
		f, err := spool(dir, r.Body)
		if err != nil {
			return err
		}
		files = append(files, f)
	case "multipart/related":
		if t := strings.ToLower(params["type"]); t != "" && t != mtDICOM {
			return errorf(http.StatusUnsupportedMediaType, "multipart/related type %q is not supported; STOW-RS takes application/dicom parts", params["type"])
		}
		if params["boundary"] == "" {
			return errorf(http.StatusBadRequest, "the multipart/related Content-Type has no boundary")
		}
		end := &closeScanner{r: r.Body, delim: []byte("--" + params["boundary"] + "--")}
		mr := multipart.NewReader(end, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF { // bare: the reader's clean end, or a part header cut short
				if !end.seen {
					return errorf(http.StatusBadRequest, "the multipart body ends before its closing boundary --%s--; nothing was stored", params["boundary"])
				}
				break
			}
			if err != nil {
				var be error = bodyError(err)
				if !errors.Is(err, sigv4.ErrPayloadMismatch) && !errors.Is(err, sigv4.ErrBodyTooLarge) {
					var mbe *http.MaxBytesError
					if !errors.As(err, &mbe) {
						be = errorf(http.StatusBadRequest, "the multipart body is malformed: %v", err)
					}
				}
				return be
			}
			if ct := part.Header.Get("Content-Type"); ct != "" {
				pt, _, _ := mime.ParseMediaType(ct)
				if !strings.EqualFold(pt, mtDICOM) {
					return errorf(http.StatusUnsupportedMediaType, "part %d has Content-Type %q; STOW-RS takes application/dicom parts", len(files)+1, ct)
				}
			}
			if len(files) >= MaxStowParts {
				return errorf(http.StatusRequestEntityTooLarge, "more than %d instances in one request", MaxStowParts)
			}
			f, err := spool(dir, part)
			if err != nil {
				return err
			}
			files = append(files, f)
		}
		// Read to the end, so that the payload hash is checked.
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return bodyError(err)
		}
	default:
		return errorf(http.StatusUnsupportedMediaType, "Content-Type %q is not application/dicom or multipart/related; type=\"application/dicom\"", mt)
	}
	if len(files) == 0 {
		return errorf(http.StatusBadRequest, "the request holds no instance")
	}
	spooled := time.Since(start)
	results, err := h.storer.StoreInstances(r.Context(), dsID, study, files)
	if err != nil {
		return err
	}
	var bytes int64
	for _, f := range files {
		bytes += f.Size
	}
	h.logger.Info("STOW-RS", "datastoreId", dsID, "instances", len(files), "bytes", bytes,
		"receiveMs", spooled.Milliseconds(), "storeMs", (time.Since(start) - spooled).Milliseconds())
	return writeStoreResponse(w, r, dsID, study, results)
}

// writeStoreResponse writes the PS3.18 store response: 200 when every
// instance was stored, 202 when some failed, 409 when all failed.
func writeStoreResponse(w http.ResponseWriter, r *http.Request, dsID, study string, results []importer.StowResult) error {
	base := baseURL(r, dsID)
	out := Dataset{}
	var refs, fails []any
	for _, res := range results {
		item := Dataset{}
		if res.SOPClassUID != "" {
			item["00081150"] = isElem("UI", res.SOPClassUID)
		}
		if res.SOPInstanceUID != "" {
			item["00081155"] = isElem("UI", res.SOPInstanceUID)
		}
		if res.Failure != "" {
			item["00081197"] = isElem("US", res.FailureCode)
			item["00000902"] = isElem("LO", res.Failure) // ErrorComment
			fails = append(fails, item)
			continue
		}
		// The UIDs come from the stored files: escaped, they stay path
		// segments whatever they hold.
		u := fmt.Sprintf("%s/studies/%s/series/%s/instances/%s", base, url.PathEscape(res.StudyInstanceUID),
			url.PathEscape(res.SeriesInstanceUID), url.PathEscape(res.SOPInstanceUID))
		if !res.IsPrimary {
			u += "?imageSetId=" + url.QueryEscape(res.ImageSetID)
		}
		item["00081190"] = isElem("UR", u)
		refs = append(refs, item)
	}
	if study != "" {
		out["00081190"] = isElem("UR", base+"/studies/"+study)
	}
	if len(refs) > 0 {
		out["00081199"] = &Element{VR: "SQ", Value: refs}
	}
	if len(fails) > 0 {
		out["00081198"] = &Element{VR: "SQ", Value: fails}
	}
	status := http.StatusOK
	switch {
	case len(refs) == 0:
		status = http.StatusConflict
	case len(fails) > 0:
		status = http.StatusAccepted
	}
	w.Header().Set("Content-Type", mtDICOMJSON)
	w.WriteHeader(status)
	return writeJSONBody(w, out)
}

// closeScanner passes a multipart body through and records whether its
// closing delimiter went by: the multipart reader answers a bare io.EOF
// both at the closing delimiter and when the body ends inside a part's
// header, and only the first is a complete request.
type closeScanner struct {
	r     io.Reader
	delim []byte
	tail  []byte // the last len(delim)-1 bytes read
	seen  bool
}

func (c *closeScanner) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && !c.seen {
		buf := append(c.tail, p[:min(n, len(c.delim)-1)]...)
		if bytes.Contains(buf, c.delim) || bytes.Contains(p[:n], c.delim) {
			c.seen = true
		}
		keep := len(c.delim) - 1
		if n >= keep {
			c.tail = append(c.tail[:0], p[n-keep:n]...)
		} else {
			c.tail = append(c.tail, p[:n]...)
			if len(c.tail) > keep {
				c.tail = c.tail[len(c.tail)-keep:]
			}
		}
	}
	return n, err
}
