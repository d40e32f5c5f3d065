package sqlstore

import (
	"context"
	"database/sql"
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
	j, err := scanJob(s.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM import_jobs WHERE datastore_id = $1 AND id = $2`, datastoreID, id))
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
	_, err := s.w.ExecContext(ctx, `UPDATE import_jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL`)
	return err
}

// ImportItemPut implements ohi.MetadataStore.
func (s *Store) ImportItemPut(ctx context.Context, it *ohi.ImportItem) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO import_items (job_id, key, state, result, image_set_id) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (job_id, key) DO UPDATE SET state = excluded.state, result = excluded.result, image_set_id = excluded.image_set_id`,
		it.JobID, it.Key, it.State, it.Result, it.ImageSetID)
	return err
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
