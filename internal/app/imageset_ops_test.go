package app_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/synth"
)

// doc is the part of a metadata document the tests read.
type doc struct {
	SchemaVersion, DatastoreID, ImageSetID string
	Patient                                struct{ DICOM map[string]any }
	Study                                  struct {
		DICOM  map[string]any
		Series map[string]struct {
			DICOM     map[string]any
			Instances map[string]struct {
				DICOM                   map[string]any
				DICOMVRs                map[string]string
				StoredTransferSyntaxUID string
				ImageFrames             []struct {
					ID                                        string
					FrameSizeInBytes                          int
					MinPixelValue, MaxPixelValue              *int64
					PixelDataChecksumFromBaseToFullResolution []struct {
						Width, Height int
						Checksum      uint32
					}
				}
			}
		}
	}
}

func (d *doc) series() (string, []string) {
	for uid, s := range d.Study.Series {
		var sops []string
		for sop := range s.Instances {
			sops = append(sops, sop)
		}
		return uid, sops
	}
	return "", nil
}

func (ts *testServer) metadata(ds, is, version string) *doc {
	ts.t.Helper()
	return imageSetMetadata(ts.t, ts.client, ds, is, version)
}

// imageSetMetadata returns the metadata document of an image set (version
// "": the latest), gunzipped if the transport did not.
func imageSetMetadata(t *testing.T, c *mi.Client, ds, is, version string) *doc {
	t.Helper()
	in := &mi.GetImageSetMetadataInput{DatastoreId: &ds, ImageSetId: &is}
	if version != "" {
		in.VersionId = &version
	}
	out, err := c.GetImageSetMetadata(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.ImageSetMetadataBlob.Close()
	raw, _ := io.ReadAll(out.ImageSetMetadataBlob)
	if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b { // not decompressed by the transport
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ = io.ReadAll(zr)
	}
	var d doc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("metadata is not JSON: %v", err)
	}
	return &d
}

// waitState waits until the image set reaches state/status and returns it.
func (ts *testServer) waitState(ds, is string, state types.ImageSetState, status types.ImageSetWorkflowStatus) *mi.GetImageSetOutput {
	ts.t.Helper()
	var got *mi.GetImageSetOutput
	waitFor(ts.t, "image set "+is+" "+string(state)+"/"+string(status), func() (bool, error) {
		g, err := ts.client.GetImageSet(context.Background(), &mi.GetImageSetInput{DatastoreId: &ds, ImageSetId: &is})
		if err != nil {
			return false, err
		}
		got = g
		return g.ImageSetState == state && g.ImageSetWorkflowStatus == status, nil
	})
	return got
}

func (ts *testServer) update(ds, is, latest, payload string, remove bool, force, study bool) (*mi.UpdateImageSetMetadataOutput, error) {
	u := types.DICOMUpdates{UpdatableAttributes: []byte(payload)}
	if remove {
		u = types.DICOMUpdates{RemovableAttributes: []byte(payload)}
	}
	return ts.client.UpdateImageSetMetadata(context.Background(), &mi.UpdateImageSetMetadataInput{
		DatastoreId: &ds, ImageSetId: &is, LatestVersionId: &latest, Force: aws.Bool(force), IncludeStudyImageSets: aws.Bool(study),
		UpdateImageSetMetadataUpdates: &types.MetadataUpdatesMemberDICOMUpdates{Value: u}})
}

// fixture imports one primary image set of 3 instances and one
// non-primary image set (another patient, same study and series).
func fixture(t *testing.T, ts *testServer) (ds, primary, nonPrimary string, g *synth.Generator) {
	t.Helper()
	ds = ts.createDatastore("ops")
	g = writeStudy(t, filepath.Join(ts.dataDir, "buckets", "input", "a"), synth.Config{Instances: 3, Rows: 32, Cols: 32, Seed: 11})
	writeStudy(t, filepath.Join(ts.dataDir, "buckets", "input", "b"), synth.Config{Instances: 1, Rows: 32, Cols: 32, Seed: 11, PatientID: "OTHER%04d"})
	for _, p := range []string{"a/", "b/"} {
		if j := ts.importDir(ds, "input", p); j.JobStatus != types.JobStatusCompleted {
			t.Fatalf("import %s: %s", p, j.JobStatus)
		}
	}
	res, err := ts.client.SearchImageSets(context.Background(), &mi.SearchImageSetsInput{DatastoreId: &ds})
	if err != nil || len(res.ImageSetsMetadataSummaries) != 2 {
		t.Fatalf("fixture search = %+v, %v", res, err)
	}
	for _, s := range res.ImageSetsMetadataSummaries {
		if *s.IsPrimary {
			primary = *s.ImageSetId
		} else {
			nonPrimary = *s.ImageSetId
		}
	}
	if primary == "" || nonPrimary == "" {
		t.Fatal("fixture needs a primary and a non-primary image set")
	}
	return ds, primary, nonPrimary, g
}

