// Package metadoc is the image set metadata document of AWS HealthImaging
// (GetImageSetMetadata): one series of one study of one patient, with its
// instances and their image frames, normalised into Patient, Study, Series
// and instance levels. It builds documents for the importer, applies
// UpdateImageSetMetadata changes and CopyImageSet selections under the
// service's rules, and derives the search attributes of an image set.
//
// Instances are kept as raw JSON so that appending to or copying from a large
// image set does not decode and re-encode every instance.
package metadoc

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/openhealthimaging/ohi"
)

// SchemaVersion is the document schema version ohi writes.
const SchemaVersion = "1.1"

// Document is an image set metadata document.
type Document struct {
	SchemaVersion string `json:"SchemaVersion"`
	DatastoreID   string `json:"DatastoreID"`
	ImageSetID    string `json:"ImageSetID"`
	Patient       Level  `json:"Patient"`
	Study         Study  `json:"Study"`
}

// Level is the Patient level of a document.
type Level struct {
	DICOM map[string]any `json:"DICOM"`
}

// Study is the Study level, holding the series.
type Study struct {
	DICOM  map[string]any     `json:"DICOM"`
	Series map[string]*Series `json:"Series"`
}

// Series is one series and its instances, keyed by SOP Instance UID.
type Series struct {
	DICOM     map[string]any             `json:"DICOM"`
	Instances map[string]json.RawMessage `json:"Instances"`
}

// Instance is one SOP instance of a document.
type Instance struct {
	DICOM                   map[string]any    `json:"DICOM"`
	DICOMVRs                map[string]string `json:"DICOMVRs,omitempty"`
	StoredTransferSyntaxUID string            `json:"StoredTransferSyntaxUID,omitempty"`
	ImageFrames             []Frame           `json:"ImageFrames"`
}

// Frame is one entry of an instance's ImageFrames.
type Frame struct {
	ID                                        string          `json:"ID"`
	PixelDataChecksumFromBaseToFullResolution []LevelChecksum `json:"PixelDataChecksumFromBaseToFullResolution,omitempty"`
	MinPixelValue                             *int64          `json:"MinPixelValue,omitempty"`
	MaxPixelValue                             *int64          `json:"MaxPixelValue,omitempty"`
	FrameSizeInBytes                          int64           `json:"FrameSizeInBytes"`
}

// LevelChecksum is the CRC-32 of the decoded pixels at one resolution.
type LevelChecksum struct {
	Width    int    `json:"Width"`
	Height   int    `json:"Height"`
	Checksum uint32 `json:"Checksum"`
}

// New returns a document holding one empty series.
func New(datastoreID, imageSetID string, patient, study map[string]any, seriesUID string, series map[string]any) *Document {
	return &Document{
		SchemaVersion: SchemaVersion, DatastoreID: datastoreID, ImageSetID: imageSetID,
		Patient: Level{DICOM: orEmpty(patient)},
		Study: Study{DICOM: orEmpty(study), Series: map[string]*Series{
			seriesUID: {DICOM: orEmpty(series), Instances: map[string]json.RawMessage{}},
		}},
	}
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// Series returns the document's series and its UID.
func (d *Document) Series() (string, *Series) {
	for uid, s := range d.Study.Series {
		return uid, s
	}
	return "", nil
}

// AddInstance puts an instance into the series, replacing one with the
// same SOP Instance UID.
func (d *Document) AddInstance(sopUID string, in *Instance) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	_, s := d.Series()
	s.Instances[sopUID] = b
	return nil
}

// Instance decodes one instance.
func (d *Document) Instance(sopUID string) (*Instance, error) {
	_, s := d.Series()
	raw, ok := s.Instances[sopUID]
	if !ok {
		return nil, ohi.NotFoundf("instance %s is not in image set %s", sopUID, d.ImageSetID)
	}
	return decodeInstance(raw)
}

func decodeInstance(raw json.RawMessage) (*Instance, error) {
	var in Instance
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("decode instance: %w", err)
	}
	if in.DICOM == nil {
		in.DICOM = map[string]any{}
	}
	return &in, nil
}

// SOPInstanceUIDs returns the instances' UIDs in order.
func (d *Document) SOPInstanceUIDs() []string {
	_, s := d.Series()
	uids := make([]string, 0, len(s.Instances))
	for u := range s.Instances {
		uids = append(uids, u)
	}
	sort.Strings(uids)
	return uids
}

// Frames returns every image frame ID of the document with its instance.
func (d *Document) Frames() (map[string]string, error) {
	_, s := d.Series()
	out := map[string]string{}
	for sop, raw := range s.Instances {
		in, err := decodeInstance(raw)
		if err != nil {
			return nil, err
		}
		for _, f := range in.ImageFrames {
			out[f.ID] = sop
		}
	}
	return out, nil
}

