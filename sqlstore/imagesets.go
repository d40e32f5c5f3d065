package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openhealthimaging/ohi"
)

const imageSetCols = `id, datastore_id, version, state, workflow_status, is_primary, message, created_at, updated_at, deleted_at,
	patient_id, patient_name, patient_birth_date, patient_sex, study_uid, study_id, study_description, accession,
	study_date, study_time, series_uid, modality, body_part, series_number, instance_count`

func scanImageSet(row interface{ Scan(...any) error }) (*ohi.ImageSet, error) {
	var is ohi.ImageSet
	var c, u, d sql.NullInt64
	var sn sql.NullInt32
	t := &is.Tags
	if err := row.Scan(&is.ID, &is.DatastoreID, &is.Version, &is.State, &is.WorkflowStatus, &is.IsPrimary, &is.Message, &c, &u, &d,
		&t.PatientID, &t.PatientName, &t.PatientBirthDate, &t.PatientSex, &t.StudyInstanceUID, &t.StudyID, &t.StudyDescription, &t.AccessionNumber,
		&t.StudyDate, &t.StudyTime, &t.SeriesInstanceUID, &t.SeriesModality, &t.SeriesBodyPart, &sn, &t.InstanceCount); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ohi.ErrNotFound
		}
		return nil, err
	}
	is.CreatedAt, is.UpdatedAt, is.DeletedAt = fromMS(c), fromMS(u), fromMS(d)
	if sn.Valid {
		v := sn.Int32
		t.SeriesNumber = &v
	}
	return &is, nil
}

// ImageSetGet implements ohi.MetadataStore.
func (s *Store) ImageSetGet(ctx context.Context, datastoreID, id string) (*ohi.ImageSet, error) {
	is, err := scanImageSet(s.queryRow(ctx, `SELECT `+imageSetCols+` FROM image_sets WHERE datastore_id = $1 AND id = $2`, datastoreID, id))
	if errors.Is(err, ohi.ErrNotFound) {
		return nil, ohi.NotFoundf("image set %s does not exist in data store %s", id, datastoreID)
	}
	return is, err
}

// ImageSetPrimaryForSeries implements ohi.MetadataStore.
func (s *Store) ImageSetPrimaryForSeries(ctx context.Context, datastoreID, seriesUID string) (*ohi.ImageSet, error) {
	return scanImageSet(s.w.QueryRowContext(ctx, `SELECT `+imageSetCols+` FROM image_sets
		WHERE datastore_id = $1 AND series_uid = $2 AND is_primary AND state <> 'DELETED'`, datastoreID, seriesUID))
}

const versionCols = `image_set_id, version, state, workflow_status, is_primary, message, forced, created_at, updated_at, deleted_at, metadata_key`

func scanVersion(row interface{ Scan(...any) error }) (*ohi.ImageSetVersion, error) {
	var v ohi.ImageSetVersion
	var c, u, d sql.NullInt64
	if err := row.Scan(&v.ImageSetID, &v.Version, &v.State, &v.WorkflowStatus, &v.IsPrimary, &v.Message, &v.Forced, &c, &u, &d, &v.MetadataKey); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ohi.ErrNotFound
		}
		return nil, err
	}
	v.CreatedAt, v.UpdatedAt, v.DeletedAt = fromMS(c), fromMS(u), fromMS(d)
	return &v, nil
}

// ImageSetVersionGet implements ohi.MetadataStore.
func (s *Store) ImageSetVersionGet(ctx context.Context, datastoreID, id string, version int64) (*ohi.ImageSetVersion, error) {
	is, err := s.ImageSetGet(ctx, datastoreID, id)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		version = is.Version
	}
	v, err := scanVersion(s.queryRow(ctx, `SELECT `+versionCols+` FROM image_set_versions WHERE image_set_id = $1 AND version = $2`, id, version))
	if errors.Is(err, ohi.ErrNotFound) {
		return nil, ohi.NotFoundf("version %d of image set %s does not exist", version, id)
	}
	return v, err
}

