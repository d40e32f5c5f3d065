package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/sqlstore"
)

// bulkSeedConfig shapes the synthetic index of seed-bulk.
type bulkSeedConfig struct {
	ImageSets int    // image sets to write
	Patients  int    // distinct patients; every one gets at least one study
	Seed      uint64 // same seed, same dataset (apart from image set ids)
	Samples   int    // patient ids and study UIDs kept for the queries
	Years     int    // study dates span this many years before bulkStudyEnd
}

// Study dates of seed-bulk end here; creation times span the two years
// before seedEnd, as in seed.
var bulkStudyEnd = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Columns written by seed-bulk, in the schema sqlstore's migrations create.
var (
	bulkImageSetCols = []string{"id", "datastore_id", "version", "state", "workflow_status", "is_primary", "message",
		"created_at", "updated_at", "deleted_at", "patient_id", "patient_name", "patient_birth_date", "patient_sex",
		"study_uid", "study_id", "study_description", "accession", "study_date", "study_time", "study_datetime",
		"series_uid", "modality", "body_part", "series_number", "instance_count"}
	bulkVersionCols = []string{"image_set_id", "version", "state", "workflow_status", "is_primary", "message", "forced",
		"created_at", "updated_at", "deleted_at", "metadata_key"}
)

// bulkRow is one image set (one image_sets row) and its versions (one or
// two image_set_versions rows).
type bulkRow struct {
	set      []any
	versions [][]any
}

// bulkGen generates the rows of one dataset in order, like seed: studies of
// 1-4 series (one image set each), about 3% of studies with an extra
// non-primary image set, about 10% of image sets at version 2.
type bulkGen struct {
	cfg       bulkSeedConfig
	ds        string
	rng       *rand.Rand
	step      time.Duration
	studyFrom time.Time
	studyDays int

	stats   seedStats
	samples *sampleSet
	queue   []bulkRow // rows of the current study not yet returned
	study   int
}

func newBulkGen(cfg bulkSeedConfig, ds string) *bulkGen {
	from := bulkStudyEnd.AddDate(-cfg.Years, 0, 0)
	studiesEst := cfg.ImageSets * 100 / 253
	return &bulkGen{
		cfg: cfg, ds: ds,
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		step:      seedSpan / time.Duration(studiesEst+1),
		studyFrom: from,
		studyDays: int(bulkStudyEnd.Sub(from).Hours() / 24),
		stats:     seedStats{DatastoreID: ds, Patients: cfg.Patients},
		samples: &sampleSet{CreatedMin: seedEnd.Add(-seedSpan), CreatedMax: seedEnd,
			StudyMin: from, StudyMax: bulkStudyEnd},
	}
}

// next returns the next image set, or false when all are generated.
func (g *bulkGen) next() (bulkRow, bool) {
	for len(g.queue) == 0 {
		if g.stats.ImageSets >= g.cfg.ImageSets {
			return bulkRow{}, false
		}
		g.nextStudy()
	}
	r := g.queue[0]
	g.queue = g.queue[1:]
	return r, true
}

// batch returns the rows of up to n more image sets and of their versions;
// none once every image set has been generated.
func (g *bulkGen) batch(n int) (sets, versions [][]any) {
	sets = make([][]any, 0, n)
	for len(sets) < n {
		r, ok := g.next()
		if !ok {
			break
		}
		sets = append(sets, r.set)
		versions = append(versions, r.versions...)
	}
	return sets, versions
}

