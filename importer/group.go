package importer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/dicom"
)

// storedFrame is a frame written to the blob store.
type storedFrame struct {
	ID    string `json:"id"`
	Key   string `json:"key"`
	Size  int64  `json:"size"`
	Index int    `json:"index"`
}

// failure is the recorded outcome of a file that could not be imported.
type failure struct {
	ExceptionType string `json:"exceptionType"`
	Message       string `json:"message"`
}

// committed is the recorded outcome of an imported file.
type committed struct {
	ImageSetID      string          `json:"imageSetId"`
	ImageSetVersion int64           `json:"imageSetVersion"`
	IsPrimary       bool            `json:"isPrimary"`
	Warnings        []dicom.Warning `json:"warnings,omitempty"`
}

// parsedInstance is a read file whose frames are stored, waiting to be
// grouped into an image set.
type parsedInstance struct {
	SOPInstanceUID string            `json:"sop"`
	SeriesUID      string            `json:"series"`
	TransferSyntax string            `json:"ts"`
	Patient        map[string]any    `json:"patient"`
	Study          map[string]any    `json:"study"`
	Series         map[string]any    `json:"seriesLevel"`
	Instance       map[string]any    `json:"instance"`
	VRs            map[string]string `json:"vrs,omitempty"`
	Frames         []storedFrame     `json:"frames"`
	Warnings       []dicom.Warning   `json:"warnings,omitempty"`
}

func newParsedInstance(in *dicom.Instance) *parsedInstance {
	return &parsedInstance{
		SOPInstanceUID: in.SOPInstanceUID, SeriesUID: in.SeriesInstanceUID, TransferSyntax: in.TransferSyntaxUID,
		Patient: in.Patient, Study: in.Study, Series: in.Series, Instance: in.Instance, VRs: in.VRs, Warnings: in.Warnings,
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("importer: marshal %T: %v", v, err))
	}
	return b
}

// groupingKey holds the elements HealthImaging compares to decide whether
// instances belong to the same primary image set: PatientID, StudyDate,
// AccessionNumber, StudyInstanceUID and StudyID (study level), and
// SeriesInstanceUID and SeriesNumber (series level).
type groupingKey [7]string

