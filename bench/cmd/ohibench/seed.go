package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/sqlstore"
)

// seedConfig shapes a synthetic index.
type seedConfig struct {
	ImageSets int    // image sets to write
	Patients  int    // distinct patients; every one gets at least one study
	Seed      uint64 // same seed, same dataset (apart from image set ids)
	Samples   int    // patient ids and study UIDs to keep for the queries
}

// Time ranges of the synthetic data. Study dates span 16 years; image sets
// were created (imported) over the two years before seedEnd.
var (
	studyFrom = time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	studyDays = 16 * 365
	seedEnd   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seedSpan  = 2 * 365 * 24 * time.Hour
)

type modality struct {
	name, bodyPart string
	share          float64 // cumulative
	minInst, maxIn int
}

var modalities = []modality{
	{"CT", "CHEST", 0.45, 50, 600},
	{"MR", "HEAD", 0.70, 20, 300},
	{"CR", "CHEST", 0.85, 1, 2},
	{"US", "ABDOMEN", 0.95, 1, 50},
	{"PT", "WHOLEBODY", 1.00, 100, 400},
}

// seedStats describes what seed wrote.
type seedStats struct {
	DatastoreID          string
	ImageSets, Studies   int
	Patients, NonPrimary int
	Updated              int // image sets with a second version
}

