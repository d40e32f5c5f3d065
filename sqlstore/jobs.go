package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openhealthimaging/ohi"
)

const jobCols = `id, datastore_id, name, status, role_arn, input_uri, output_uri, input_owner, import_config, message, submitted_at, ended_at`

func scanJob(row interface{ Scan(...any) error }) (*ohi.ImportJob, error) {
	var j ohi.ImportJob
	var sub, end sql.NullInt64
	if err := row.Scan(&j.ID, &j.DatastoreID, &j.Name, &j.Status, &j.DataAccessRoleARN, &j.InputS3URI, &j.OutputS3URI,
		&j.InputOwnerAccountID, &j.ImportConfiguration, &j.Message, &sub, &end); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ohi.ErrNotFound
		}
		return nil, err
	}
	j.SubmittedAt, j.EndedAt = fromMS(sub), fromMS(end)
	return &j, nil
}

// ImportJobCreate implements ohi.MetadataStore.
func (s *Store) ImportJobCreate(ctx context.Context, job *ohi.ImportJob, token, hash string) (*ohi.ImportJob, bool, error) {
	got, created, err := s.importJobCreate(ctx, job, token, hash)
	if isUniqueViolation(err) {
		got, created, err = s.importJobCreate(ctx, job, token, hash)
	}
	return got, created, err
}

func (s *Store) importJobCreate(ctx context.Context, job *ohi.ImportJob, token, hash string) (*ohi.ImportJob, bool, error) {
	var got *ohi.ImportJob
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var id, h string
		err := tx.QueryRowContext(ctx, `SELECT id, request_hash FROM import_jobs WHERE datastore_id = $1 AND client_token = $2`, job.DatastoreID, token).Scan(&id, &h)
		switch {
		case err == nil:
			if h != hash {
				return ohi.Conflictf("clientToken %q was already used with a different request", token)
			}
			got, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM import_jobs WHERE id = $1`, id))
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO import_jobs (`+jobCols+`, client_token, request_hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`,
			job.ID, job.DatastoreID, job.Name, string(job.Status), job.DataAccessRoleARN, job.InputS3URI, job.OutputS3URI,
			job.InputOwnerAccountID, job.ImportConfiguration, job.Message, ms(job.SubmittedAt), ms(job.EndedAt), token, hash)
		if err != nil {
			return err
		}
		got, created = job, true
		return nil
	})
	return got, created, err
}

// ImportJobGet implements ohi.MetadataStore.
func (s *Store) ImportJobGet(ctx context.Context, datastoreID, id string) (*ohi.ImportJob, error) {
	j, err := scanJob(s.queryRow(ctx, `SELECT `+jobCols+` FROM import_jobs WHERE ($1 = '' OR datastore_id = $1) AND id = $2`, datastoreID, id))
	if errors.Is(err, ohi.ErrNotFound) {
		return nil, ohi.NotFoundf("import job %s does not exist in data store %s", id, datastoreID)
	}
	return j, err
}

