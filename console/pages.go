package console

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/metadoc"
	"github.com/openhealthimaging/ohi/service"
)

// Bounds of what one page shows.
const (
	maxDatastoresShown = 500
	jobsShown          = 25
	failuresShown      = 100
	imageSetsPerPage   = 50
)

func ptr[T any](v T) *T { return &v }

// datastores lists the data stores and offers the create form.
func (c *Console) datastores(w http.ResponseWriter, r *http.Request) {
	var list []api.DatastoreSummary
	var token *string
	for len(list) < maxDatastoresShown {
		out, err := c.svc.ListDatastores(r.Context(), &api.ListDatastoresRequest{NextToken: token, MaxResults: ptr(int32(50))})
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		list = append(list, out.DatastoreSummaries...)
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
	}
	c.render(w, r, http.StatusOK, "datastores", "Data stores", list)
}

// createDatastore is CreateDatastore from the form.
func (c *Console) createDatastore(w http.ResponseWriter, r *http.Request) {
	in := &api.CreateDatastoreRequest{ClientToken: ptr(ohi.NewID())}
	if n := strings.TrimSpace(r.PostFormValue("name")); n != "" {
		in.DatastoreName = &n
	}
	if f := r.PostFormValue("format"); f != "" {
		in.LosslessStorageFormat = api.LosslessStorageFormat(f)
	}
	out, ok := call(c, w, r, in, c.svc.CreateDatastore)
	if !ok {
		return
	}
	done(w, r, Prefix+"datastores/"+*out.DatastoreId, "created")
}

// deleteDatastore is DeleteDatastore from the form.
func (c *Console) deleteDatastore(w http.ResponseWriter, r *http.Request) {
	in := &api.DeleteDatastoreRequest{DatastoreId: ptr(r.PathValue("id"))}
	if _, ok := call(c, w, r, in, c.svc.DeleteDatastore); !ok {
		return
	}
	done(w, r, Prefix, "deleting")
}

// jobRow is an import job with its progress.
type jobRow struct {
	*service.JobProgress
	Terminal bool
}

type datastorePage struct {
	DS         *api.DatastoreProperties
	Jobs       []jobRow
	MoreJobs   bool
	AccountID  string
	DefaultIn  string
	DefaultOut string
}

// datastore shows one data store: its properties, import jobs with
// progress, the import form and the image set search form.
func (c *Console) datastore(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	gin := &api.GetDatastoreRequest{DatastoreId: &id}
	ds, ok := call(c, w, r, gin, c.svc.GetDatastore)
	if !ok {
		return
	}
	p := datastorePage{DS: ds.DatastoreProperties, AccountID: c.svc.AccountID(), DefaultIn: "s3://dicom-in/", DefaultOut: "s3://dicom-out/jobs/"}
	if ds.DatastoreProperties.DatastoreStatus != api.DatastoreStatusDeleted {
		jobs, err := c.svc.ListDICOMImportJobs(r.Context(), &api.ListDICOMImportJobsRequest{DatastoreId: &id, MaxResults: ptr(int32(jobsShown))})
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		p.MoreJobs = jobs.NextToken != nil
		for _, j := range jobs.JobSummaries {
			jp, err := c.svc.ImportJobProgress(r.Context(), id, *j.JobId, 0)
			if err != nil {
				c.failErr(w, r, err)
				return
			}
			p.Jobs = append(p.Jobs, jobRow{JobProgress: jp, Terminal: jp.Job.Status.Terminal()})
		}
	}
	c.render(w, r, http.StatusOK, "datastore", "Data store "+*ds.DatastoreProperties.DatastoreName, p)
}

// startImport is StartDICOMImportJob from the form: an input prefix in a
// bucket the server reads (a directory under <data-dir>/buckets, or a bucket
// on --s3-endpoint).
func (c *Console) startImport(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	role := strings.TrimSpace(r.PostFormValue("role"))
	if role == "" {
		role = "arn:aws:iam::" + c.svc.AccountID() + ":role/ohi-console"
	}
	in := &api.StartDICOMImportJobRequest{
		DatastoreId: &id, ClientToken: ptr(ohi.NewID()), DataAccessRoleArn: &role,
		InputS3Uri: ptr(strings.TrimSpace(r.PostFormValue("input"))), OutputS3Uri: ptr(strings.TrimSpace(r.PostFormValue("output"))),
	}
	if n := strings.TrimSpace(r.PostFormValue("name")); n != "" {
		in.JobName = &n
	}
	out, ok := call(c, w, r, in, c.svc.StartDICOMImportJob)
	if !ok {
		return
	}
	done(w, r, Prefix+"datastores/"+id+"/jobs/"+*out.JobId, "import")
}