func TestUpdateImageSetMetadata(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	ds, primary, nonPrimary, _ := fixture(t, ts)

	out, err := ts.update(ds, primary, "1", `{"SchemaVersion":1.1,"Study":{"DICOM":{"StudyDescription":"CHEST CT REVIEWED"}}}`, false, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if *out.LatestVersionId != "2" || out.ImageSetState != types.ImageSetStateLocked || out.ImageSetWorkflowStatus != types.ImageSetWorkflowStatusUpdating {
		t.Fatalf("update response = %+v", out)
	}
	// Writes to a LOCKED image set conflict.
	_, err = ts.update(ds, primary, "2", `{"Study":{"DICOM":{"StudyDescription":"again"}}}`, false, false, false)
	wantCode(t, err, "ConflictException")
	g := ts.waitState(ds, primary, types.ImageSetStateActive, types.ImageSetWorkflowStatusUpdated)
	if *g.VersionId != "2" {
		t.Fatalf("version after update = %s", *g.VersionId)
	}
	if d := ts.metadata(ds, primary, ""); d.Study.DICOM["StudyDescription"] != "CHEST CT REVIEWED" {
		t.Fatalf("updated description = %v", d.Study.DICOM["StudyDescription"])
	}
	if d := ts.metadata(ds, primary, "1"); d.Study.DICOM["StudyDescription"] == "CHEST CT REVIEWED" {
		t.Fatal("version 1 changed by the update")
	}
	res, err := c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &ds, SearchCriteria: &types.SearchCriteria{Filters: []types.SearchFilter{
		{Operator: types.OperatorEqual, Values: []types.SearchByAttributeValue{&types.SearchByAttributeValueMemberIsPrimary{Value: true}}}}}})
	if err != nil || *res.ImageSetsMetadataSummaries[0].DICOMTags.DICOMStudyDescription != "CHEST CT REVIEWED" || *res.ImageSetsMetadataSummaries[0].Version != 2 {
		t.Fatalf("search after update = %+v, %v", res, err)
	}

	// Optimistic concurrency.
	_, err = ts.update(ds, primary, "1", `{"Study":{"DICOM":{"StudyDescription":"x"}}}`, false, false, false)
	wantCode(t, err, "ConflictException")

	// Rules that reject a change, each with a ValidationException.
	for name, tc := range map[string]struct {
		is, payload   string
		remove, force bool
		want          string
	}{
		"patient level on primary": {primary, `{"Patient":{"DICOM":{"PatientName":"A^B"}}}`, false, false, "includeStudyImageSets"},
		"series level on primary":  {primary, `{"Study":{"Series":{"SERIES":{"DICOM":{"SeriesDescription":"x"}}}}}`, false, false, "Series-level"},
		"wrong level":              {nonPrimary, `{"Study":{"DICOM":{"PatientName":"A^B"}}}`, false, false, "Patient-level"},
		"uid without force":        {nonPrimary, `{"Study":{"DICOM":{"StudyInstanceUID":"1.2.3"}}}`, false, false, "requires force"},
		"uid on primary":           {primary, `{"Study":{"DICOM":{"StudyInstanceUID":"1.2.3"}}}`, false, true, "even with force"},
		"service key":              {nonPrimary, `{"DatastoreID":"x"}`, false, false, "generated by the service"},
		"bad date":                 {nonPrimary, `{"Study":{"DICOM":{"StudyDate":"2024-01-01"}}}`, false, false, "VR DA"},
		"not a keyword":            {nonPrimary, `{"Study":{"DICOM":{"NoSuchKeyword":"x"}}}`, false, false, "not a DICOM keyword"},
		"multi-valued":             {nonPrimary, `{"Study":{"DICOM":{"StudyDescription":"a\\b"}}}`, false, false, "multi-valued"},
		"private without force":    {nonPrimary, `{"Study":{"Series":{"SERIES":{"Instances":{"SOP":{"DICOM":{"001910F9":"97"},"DICOMVRs":{"001910F9":"DS"}}}}}}}`, false, false, "private"},
		"remove missing attribute": {nonPrimary, `{"Study":{"DICOM":{"AdmittingDiagnosesDescription":""}}}`, true, false, "not present"},
		"not json":                 {nonPrimary, `not json`, false, false, "not a JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			cur, err := c.GetImageSet(ctx, &mi.GetImageSetInput{DatastoreId: &ds, ImageSetId: &tc.is})
			if err != nil {
				t.Fatal(err)
			}
			d := ts.metadata(ds, tc.is, "")
			series, sops := d.series()
			payload := strings.ReplaceAll(strings.ReplaceAll(tc.payload, "SERIES", series), `"SOP"`, `"`+sops[0]+`"`)
			_, err = ts.update(ds, tc.is, *cur.VersionId, payload, tc.remove, tc.force, false)
			wantCode(t, err, "ValidationException")
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("message %q lacks %q", err, tc.want)
			}
		})
	}
	big := `{"Study":{"DICOM":{"StudyDescription":"` + strings.Repeat("x", 11000) + `"}}}`
	_, err = ts.update(ds, nonPrimary, "1", big, false, false, false)
	wantCode(t, err, "ServiceQuotaExceededException")
	_, err = c.UpdateImageSetMetadata(ctx, &mi.UpdateImageSetMetadataInput{DatastoreId: &ds, ImageSetId: &nonPrimary, LatestVersionId: aws.String("1"),
		UpdateImageSetMetadataUpdates: &types.MetadataUpdatesMemberRevertToVersionId{Value: "1"}})
	wantCode(t, err, "ValidationException") // not an earlier version

	// Patient-level on a primary image set with includeStudyImageSets also
	// updates the other image sets of the study.
	if _, err := ts.update(ds, primary, "2", `{"Patient":{"DICOM":{"PatientName":"Fixed^Name"}}}`, false, false, true); err != nil {
		t.Fatal(err)
	}
	sib, err := c.GetImageSet(ctx, &mi.GetImageSetInput{DatastoreId: &ds, ImageSetId: &nonPrimary})
	if err != nil || sib.ImageSetWorkflowStatus != types.ImageSetWorkflowStatusUpdatingForStudyConsistency || *sib.VersionId != "2" {
		t.Fatalf("sibling during study update = %+v, %v", sib, err)
	}
	ts.waitState(ds, primary, types.ImageSetStateActive, types.ImageSetWorkflowStatusUpdated)
	ts.waitState(ds, nonPrimary, types.ImageSetStateActive, types.ImageSetWorkflowStatusUpdated)
	for _, id := range []string{primary, nonPrimary} {
		if d := ts.metadata(ds, id, ""); d.Patient.DICOM["PatientName"] != "Fixed^Name" {
			t.Fatalf("image set %s patient name = %v", id, d.Patient.DICOM["PatientName"])
		}
	}

	// Forced changes on the non-primary image set: a private element and a
	// new SOP Instance UID; overrides.forced is reported.
	d := ts.metadata(ds, nonPrimary, "")
	series, sops := d.series()
	payload := `{"SchemaVersion":1.1,"Study":{"Series":{"` + series + `":{"Instances":{"` + sops[0] + `":{"DICOM":{"001910F9":"97","SOPInstanceUID":"1.2.826.0.1.999"},"DICOMVRs":{"001910F9":"DS"}}}}}}}`
	if _, err := ts.update(ds, nonPrimary, "2", payload, false, true, false); err != nil {
		t.Fatal(err)
	}
	g = ts.waitState(ds, nonPrimary, types.ImageSetStateActive, types.ImageSetWorkflowStatusUpdated)
	if g.Overrides == nil || !*g.Overrides.Forced {
		t.Fatalf("forced update without overrides: %+v", g)
	}
	d = ts.metadata(ds, nonPrimary, "")
	in, ok := d.Study.Series[series].Instances["1.2.826.0.1.999"]
	if !ok || in.DICOM["001910F9"] != "97" || in.DICOMVRs["001910F9"] != "DS" || len(in.ImageFrames) != 1 {
		t.Fatalf("forced update result: %+v", d.Study.Series[series].Instances)
	}

	// Removal of an instance and of an attribute, then a revert.
	d = ts.metadata(ds, primary, "")
	series, sops = d.series()
	rm := `{"Study":{"DICOM":{"StudyDescription":null},"Series":{"` + series + `":{"Instances":{"` + sops[0] + `":{}}}}}}`
	if _, err := ts.update(ds, primary, "3", rm, true, false, false); err != nil {
		t.Fatal(err)
	}
	ts.waitState(ds, primary, types.ImageSetStateActive, types.ImageSetWorkflowStatusUpdated)
	d = ts.metadata(ds, primary, "4")
	if _, has := d.Study.DICOM["StudyDescription"]; has || len(d.Study.Series[series].Instances) != 2 {
		t.Fatalf("after removal: description %v, %d instances", d.Study.DICOM["StudyDescription"], len(d.Study.Series[series].Instances))
	}
	rev, err := c.UpdateImageSetMetadata(ctx, &mi.UpdateImageSetMetadataInput{DatastoreId: &ds, ImageSetId: &primary, LatestVersionId: aws.String("4"),
		UpdateImageSetMetadataUpdates: &types.MetadataUpdatesMemberRevertToVersionId{Value: "1"}})
	if err != nil || *rev.LatestVersionId != "5" {
		t.Fatalf("revert = %+v, %v", rev, err)
	}
	ts.waitState(ds, primary, types.ImageSetStateActive, types.ImageSetWorkflowStatusUpdated)
	v1, v5 := ts.metadata(ds, primary, "1"), ts.metadata(ds, primary, "5")
	b1, _ := json.Marshal(v1)
	b5, _ := json.Marshal(v5)
	if !bytes.Equal(b1, b5) {
		t.Fatalf("reverted version differs from version 1:\n%s\n%s", b1, b5)
	}
	vers, err := c.ListImageSetVersions(ctx, &mi.ListImageSetVersionsInput{DatastoreId: &ds, ImageSetId: &primary})
	if err != nil || len(vers.ImageSetPropertiesList) != 5 {
		t.Fatalf("versions = %+v, %v", vers, err)
	}
	for i, v := range vers.ImageSetPropertiesList {
		want := types.ImageSetWorkflowStatusUpdated
		if i == 4 {
			want = types.ImageSetWorkflowStatusCreated
		}
		if v.ImageSetWorkflowStatus != want || v.ImageSetState != types.ImageSetStateActive {
			t.Fatalf("version %s: %s/%s, want ACTIVE/%s", *v.VersionId, v.ImageSetState, v.ImageSetWorkflowStatus, want)
		}
	}
}