// ImportJobList implements ohi.MetadataStore.
func (s *Store) ImportJobList(ctx context.Context, datastoreID string, status ohi.JobStatus, after string, limit int) ([]*ohi.ImportJob, error) {
	q := `SELECT ` + jobCols + ` FROM import_jobs WHERE datastore_id = $1 AND ($2 = '' OR status = $2)`
	args := []any{datastoreID, string(status)}
	if after != "" {
		q += ` AND (submitted_at, id) < (SELECT submitted_at, id FROM import_jobs WHERE id = $3)`
		args = append(args, after)
	}
	q += fmt.Sprintf(` ORDER BY submitted_at DESC, id DESC LIMIT %d`, limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ohi.ImportJob
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// ImportJobUpdate implements ohi.MetadataStore.
func (s *Store) ImportJobUpdate(ctx context.Context, j *ohi.ImportJob) error {
	res, err := s.w.ExecContext(ctx, `UPDATE import_jobs SET status = $1, message = $2, ended_at = $3 WHERE id = $4`,
		string(j.Status), j.Message, ms(j.EndedAt), j.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ohi.NotFoundf("import job %s does not exist", j.ID)
	}
	return nil
}

// ImportJobClaim implements ohi.MetadataStore.
func (s *Store) ImportJobClaim(ctx context.Context, owner string, now, leaseUntil time.Time) (*ohi.ImportJob, error) {
	lock := ""
	if s.dialect == dialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	j, err := scanJob(s.w.QueryRowContext(ctx, `UPDATE import_jobs SET lease_owner = $1, lease_until = $2
		WHERE id = (SELECT id FROM import_jobs WHERE status IN ('SUBMITTED', 'IN_PROGRESS')
			AND (lease_until IS NULL OR lease_until < $3) ORDER BY submitted_at, id LIMIT 1`+lock+`)
		RETURNING `+jobCols, owner, leaseUntil.UnixMilli(), now.UnixMilli()))
	if errors.Is(err, ohi.ErrNotFound) {
		return nil, nil
	}
	return j, err
}

// ImportJobRenew implements ohi.MetadataStore.
func (s *Store) ImportJobRenew(ctx context.Context, id, owner string, leaseUntil time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE import_jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3`, leaseUntil.UnixMilli(), id, owner)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ohi.Conflictf("lease on import job %s lost", id)
	}
	return nil
}

// ImportJobReleaseLeases implements ohi.MetadataStore.
func (s *Store) ImportJobReleaseLeases(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE import_jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL`); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `UPDATE import_tasks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL`)
	return err
}

// ImportItemsPut implements ohi.MetadataStore: one statement for one item,
// one transaction for several.
func (s *Store) ImportItemsPut(ctx context.Context, items ...*ohi.ImportItem) error {
	const q = `INSERT INTO import_items (job_id, key, state, result, image_set_id) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (job_id, key) DO UPDATE SET state = excluded.state, result = excluded.result, image_set_id = excluded.image_set_id`
	if len(items) == 1 {
		it := items[0]
		_, err := s.w.ExecContext(ctx, q, it.JobID, it.Key, it.State, it.Result, it.ImageSetID)
		return err
	}
	if len(items) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, it := range items {
			if _, err := tx.ExecContext(ctx, q, it.JobID, it.Key, it.State, it.Result, it.ImageSetID); err != nil {
				return err
			}
		}
		return nil
	})
}

// ImportItems implements ohi.MetadataStore.
func (s *Store) ImportItems(ctx context.Context, jobID string) ([]*ohi.ImportItem, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT job_id, key, state, result, image_set_id FROM import_items WHERE job_id = $1 ORDER BY key`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ohi.ImportItem
	for rows.Next() {
		var it ohi.ImportItem
		if err := rows.Scan(&it.JobID, &it.Key, &it.State, &it.Result, &it.ImageSetID); err != nil {
			return nil, err
		}
		out = append(out, &it)
	}
	return out, rows.Err()
}

// ImportTasksCreate implements ohi.MetadataStore.
func (s *Store) ImportTasksCreate(ctx context.Context, jobID string, batches [][]ohi.ObjectInfo) (bool, error) {
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM import_tasks WHERE job_id = $1`, jobID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		for i, b := range batches {
			keys, err := json.Marshal(b)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO import_tasks (job_id, seq, keys) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, jobID, i, string(keys)); err != nil {
				return err
			}
		}
		created = true
		return nil
	})
	return created, err
}

// ImportTaskClaim implements ohi.MetadataStore.
func (s *Store) ImportTaskClaim(ctx context.Context, jobID, owner string, now, leaseUntil time.Time) (*ohi.ImportTask, error) {
	lock := ""
	if s.dialect == dialectPostgres {
		lock = " FOR UPDATE OF t SKIP LOCKED"
	}
	var t ohi.ImportTask
	var objects string
	err := s.w.QueryRowContext(ctx, `UPDATE import_tasks SET lease_owner = $1, lease_until = $2
		WHERE (job_id, seq) = (SELECT t.job_id, t.seq FROM import_tasks t JOIN import_jobs j ON j.id = t.job_id
			WHERE NOT t.done AND j.status = 'IN_PROGRESS' AND ($4 = '' OR t.job_id = $4)
			AND (t.lease_until IS NULL OR t.lease_until < $3) ORDER BY j.submitted_at, t.job_id, t.seq LIMIT 1`+lock+`)
		RETURNING job_id, seq, keys`, owner, leaseUntil.UnixMilli(), now.UnixMilli(), jobID).Scan(&t.JobID, &t.Seq, &objects)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(objects), &t.Objects); err != nil {
		return nil, fmt.Errorf("import task %s/%d: %w", t.JobID, t.Seq, err)
	}
	return &t, nil
}