// progressJSON is what the progress endpoint answers, for the page's script.
type progressJSON struct {
	Status    string `json:"status"`
	Message   string `json:"message,omitempty"`
	Files     int    `json:"files"`
	Done      int    `json:"done"`
	Imported  int    `json:"imported"`
	Failed    int    `json:"failed"`
	Percent   int    `json:"percent"`
	Terminal  bool   `json:"terminal"`
	EndedAt   string `json:"endedAt,omitempty"`
	Tasks     int    `json:"tasks"`
	TasksDone int    `json:"tasksDone"`
}

func (c *Console) progress(w http.ResponseWriter, r *http.Request, failures int) (*service.JobProgress, bool) {
	id, job := r.PathValue("id"), r.PathValue("job")
	if !ohi.IsID(id) || !ohi.IsID(job) {
		c.fail(w, r, http.StatusNotFound, "no such data store or import job")
		return nil, false
	}
	jp, err := c.svc.ImportJobProgress(r.Context(), id, job, failures)
	if err != nil {
		c.failErr(w, r, err)
		return nil, false
	}
	return jp, true
}

// job shows an import job: status, files done out of total, failures.
func (c *Console) job(w http.ResponseWriter, r *http.Request) {
	jp, ok := c.progress(w, r, failuresShown)
	if !ok {
		return
	}
	c.render(w, r, http.StatusOK, "job", "Import job "+jp.Job.Name, jobRow{JobProgress: jp, Terminal: jp.Job.Status.Terminal()})
}

// jobProgress answers the job's progress as JSON.
func (c *Console) jobProgress(w http.ResponseWriter, r *http.Request) {
	jp, ok := c.progress(w, r, 0)
	if !ok {
		return
	}
	p := progressJSON{Status: string(jp.Job.Status), Message: jp.Job.Message, Files: jp.Files, Done: jp.Done(), Imported: jp.Committed,
		Failed: jp.Failed, Terminal: jp.Job.Status.Terminal(), Tasks: jp.Tasks, TasksDone: jp.TasksDone}
	if jp.Files > 0 {
		p.Percent = p.Done * 100 / jp.Files
	}
	if !jp.Job.EndedAt.IsZero() {
		p.EndedAt = jp.Job.EndedAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(p)
}

type searchPage struct {
	DS                             *api.DatastoreProperties
	PatientID, StudyUID, Accession string
	Results                        []api.ImageSetsMetadataSummary
	Next                           string
	Searched                       bool
}

// imageSets searches a data store's image sets by patient, study and
// accession (each an EQUAL filter; AWS search has no partial match).
func (c *Console) imageSets(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	gin := &api.GetDatastoreRequest{DatastoreId: &id}
	ds, ok := call(c, w, r, gin, c.svc.GetDatastore)
	if !ok {
		return
	}
	q := r.URL.Query()
	p := searchPage{DS: ds.DatastoreProperties, PatientID: strings.TrimSpace(q.Get("patientId")),
		StudyUID: strings.TrimSpace(q.Get("studyUID")), Accession: strings.TrimSpace(q.Get("accession"))}
	crit := &api.SearchCriteria{}
	if p.PatientID != "" {
		crit.Filters = append(crit.Filters, api.SearchFilter{Operator: api.OperatorEqual, Values: []api.SearchByAttributeValue{{DICOMPatientId: ptr(p.PatientID)}}})
	}
	if p.StudyUID != "" {
		crit.Filters = append(crit.Filters, api.SearchFilter{Operator: api.OperatorEqual, Values: []api.SearchByAttributeValue{{DICOMStudyInstanceUID: ptr(p.StudyUID)}}})
	}
	if p.Accession != "" {
		crit.Filters = append(crit.Filters, api.SearchFilter{Operator: api.OperatorEqual, Values: []api.SearchByAttributeValue{{DICOMAccessionNumber: ptr(p.Accession)}}})
	}
	in := &api.SearchImageSetsRequest{DatastoreId: &id, MaxResults: ptr(int32(imageSetsPerPage))}
	if len(crit.Filters) > 0 {
		in.SearchCriteria = crit
		p.Searched = true
	}
	if t := q.Get("next"); t != "" {
		in.NextToken = &t
	}
	out, ok := call(c, w, r, in, c.svc.SearchImageSets)
	if !ok {
		return
	}
	p.Results = out.ImageSetsMetadataSummaries
	if out.NextToken != nil {
		nq := r.URL.Query()
		nq.Set("next", *out.NextToken)
		p.Next = r.URL.Path + "?" + nq.Encode()
	}
	c.render(w, r, http.StatusOK, "imagesets", "Image sets of "+*ds.DatastoreProperties.DatastoreName, p)
}

type imageSetPage struct {
	DatastoreID string
	Set         *api.GetImageSetResponse
	Versions    []api.ImageSetProperties
	Patient     map[string]string
	Study       map[string]string
	Series      map[string]string
	Instances   int
	Frames      int
	StudyUID    string
	ThumbAlt    string
}

// attrs returns a level's attributes as text, for the page.
func attrs(m map[string]any, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v := metadoc.Text(m[k]); v != "" {
			out[k] = v
		}
	}
	return out
}