func (g *bulkGen) nextStudy() {
	rng, study := g.rng, g.study
	g.study++
	patient := study // the first studies give every patient one
	if study >= g.cfg.Patients {
		patient = rng.IntN(g.cfg.Patients)
	}
	pid := fmt.Sprintf("BP%07d", patient)
	studyUID := fmt.Sprintf("1.2.826.0.1.3680043.10.543.%d.%d", patient+1, study+1)
	studyDate := g.studyFrom.AddDate(0, 0, rng.IntN(g.studyDays)).Format("20060102")
	studyTime := fmt.Sprintf("%02d%02d%02d", 7+rng.IntN(12), rng.IntN(60), rng.IntN(60))
	created := seedEnd.Add(-seedSpan + time.Duration(study)*g.step + time.Duration(rng.Int64N(int64(g.step))))
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
	birth := time.Date(1930+rng.IntN(90), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC).Format("20060102")
	sex := "F"
	if patient%2 == 1 {
		sex = "M"
	}
	series := 1 + rng.IntN(4)
	extra := 0
	if rng.IntN(100) < 3 {
		extra = 1 // a non-primary image set for series 1
	}
	for sn := 1; sn <= series+extra && g.stats.ImageSets < g.cfg.ImageSets; sn++ {
		num := int64(min(sn, series))
		primary := sn <= series
		c := created.Add(time.Duration(sn) * time.Second).UnixMilli()
		id := ohi.NewID()
		inst := int64(m.minInst + rng.IntN(m.maxIn-m.minInst+1))
		version, updated, status := int64(1), c, string(ohi.WorkflowCreated)
		versions := [][]any{{id, int64(1), string(ohi.ImageSetActive), status, primary, "", false, c, c, nil, "bench/dummy-metadata.json.gz"}}
		if rng.IntN(10) == 0 {
			// A later import added an instance: version 2, updated later.
			version, status, inst = 2, string(ohi.WorkflowImported), inst+1
			updated = c + int64(1+rng.IntN(60*24*60))*60_000
			versions = append(versions, []any{id, int64(2), string(ohi.ImageSetActive), status, primary, "", false, updated, updated, nil, "bench/dummy-metadata.json.gz"})
			g.stats.Updated++
		}
		set := []any{id, g.ds, version, string(ohi.ImageSetActive), status, primary, "",
			c, updated, nil, pid, fmt.Sprintf("Bench^Patient%07d", patient), birth, sex,
			studyUID, fmt.Sprint(1 + study%9999), m.name + " " + m.bodyPart, fmt.Sprintf("ACC%09d", study+1),
			studyDate, studyTime, ohi.StudyDateTimeKey(studyDate, studyTime),
			fmt.Sprintf("%s.%d", studyUID, num), m.name, m.bodyPart, num, inst}
		if !primary {
			g.stats.NonPrimary++
		}
		g.queue = append(g.queue, bulkRow{set: set, versions: versions})
		g.stats.ImageSets++
	}
	g.stats.Studies++
	// Reservoir-sample the identifiers the queries look up.
	s := g.samples
	if len(s.StudyUIDs) < g.cfg.Samples {
		s.StudyUIDs = append(s.StudyUIDs, studyUID)
		s.PatientIDs = append(s.PatientIDs, pid)
	} else if j := rng.IntN(study + 1); j < g.cfg.Samples {
		s.StudyUIDs[j] = studyUID
		s.PatientIDs[j] = pid
	}
}

