package metadoc

import (
	"encoding/json"
	"strconv"

	"github.com/openhealthimaging/ohi"
)

// Index returns the DICOMweb index entry of the document: its searchable
// series attributes and one entry per instance (headers are inherited; the
// importer sets those of the instances it adds).
func (d *Document) Index() (*ohi.DICOMIndex, error) {
	uid, s := d.Series()
	p, st, se := d.Patient.DICOM, d.Study.DICOM, s.DICOM
	levels, err := json.Marshal(map[string]any{"Patient": p, "Study": st, "Series": se})
	if err != nil {
		return nil, err
	}
	x := &ohi.DICOMIndex{Series: ohi.DICOMSeriesEntry{
		StudyInstanceUID: Text(st["StudyInstanceUID"]), SeriesInstanceUID: Text(se["SeriesInstanceUID"]),
		PatientID: Text(p["PatientID"]), PatientName: Text(p["PatientName"]), PatientBirthDate: Text(p["PatientBirthDate"]),
		PatientBirthTime: Text(p["PatientBirthTime"]), PatientSex: Text(p["PatientSex"]),
		StudyDate: Text(st["StudyDate"]), StudyTime: Text(st["StudyTime"]), AccessionNumber: Text(st["AccessionNumber"]),
		ReferringPhysicianName: Text(st["ReferringPhysicianName"]), StudyDescription: Text(st["StudyDescription"]), StudyID: Text(st["StudyID"]),
		Modality: Text(se["Modality"]), SeriesDescription: Text(se["SeriesDescription"]),
		SeriesNumber: intOf(se["SeriesNumber"]), Levels: levels,
	}}
	if x.Series.SeriesInstanceUID == "" {
		x.Series.SeriesInstanceUID = uid
	}
	for _, sop := range d.SOPInstanceUIDs() {
		var in struct {
			DICOM struct {
				SOPClassUID, InstanceNumber, Rows, Columns, BitsAllocated        any
				PerformedProcedureStepStartDate, PerformedProcedureStepStartTime any
			}
			ImageFrames []struct{}
		}
		if err := json.Unmarshal(s.Instances[sop], &in); err != nil {
			return nil, err
		}
		e := ohi.DICOMInstanceEntry{SOPInstanceUID: sop, SOPClassUID: Text(in.DICOM.SOPClassUID), InstanceNumber: intOf(in.DICOM.InstanceNumber),
			NumberOfFrames: len(in.ImageFrames)}
		for dst, v := range map[*int]any{&e.Rows: in.DICOM.Rows, &e.Columns: in.DICOM.Columns, &e.BitsAllocated: in.DICOM.BitsAllocated} {
			if n := intOf(v); n != nil {
				*dst = int(*n)
			}
		}
		if x.Series.PPSStartDate == "" {
			x.Series.PPSStartDate = Text(in.DICOM.PerformedProcedureStepStartDate)
			x.Series.PPSStartTime = Text(in.DICOM.PerformedProcedureStepStartTime)
		}
		x.Instances = append(x.Instances, e)
	}
	return x, nil
}

// intOf returns an integer metadata value (IS text or a number), or nil.
func intOf(v any) *int64 {
	t := Text(v)
	if i := len(t); i > 0 {
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return &n
		}
		if f, err := strconv.ParseFloat(t, 64); err == nil && f == float64(int64(f)) {
			n := int64(f)
			return &n
		}
	}
	return nil
}
