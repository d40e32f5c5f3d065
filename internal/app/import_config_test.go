package app_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"

	"github.com/openhealthimaging/ohi/synth"
)

// metadataMappings returns the importConfiguration of DICOM JSON metadata
// mappings.
func metadataMappings(ms ...types.DicomMetadataMapping) types.ImportConfiguration {
	return &types.ImportConfigurationMemberDicomJsonMetadataImportConfiguration{
		Value: types.DicomJsonMetadataImportConfiguration{DicomMetadataMappings: ms}}
}

func mapping(study, series, path string) types.DicomMetadataMapping {
	m := types.DicomMetadataMapping{StudyInstanceUID: aws.String(study), MetadataFilePath: aws.String(path)}
	if series != "" {
		m.SeriesInstanceUID = aws.String(series)
	}
	return m
}

// TestImportConfigurationMetadataMappings imports three studies with DICOM
// JSON metadata mappings, through the AWS SDK for Go: a study-level mapping
// and a series-level one that wins over it, a mapping to a missing file, one
// to a file that tries to change a UID, and one that matches nothing. It
// checks the metadata documents, search, GetDICOMImportJob's echo of the
// configuration, and the job output.
func TestImportConfigurationMetadataMappings(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	ds := ts.createDatastore("mappings")
	in := filepath.Join(ts.dataDir, "buckets", "ohi-input", "mapped")
	g := writeStudy(t, in, synth.Config{Studies: 3, Series: 2, Instances: 2, Rows: 32, Cols: 32, Seed: 21})
	s1, s2, s3 := g.StudyUID(synth.Ref{Study: 0}), g.StudyUID(synth.Ref{Study: 1}), g.StudyUID(synth.Ref{Study: 2})
	series12 := g.SeriesUID(synth.Ref{Study: 0, Series: 1})

	files := map[string]string{
		// DICOM JSON Model (PS3.18 F.2), keyed by tag.
		"meta/study1.json": `{
			"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Override^Patient"}]},
			"00081030": {"vr": "LO", "Value": ["Corrected study"]},
			"00080050": {"vr": "SH", "Value": ["ACCOVR1"]},
			"00080008": {"vr": "CS", "Value": ["DERIVED", "SECONDARY"]},
			"00200013": {"vr": "IS", "Value": [77]},
			"00091010": {"vr": "LO", "Value": ["private value"]},
			"00080090": {"vr": "PN"}
		}`,
		// A DICOMweb-style one-element array.
		"meta/series12.json": `[{
			"0008103E": {"vr": "LO", "Value": ["Series override"]},
			"00081030": {"vr": "LO", "Value": ["Series wins"]}
		}]`,
		"meta/frozen.json": `{"00080018": {"vr": "UI", "Value": ["1.2.3"]}}`,
	}
	for name, body := range files {
		p := filepath.Join(in, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := metadataMappings(
		mapping(s1, "", "meta/study1.json"),
		mapping(s1, series12, "meta/series12.json"),
		mapping(s2, "", "meta/missing.json"),
		mapping(s3, "", "meta/frozen.json"),
		mapping("1.2.840.99999", "", "meta/study1.json"),
	)

	// Mappings the service refuses up front.
	for name, bad := range map[string]types.ImportConfiguration{
		"duplicate": metadataMappings(mapping(s1, "", "meta/a.json"), mapping(s1, "", "meta/b.json")),
		"traversal": metadataMappings(mapping(s1, "", "../outside.json")),
		"inner ..":  metadataMappings(mapping(s1, "", "meta/../../outside.json")),
		"absolute":  metadataMappings(mapping(s1, "", "/etc/passwd")),
		"backslash": metadataMappings(mapping(s1, "", `meta\..\..\outside.json`)),
		"empty seg": metadataMappings(mapping(s1, "", "meta//study1.json")),
		"empty UID": metadataMappings(mapping("", "", "meta/a.json")),
	} {
		_, err := ts.client.StartDICOMImportJob(ctx, &mi.StartDICOMImportJobInput{DatastoreId: &ds, DataAccessRoleArn: aws.String(roleARN),
			InputS3Uri: aws.String("s3://ohi-input/mapped/"), OutputS3Uri: aws.String("s3://ohi-output/jobs/"), ImportConfiguration: bad})
		if apiCode(err) != "ValidationException" {
			t.Errorf("%s mapping: error %v, want ValidationException", name, err)
		}
	}

	start, err := ts.client.StartDICOMImportJob(ctx, &mi.StartDICOMImportJobInput{DatastoreId: &ds, DataAccessRoleArn: aws.String(roleARN),
		InputS3Uri: aws.String("s3://ohi-input/mapped/"), OutputS3Uri: aws.String("s3://ohi-output/jobs/"), ImportConfiguration: cfg})
	if err != nil {
		t.Fatal(err)
	}
	var props *types.DICOMImportJobProperties
	waitFor(t, "import job end", func() (bool, error) {
		out, err := ts.client.GetDICOMImportJob(ctx, &mi.GetDICOMImportJobInput{DatastoreId: &ds, JobId: start.JobId})
		if err != nil {
			return false, err
		}
		props = out.JobProperties
		return props.JobStatus == types.JobStatusCompleted || props.JobStatus == types.JobStatusFailed, nil
	})
	if props.JobStatus != types.JobStatusCompleted {
		t.Fatalf("job %s: %s", props.JobStatus, aws.ToString(props.Message))
	}
	// GetDICOMImportJob echoes the configuration as it was sent.
	echo, ok := props.ImportConfiguration.(*types.ImportConfigurationMemberDicomJsonMetadataImportConfiguration)
	if !ok {
		t.Fatalf("GetDICOMImportJob importConfiguration = %#v", props.ImportConfiguration)
	}
	sent := cfg.(*types.ImportConfigurationMemberDicomJsonMetadataImportConfiguration).Value.DicomMetadataMappings
	got := echo.Value.DicomMetadataMappings
	if len(got) != len(sent) {
		t.Fatalf("echoed %d mappings, sent %d", len(got), len(sent))
	}
	for i := range sent {
		if aws.ToString(got[i].StudyInstanceUID) != aws.ToString(sent[i].StudyInstanceUID) ||
			aws.ToString(got[i].SeriesInstanceUID) != aws.ToString(sent[i].SeriesInstanceUID) ||
			aws.ToString(got[i].MetadataFilePath) != aws.ToString(sent[i].MetadataFilePath) {
			t.Errorf("mapping %d echoed as %+v", i, got[i])
		}
	}

	// The output: the metadata files are not scanned; study 1 is imported,
	// studies 2 and 3 fail for their mappings, the last mapping is unused.
	out := aws.ToString(props.OutputS3Uri)
	var m manifest
	if err := json.Unmarshal(ts.bucketFile(out+"job-output-manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	js := m.JobSummary
	if js.NumberOfScannedFiles != 12 || js.NumberOfImportedFiles != 4 || js.NumberOfFilesWithCustomerError != 8 || js.NumberOfGeneratedImageSets != 2 {
		t.Errorf("job summary %+v", js)
	}
	type failureLine struct {
		InputFile string
		Exception struct{ ExceptionType, Message string }
	}
	var fails []failureLine
	for _, line := range strings.Split(strings.TrimSpace(string(ts.bucketFile(out+"FAILURE/failure.ndjson"))), "\n") {
		var f failureLine
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("failure line %q: %v", line, err)
		}
		fails = append(fails, f)
	}
	byStudy := map[string]int{}
	for _, f := range fails {
		switch {
		case strings.HasPrefix(f.InputFile, "mapped/"+s2+"/") && strings.Contains(f.Exception.Message, "dicomMetadataMappings[2]") &&
			strings.Contains(f.Exception.Message, "does not exist"):
			byStudy[s2]++
		case strings.HasPrefix(f.InputFile, "mapped/"+s3+"/") && strings.Contains(f.Exception.Message, "dicomMetadataMappings[3]") &&
			strings.Contains(f.Exception.Message, "SOPInstanceUID cannot be overridden"):
			byStudy[s3]++
		default:
			t.Errorf("unexpected failure line %+v", f)
		}
		if f.Exception.ExceptionType != "ValidationException" {
			t.Errorf("failure %s: %s", f.InputFile, f.Exception.ExceptionType)
		}
	}
	if byStudy[s2] != 4 || byStudy[s3] != 4 {
		t.Errorf("mapping failures by study %v, want 4 each", byStudy)
	}
	warnings := string(ts.bucketFile(out + "WARNING/warning.ndjson"))
	var unused int
	for _, line := range strings.Split(strings.TrimSpace(warnings), "\n") {
		var w struct {
			InputFile            string
			DicomMetadataMapping map[string]string
			Warnings             []struct{ Type, Message string }
		}
		if err := json.Unmarshal([]byte(line), &w); err != nil {
			t.Fatalf("warning line %q: %v", line, err)
		}
		if len(w.Warnings) == 1 && w.Warnings[0].Type == "UnusedMetadataMapping" {
			unused++
			if w.InputFile != "mapped/meta/study1.json" || w.DicomMetadataMapping["studyInstanceUID"] != "1.2.840.99999" ||
				!strings.Contains(w.Warnings[0].Message, "dicomMetadataMappings[4]") {
				t.Errorf("unused mapping warning %+v", w)
			}
		}
	}
	if unused != 1 {
		t.Errorf("%d unused mapping warnings, want 1:\n%s", unused, warnings)
	}

	// The overrides are in the metadata and in search.
	res, err := ts.client.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &ds, SearchCriteria: &types.SearchCriteria{
		Filters: []types.SearchFilter{{Operator: types.OperatorEqual, Values: []types.SearchByAttributeValue{
			&types.SearchByAttributeValueMemberDICOMAccessionNumber{Value: "ACCOVR1"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ImageSetsMetadataSummaries) != 2 {
		t.Fatalf("search by the overridden accession number: %d image sets, want 2", len(res.ImageSetsMetadataSummaries))
	}
	for _, s := range res.ImageSetsMetadataSummaries {
		d := ts.metadata(ds, *s.ImageSetId, "")
		series, sops := d.series()
		if got := d.Patient.DICOM["PatientName"]; got != "Override^Patient" {
			t.Errorf("%s PatientName = %v", series, got)
		}
		wantStudy, wantSeries := "Corrected study", "Synthetic series 1"
		if series == series12 {
			wantStudy, wantSeries = "Series wins", "Series override"
		}
		if got := d.Study.DICOM["StudyDescription"]; got != wantStudy {
			t.Errorf("series %s StudyDescription = %v, want %q", series, got, wantStudy)
		}
		if got := d.Study.Series[series].DICOM["SeriesDescription"]; got != wantSeries {
			t.Errorf("series %s SeriesDescription = %v, want %q", series, got, wantSeries)
		}
		if v, present := d.Study.DICOM["ReferringPhysicianName"]; !present || v != nil {
			t.Errorf("ReferringPhysicianName (no Value) = %v, %v; want present and null", v, present)
		}
		if len(sops) != 2 {
			t.Fatalf("series %s has %d instances", series, len(sops))
		}
		for _, sop := range sops {
			inst := d.Study.Series[series].Instances[sop]
			if got, _ := json.Marshal(inst.DICOM["ImageType"]); string(got) != `["DERIVED","SECONDARY"]` {
				t.Errorf("ImageType = %s", got)
			}
			if inst.DICOM["InstanceNumber"] != "77" || inst.DICOM["00091010"] != "private value" || inst.DICOMVRs["00091010"] != "LO" {
				t.Errorf("instance %s: InstanceNumber %v, 00091010 %v (VR %q)", sop, inst.DICOM["InstanceNumber"], inst.DICOM["00091010"], inst.DICOMVRs["00091010"])
			}
			if len(inst.ImageFrames) != 1 {
				t.Errorf("instance %s has %d frames", sop, len(inst.ImageFrames))
			}
		}
	}
}