// ImageSetVersions implements ohi.MetadataStore.
func (s *Store) ImageSetVersions(ctx context.Context, datastoreID, id string, before int64, limit int) ([]*ohi.ImageSetVersion, error) {
	if _, err := s.ImageSetGet(ctx, datastoreID, id); err != nil {
		return nil, err
	}
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+versionCols+` FROM image_set_versions WHERE image_set_id = $1 AND version < $2 ORDER BY version DESC LIMIT `+fmt.Sprint(limit), id, before)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ohi.ImageSetVersion
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ImageSetCommit implements ohi.MetadataStore.
func (s *Store) ImageSetCommit(ctx context.Context, c *ohi.ImageSetCommit) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return commitTx(ctx, tx, c) })
}

// commitTx writes one new image set version inside tx.
func commitTx(ctx context.Context, tx *sql.Tx, c *ohi.ImageSetCommit) error {
	is := &c.ImageSet
	t := &is.Tags
	var sn any
	if t.SeriesNumber != nil {
		sn = *t.SeriesNumber
	}
	vals := []any{is.ID, is.DatastoreID, is.Version, string(is.State), string(is.WorkflowStatus), is.IsPrimary, is.Message,
		ms(is.CreatedAt), ms(is.UpdatedAt), ms(is.DeletedAt),
		t.PatientID, t.PatientName, t.PatientBirthDate, t.PatientSex, t.StudyInstanceUID, t.StudyID, t.StudyDescription, t.AccessionNumber,
		t.StudyDate, t.StudyTime, t.SeriesInstanceUID, t.SeriesModality, t.SeriesBodyPart, sn, t.InstanceCount,
		ohi.StudyDateTimeKey(t.StudyDate, t.StudyTime)}
	if is.Version == 1 {
		_, err := tx.ExecContext(ctx, `INSERT INTO image_sets (`+imageSetCols+`, study_datetime) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26)`, vals...)
		if isUniqueViolation(err) {
			return ohi.Conflictf("image set %s or a primary image set for series %s already exists", is.ID, t.SeriesInstanceUID)
		}
		if err != nil {
			return err
		}
	} else {
		res, err := tx.ExecContext(ctx, `UPDATE image_sets SET version = $3, state = $4, workflow_status = $5, is_primary = $6, message = $7,
			created_at = $8, updated_at = $9, deleted_at = $10, patient_id = $11, patient_name = $12, patient_birth_date = $13, patient_sex = $14,
			study_uid = $15, study_id = $16, study_description = $17, accession = $18, study_date = $19, study_time = $20, series_uid = $21,
			modality = $22, body_part = $23, series_number = $24, instance_count = $25, study_datetime = $26
			WHERE id = $1 AND datastore_id = $2 AND version = $3 - 1 AND state = 'ACTIVE'`, vals...)
		if isUniqueViolation(err) {
			return ohi.Conflictf("series %s already has a primary image set", t.SeriesInstanceUID)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ohi.Conflictf("image set %s is locked or changed concurrently (expected ACTIVE at version %d)", is.ID, is.Version-1)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO image_set_versions (`+versionCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		is.ID, is.Version, string(is.State), string(is.WorkflowStatus), is.IsPrimary, is.Message, c.Forced,
		ms(is.UpdatedAt), ms(is.UpdatedAt), ms(is.DeletedAt), c.MetadataKey); err != nil {
		return err
	}
	for _, f := range c.Frames {
		if _, err := tx.ExecContext(ctx, `INSERT INTO frames (id, blob_key, transfer_syntax, size) VALUES ($1,$2,$3,$4) ON CONFLICT (id) DO NOTHING`,
			f.ID, f.BlobKey, f.TransferSyntaxUID, f.Size); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO image_set_frames (image_set_id, frame_id) VALUES ($1,$2) ON CONFLICT DO NOTHING`, is.ID, f.ID); err != nil {
			return err
		}
	}
	if c.Index != nil {
		if err := indexTx(ctx, tx, c); err != nil {
			return err
		}
	}
	for _, it := range c.Items {
		res, err := tx.ExecContext(ctx, `UPDATE import_items SET state = 'committed', image_set_id = $1, result = $2
			WHERE job_id = $3 AND key = $4 AND state = 'parsed'`, is.ID, it.Result, it.JobID, it.Key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ohi.Conflictf("import item %s of job %s is not waiting to be committed", it.Key, it.JobID)
		}
	}
	return nil
}

// ImageSetChange implements ohi.MetadataStore.
func (s *Store) ImageSetChange(ctx context.Context, c *ohi.ImageSetChange) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, l := range c.Locks {
			res, err := tx.ExecContext(ctx, `UPDATE image_sets SET state = $1, workflow_status = $2, updated_at = $3
				WHERE id = $4 AND datastore_id = $5 AND version = $6 AND state = 'ACTIVE'`,
				string(l.State), string(l.Status), ms(l.UpdatedAt), l.ImageSetID, l.DatastoreID, l.Version)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return ohi.Conflictf("image set %s is locked or is no longer at version %d", l.ImageSetID, l.Version)
			}
		}
		for _, cm := range c.Commits {
			if err := commitTx(ctx, tx, cm); err != nil {
				return err
			}
		}
		for _, p := range c.Pending {
			if _, err := tx.ExecContext(ctx, `INSERT INTO image_set_pending (image_set_id, datastore_id, kind, state, workflow_status, message, update_version, due_at)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, p.ImageSetID, p.DatastoreID, p.Kind, string(p.State), string(p.Status), p.Message, p.UpdateVersion, p.Due.UnixMilli()); err != nil {
				if isUniqueViolation(err) {
					return ohi.Conflictf("image set %s already has an operation in progress", p.ImageSetID)
				}
				return err
			}
		}
		return nil
	})
}

// PendingSettles implements ohi.MetadataStore.
func (s *Store) PendingSettles(ctx context.Context, due time.Time, limit int) ([]*ohi.PendingSettle, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT image_set_id, datastore_id, kind, state, workflow_status, message, update_version, due_at
		FROM image_set_pending WHERE due_at <= $1 ORDER BY due_at LIMIT `+fmt.Sprint(limit), due.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ohi.PendingSettle
	for rows.Next() {
		var p ohi.PendingSettle
		var dueAt sql.NullInt64
		if err := rows.Scan(&p.ImageSetID, &p.DatastoreID, &p.Kind, &p.State, &p.Status, &p.Message, &p.UpdateVersion, &dueAt); err != nil {
			return nil, err
		}
		p.Due = fromMS(dueAt)
		out = append(out, &p)
	}
	return out, rows.Err()
}

// ImageSetSettle implements ohi.MetadataStore.
func (s *Store) ImageSetSettle(ctx context.Context, p *ohi.PendingSettle, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM image_set_pending WHERE image_set_id = $1 AND kind = $2`, p.ImageSetID, p.Kind)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // already settled
		}
		var deletedAt any
		if p.Kind == "delete" {
			deletedAt = at.UnixMilli()
			if _, err := tx.ExecContext(ctx, `DELETE FROM frames WHERE id IN (SELECT frame_id FROM image_set_frames WHERE image_set_id = $1)
				AND NOT EXISTS (SELECT 1 FROM image_set_frames o WHERE o.frame_id = frames.id AND o.image_set_id <> $1)`, p.ImageSetID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM image_set_frames WHERE image_set_id = $1`, p.ImageSetID); err != nil {
				return err
			}
			if err := unindexTx(ctx, tx, p.ImageSetID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE image_sets SET state = $1, workflow_status = $2, message = $3, updated_at = $4,
			deleted_at = COALESCE($5, deleted_at) WHERE id = $6`, string(p.State), string(p.Status), p.Message, at.UnixMilli(), deletedAt, p.ImageSetID); err != nil {
			return err
		}
		if p.UpdateVersion {
			if _, err := tx.ExecContext(ctx, `UPDATE image_set_versions SET state = $1, workflow_status = $2, message = $3, updated_at = $4,
				deleted_at = COALESCE($5, deleted_at) WHERE image_set_id = $6 AND version = (SELECT version FROM image_sets WHERE id = $6)`,
				string(p.State), string(p.Status), p.Message, at.UnixMilli(), deletedAt, p.ImageSetID); err != nil {
				return err
			}
		}
		return nil
	})
}

// FramesOnlyIn implements ohi.MetadataStore.
func (s *Store) FramesOnlyIn(ctx context.Context, imageSetID string) ([]*ohi.Frame, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT f.id, f.blob_key, f.transfer_syntax, f.size FROM image_set_frames isf JOIN frames f ON f.id = isf.frame_id
		WHERE isf.image_set_id = $1 AND NOT EXISTS (SELECT 1 FROM image_set_frames o WHERE o.frame_id = isf.frame_id AND o.image_set_id <> $1)`, imageSetID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ohi.Frame
	for rows.Next() {
		f := &ohi.Frame{ImageSetID: imageSetID}
		if err := rows.Scan(&f.ID, &f.BlobKey, &f.TransferSyntaxUID, &f.Size); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// FrameGet implements ohi.MetadataStore.
func (s *Store) FrameGet(ctx context.Context, datastoreID, imageSetID, frameID string) (*ohi.Frame, error) {
	var f ohi.Frame
	err := s.queryRow(ctx, `SELECT f.id, f.blob_key, f.transfer_syntax, f.size FROM image_set_frames isf
		JOIN frames f ON f.id = isf.frame_id JOIN image_sets i ON i.id = isf.image_set_id
		WHERE isf.image_set_id = $1 AND isf.frame_id = $2 AND i.datastore_id = $3`, imageSetID, frameID, datastoreID).Scan(&f.ID, &f.BlobKey, &f.TransferSyntaxUID, &f.Size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ohi.NotFoundf("image frame %s does not exist in image set %s", frameID, imageSetID)
	}
	f.ImageSetID = imageSetID
	return &f, err
}

// ImageFrameGet implements ohi.MetadataStore. The outer joins tell a
// missing image set or frame apart from a missing data store; the error
// messages are those of DatastoreGet, ImageSetGet and FrameGet.
func (s *Store) ImageFrameGet(ctx context.Context, datastoreID, imageSetID, frameID string) (*ohi.Frame, error) {
	var dsStatus string
	var isState, id, key, ts sql.NullString
	var size sql.NullInt64
	err := s.queryRow(ctx, `SELECT d.status, i.state, f.id, f.blob_key, f.transfer_syntax, f.size FROM datastores d
		LEFT JOIN image_sets i ON i.datastore_id = d.id AND i.id = $2
		LEFT JOIN image_set_frames isf ON isf.image_set_id = i.id AND isf.frame_id = $3
		LEFT JOIN frames f ON f.id = isf.frame_id
		WHERE d.id = $1`, datastoreID, imageSetID, frameID).Scan(&dsStatus, &isState, &id, &key, &ts, &size)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, ohi.NotFoundf("data store %s does not exist", datastoreID)
	case err != nil:
		return nil, err
	case dsStatus == string(ohi.DatastoreDeleted):
		return nil, ohi.NotFoundf("data store %s was deleted", datastoreID)
	case !isState.Valid:
		return nil, ohi.NotFoundf("image set %s does not exist in data store %s", imageSetID, datastoreID)
	case isState.String == string(ohi.ImageSetDeleted):
		return nil, ohi.NotFoundf("image set %s was deleted", imageSetID)
	case !id.Valid:
		return nil, ohi.NotFoundf("image frame %s does not exist in image set %s", frameID, imageSetID)
	}
	return &ohi.Frame{ID: id.String, ImageSetID: imageSetID, BlobKey: key.String, TransferSyntaxUID: ts.String, Size: size.Int64}, nil
}

var searchColumns = map[string]string{
	"patientId":       "patient_id",
	"accessionNumber": "accession",
	"studyId":         "study_id",
	"studyUID":        "study_uid",
	"seriesUID":       "series_uid",
	"createdAt":       "created_at",
	"updatedAt":       "updated_at",
	"studyDateTime":   "study_datetime",
	"isPrimary":       "is_primary",
}

var sortColumns = map[string]string{
	"":                      "updated_at",
	"updatedAt":             "updated_at",
	"createdAt":             "created_at",
	"DICOMStudyDateAndTime": "study_datetime",
}

func sqlValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UnixMilli()
	}
	return v
}

