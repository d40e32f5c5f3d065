package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/metadoc"
)

// An import job's importConfiguration may map studies, or series of a
// study, to DICOM JSON metadata files under the input prefix
// (dicomJsonMetadataImportConfiguration.dicomMetadataMappings). The
// attributes of a mapped file replace those of every instance of its study
// or series before the instances are grouped into image sets, so they take
// part in grouping and search like attributes read from the files. A series
// mapping is applied after its study's mapping and wins where both set an
// attribute. The metadata files themselves are not imported.
//
// Problems are reported in the job output, never by stopping the job: an
// instance whose mapping's file is missing or is not valid DICOM JSON fails
// (FAILURE/, a customer error; nothing is imported with half its
// metadata), and a mapping that matches no instance is listed in WARNING/.

// MaxMetadataFileBytes bounds one DICOM JSON metadata file, and
// MaxMetadataBytes all of a job's.
const (
	MaxMetadataFileBytes = 1 << 20
	MaxMetadataBytes     = 64 << 20
)

// metadataMapping is one dicomMetadataMappings entry of a job.
type metadataMapping struct {
	Index  int    // position in dicomMetadataMappings
	Study  string // StudyInstanceUID
	Series string // SeriesInstanceUID; "" for a study-level mapping
	Path   string // metadataFilePath, relative to inputS3Uri
	Key    string // the file's object key in the input bucket

	override *metadoc.Override
	problem  string // why the file cannot be used
}

// jobMappings are a job's mappings, indexed for matching.
type jobMappings struct {
	list   []*metadataMapping
	study  map[string]*metadataMapping
	series map[[2]string]*metadataMapping
}

// storedImportConfiguration is the part of the stored importConfiguration
// JSON the importer reads.
type storedImportConfiguration struct {
	DicomJSON *struct {
		Mappings []struct {
			Study  *string `json:"studyInstanceUID"`
			Series *string `json:"seriesInstanceUID"`
			Path   *string `json:"metadataFilePath"`
		} `json:"dicomMetadataMappings"`
	} `json:"dicomJsonMetadataImportConfiguration"`
}

