package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi"
)

func TestDICOMIndex(t *testing.T) { backends(t, testDICOMIndex) }

// testDICOMIndex commits image sets with index entries and checks the
// QIDO-RS matching (exact, lists, wildcards, ranges, fuzzy names), the
// orderings, the WADO-RS lookup (primary by default, any image set by id,
// headers inherited by a copy), deletion and the backfill of image sets
// committed without an entry.
func testDICOMIndex(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now()
	ds := &ohi.Datastore{ID: ohi.NewID(), Name: "dw", Status: ohi.DatastoreActive, LosslessStorageFormat: "HTJ2K", CreatedAt: now, UpdatedAt: now}
	if _, _, err := s.DatastoreCreate(ctx, ds, "dw-"+ds.ID, "h", 10); err != nil {
		t.Fatal(err)
	}
	num := func(n int64) *int64 { return &n }
	mk := func(id, study, series, patient, name, date, modality string, sn int64, primary bool, at time.Time, sops ...string) *ohi.ImageSetCommit {
		x := &ohi.DICOMIndex{Series: ohi.DICOMSeriesEntry{StudyInstanceUID: study, SeriesInstanceUID: series, PatientID: patient,
			PatientName: name, StudyDate: date, StudyTime: "101500.25", Modality: modality, SeriesNumber: num(sn), Levels: []byte(`{"Patient":{}}`)}}
		var frames []*ohi.Frame
		for i, sop := range sops {
			h := ohi.NewID() + ".hdr"
			x.Instances = append(x.Instances, ohi.DICOMInstanceEntry{SOPInstanceUID: sop, SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
				InstanceNumber: num(int64(len(sops) - i)), Rows: 4, Columns: 4, BitsAllocated: 16, NumberOfFrames: 1, HeaderID: h})
			frames = append(frames, &ohi.Frame{ID: h, BlobKey: "hdr/" + h, TransferSyntaxUID: ohi.HeaderTransferSyntax, Size: 10})
		}
		return &ohi.ImageSetCommit{ImageSet: ohi.ImageSet{ID: id, DatastoreID: ds.ID, Version: 1, State: ohi.ImageSetActive,
			WorkflowStatus: ohi.WorkflowCreated, IsPrimary: primary, CreatedAt: at, UpdatedAt: at,
			Tags: ohi.DICOMTags{SeriesInstanceUID: series, StudyInstanceUID: study}}, MetadataKey: "k/" + id, Frames: frames, Index: x}
	}
	a, b, c, np := ohi.NewID(), ohi.NewID(), ohi.NewID(), ohi.NewID()
	for _, cm := range []*ohi.ImageSetCommit{
		mk(a, "1.1", "1.1.1", "P1", "Doe^John", "20240105", "CT", 2, true, now.Add(-time.Hour), "1.1.1.1", "1.1.1.2"),
		mk(b, "1.1", "1.1.2", "P1", "Doe^John", "20240105", "MR", 1, true, now.Add(-time.Hour), "1.1.2.1"),
		mk(c, "2.1", "2.1.1", "P2", "Roe^Jane", "20230301", "CT", 1, true, now, "2.1.1.1"),
		mk(np, "2.1", "2.1.1", "P3", "Other^One", "20230301", "CT", 1, false, now, "2.1.1.1"),
	} {
		if err := s.ImageSetCommit(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	studies := func(conds ...ohi.DICOMCond) []string {
		t.Helper()
		rows, err := s.DICOMSearchStudies(ctx, &ohi.DICOMQuery{DatastoreID: ds.ID, Conds: conds, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%s:%d", r.StudyInstanceUID, len(r.Series)))
		}
		return out
	}
	for _, tc := range []struct {
		conds []ohi.DICOMCond
		want  string
	}{
		{nil, "[2.1:1 1.1:2]"}, // newest update first; the non-primary image set is not seen
		{[]ohi.DICOMCond{{Column: "patient_id", Values: []string{"P1"}}}, "[1.1:2]"},
		{[]ohi.DICOMCond{{Column: "patient_id", Values: []string{"P1", "P2"}}}, "[2.1:1 1.1:2]"},
		{[]ohi.DICOMCond{{Column: "patient_id", Values: []string{"P3"}}}, "[]"},
		{[]ohi.DICOMCond{{Column: "patient_name", Values: []string{"Doe*"}, Wildcard: true}}, "[1.1:2]"},
		{[]ohi.DICOMCond{{Column: "patient_name", Values: []string{"doe*"}, Wildcard: true}}, "[]"}, // case-sensitive
		{[]ohi.DICOMCond{{Column: "patient_name", Values: []string{"R?e^Jane"}, Wildcard: true}}, "[2.1:1]"},
		{[]ohi.DICOMCond{{Column: "study_date", Range: true, Lo: "20240101", Hi: "20241231"}}, "[1.1:2]"},
		{[]ohi.DICOMCond{{Column: "study_date", Range: true, Hi: "20231231"}}, "[2.1:1]"},
		{[]ohi.DICOMCond{{Column: "study_time", Range: true, Lo: "1015", Hi: "101500.9999999"}}, "[2.1:1 1.1:2]"},
		{[]ohi.DICOMCond{{Column: "modalities_in_study", Values: []string{"MR"}}}, "[1.1:2]"},
	} {
		if got := fmt.Sprint(studies(tc.conds...)); got != tc.want {
			t.Errorf("studies %+v = %s, want %s", tc.conds, got, tc.want)
		}
	}
	fuzzy, err := s.DICOMSearchStudies(ctx, &ohi.DICOMQuery{DatastoreID: ds.ID, Fuzzy: true, Limit: 10,
		Conds: []ohi.DICOMCond{{Column: "patient_name", Values: []string{"jan"}, Person: true}}})
	if err != nil || len(fuzzy) != 1 || fuzzy[0].StudyInstanceUID != "2.1" {
		t.Fatalf("fuzzy name = %+v, %v", fuzzy, err)
	}
	series, err := s.DICOMSearchSeries(ctx, &ohi.DICOMQuery{DatastoreID: ds.ID, Limit: 10, Conds: []ohi.DICOMCond{{Column: "study_uid", Values: []string{"1.1"}}}})
	if err != nil || len(series) != 2 || series[0].Entry.SeriesInstanceUID != "1.1.2" || series[1].Instances != 2 {
		t.Fatalf("series by Series Number = %+v, %v", series, err)
	}
	insts, err := s.DICOMSearchInstances(ctx, &ohi.DICOMQuery{DatastoreID: ds.ID, Limit: 10, Offset: 1})
	if err != nil || len(insts) != 3 || *insts[0].Instance.InstanceNumber != 1 || *insts[2].Instance.InstanceNumber != 2 {
		t.Fatalf("instances by Instance Number, offset 1 = %d, %v", len(insts), err)
	}

	// WADO-RS lookups.
	loc, err := s.DICOMInstanceFind(ctx, ohi.DICOMInstanceRef{DatastoreID: ds.ID, StudyInstanceUID: "2.1", SeriesInstanceUID: "2.1.1", SOPInstanceUID: "2.1.1.1"})
	if err != nil || loc.ImageSetID != c || loc.Header == nil || loc.Header.TransferSyntaxUID != ohi.HeaderTransferSyntax {
		t.Fatalf("primary lookup = %+v, %v", loc, err)
	}
	loc, err = s.DICOMInstanceFind(ctx, ohi.DICOMInstanceRef{DatastoreID: ds.ID, StudyInstanceUID: "2.1", SeriesInstanceUID: "2.1.1", SOPInstanceUID: "2.1.1.1", ImageSetID: np})
	if err != nil || loc.ImageSetID != np {
		t.Fatalf("lookup by image set = %+v, %v", loc, err)
	}
	if _, err := s.DICOMInstanceFind(ctx, ohi.DICOMInstanceRef{DatastoreID: ds.ID, StudyInstanceUID: "2.1", SeriesInstanceUID: "2.1.1", SOPInstanceUID: "9.9"}); err == nil {
		t.Fatal("unknown instance found")
	}

	// A copy inherits the source's headers and shares them.
	cp := mk(ohi.NewID(), "1.1", "1.1.1", "P1", "Doe^John", "20240105", "CT", 2, false, now, "1.1.1.1")
	cp.Frames, cp.Index.Instances[0].HeaderID, cp.Index.InheritFrom = nil, "", a
	if err := s.ImageSetCommit(ctx, cp); err != nil {
		t.Fatal(err)
	}
	src, _ := s.DICOMInstanceFind(ctx, ohi.DICOMInstanceRef{DatastoreID: ds.ID, StudyInstanceUID: "1.1", SeriesInstanceUID: "1.1.1", SOPInstanceUID: "1.1.1.1"})
	dst, err := s.DICOMInstanceFind(ctx, ohi.DICOMInstanceRef{DatastoreID: ds.ID, StudyInstanceUID: "1.1", SeriesInstanceUID: "1.1.1", SOPInstanceUID: "1.1.1.1", ImageSetID: cp.ImageSet.ID})
	if err != nil || dst.Header == nil || dst.Header.ID != src.Header.ID {
		t.Fatalf("copy's header = %+v (source %+v), %v", dst, src, err)
	}
	only, err := s.FramesOnlyIn(ctx, a)
	if err != nil || len(only) != 1 { // the shared header is not reclaimed with the source
		t.Fatalf("frames only in the source = %d, %v", len(only), err)
	}

	// Deleting removes the entry.
	if err := s.ImageSetChange(ctx, &ohi.ImageSetChange{Pending: []*ohi.PendingSettle{{DatastoreID: ds.ID, ImageSetID: c, Kind: "delete",
		State: ohi.ImageSetDeleted, Status: ohi.WorkflowDeleted, Due: now}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ImageSetSettle(ctx, &ohi.PendingSettle{DatastoreID: ds.ID, ImageSetID: c, Kind: "delete", State: ohi.ImageSetDeleted, Status: ohi.WorkflowDeleted}, now); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(studies()); got != "[1.1:2]" {
		t.Fatalf("after delete: %s", got)
	}

	// Backfill of an image set committed without an entry.
	old := mk(ohi.NewID(), "3.1", "3.1.1", "P4", "Old^One", "20200101", "CT", 1, true, now, "3.1.1.1")
	idx := old.Index
	old.Index = nil
	if err := s.ImageSetCommit(ctx, old); err != nil {
		t.Fatal(err)
	}
	missing, err := s.DICOMUnindexed(ctx, 10)
	if err != nil || len(missing) != 1 || missing[0].ImageSetID != old.ImageSet.ID || missing[0].MetadataKey != old.MetadataKey {
		t.Fatalf("unindexed = %+v, %v", missing, err)
	}
	if ok, err := s.DICOMIndexPut(ctx, old.ImageSet.ID, 2, idx); ok || err != nil {
		t.Fatalf("index put at a stale version = %v, %v", ok, err)
	}
	if ok, err := s.DICOMIndexPut(ctx, old.ImageSet.ID, 1, idx); !ok || err != nil {
		t.Fatalf("index put = %v, %v", ok, err)
	}
	if missing, _ := s.DICOMUnindexed(ctx, 10); len(missing) != 0 {
		t.Fatalf("still unindexed: %+v", missing)
	}
	if got := fmt.Sprint(studies(ohi.DICOMCond{Column: "patient_id", Values: []string{"P4"}})); got != "[3.1:1]" {
		t.Fatalf("backfilled study: %s", got)
	}
}
