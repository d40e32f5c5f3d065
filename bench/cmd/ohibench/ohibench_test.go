package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/internal/app"
	"github.com/openhealthimaging/ohi/sqlstore"
)

func TestPercentile(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {10, 1}, {1, 1}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
}

func TestProcReaders(t *testing.T) {
	rss, peak, err := procMem(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || peak < rss {
		t.Errorf("rss %d, peak %d", rss, peak)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := procMem(-1); err == nil {
		t.Error("procMem(-1) succeeded")
	}
}

// seedStore seeds n image sets over n/5 patients into a new database.
func seedStore(tb testing.TB, dir string, n int) (*seedStats, *sampleSet) {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "ohi.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	stats, samples, err := seed(ctx, st, seedConfig{ImageSets: n, Patients: n / 5, Seed: 3, Samples: 100})
	if err != nil {
		tb.Fatal(err)
	}
	return stats, samples
}

func TestSeedShape(t *testing.T) {
	dir := t.TempDir()
	stats, samples := seedStore(t, dir, 2000)
	if stats.ImageSets != 2000 || stats.Patients != 400 {
		t.Fatalf("stats %+v", stats)
	}
	if stats.Studies < 2000/4 || stats.Studies > 2000/2 || stats.Updated == 0 {
		t.Errorf("implausible spread: %+v", stats)
	}
	if len(samples.PatientIDs) != 100 || len(samples.StudyUIDs) != 100 {
		t.Fatalf("samples: %d patients, %d studies", len(samples.PatientIDs), len(samples.StudyUIDs))
	}
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "ohi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds, err := st.DatastoreGet(ctx, stats.DatastoreID)
	if err != nil || ds.Status != ohi.DatastoreActive {
		t.Fatalf("data store %+v, %v", ds, err)
	}
	if n, err := st.DatastoreImageSetCount(ctx, stats.DatastoreID); err != nil || n != 2000 {
		t.Fatalf("count %d, %v", n, err)
	}
	// Every sampled study exists, belongs to the sampled patient at the same
	// position, and every patient has at least one image set.
	for i, uid := range samples.StudyUIDs {
		got, err := st.ImageSetSearch(ctx, &ohi.ImageSetQuery{DatastoreID: stats.DatastoreID,
			Conds: []ohi.SearchCond{{Field: "studyUID", Lo: uid}}, SortField: "updatedAt", Limit: 10})
		if err != nil || len(got) == 0 {
			t.Fatalf("study %s: %d results, %v", uid, len(got), err)
		}
		if got[0].Tags.PatientID != samples.PatientIDs[i] {
			t.Errorf("study %s has patient %s, sampled with %s", uid, got[0].Tags.PatientID, samples.PatientIDs[i])
		}
	}
	for _, p := range []int{0, 199, 399} {
		pid := "BP" + strconv.Itoa(1000000 + p)[1:]
		got, err := st.ImageSetSearch(ctx, &ohi.ImageSetQuery{DatastoreID: stats.DatastoreID,
			Conds: []ohi.SearchCond{{Field: "patientId", Lo: pid}}, SortField: "updatedAt", Limit: 10})
		if err != nil || len(got) == 0 {
			t.Errorf("patient %s: %d results, %v", pid, len(got), err)
		}
	}
}

// BenchmarkSearchImageSets runs each query kind through the HTTP handler of
// an in-process server on a seeded store, with the Go SDK; use it to profile
// the server side:
//
//	OHI_BENCH_IMAGE_SETS=100000 go test -run '^$' -bench SearchImageSets -cpuprofile cpu.out ./bench/cmd/ohibench
func BenchmarkSearchImageSets(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("OHI_BENCH_IMAGE_SETS")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	stats, samples := seedStore(b, dir, n)
	ctx := context.Background()
	a, err := app.New(ctx, app.Config{DataDir: dir, Credentials: map[string]string{"bench": "bench-secret"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()
	c := newClient(srv.URL, "bench", "bench-secret")
	for _, k := range searchKinds {
		if k.pages > 1 {
			continue
		}
		b.Run(k.name, func(b *testing.B) {
			rng := newRand()
			for b.Loop() {
				_, err := c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: aws.String(stats.DatastoreID), SearchCriteria: k.input(samples, rng)})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