// Clone returns a deep copy of d for another image set.
func (d *Document) Clone(imageSetID string) (*Document, error) {
	var buf strings.Builder
	if err := json.NewEncoder(&buf).Encode(d); err != nil {
		return nil, err
	}
	c, err := decode(strings.NewReader(buf.String()))
	if err != nil {
		return nil, err
	}
	c.ImageSetID = imageSetID
	return c, nil
}

// Encode writes the document gzip-compressed, as GetImageSetMetadata serves it.
func (d *Document) Encode(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(zw).Encode(d); err != nil {
		return err
	}
	return zw.Close()
}

// Decode reads a gzip-compressed document.
func Decode(r io.Reader) (*Document, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("metadata document: %w", err)
	}
	return decode(zr)
}

func decode(r io.Reader) (*Document, error) {
	var d Document
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("metadata document: %w", err)
	}
	if len(d.Study.Series) != 1 {
		return nil, fmt.Errorf("metadata document has %d series, want 1", len(d.Study.Series))
	}
	d.Patient.DICOM = orEmpty(d.Patient.DICOM)
	d.Study.DICOM = orEmpty(d.Study.DICOM)
	for _, s := range d.Study.Series {
		s.DICOM = orEmpty(s.DICOM)
		if s.Instances == nil {
			s.Instances = map[string]json.RawMessage{}
		}
	}
	return &d, nil
}

// Text returns a metadata value as trimmed text: multi-valued elements
// joined with backslashes, numbers in plain notation, null as "".
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = Text(e)
		}
		return strings.Join(parts, `\`)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	return strings.TrimSpace(fmt.Sprint(v))
}

// GroupingKey holds the elements HealthImaging compares to decide whether
// instances belong to the same primary image set: PatientID, StudyDate,
// AccessionNumber, StudyInstanceUID and StudyID (study level), and
// SeriesInstanceUID and SeriesNumber (series level).
type GroupingKey [7]string

// KeyOf returns the grouping key of the given levels.
func KeyOf(patient, study, series map[string]any) GroupingKey {
	return GroupingKey{
		Text(patient["PatientID"]), Text(study["StudyDate"]), Text(study["AccessionNumber"]),
		Text(study["StudyInstanceUID"]), Text(study["StudyID"]),
		Text(series["SeriesInstanceUID"]), Text(series["SeriesNumber"]),
	}
}

// Key returns the document's grouping key.
func (d *Document) Key() GroupingKey {
	_, s := d.Series()
	return KeyOf(d.Patient.DICOM, d.Study.DICOM, s.DICOM)
}

// Tags derives the search attributes of an image set from its document.
func (d *Document) Tags() ohi.DICOMTags {
	uid, s := d.Series()
	p, st, se := d.Patient.DICOM, d.Study.DICOM, s.DICOM
	t := ohi.DICOMTags{
		PatientID: Text(p["PatientID"]), PatientName: Text(p["PatientName"]), PatientBirthDate: Text(p["PatientBirthDate"]),
		PatientSex: Text(p["PatientSex"]), StudyInstanceUID: Text(st["StudyInstanceUID"]), StudyID: Text(st["StudyID"]),
		StudyDescription: Text(st["StudyDescription"]), AccessionNumber: Text(st["AccessionNumber"]),
		StudyDate: Text(st["StudyDate"]), StudyTime: Text(st["StudyTime"]),
		SeriesInstanceUID: Text(se["SeriesInstanceUID"]), SeriesModality: Text(se["Modality"]),
		SeriesBodyPart: Text(se["BodyPartExamined"]), InstanceCount: len(s.Instances),
	}
	if t.SeriesInstanceUID == "" {
		t.SeriesInstanceUID = uid
	}
	if n, err := strconv.ParseInt(Text(se["SeriesNumber"]), 10, 32); err == nil {
		v := int32(n)
		t.SeriesNumber = &v
	}
	return t
}

// BlobKey returns the blob key of a new metadata document version. The
// random suffix keeps a retried or failed write from ever replacing a
// committed document.
func BlobKey(datastoreID, imageSetID string, version int64) string {
	return fmt.Sprintf("datastores/%s/imagesets/%s/v%d-%s.json.gz", datastoreID, imageSetID, version, ohi.NewID()[:8])
}

// DatastorePrefix is the blob key prefix of everything a data store holds.
func DatastorePrefix(datastoreID string) string { return "datastores/" + datastoreID + "/" }

// CopyInstance copies the raw instance sopUID of src into d's series.
func (d *Document) CopyInstance(src *Document, sopUID string) error {
	_, ss := src.Series()
	raw, ok := ss.Instances[sopUID]
	if !ok {
		return ohi.NotFoundf("instance %s is not in image set %s", sopUID, src.ImageSetID)
	}
	_, ds := d.Series()
	ds.Instances[sopUID] = append(json.RawMessage(nil), raw...)
	return nil
}
