package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/dicom"
)

// jobSummary is the jobSummary object of job-output-manifest.json.
type jobSummary struct {
	JobID                          string            `json:"jobId"`
	DatastoreID                    string            `json:"datastoreId"`
	InputS3URI                     string            `json:"inputS3Uri"`
	OutputS3URI                    string            `json:"outputS3Uri"`
	SuccessOutputS3URI             string            `json:"successOutputS3Uri"`
	FailureOutputS3URI             string            `json:"failureOutputS3Uri"`
	WarningsOutputS3URI            string            `json:"warningsOutputS3Uri"`
	NumberOfScannedFiles           int               `json:"numberOfScannedFiles"`
	NumberOfImportedFiles          int               `json:"numberOfImportedFiles"`
	NumberOfFilesWithCustomerError int               `json:"numberOfFilesWithCustomerError"`
	NumberOfFilesWithServerError   int               `json:"numberOfFilesWithServerError"`
	NumberOfGeneratedImageSets     int               `json:"numberOfGeneratedImageSets"`
	ImageSetsSummary               []imageSetSummary `json:"imageSetsSummary"`
}

type imageSetSummary struct {
	ImageSetID                  string `json:"imageSetId"`
	ImageSetVersion             int64  `json:"imageSetVersion"`
	IsPrimary                   bool   `json:"isPrimary"`
	NumberOfMatchedSOPInstances int    `json:"numberOfMatchedSOPInstances"`
}

type importResponse struct {
	ImageSetID      string        `json:"imageSetId"`
	ImageSetVersion *int64        `json:"imageSetVersion,omitempty"`
	IsPrimary       bool          `json:"isPrimary"`
	Warnings        []warningLine `json:"warnings,omitempty"`
}

type warningLine struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// writeOutputs writes job-output-manifest.json, SUCCESS/success.ndjson,
// FAILURE/failure.ndjson and WARNING/warning.ndjson under the job's output
// prefix, and returns the summary. Every scanned file is in exactly one of
// the success and failure files.
func (im *Importer) writeOutputs(ctx context.Context, job *ohi.ImportJob, out ohi.BlobStore, prefix string, items []*ohi.ImportItem) (*jobSummary, error) {
	base := job.OutputPrefixURI()
	sum := &jobSummary{
		JobID: job.ID, DatastoreID: job.DatastoreID, InputS3URI: job.InputS3URI, OutputS3URI: base,
		SuccessOutputS3URI: base + "SUCCESS/", FailureOutputS3URI: base + "FAILURE/", WarningsOutputS3URI: base + "WARNING/",
		ImageSetsSummary: []imageSetSummary{},
	}
	var success, failures, warnings bytes.Buffer
	sets := map[string]*imageSetSummary{}
	usedMappings := map[int]bool{}
	for _, it := range items {
		sum.NumberOfScannedFiles++
		switch it.State {
		case "committed":
			var c committed
			if err := json.Unmarshal(it.Result, &c); err != nil {
				return nil, err
			}
			sum.NumberOfImportedFiles++
			for _, m := range c.Mappings {
				usedMappings[m] = true
			}
			writeLine(&success, map[string]any{"inputFile": it.Key, "importResponse": importResponse{ImageSetID: c.ImageSetID, IsPrimary: c.IsPrimary}})
			if len(c.Warnings) > 0 {
				v := c.ImageSetVersion
				writeLine(&warnings, map[string]any{"inputFile": it.Key, "importResponse": importResponse{ImageSetID: c.ImageSetID, ImageSetVersion: &v, IsPrimary: c.IsPrimary, Warnings: warningLines(c.Warnings)}})
			}
			s := sets[c.ImageSetID]
			if s == nil {
				s = &imageSetSummary{ImageSetID: c.ImageSetID, ImageSetVersion: c.ImageSetVersion, IsPrimary: c.IsPrimary}
				sets[c.ImageSetID] = s
			}
			if c.ImageSetVersion > s.ImageSetVersion {
				s.ImageSetVersion = c.ImageSetVersion
			}
			s.NumberOfMatchedSOPInstances++
		case "failed":
			var f failure
			if err := json.Unmarshal(it.Result, &f); err != nil {
				return nil, err
			}
			if f.ExceptionType == "InternalServerException" {
				sum.NumberOfFilesWithServerError++
			} else {
				sum.NumberOfFilesWithCustomerError++
			}
			for _, m := range f.Mappings {
				usedMappings[m] = true
			}
			writeLine(&failures, map[string]any{"inputFile": it.Key, "exception": failure{ExceptionType: f.ExceptionType, Message: f.Message}})
		}
	}
	unused, err := unusedMappingLines(job, usedMappings)
	if err != nil {
		return nil, err
	}
	for _, l := range unused {
		writeLine(&warnings, l)
	}
	for _, s := range sets {
		sum.ImageSetsSummary = append(sum.ImageSetsSummary, *s)
	}
	sort.Slice(sum.ImageSetsSummary, func(i, j int) bool { return sum.ImageSetsSummary[i].ImageSetID < sum.ImageSetsSummary[j].ImageSetID })
	sum.NumberOfGeneratedImageSets = len(sets)
	manifest, err := json.MarshalIndent(map[string]any{"jobSummary": sum}, "", "  ")
	if err != nil {
		return nil, err
	}
	files := []struct {
		key  string
		body []byte
	}{
		{"SUCCESS/success.ndjson", success.Bytes()},
		{"FAILURE/failure.ndjson", failures.Bytes()},
		{"WARNING/warning.ndjson", warnings.Bytes()},
		{"job-output-manifest.json", append(manifest, '\n')},
	}
	for _, f := range files {
		if err := out.Put(ctx, prefix+f.key, bytes.NewReader(f.body), int64(len(f.body))); err != nil {
			return nil, err
		}
	}
	return sum, nil
}

func writeLine(buf *bytes.Buffer, v any) {
	buf.Write(mustJSON(v))
	buf.WriteByte('\n')
}

func warningLines(ws []dicom.Warning) []warningLine {
	out := make([]warningLine, len(ws))
	for i, w := range ws {
		out[i] = warningLine{Type: w.Code, Message: w.Message}
	}
	return out
}