// runSeedBulk writes a synthetic index of many image sets straight into an
// ohi database (PostgreSQL or SQLite) with bulk SQL, before the server
// starts on it. sqlstore.Open creates the schema and the data store; the
// secondary indexes of image_sets are dropped during the load and
// recreated from their own definitions afterwards, then ANALYZE runs.
func runSeedBulk(args []string) error {
	fl := flag.NewFlagSet("seed-bulk", flag.ExitOnError)
	database := fl.String("database", "", "postgres://... URL, or the SQLite database path (DATADIR/ohi.db)")
	n := fl.Int("image-sets", 1000000, "image sets")
	patients := fl.Int("patients", 200000, "distinct patients")
	years := fl.Int("years", 20, "study dates span this many years")
	seedVal := fl.Uint64("seed", 1, "random seed")
	batch := fl.Int("batch", 100000, "image sets per transaction")
	samplesPath := fl.String("samples", "", "write query identifiers here")
	timeout := fl.Duration("timeout", 20*time.Minute, "give up after this long")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	prefix := fl.String("prefix", "SEED", "prefix of the result keys")
	_ = fl.Parse(args)
	if *database == "" || *samplesPath == "" {
		return errors.New("-database and -samples are required")
	}
	if *n < 1 || *patients < 1 || *patients > *n || *years < 1 || *batch < 1 {
		return errors.New("need 1 <= patients <= image sets, years >= 1 and batch >= 1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	pg := strings.HasPrefix(*database, "postgres://") || strings.HasPrefix(*database, "postgresql://")

	// The schema and the data store, through the store itself.
	st, err := sqlstore.Open(ctx, *database)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	ds := &ohi.Datastore{ID: ohi.NewID(), Name: "bench-scale", Status: ohi.DatastoreCreating,
		LosslessStorageFormat: "HTJ2K", CreatedAt: now, UpdatedAt: now}
	if _, _, err := st.DatastoreCreate(ctx, ds, "bench-"+ds.ID, "bench", 1000); err == nil {
		err = st.DatastoreSetStatus(ctx, ds.ID, ohi.DatastoreActive, ohi.DatastoreCreating)
	}
	if err := errors.Join(err, st.Close()); err != nil {
		return err
	}

	gen := newBulkGen(bulkSeedConfig{ImageSets: *n, Patients: *patients, Seed: *seedVal, Samples: 1000, Years: *years}, ds.ID)
	start := time.Now()
	var load, indexing, analyze time.Duration
	if pg {
		load, indexing, analyze, err = bulkPostgres(ctx, *database, gen, *batch)
	} else {
		load, indexing, analyze, err = bulkSQLite(ctx, *database, gen, *batch)
	}
	if err != nil {
		return err
	}
	d := time.Since(start)
	s := gen.stats
	fmt.Printf("seeded data store %s: %d image sets (%d non-primary, %d with 2 versions), %d studies, %d patients in %.1f s\n",
		s.DatastoreID, s.ImageSets, s.NonPrimary, s.Updated, s.Studies, s.Patients, d.Seconds())
	fmt.Printf("  load %.1f s (%.0f image sets/s), indexes %.1f s, ANALYZE %.1f s\n",
		load.Seconds(), float64(s.ImageSets)/load.Seconds(), indexing.Seconds(), analyze.Seconds())
	if err := gen.samples.write(*samplesPath); err != nil {
		return err
	}
	var r results
	r.set(*prefix+"_DATASTORE", "%s", s.DatastoreID)
	r.set(*prefix+"_IMAGE_SETS", "%d", s.ImageSets)
	r.set(*prefix+"_STUDIES", "%d", s.Studies)
	r.set(*prefix+"_PATIENTS", "%d", s.Patients)
	r.set(*prefix+"_VERSIONS", "%d", s.ImageSets+s.Updated)
	r.set(*prefix+"_S", "%.1f", d.Seconds())
	r.set(*prefix+"_LOAD_S", "%.1f", load.Seconds())
	r.set(*prefix+"_INDEX_S", "%.1f", indexing.Seconds())
	r.set(*prefix+"_ANALYZE_S", "%.1f", analyze.Seconds())
	return r.write(*result)
}

// sqlIndex is a secondary index: its name and the statement that creates it.
type sqlIndex struct{ name, create string }

// bulkPostgres loads the rows with COPY, one transaction per batch.
func bulkPostgres(ctx context.Context, url string, gen *bulkGen, batch int) (load, idx, analyze time.Duration, err error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, 0, 0, err
	}
	defer conn.Close(context.Background())
	var indexes []sqlIndex
	rows, err := conn.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
		AND tablename = 'image_sets' AND indexname <> 'image_sets_pkey' ORDER BY indexname`)
	if err != nil {
		return 0, 0, 0, err
	}
	for rows.Next() {
		var i sqlIndex
		if err := rows.Scan(&i.name, &i.create); err != nil {
			return 0, 0, 0, err
		}
		indexes = append(indexes, i)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, 0, err
	}
	for _, i := range indexes {
		if _, err := conn.Exec(ctx, `DROP INDEX `+pgx.Identifier{i.name}.Sanitize()); err != nil {
			return 0, 0, 0, err
		}
	}
	t0 := time.Now()
	loaded := 0
	for {
		sets, versions := gen.batch(batch)
		if len(sets) == 0 {
			break
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"image_sets"}, bulkImageSetCols, pgx.CopyFromRows(sets)); err != nil {
				return fmt.Errorf("COPY image_sets: %w", err)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"image_set_versions"}, bulkVersionCols, pgx.CopyFromRows(versions)); err != nil {
				return fmt.Errorf("COPY image_set_versions: %w", err)
			}
			return nil
		})
		if err != nil {
			return 0, 0, 0, err
		}
		loaded += len(sets)
		fmt.Printf("  %d image sets loaded (%.0f s)\n", loaded, time.Since(t0).Seconds())
	}
	load = time.Since(t0)
	t0 = time.Now()
	// Index builds may use more memory than the default 64 MB.
	if _, err := conn.Exec(ctx, `SET maintenance_work_mem = '512MB'`); err != nil {
		return 0, 0, 0, err
	}
	for _, i := range indexes {
		if _, err := conn.Exec(ctx, i.create); err != nil {
			return 0, 0, 0, fmt.Errorf("recreate index %s: %w", i.name, err)
		}
	}
	idx = time.Since(t0)
	t0 = time.Now()
	if _, err := conn.Exec(ctx, `ANALYZE image_sets`); err != nil {
		return 0, 0, 0, err
	}
	if _, err := conn.Exec(ctx, `ANALYZE image_set_versions`); err != nil {
		return 0, 0, 0, err
	}
	return load, idx, time.Since(t0), nil
}

// bulkSQLite loads the rows with multi-row INSERTs, one transaction per
// batch, with synchronous=OFF for the load only.
func bulkSQLite(ctx context.Context, path string, gen *bulkGen, batch int) (load, idx, analyze time.Duration, err error) {
	path = strings.TrimPrefix(path, "sqlite://")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, 0, 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var indexes []sqlIndex
	rows, err := db.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'image_sets' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		return 0, 0, 0, err
	}
	for rows.Next() {
		var i sqlIndex
		if err := rows.Scan(&i.name, &i.create); err != nil {
			rows.Close()
			return 0, 0, 0, err
		}
		indexes = append(indexes, i)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, 0, 0, err
	}
	for _, i := range indexes {
		if _, err := db.ExecContext(ctx, `DROP INDEX "`+i.name+`"`); err != nil {
			return 0, 0, 0, err
		}
	}
	// SQLite binds at most 32,766 parameters per statement.
	const perStmt = 500
	insert := func(tx *sql.Tx, table string, cols []string, rows [][]any) error {
		for len(rows) > 0 {
			k := min(len(rows), perStmt)
			var b strings.Builder
			args := make([]any, 0, k*len(cols))
			fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
			ph := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
			for j, r := range rows[:k] {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(ph)
				args = append(args, r...)
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return fmt.Errorf("insert into %s: %w", table, err)
			}
			rows = rows[k:]
		}
		return nil
	}
	t0 := time.Now()
	loaded := 0
	for {
		sets, versions := gen.batch(batch)
		if len(sets) == 0 {
			break
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, 0, 0, err
		}
		if err := insert(tx, "image_sets", bulkImageSetCols, sets); err != nil {
			tx.Rollback()
			return 0, 0, 0, err
		}
		if err := insert(tx, "image_set_versions", bulkVersionCols, versions); err != nil {
			tx.Rollback()
			return 0, 0, 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, 0, 0, err
		}
		loaded += len(sets)
		fmt.Printf("  %d image sets loaded (%.0f s)\n", loaded, time.Since(t0).Seconds())
	}
	load = time.Since(t0)
	t0 = time.Now()
	for _, i := range indexes {
		if _, err := db.ExecContext(ctx, i.create); err != nil {
			return 0, 0, 0, fmt.Errorf("recreate index %s: %w", i.name, err)
		}
	}
	idx = time.Since(t0)
	t0 = time.Now()
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return 0, 0, 0, err
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, 0, 0, err
	}
	return load, idx, time.Since(t0), nil
}