// imageSet shows one image set: its versions, its main attributes, the
// thumbnail of its series and the link to the viewer.
func (c *Console) imageSet(w http.ResponseWriter, r *http.Request) {
	id, set := r.PathValue("id"), r.PathValue("set")
	gin := &api.GetImageSetRequest{DatastoreId: &id, ImageSetId: &set}
	is, ok := call(c, w, r, gin, c.svc.GetImageSet)
	if !ok {
		return
	}
	p := imageSetPage{DatastoreID: id, Set: is}
	var token *string
	for len(p.Versions) < 1000 {
		vs, err := c.svc.ListImageSetVersions(r.Context(), &api.ListImageSetVersionsRequest{DatastoreId: &id, ImageSetId: &set, NextToken: token})
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		p.Versions = append(p.Versions, vs.ImageSetPropertiesList...)
		if vs.NextToken == nil {
			break
		}
		token = vs.NextToken
	}
	sort.SliceStable(p.Versions, func(i, j int) bool { return deref(p.Versions[i].VersionId) > deref(p.Versions[j].VersionId) })
	if is.ImageSetState != api.ImageSetStateDeleted {
		doc, err := c.thumbs.document(r.Context(), id, set, is.VersionId)
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		p.Patient = attrs(doc.Patient.DICOM, "PatientName", "PatientID", "PatientBirthDate", "PatientSex")
		p.Study = attrs(doc.Study.DICOM, "StudyInstanceUID", "StudyDescription", "StudyDate", "StudyTime", "AccessionNumber", "StudyID")
		uid, s := doc.Series()
		p.Series = attrs(s.DICOM, "Modality", "SeriesNumber", "SeriesDescription", "BodyPartExamined")
		p.Series["SeriesInstanceUID"] = uid
		p.StudyUID = p.Study["StudyInstanceUID"]
		p.Instances = len(s.Instances)
		if fr, err := doc.Frames(); err == nil {
			p.Frames = len(fr)
		}
		p.ThumbAlt = "Middle frame of series " + p.Series["SeriesNumber"] + " " + p.Series["Modality"]
	}
	c.render(w, r, http.StatusOK, "imageset", "Image set "+set, p)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	// Version ids are decimal numbers: compare them by length first.
	return strings.Repeat("0", max(0, 20-len(*p))) + *p
}

// call validates in against the model, as the API's front door does, and
// runs op with it; on an error it answers with the error page and reports
// false.
func call[In, Out any](c *Console, w http.ResponseWriter, r *http.Request, in In, op func(context.Context, In) (Out, error)) (Out, bool) {
	var zero Out
	if err := api.Validate(in); err != nil {
		c.failErr(w, r, err)
		return zero, false
	}
	out, err := op(r.Context(), in)
	if err != nil {
		c.failErr(w, r, err)
		return zero, false
	}
	return out, true
}