// parseMappings returns the metadata mappings of job (nil when it has
// none), their files resolved to object keys under the input prefix.
func parseMappings(job *ohi.ImportJob) (*jobMappings, error) {
	if job.ImportConfiguration == "" {
		return nil, nil
	}
	var c storedImportConfiguration
	if err := json.Unmarshal([]byte(job.ImportConfiguration), &c); err != nil {
		return nil, fmt.Errorf("stored importConfiguration: %w", err)
	}
	if c.DicomJSON == nil || len(c.DicomJSON.Mappings) == 0 {
		return nil, nil
	}
	_, prefix, err := ohi.ParseS3URI(job.InputS3URI)
	if err != nil {
		return nil, err
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	jm := &jobMappings{study: map[string]*metadataMapping{}, series: map[[2]string]*metadataMapping{}}
	for i, m := range c.DicomJSON.Mappings {
		mm := &metadataMapping{Index: i, Study: deref(m.Study), Series: deref(m.Series), Path: deref(m.Path)}
		mm.Key = prefix + mm.Path
		jm.list = append(jm.list, mm)
		if mm.Series == "" {
			jm.study[mm.Study] = mm
		} else {
			jm.series[[2]string{mm.Study, mm.Series}] = mm
		}
	}
	return jm, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// withoutMetadataFiles removes the job's DICOM JSON metadata files from the
// listed input objects: they describe the DICOM files, they are not ones.
func withoutMetadataFiles(job *ohi.ImportJob, objects []ohi.ObjectInfo) ([]ohi.ObjectInfo, error) {
	jm, err := parseMappings(job)
	if err != nil || jm == nil {
		return objects, err
	}
	skip := map[string]bool{}
	for _, m := range jm.list {
		skip[m.Key] = true
	}
	kept := objects[:0:0]
	for _, o := range objects {
		if !skip[o.Key] {
			kept = append(kept, o)
		}
	}
	if len(kept) == 0 {
		return nil, jobFailf("no DICOM files found under %s besides the importConfiguration metadata files", job.InputS3URI)
	}
	return kept, nil
}

// loadMappings reads and parses the metadata files of job's mappings.
// A file that cannot be used is recorded as the mapping's problem; only an
// interruption (or a storage error worth retrying) is returned.
func (im *Importer) loadMappings(ctx context.Context, job *ohi.ImportJob) (*jobMappings, error) {
	jm, err := parseMappings(job)
	if err != nil || jm == nil {
		return jm, err
	}
	in, _, _, err := im.bucket(job.InputS3URI, "input")
	if err != nil {
		for _, m := range jm.list {
			m.problem = err.Error()
		}
		return jm, nil
	}
	parsed := map[string]*metadataMapping{} // by key: a file shared by mappings is read once
	var total int64
	for _, m := range jm.list {
		if prev := parsed[m.Key]; prev != nil {
			m.override, m.problem = prev.override, prev.problem
			continue
		}
		parsed[m.Key] = m
		if total > MaxMetadataBytes { // spent: the files left are not read
			m.problem = fmt.Sprintf("the job's metadata files total more than %d bytes", MaxMetadataBytes)
			continue
		}
		raw, err := readLimited(ctx, in, m.Key, MaxMetadataFileBytes)
		switch {
		case errors.Is(err, ohi.ErrNotFound), errors.Is(err, ohi.ErrInvalidKey):
			m.problem = "the metadata file does not exist"
			continue
		case errors.Is(err, errTooLarge):
			m.problem = fmt.Sprintf("the metadata file is larger than %d bytes", MaxMetadataFileBytes)
			continue
		case err != nil:
			return nil, fmt.Errorf("read metadata file %s: %w", m.Key, err)
		}
		if total += int64(len(raw)); total > MaxMetadataBytes {
			m.problem = fmt.Sprintf("the job's metadata files total more than %d bytes", MaxMetadataBytes)
			continue
		}
		if m.override, err = metadoc.ParseOverride(raw); err != nil {
			m.problem = "the metadata file is not usable DICOM JSON: " + err.Error()
		}
	}
	return jm, nil
}

var errTooLarge = errors.New("too large")

// readLimited reads an object of at most limit bytes.
func readLimited(ctx context.Context, in ohi.BlobStore, key string, limit int64) ([]byte, error) {
	obj, err := in.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	if obj.Size() > limit {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(obj, limit+1))
	if err == nil && int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, err
}

// apply applies the mappings that select p (its study's, then its
// series'), recording their indexes in p.mappings. It returns the failure
// of an instance whose mapping cannot be used.
func (jm *jobMappings) apply(p *parsedInstance) *failure {
	if jm == nil {
		return nil
	}
	study := metadoc.Text(p.Study["StudyInstanceUID"])
	var sel []*metadataMapping
	if m := jm.study[study]; m != nil {
		sel = append(sel, m)
	}
	if m := jm.series[[2]string{study, p.SeriesUID}]; m != nil {
		sel = append(sel, m)
	}
	for _, m := range sel {
		p.mappings = append(p.mappings, m.Index)
	}
	for _, m := range sel {
		if m.problem != "" {
			return &failure{ExceptionType: "ValidationException", Mappings: p.mappings,
				Message: fmt.Sprintf("importConfiguration dicomMetadataMappings[%d] (metadataFilePath %s): %s", m.Index, m.Path, m.problem)}
		}
	}
	for _, m := range sel {
		p.VRs = m.override.Apply(p.Patient, p.Study, p.Series, p.Instance, p.VRs)
	}
	return nil
}

// unusedMappingLines returns the WARNING/ lines of the mappings of job that
// matched no instance (used holds the indexes of those that did).
func unusedMappingLines(job *ohi.ImportJob, used map[int]bool) ([]any, error) {
	jm, err := parseMappings(job)
	if err != nil || jm == nil {
		return nil, err
	}
	var lines []any
	for _, m := range jm.list {
		if used[m.Index] {
			continue
		}
		what := "study " + m.Study
		if m.Series != "" {
			what = "series " + m.Series + " of study " + m.Study
		}
		mapping := map[string]string{"studyInstanceUID": m.Study, "metadataFilePath": m.Path}
		if m.Series != "" {
			mapping["seriesInstanceUID"] = m.Series
		}
		lines = append(lines, map[string]any{
			"inputFile":            m.Key,
			"dicomMetadataMapping": mapping,
			"warnings": []warningLine{{Type: "UnusedMetadataMapping",
				Message: fmt.Sprintf("importConfiguration dicomMetadataMappings[%d]: no imported file belongs to %s; its metadata file was not applied", m.Index, what)}},
		})
	}
	return lines, nil
}