func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = textOf(e)
		}
		return strings.Join(parts, `\`)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	return strings.TrimSpace(fmt.Sprint(v))
}

func keyOf(patient, study, series map[string]any) groupingKey {
	return groupingKey{
		textOf(patient["PatientID"]), textOf(study["StudyDate"]), textOf(study["AccessionNumber"]),
		textOf(study["StudyInstanceUID"]), textOf(study["StudyID"]),
		textOf(series["SeriesInstanceUID"]), textOf(series["SeriesNumber"]),
	}
}

// document is an image set metadata document (healthimaging-api.md §6.3).
// Instances stay raw JSON so appending to a large image set does not
// re-encode what is already there.
type document struct {
	SchemaVersion string     `json:"SchemaVersion"`
	DatastoreID   string     `json:"DatastoreID"`
	ImageSetID    string     `json:"ImageSetID"`
	Patient       docLevel   `json:"Patient"`
	Study         studyLevel `json:"Study"`
}

type docLevel struct {
	DICOM map[string]any `json:"DICOM"`
}

type studyLevel struct {
	DICOM  map[string]any          `json:"DICOM"`
	Series map[string]*seriesLevel `json:"Series"`
}

type seriesLevel struct {
	DICOM     map[string]any             `json:"DICOM"`
	Instances map[string]json.RawMessage `json:"Instances"`
}

// instanceDoc is one instance of the metadata document.
type instanceDoc struct {
	DICOM                   map[string]any    `json:"DICOM"`
	DICOMVRs                map[string]string `json:"DICOMVRs,omitempty"`
	StoredTransferSyntaxUID string            `json:"StoredTransferSyntaxUID"`
	ImageFrames             []frameDoc        `json:"ImageFrames"`
}

type frameDoc struct {
	ID               string `json:"ID"`
	FrameSizeInBytes int64  `json:"FrameSizeInBytes"`
}

func newDocument(datastoreID, imageSetID string, first *parsedInstance) *document {
	return &document{
		SchemaVersion: "1.1", DatastoreID: datastoreID, ImageSetID: imageSetID,
		Patient: docLevel{DICOM: first.Patient},
		Study: studyLevel{DICOM: first.Study, Series: map[string]*seriesLevel{
			first.SeriesUID: {DICOM: first.Series, Instances: map[string]json.RawMessage{}},
		}},
	}
}

func (d *document) series() *seriesLevel {
	for _, s := range d.Study.Series {
		return s
	}
	return nil
}

// add puts an instance into the document, replacing an instance with the
// same SOP Instance UID.
func (d *document) add(p *parsedInstance) {
	frames := make([]frameDoc, len(p.Frames))
	for i, f := range p.Frames {
		frames[i] = frameDoc{ID: f.ID, FrameSizeInBytes: f.Size}
	}
	d.series().Instances[p.SOPInstanceUID] = mustJSON(instanceDoc{DICOM: p.Instance, DICOMVRs: p.VRs, StoredTransferSyntaxUID: p.TransferSyntax, ImageFrames: frames})
}

func (d *document) key() groupingKey {
	return keyOf(d.Patient.DICOM, d.Study.DICOM, d.series().DICOM)
}

// tags derives the search attributes of an image set from its document.
func (d *document) tags() ohi.DICOMTags {
	p, st, se := d.Patient.DICOM, d.Study.DICOM, d.series().DICOM
	t := ohi.DICOMTags{
		PatientID: textOf(p["PatientID"]), PatientName: textOf(p["PatientName"]), PatientBirthDate: textOf(p["PatientBirthDate"]),
		PatientSex: textOf(p["PatientSex"]), StudyInstanceUID: textOf(st["StudyInstanceUID"]), StudyID: textOf(st["StudyID"]),
		StudyDescription: textOf(st["StudyDescription"]), AccessionNumber: textOf(st["AccessionNumber"]),
		StudyDate: textOf(st["StudyDate"]), StudyTime: textOf(st["StudyTime"]),
		SeriesInstanceUID: textOf(se["SeriesInstanceUID"]), SeriesModality: textOf(se["Modality"]),
		SeriesBodyPart: textOf(se["BodyPartExamined"]), InstanceCount: len(d.series().Instances),
	}
	if n, err := strconv.ParseInt(textOf(se["SeriesNumber"]), 10, 32); err == nil {
		v := int32(n)
		t.SeriesNumber = &v
	}
	return t
}

func (im *Importer) loadDocument(ctx context.Context, key string) (*document, error) {
	obj, err := im.Blobs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	zr, err := gzip.NewReader(obj)
	if err != nil {
		return nil, err
	}
	var d document
	dec := json.NewDecoder(zr)
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("decode metadata %s: %w", key, err)
	}
	if len(d.Study.Series) != 1 {
		return nil, fmt.Errorf("metadata %s has %d series, want 1", key, len(d.Study.Series))
	}
	return &d, nil
}

func (im *Importer) saveDocument(ctx context.Context, key string, d *document) error {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err := json.NewEncoder(zw).Encode(d); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return im.Blobs.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()))
}

// instanceGroup is a set of parsed items of one series with one grouping key.
type instanceGroup struct {
	key   groupingKey
	items []*ohi.ImportItem
	insts []*parsedInstance
}

// group commits every parsed item of the job into image sets.
func (im *Importer) group(ctx context.Context, job *ohi.ImportJob, log *slog.Logger) error {
	items, err := im.Store.ImportItems(ctx, job.ID)
	if err != nil {
		return err
	}
	bySeries := map[string][]*instanceGroup{}
	var seriesOrder []string
	for _, it := range items {
		if it.State != "parsed" {
			continue
		}
		var p parsedInstance
		dec := json.NewDecoder(bytes.NewReader(it.Result))
		dec.UseNumber()
		if err := dec.Decode(&p); err != nil {
			return fmt.Errorf("decode import item %s: %w", it.Key, err)
		}
		k := keyOf(p.Patient, p.Study, p.Series)
		groups, ok := bySeries[p.SeriesUID]
		if !ok {
			seriesOrder = append(seriesOrder, p.SeriesUID)
		}
		var g *instanceGroup
		for _, cand := range groups {
			if cand.key == k {
				g = cand
			}
		}
		if g == nil {
			g = &instanceGroup{key: k}
			bySeries[p.SeriesUID] = append(groups, g)
		}
		g.items = append(g.items, it)
		g.insts = append(g.insts, &p)
	}
	sort.Strings(seriesOrder)
	for _, uid := range seriesOrder {
		for _, g := range bySeries[uid] {
			if err := im.commitGroup(ctx, job, uid, g, log); err != nil {
				return err
			}
		}
	}
	return nil
}

// commitGroup appends g to the series' primary image set when their keys
// agree, makes g the primary image set when the series has none, and puts it
// in a new non-primary image set otherwise. It retries when another job
// changed the primary image set concurrently.
func (im *Importer) commitGroup(ctx context.Context, job *ohi.ImportJob, seriesUID string, g *instanceGroup, log *slog.Logger) error {
	for attempt := 0; ; attempt++ {
		err := im.tryCommitGroup(ctx, job, seriesUID, g, log)
		if !errors.Is(err, ohi.ErrConflict) || attempt >= 20 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(10*(attempt+1)) * time.Millisecond):
		}
	}
}

func (im *Importer) tryCommitGroup(ctx context.Context, job *ohi.ImportJob, seriesUID string, g *instanceGroup, log *slog.Logger) error {
	now := time.Now().UTC()
	primary, err := im.Store.ImageSetPrimaryForSeries(ctx, job.DatastoreID, seriesUID)
	if err != nil && !errors.Is(err, ohi.ErrNotFound) {
		return err
	}
	var doc *document
	set := ohi.ImageSet{DatastoreID: job.DatastoreID, State: ohi.ImageSetActive, UpdatedAt: now}
	switch {
	case primary == nil:
		set.ID, set.Version, set.IsPrimary, set.CreatedAt, set.WorkflowStatus = ohi.NewID(), 1, true, now, ohi.WorkflowCreated
	default:
		ver, err := im.Store.ImageSetVersionGet(ctx, job.DatastoreID, primary.ID, primary.Version)
		if err != nil {
			return err
		}
		pdoc, err := im.loadDocument(ctx, ver.MetadataKey)
		if err != nil {
			return err
		}
		if pdoc.key() == g.key && primary.State == ohi.ImageSetActive {
			doc = pdoc
			set.ID, set.Version, set.IsPrimary, set.CreatedAt, set.WorkflowStatus = primary.ID, primary.Version+1, true, primary.CreatedAt, ohi.WorkflowImported
		} else {
			set.ID, set.Version, set.IsPrimary, set.CreatedAt, set.WorkflowStatus = ohi.NewID(), 1, false, now, ohi.WorkflowCreated
		}
	}
	if doc == nil {
		doc = newDocument(job.DatastoreID, set.ID, g.insts[0])
	}
	var frames []*ohi.Frame
	for _, p := range g.insts {
		doc.add(p)
		for _, f := range p.Frames {
			frames = append(frames, &ohi.Frame{ID: f.ID, ImageSetID: set.ID, BlobKey: f.Key, TransferSyntaxUID: p.TransferSyntax, Size: f.Size})
		}
	}
	set.Tags = doc.tags()
	key := MetadataKey(job.DatastoreID, set.ID, set.Version)
	if err := im.saveDocument(ctx, key, doc); err != nil {
		return err
	}
	commitItems := make([]*ohi.ImportItem, len(g.items))
	for i, it := range g.items {
		commitItems[i] = &ohi.ImportItem{JobID: it.JobID, Key: it.Key, State: "committed", ImageSetID: set.ID,
			Result: mustJSON(committed{ImageSetID: set.ID, ImageSetVersion: set.Version, IsPrimary: set.IsPrimary, Warnings: g.insts[i].Warnings})}
	}
	if err := im.Store.ImageSetCommit(ctx, &ohi.ImageSetCommit{ImageSet: set, MetadataKey: key, Frames: frames, Items: commitItems}); err != nil {
		_ = im.Blobs.Delete(context.WithoutCancel(ctx), key)
		return err
	}
	log.Info("image set committed", "imageSetId", set.ID, "version", set.Version, "primary", set.IsPrimary, "instances", len(g.items), "series", seriesUID)
	return nil
}