// ImageSetSearch implements ohi.MetadataStore. Every condition and sort
// combination is served by an index on (datastore_id, column, ...).
func (s *Store) ImageSetSearch(ctx context.Context, q *ohi.ImageSetQuery) ([]*ohi.ImageSet, error) {
	sortCol, ok := sortColumns[q.SortField]
	if !ok {
		return nil, fmt.Errorf("sqlstore: unknown sort field %q", q.SortField)
	}
	where := []string{"datastore_id = $1", "state <> 'DELETED'"}
	args := []any{q.DatastoreID}
	arg := func(v any) string {
		args = append(args, sqlValue(v))
		return fmt.Sprintf("$%d", len(args))
	}
	for _, c := range q.Conds {
		col, ok := searchColumns[c.Field]
		if !ok {
			return nil, fmt.Errorf("sqlstore: unknown search field %q", c.Field)
		}
		if c.Hi == nil {
			where = append(where, col+" = "+arg(c.Lo))
		} else {
			where = append(where, col+" BETWEEN "+arg(c.Lo)+" AND "+arg(c.Hi))
		}
	}
	dir, cmp := "ASC", ">"
	if q.SortDesc {
		dir, cmp = "DESC", "<"
	}
	if q.After != nil {
		where = append(where, fmt.Sprintf("(%s, id) %s (%s, %s)", sortCol, cmp, arg(q.After.Key), arg(q.After.ID)))
	}
	// When a selective condition is on another column than the sort and
	// its index does not also give the sort order, walking the sort index
	// and filtering can read the whole table (planners with statistics
	// sometimes choose it). A unary plus on the ORDER BY column keeps the
	// condition's index in charge; the page is sorted afterwards.
	orderCol := sortCol
	for _, c := range q.Conds {
		col := searchColumns[c.Field]
		if col == sortCol || c.Field == "isPrimary" {
			continue
		}
		if c.Hi != nil || sortCol != "updated_at" {
			orderCol = "+" + sortCol
		}
	}
	query := `SELECT ` + imageSetCols + ` FROM image_sets WHERE ` + strings.Join(where, " AND ") +
		fmt.Sprintf(` ORDER BY %s %s, id %s LIMIT %d`, orderCol, dir, dir, q.Limit)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []*ohi.ImageSet
	for rows.Next() {
		is, err := scanImageSet(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, is)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Study-wide counts for the page's studies, in one grouped query.
	studies := map[string][]*ohi.ImageSet{}
	args = []any{q.DatastoreID}
	var ph []string
	for _, is := range out {
		uid := is.Tags.StudyInstanceUID
		if uid == "" {
			continue
		}
		if _, seen := studies[uid]; !seen {
			args = append(args, uid)
			ph = append(ph, fmt.Sprintf("$%d", len(args)))
		}
		studies[uid] = append(studies[uid], is)
	}
	if len(ph) > 0 {
		rows, err := s.query(ctx, `SELECT study_uid, COUNT(DISTINCT series_uid), SUM(instance_count) FROM image_sets
			WHERE datastore_id = $1 AND study_uid IN (`+strings.Join(ph, ",")+`) AND is_primary AND state <> 'DELETED' GROUP BY study_uid`, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var uid string
			var series, inst sql.NullInt64
			if err := rows.Scan(&uid, &series, &inst); err != nil {
				return nil, err
			}
			for _, is := range studies[uid] {
				is.Tags.NumberOfStudyRelatedSeries, is.Tags.NumberOfStudyRelatedInstances = int(series.Int64), int(inst.Int64)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FramesKnown implements ohi.MetadataStore.
func (s *Store) FramesKnown(ctx context.Context, ids []string) (map[string]bool, error) {
	return s.known(ctx, `SELECT id FROM frames WHERE id IN `, nil, ids)
}

// MetadataKeysKnown implements ohi.MetadataStore.
func (s *Store) MetadataKeysKnown(ctx context.Context, keys []string) (map[string]bool, error) {
	return s.known(ctx, `SELECT metadata_key FROM image_set_versions WHERE metadata_key IN `, nil, keys)
}

// known runs query (ending in "IN ", its first placeholders bound to
// fixed) over vals in batches and reports which values it returned.
func (s *Store) known(ctx context.Context, query string, fixed []any, vals []string) (map[string]bool, error) {
	out := make(map[string]bool, len(vals))
	for len(vals) > 0 {
		n := min(len(vals), 500)
		args := append([]any(nil), fixed...)
		ph := make([]string, n)
		for i, v := range vals[:n] {
			args = append(args, v)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		rows, err := s.r.QueryContext(ctx, query+`(`+strings.Join(ph, ",")+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, err
			}
			out[v] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		vals = vals[n:]
	}
	return out, nil
}
