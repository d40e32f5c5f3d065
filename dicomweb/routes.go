package dicomweb

import "net/http"

// Param is a query parameter of a route.
type Param struct {
	Name        string
	Description string
	Repeated    bool
}

// Route is one DICOMweb operation: the table serves the mux and generates
// the OpenAPI description.
type Route struct {
	Name     string // AWS's name (the IAM action), the OpenAPI operationId
	Service  string // STOW-RS, WADO-RS or QIDO-RS
	Method   string
	Path     string // below Prefix
	Summary  string
	Query    []Param
	Consumes []string
	Produces []string
	handle   func(h *Handler, w http.ResponseWriter, r *http.Request) error
}

var imageSetParam = Param{Name: "imageSetId", Description: "Read this image set (primary or not) instead of the series' primary image set."}

// qidoParams are the query parameters every QIDO-RS route takes besides
// the attribute matches (keyword or tag, e.g. PatientID=X or 00100020=X).
var qidoParams = []Param{
	{Name: "limit", Description: "Maximum number of results (default and maximum 1000)."},
	{Name: "offset", Description: "Number of results to skip (maximum 1,000,000)."},
	{Name: "includefield", Description: "Attributes to return besides the defaults: keywords, tags or all.", Repeated: true},
	{Name: "fuzzymatching", Description: "true: case-insensitive prefix matching of name components of person names."},
}

const (
	mtDICOMJSON  = "application/dicom+json"
	mtDICOM      = "application/dicom"
	mtMultiDICOM = `multipart/related; type="application/dicom"`
	mtMultiOctet = `multipart/related; type="application/octet-stream"`
)

// Routes is the DICOMweb route table, AWS HealthImaging's.
var Routes = []Route{
	{Name: "StoreDICOM", Service: "STOW-RS", Method: "POST", Path: "/studies",
		Summary:  "Store DICOM instances (a single Part 10 file or a multipart/related body of them, up to 1 GB) into primary or non-primary image sets.",
		Consumes: []string{mtDICOM, mtMultiDICOM}, Produces: []string{mtDICOMJSON}, handle: (*Handler).store},
	{Name: "StoreDICOMStudy", Service: "STOW-RS", Method: "POST", Path: "/studies/{StudyInstanceUID}",
		Summary:  "Store DICOM instances of one study; instances of another study fail.",
		Consumes: []string{mtDICOM, mtMultiDICOM}, Produces: []string{mtDICOMJSON}, handle: (*Handler).store},
	{Name: "GetDICOMInstance", Service: "WADO-RS", Method: "GET", Path: "/studies/{StudyInstanceUID}/series/{SeriesInstanceUID}/instances/{SOPInstanceUID}",
		Summary: "Retrieve an instance as a DICOM Part 10 file (explicit VR little endian by default; transfer-syntax=* for the stored syntax).",
		Query:   []Param{imageSetParam}, Produces: []string{mtDICOM, mtMultiDICOM}, handle: (*Handler).instance},
	{Name: "GetDICOMInstanceMetadata", Service: "WADO-RS", Method: "GET", Path: "/studies/{StudyInstanceUID}/series/{SeriesInstanceUID}/instances/{SOPInstanceUID}/metadata",
		Summary: "Retrieve an instance's metadata (DICOM JSON).", Query: []Param{imageSetParam}, Produces: []string{mtDICOMJSON}, handle: (*Handler).instanceMetadata},
	{Name: "GetDICOMSeriesMetadata", Service: "WADO-RS", Method: "GET", Path: "/studies/{StudyInstanceUID}/series/{SeriesInstanceUID}/metadata",
		Summary: "Retrieve the metadata of every instance of a series (DICOM JSON).", Query: []Param{imageSetParam}, Produces: []string{mtDICOMJSON}, handle: (*Handler).seriesMetadata},
	{Name: "GetDICOMInstanceFrames", Service: "WADO-RS", Method: "GET", Path: "/studies/{StudyInstanceUID}/series/{SeriesInstanceUID}/instances/{SOPInstanceUID}/frames/{frameList}",
		Summary: "Retrieve frames (1-based numbers, comma separated) as multipart/related: uncompressed by default, the stored codestream with transfer-syntax=*.",
		Query:   []Param{imageSetParam}, Produces: []string{mtMultiOctet, `multipart/related; type="image/jphc"`}, handle: (*Handler).frames},
	{Name: "GetDICOMBulkdata", Service: "WADO-RS", Method: "GET", Path: "/studies/{StudyInstanceUID}/series/{SeriesInstanceUID}/instances/{SOPInstanceUID}/bulkdata/{bulkdataUriHash}",
		Summary: "Retrieve a binary value that metadata replaced by a BulkDataURI.", Query: []Param{imageSetParam},
		Produces: []string{"application/octet-stream", mtMultiOctet}, handle: (*Handler).bulkdata},
	{Name: "SearchDICOMStudies", Service: "QIDO-RS", Method: "GET", Path: "/studies",
		Summary: "Search studies, newest update first.", Query: qidoParams, Produces: []string{mtDICOMJSON}, handle: (*Handler).searchStudies},
	{Name: "SearchDICOMSeries", Service: "QIDO-RS", Method: "GET", Path: "/studies/{StudyInstanceUID}/series",
		Summary: "Search the series of a study, by Series Number.", Query: qidoParams, Produces: []string{mtDICOMJSON}, handle: (*Handler).searchSeries},
	{Name: "SearchDICOMAllSeries", Service: "QIDO-RS", Method: "GET", Path: "/series",
		Summary: "Search series across studies, by Series Number.", Query: qidoParams, Produces: []string{mtDICOMJSON}, handle: (*Handler).searchSeries},
	{Name: "SearchDICOMInstances", Service: "QIDO-RS", Method: "GET", Path: "/studies/{StudyInstanceUID}/series/{SeriesInstanceUID}/instances",
		Summary: "Search the instances of a series, by Instance Number.", Query: qidoParams, Produces: []string{mtDICOMJSON}, handle: (*Handler).searchInstances},
	{Name: "SearchDICOMStudyInstances", Service: "QIDO-RS", Method: "GET", Path: "/studies/{StudyInstanceUID}/instances",
		Summary: "Search the instances of a study, newest update first.", Query: qidoParams, Produces: []string{mtDICOMJSON}, handle: (*Handler).searchInstances},
	{Name: "SearchDICOMAllInstances", Service: "QIDO-RS", Method: "GET", Path: "/instances",
		Summary: "Search instances across studies, by Instance Number.", Query: qidoParams, Produces: []string{mtDICOMJSON}, handle: (*Handler).searchInstances},
}