// ImportTaskRenew implements ohi.MetadataStore.
func (s *Store) ImportTaskRenew(ctx context.Context, t *ohi.ImportTask, owner string, leaseUntil time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE import_tasks SET lease_until = $1 WHERE job_id = $2 AND seq = $3 AND lease_owner = $4`,
		leaseUntil.UnixMilli(), t.JobID, t.Seq, owner)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ohi.Conflictf("lease on import task %s/%d lost", t.JobID, t.Seq)
	}
	return nil
}

// ImportTaskDone implements ohi.MetadataStore.
func (s *Store) ImportTaskDone(ctx context.Context, t *ohi.ImportTask) error {
	_, err := s.w.ExecContext(ctx, `UPDATE import_tasks SET done = TRUE, lease_owner = NULL, lease_until = NULL WHERE job_id = $1 AND seq = $2`, t.JobID, t.Seq)
	return err
}

// ImportTasksPending implements ohi.MetadataStore.
func (s *Store) ImportTasksPending(ctx context.Context, jobID string) (pending, total int, err error) {
	var p sql.NullInt64
	err = s.r.QueryRowContext(ctx, `SELECT SUM(CASE WHEN done THEN 0 ELSE 1 END), COUNT(*) FROM import_tasks WHERE job_id = $1`, jobID).Scan(&p, &total)
	return int(p.Int64), total, err
}

// ImportItemsRecorded implements ohi.MetadataStore.
func (s *Store) ImportItemsRecorded(ctx context.Context, jobID string, keys []string) (map[string]bool, error) {
	return s.known(ctx, `SELECT key FROM import_items WHERE job_id = $1 AND state <> 'decoding' AND key IN `, []any{jobID}, keys)
}

// ImportItemGet implements ohi.MetadataStore.
func (s *Store) ImportItemGet(ctx context.Context, jobID, key string) (*ohi.ImportItem, error) {
	var it ohi.ImportItem
	err := s.r.QueryRowContext(ctx, `SELECT job_id, key, state, result, image_set_id FROM import_items WHERE job_id = $1 AND key = $2`, jobID, key).
		Scan(&it.JobID, &it.Key, &it.State, &it.Result, &it.ImageSetID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ohi.NotFoundf("no import item %s in job %s", key, jobID)
	}
	return &it, err
}

// ImportProgress implements ohi.MetadataStore.
func (s *Store) ImportProgress(ctx context.Context, jobID string, maxFailures int) (*ohi.ImportProgress, error) {
	p := &ohi.ImportProgress{}
	rows, err := s.r.QueryContext(ctx, `SELECT keys, done FROM import_tasks WHERE job_id = $1`, jobID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var keys string
		var done bool
		if err := rows.Scan(&keys, &done); err != nil {
			rows.Close()
			return nil, err
		}
		var objs []ohi.ObjectInfo
		if err := json.Unmarshal([]byte(keys), &objs); err != nil {
			rows.Close()
			return nil, fmt.Errorf("import task of job %s: %w", jobID, err)
		}
		p.Files += len(objs)
		p.Tasks++
		if done {
			p.TasksDone++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM import_items WHERE job_id = $1 GROUP BY state`, jobID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			rows.Close()
			return nil, err
		}
		switch state {
		case "parsed":
			p.Parsed = n
		case "committed":
			p.Committed = n
		case "failed":
			p.Failed = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if maxFailures <= 0 || p.Failed == 0 {
		return p, nil
	}
	rows, err = s.r.QueryContext(ctx, fmt.Sprintf(`SELECT job_id, key, state, result, image_set_id FROM import_items
		WHERE job_id = $1 AND state = 'failed' ORDER BY key LIMIT %d`, maxFailures), jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var it ohi.ImportItem
		if err := rows.Scan(&it.JobID, &it.Key, &it.State, &it.Result, &it.ImageSetID); err != nil {
			return nil, err
		}
		p.Failures = append(p.Failures, &it)
	}
	return p, rows.Err()
}