func TestCopyAndDeleteImageSet(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	ds, primary, nonPrimary, _ := fixture(t, ts)
	pd := ts.metadata(ds, primary, "")
	series, sops := pd.series()
	sel := `{"SchemaVersion":"1.1","Study":{"Series":{"` + series + `":{"Instances":{"` + sops[0] + `":{}}}}}}`

	// Copy one instance to a new image set.
	cp, err := c.CopyImageSet(ctx, &mi.CopyImageSetInput{DatastoreId: &ds, SourceImageSetId: &primary, CopyImageSetInformation: &types.CopyImageSetInformation{
		SourceImageSet: &types.CopySourceImageSetInformation{LatestVersionId: aws.String("1"), DICOMCopies: &types.MetadataCopies{CopiableAttributes: &sel}}}})
	if err != nil {
		t.Fatal(err)
	}
	sp, dp := cp.SourceImageSetProperties, cp.DestinationImageSetProperties
	if sp.ImageSetState != types.ImageSetStateLocked || sp.ImageSetWorkflowStatus != types.ImageSetWorkflowStatusCopyingWithReadOnlyAccess || *sp.LatestVersionId != "1" ||
		dp.ImageSetState != types.ImageSetStateLocked || dp.ImageSetWorkflowStatus != types.ImageSetWorkflowStatusCopying || *dp.LatestVersionId != "1" {
		t.Fatalf("copy response: source %+v destination %+v", sp, dp)
	}
	dest := *dp.ImageSetId
	g := ts.waitState(ds, dest, types.ImageSetStateActive, types.ImageSetWorkflowStatusCopied)
	if *g.IsPrimary {
		t.Fatal("a copy to a new image set is not primary unless promoted")
	}
	ts.waitState(ds, primary, types.ImageSetStateActive, types.ImageSetWorkflowStatusCreated)
	dd := ts.metadata(ds, dest, "")
	if _, dsops := dd.series(); len(dsops) != 1 || dsops[0] != sops[0] || dd.ImageSetID != dest {
		t.Fatalf("copied document: %+v", dd)
	}
	frameID := dd.Study.Series[series].Instances[sops[0]].ImageFrames[0].ID
	frame := func(is string) ([]byte, error) {
		out, err := c.GetImageFrame(ctx, &mi.GetImageFrameInput{DatastoreId: &ds, ImageSetId: &is, ImageFrameInformation: &types.ImageFrameInformation{ImageFrameId: &frameID}})
		if err != nil {
			return nil, err
		}
		defer out.ImageFrameBlob.Close()
		return io.ReadAll(out.ImageFrameBlob)
	}
	a, err1 := frame(primary)
	b, err2 := frame(dest)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) || len(a) == 0 {
		t.Fatalf("shared frame: %v %v, equal %v", err1, err2, bytes.Equal(a, b))
	}

	// Copying the same instance again into the copy: SOP UIDs are unique.
	_, err = c.CopyImageSet(ctx, &mi.CopyImageSetInput{DatastoreId: &ds, SourceImageSetId: &primary, CopyImageSetInformation: &types.CopyImageSetInformation{
		SourceImageSet:      &types.CopySourceImageSetInformation{LatestVersionId: aws.String("1"), DICOMCopies: &types.MetadataCopies{CopiableAttributes: &sel}},
		DestinationImageSet: &types.CopyDestinationImageSet{ImageSetId: &dest, LatestVersionId: aws.String("1")}}})
	wantCode(t, err, "ValidationException")
	// Promoting while the series has a primary image set conflicts.
	_, err = c.CopyImageSet(ctx, &mi.CopyImageSetInput{DatastoreId: &ds, SourceImageSetId: &nonPrimary, PromoteToPrimary: aws.Bool(true),
		CopyImageSetInformation: &types.CopyImageSetInformation{SourceImageSet: &types.CopySourceImageSetInformation{LatestVersionId: aws.String("1")}}})
	wantCode(t, err, "ConflictException")
	// Stale source version.
	_, err = c.CopyImageSet(ctx, &mi.CopyImageSetInput{DatastoreId: &ds, SourceImageSetId: &primary,
		CopyImageSetInformation: &types.CopyImageSetInformation{SourceImageSet: &types.CopySourceImageSetInformation{LatestVersionId: aws.String("7")}}})
	wantCode(t, err, "ConflictException")

	// Another patient's instances into the copy: without force the copy
	// fails asynchronously and records a failed version; with force it
	// succeeds and keeps the destination's metadata. (The other patient's
	// instance first gets its own SOP Instance UID: the fixture reuses one.)
	np := ts.metadata(ds, nonPrimary, "")
	npSeries, npSops := np.series()
	rename := `{"Study":{"Series":{"` + npSeries + `":{"Instances":{"` + npSops[0] + `":{"DICOM":{"SOPInstanceUID":"1.2.826.0.1.4242"}}}}}}}`
	if _, err := ts.update(ds, nonPrimary, "1", rename, false, true, false); err != nil {
		t.Fatal(err)
	}
	ts.waitState(ds, nonPrimary, types.ImageSetStateActive, types.ImageSetWorkflowStatusUpdated)
	copyInto := func(force bool, latest string) {
		t.Helper()
		_, err := c.CopyImageSet(ctx, &mi.CopyImageSetInput{DatastoreId: &ds, SourceImageSetId: &nonPrimary, Force: aws.Bool(force),
			CopyImageSetInformation: &types.CopyImageSetInformation{SourceImageSet: &types.CopySourceImageSetInformation{LatestVersionId: aws.String("2")},
				DestinationImageSet: &types.CopyDestinationImageSet{ImageSetId: &dest, LatestVersionId: &latest}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	copyInto(false, "1")
	g = ts.waitState(ds, dest, types.ImageSetStateActive, types.ImageSetWorkflowStatusCopyFailed)
	if *g.VersionId != "2" || !strings.Contains(aws.ToString(g.Message), "don't match") {
		t.Fatalf("failed copy: %+v", g)
	}
	if _, s := ts.metadata(ds, dest, "").series(); len(s) != 1 {
		t.Fatalf("a failed copy changed the destination: %d instances", len(s))
	}
	ts.waitState(ds, nonPrimary, types.ImageSetStateActive, types.ImageSetWorkflowStatusUpdated)
	copyInto(true, "2")
	ts.waitState(ds, dest, types.ImageSetStateActive, types.ImageSetWorkflowStatusCopied)
	dd = ts.metadata(ds, dest, "")
	if _, s := dd.series(); len(s) != 2 || dd.Patient.DICOM["PatientID"] != pd.Patient.DICOM["PatientID"] {
		t.Fatalf("forced copy: %d instances, patient %v", len(s), dd.Patient.DICOM["PatientID"])
	}
	if _, ok := dd.Study.Series[series].Instances["1.2.826.0.1.4242"]; !ok {
		t.Fatal("forced copy lacks the copied instance")
	}

	// Delete the copy: its own frames go, the shared one stays.
	del, err := c.DeleteImageSet(ctx, &mi.DeleteImageSetInput{DatastoreId: &ds, ImageSetId: &dest})
	if err != nil || del.ImageSetState != types.ImageSetStateLocked || del.ImageSetWorkflowStatus != types.ImageSetWorkflowStatusDeleting {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	_, err = c.DeleteImageSet(ctx, &mi.DeleteImageSetInput{DatastoreId: &ds, ImageSetId: &dest})
	wantCode(t, err, "ConflictException")
	g = ts.waitState(ds, dest, types.ImageSetStateDeleted, types.ImageSetWorkflowStatusDeleted)
	if g.DeletedAt == nil {
		t.Fatal("no deletedAt")
	}
	if _, err := frame(dest); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("frame of deleted image set: %v", err)
	}
	if b, err := frame(primary); err != nil || !bytes.Equal(a, b) {
		t.Fatalf("shared frame lost with the copy: %v", err)
	}
	_, err = c.GetImageSetMetadata(ctx, &mi.GetImageSetMetadataInput{DatastoreId: &ds, ImageSetId: &dest})
	wantCode(t, err, "ResourceNotFoundException")

	// Delete everything, then the data store; its storage is reclaimed.
	stored := 0
	if err := ts.app.Blobs.List(ctx, "datastores/"+ds+"/", func(ohi.ObjectInfo) error { stored++; return nil }); err != nil || stored == 0 {
		t.Fatalf("no blobs under the data store before deletion (%d, %v)", stored, err)
	}
	for _, id := range []string{primary, nonPrimary} {
		if _, err := c.DeleteImageSet(ctx, &mi.DeleteImageSetInput{DatastoreId: &ds, ImageSetId: &id}); err != nil {
			t.Fatal(err)
		}
		ts.waitState(ds, id, types.ImageSetStateDeleted, types.ImageSetWorkflowStatusDeleted)
	}
	res, err := c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &ds})
	if err != nil || len(res.ImageSetsMetadataSummaries) != 0 {
		t.Fatalf("search after deletes = %+v, %v", res, err)
	}
	if _, err := c.DeleteDatastore(ctx, &mi.DeleteDatastoreInput{DatastoreId: &ds}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "data store DELETED", func() (bool, error) {
		g, err := c.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: &ds})
		return err == nil && g.DatastoreProperties.DatastoreStatus == types.DatastoreStatusDeleted, err
	})
	waitFor(t, "storage reclaimed", func() (bool, error) {
		n := 0
		err := ts.app.Blobs.List(ctx, "datastores/"+ds+"/", func(ohi.ObjectInfo) error { n++; return nil })
		return n == 0, err
	})
}

func TestOperationsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	ctx := context.Background()
	ds, primary, nonPrimary, _ := fixture(t, ts)
	ts.stop()
	// On this server, operations would settle only after an hour.
	ts = startServerDelay(t, dir, time.Hour)
	cp, err := ts.client.CopyImageSet(ctx, &mi.CopyImageSetInput{DatastoreId: &ds, SourceImageSetId: &primary,
		CopyImageSetInformation: &types.CopyImageSetInformation{SourceImageSet: &types.CopySourceImageSetInformation{LatestVersionId: aws.String("1")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.client.DeleteImageSet(ctx, &mi.DeleteImageSetInput{DatastoreId: &ds, ImageSetId: &nonPrimary}); err != nil {
		t.Fatal(err)
	}
	dest := *cp.DestinationImageSetProperties.ImageSetId
	ts.waitState(ds, dest, types.ImageSetStateLocked, types.ImageSetWorkflowStatusCopying)
	ts.stop()
	// A restart finishes the interrupted operations at once.
	ts = startServerDelay(t, dir, time.Hour)
	ts.waitState(ds, dest, types.ImageSetStateActive, types.ImageSetWorkflowStatusCopied)
	ts.waitState(ds, primary, types.ImageSetStateActive, types.ImageSetWorkflowStatusCreated)
	ts.waitState(ds, nonPrimary, types.ImageSetStateDeleted, types.ImageSetWorkflowStatusDeleted)
}
