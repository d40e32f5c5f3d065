package main

import (
	"bufio"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/internal/testdb"
	"github.com/openhealthimaging/ohi/sqlstore"
)

func TestSeedBulkSQLite(t *testing.T) {
	dir := t.TempDir()
	testSeedBulk(t, filepath.Join(dir, "ohi.db"), func() string { return filepath.Join(t.TempDir(), "fresh.db") })
}

func TestSeedBulkPostgres(t *testing.T) {
	url := testdb.Postgres(t)
	testSeedBulk(t, url, func() string { return testdb.Postgres(t) })
}

// testSeedBulk seeds 3,000 image sets in batches of 700 into database, then
// reads them back through sqlstore: counts, searches, versions, and the same
// indexes as a freshly migrated database (fresh returns one).
func testSeedBulk(t *testing.T, database string, fresh func() string) {
	dir := t.TempDir()
	samplesPath, resultPath := filepath.Join(dir, "samples.json"), filepath.Join(dir, "result.env")
	if err := runSeedBulk([]string{"-database", database, "-image-sets", "3000", "-patients", "600", "-batch", "700",
		"-samples", samplesPath, "-result", resultPath, "-prefix", "T"}); err != nil {
		t.Fatal(err)
	}
	res := readEnv(t, resultPath)
	if res["T_IMAGE_SETS"] != "3000" || res["T_PATIENTS"] != "600" || res["T_DATASTORE"] == "" {
		t.Fatalf("results %v", res)
	}
	samples, err := readSamples(samplesPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples.PatientIDs) != 1000 && len(samples.PatientIDs) != atoi(t, res["T_STUDIES"]) {
		t.Fatalf("%d sample patients for %s studies", len(samples.PatientIDs), res["T_STUDIES"])
	}
	if y := samples.StudyMax.Sub(samples.StudyMin).Hours() / 24 / 365; y < 19.9 || y > 20.1 {
		t.Errorf("study dates span %.1f years, want 20", y)
	}

	ctx := context.Background()
	st, err := sqlstore.Open(ctx, database)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds := res["T_DATASTORE"]
	if d, err := st.DatastoreGet(ctx, ds); err != nil || d.Status != ohi.DatastoreActive {
		t.Fatalf("data store %s: %+v, %v", ds, d, err)
	}
	if n, err := st.DatastoreImageSetCount(ctx, ds); err != nil || n != 3000 {
		t.Fatalf("image set count %d, %v", n, err)
	}

	// Every sampled patient and study is found, with study-wide counts.
	for i, pid := range samples.PatientIDs[:50] {
		sets, err := st.ImageSetSearch(ctx, &ohi.ImageSetQuery{DatastoreID: ds, Limit: 50, SortDesc: true,
			Conds: []ohi.SearchCond{{Field: "patientId", Lo: pid}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(sets) == 0 {
			t.Fatalf("no image set of patient %s", pid)
		}
		for _, is := range sets {
			if is.Tags.PatientID != pid || is.Tags.NumberOfStudyRelatedSeries < 1 || is.Tags.NumberOfStudyRelatedInstances < 1 {
				t.Fatalf("image set %+v for patient %s", is, pid)
			}
		}
		uid := samples.StudyUIDs[i]
		sets, err = st.ImageSetSearch(ctx, &ohi.ImageSetQuery{DatastoreID: ds, Limit: 50, SortDesc: true,
			Conds: []ohi.SearchCond{{Field: "studyUID", Lo: uid}}})
		if err != nil || len(sets) == 0 {
			t.Fatalf("study %s: %d image sets, %v", uid, len(sets), err)
		}
	}

	// Versions: every image set's latest version row exists; about 10% are
	// at version 2, with both rows and updatedAt after createdAt.
	var all []*ohi.ImageSet
	q := &ohi.ImageSetQuery{DatastoreID: ds, Limit: 1000, SortField: "createdAt"}
	for {
		page, err := st.ImageSetSearch(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.After = &ohi.SearchCursor{Key: last.CreatedAt.UnixMilli(), ID: last.ID}
	}
	if len(all) != 3000 {
		t.Fatalf("paged through %d image sets, want 3000", len(all))
	}
	v2, nonPrimary := 0, 0
	for _, is := range all {
		if !is.IsPrimary {
			nonPrimary++
		}
		if is.Version == 2 {
			v2++
			if !is.UpdatedAt.After(is.CreatedAt) {
				t.Errorf("image set %s at version 2 was not updated after its creation", is.ID)
			}
		}
		if is.Tags.StudyDate == "" || is.Tags.AccessionNumber == "" || is.Tags.SeriesInstanceUID == "" || is.Tags.SeriesNumber == nil {
			t.Fatalf("image set %s lacks tags: %+v", is.ID, is.Tags)
		}
		if is.CreatedAt.Before(seedEnd.Add(-seedSpan)) || is.CreatedAt.After(seedEnd.Add(time.Minute)) {
			t.Fatalf("image set %s created at %v, outside the seeded span", is.ID, is.CreatedAt)
		}
	}
	if v2 < 150 || v2 > 450 || nonPrimary < 5 || nonPrimary > 100 {
		t.Errorf("%d image sets at version 2 and %d non-primary of 3000: not the intended spread", v2, nonPrimary)
	}
	for _, is := range all[:200] {
		vs, err := st.ImageSetVersions(ctx, ds, is.ID, 0, 10)
		if err != nil || len(vs) != int(is.Version) || vs[0].Version != is.Version {
			t.Fatalf("versions of %s (at %d): %d rows, %v", is.ID, is.Version, len(vs), err)
		}
	}

	// A study date range returns only dates in the range.
	lo, hi := "20150101", "20150331"
	sets, err := st.ImageSetSearch(ctx, &ohi.ImageSetQuery{DatastoreID: ds, Limit: 50, SortField: "DICOMStudyDateAndTime",
		Conds: []ohi.SearchCond{{Field: "studyDateTime", Lo: ohi.StudyDateTimeKey(lo, ""), Hi: ohi.StudyDateTimeKey(hi, "235959.999999")}}})
	if err != nil || len(sets) == 0 {
		t.Fatalf("study date range: %d image sets, %v", len(sets), err)
	}
	for _, is := range sets {
		if is.Tags.StudyDate < lo || is.Tags.StudyDate > hi {
			t.Fatalf("study date %s outside %s-%s", is.Tags.StudyDate, lo, hi)
		}
	}

	// The indexes dropped for the load are all back.
	other := fresh()
	fst, err := sqlstore.Open(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	fst.Close()
	if got, want := indexDefs(t, database), indexDefs(t, other); !slices.Equal(got, want) {
		t.Fatalf("indexes after the load:\n%s\nwant (fresh database):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// indexDefs lists the index definitions of image_sets.
func indexDefs(t *testing.T, database string) []string {
	t.Helper()
	driver, dsn, q := "sqlite", "file:"+database+"?mode=ro",
		`SELECT COALESCE(sql, name) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'image_sets' ORDER BY name`
	if strings.HasPrefix(database, "postgres") {
		driver, dsn, q = "pgx", database, `SELECT indexdef FROM pg_indexes WHERE tablename = 'image_sets' ORDER BY indexname`
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 5 {
		t.Fatalf("only %d indexes on image_sets: %v", len(out), out)
	}
	return out
}

// readEnv reads KEY=VALUE lines.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			out[k] = v
		}
	}
	return out
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