// seed writes a data store with cfg.ImageSets image sets into st and returns
// the identifiers the queries use. Studies have 1-4 series (one image set
// each); about 3% of studies also get a non-primary image set for their first
// series, and about 10% of image sets a second version committed later.
func seed(ctx context.Context, st *sqlstore.Store, cfg seedConfig) (*seedStats, *sampleSet, error) {
	if cfg.ImageSets < 1 || cfg.Patients < 1 || cfg.Patients > cfg.ImageSets {
		return nil, nil, errors.New("seed: need 1 <= patients <= image sets")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	now := time.Now().UTC()
	ds := &ohi.Datastore{ID: ohi.NewID(), Name: "bench-search", Status: ohi.DatastoreCreating,
		LosslessStorageFormat: "HTJ2K", CreatedAt: now, UpdatedAt: now}
	if _, _, err := st.DatastoreCreate(ctx, ds, "bench-"+ds.ID, "bench", 1000); err != nil {
		return nil, nil, err
	}
	if err := st.DatastoreSetStatus(ctx, ds.ID, ohi.DatastoreActive, ohi.DatastoreCreating); err != nil {
		return nil, nil, err
	}
	stats := &seedStats{DatastoreID: ds.ID, Patients: cfg.Patients}
	samples := &sampleSet{CreatedMin: seedEnd.Add(-seedSpan), CreatedMax: seedEnd,
		StudyMin: studyFrom, StudyMax: studyFrom.AddDate(0, 0, studyDays)}
	// Expected number of studies, to spread creation times evenly.
	studiesEst := cfg.ImageSets * 100 / 253
	step := seedSpan / time.Duration(studiesEst+1)

	commit := func(is ohi.ImageSet) error {
		return st.ImageSetCommit(ctx, &ohi.ImageSetCommit{ImageSet: is, MetadataKey: "bench/dummy-metadata.json.gz"})
	}
	for study := 0; stats.ImageSets < cfg.ImageSets; study++ {
		patient := study // the first studies give every patient one
		if study >= cfg.Patients {
			patient = rng.IntN(cfg.Patients)
		}
		pid := fmt.Sprintf("BP%06d", patient)
		studyUID := fmt.Sprintf("1.2.826.0.1.3680043.10.543.%d.%d", patient+1, study+1)
		studyDate := studyFrom.AddDate(0, 0, rng.IntN(studyDays))
		studyTime := fmt.Sprintf("%02d%02d%02d", 7+rng.IntN(12), rng.IntN(60), rng.IntN(60))
		created := seedEnd.Add(-seedSpan + time.Duration(study)*step + time.Duration(rng.Int64N(int64(step))))
		if created.After(seedEnd) {
			created = seedEnd.Add(-time.Duration(rng.IntN(1000)) * time.Millisecond)
		}
		u := rng.Float64()
		m := modalities[len(modalities)-1]
		for _, c := range modalities {
			if u < c.share {
				m = c
				break
			}
		}
		birth := time.Date(1930+rng.IntN(90), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC)
		sex := "F"
		if patient%2 == 1 {
			sex = "M"
		}
		series := 1 + rng.IntN(4)
		extra := 0
		if rng.IntN(100) < 3 {
			extra = 1 // a non-primary image set for series 1
		}
		for sn := 1; sn <= series+extra && stats.ImageSets < cfg.ImageSets; sn++ {
			num := int32(min(sn, series))
			c := created.Add(time.Duration(sn) * time.Second)
			is := ohi.ImageSet{
				ID: ohi.NewID(), DatastoreID: ds.ID, Version: 1, State: ohi.ImageSetActive,
				WorkflowStatus: ohi.WorkflowCreated, IsPrimary: sn <= series, CreatedAt: c, UpdatedAt: c,
				Tags: ohi.DICOMTags{
					PatientID: pid, PatientName: fmt.Sprintf("Bench^Patient%06d", patient),
					PatientBirthDate: birth.Format("20060102"), PatientSex: sex,
					StudyInstanceUID: studyUID, StudyID: fmt.Sprint(1 + study%9999),
					StudyDescription: m.name + " " + m.bodyPart, AccessionNumber: fmt.Sprintf("ACC%08d", study+1),
					StudyDate: studyDate.Format("20060102"), StudyTime: studyTime,
					SeriesInstanceUID: fmt.Sprintf("%s.%d", studyUID, num), SeriesModality: m.name, SeriesBodyPart: m.bodyPart,
					SeriesNumber: &num, InstanceCount: m.minInst + rng.IntN(m.maxIn-m.minInst+1),
				},
			}
			if !is.IsPrimary {
				stats.NonPrimary++
			}
			if err := commit(is); err != nil {
				return nil, nil, fmt.Errorf("image set %d: %w", stats.ImageSets+1, err)
			}
			if rng.IntN(10) == 0 {
				// A later import added instances: version 2, updated later.
				is.Version, is.WorkflowStatus = 2, ohi.WorkflowImported
				is.UpdatedAt = c.Add(time.Duration(1+rng.IntN(60*24*60)) * time.Minute)
				is.Tags.InstanceCount++
				if err := commit(is); err != nil {
					return nil, nil, fmt.Errorf("image set %d version 2: %w", stats.ImageSets+1, err)
				}
				stats.Updated++
			}
			stats.ImageSets++
		}
		stats.Studies++
		// Reservoir-sample the identifiers the queries look up.
		if len(samples.StudyUIDs) < cfg.Samples {
			samples.StudyUIDs = append(samples.StudyUIDs, studyUID)
			samples.PatientIDs = append(samples.PatientIDs, pid)
		} else if j := rng.IntN(study + 1); j < cfg.Samples {
			samples.StudyUIDs[j] = studyUID
			samples.PatientIDs[j] = pid
		}
	}
	return stats, samples, nil
}

// runSeed writes a synthetic index into an ohi SQLite database (before the
// server starts on it).
func runSeed(args []string) error {
	fl := flag.NewFlagSet("seed", flag.ExitOnError)
	db := fl.String("db", "", "SQLite database path (DATADIR/ohi.db)")
	n := fl.Int("image-sets", 100000, "image sets")
	patients := fl.Int("patients", 20000, "distinct patients")
	seedVal := fl.Uint64("seed", 1, "random seed")
	samplesPath := fl.String("samples", "", "write query identifiers here")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	_ = fl.Parse(args)
	if *db == "" || *samplesPath == "" {
		return errors.New("-db and -samples are required")
	}
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	stats, samples, err := seed(ctx, st, seedConfig{ImageSets: *n, Patients: *patients, Seed: *seedVal, Samples: 1000})
	if err != nil {
		return err
	}
	d := time.Since(start)
	fmt.Printf("seeded data store %s: %d image sets (%d non-primary, %d with 2 versions), %d studies, %d patients in %.1f s (%.0f commits/s)\n",
		stats.DatastoreID, stats.ImageSets, stats.NonPrimary, stats.Updated, stats.Studies, stats.Patients, d.Seconds(),
		float64(stats.ImageSets+stats.Updated)/d.Seconds())
	if err := samples.write(*samplesPath); err != nil {
		return err
	}
	var r results
	r.set("SEED_DATASTORE", "%s", stats.DatastoreID)
	r.set("SEED_IMAGE_SETS", "%d", stats.ImageSets)
	r.set("SEED_STUDIES", "%d", stats.Studies)
	r.set("SEED_PATIENTS", "%d", stats.Patients)
	r.set("SEED_S", "%.1f", d.Seconds())
	return r.write(*result)
}
