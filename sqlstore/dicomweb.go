package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/openhealthimaging/ohi"
)

// The DICOMweb index (tables dicomweb_series, dicomweb_instances and
// dicomweb_headers) is written in the transaction that commits an image set
// version, from ohi.ImageSetCommit.Index, and dropped when the image set is
// deleted. QIDO-RS and WADO-RS read only these tables and image_sets.

// indexTx replaces the index entry of c's image set inside tx.
func indexTx(ctx context.Context, tx *sql.Tx, c *ohi.ImageSetCommit) error {
	is, x := &c.ImageSet, c.Index
	for _, in := range x.Instances {
		if in.HeaderID == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO dicomweb_headers (image_set_id, sop_uid, header_id) VALUES ($1,$2,$3)
			ON CONFLICT (image_set_id, sop_uid) DO UPDATE SET header_id = excluded.header_id`, is.ID, in.SOPInstanceUID, in.HeaderID); err != nil {
			return err
		}
	}
	if x.InheritFrom != "" && x.InheritFrom != is.ID {
		// A copy: the destination takes the source's headers of the
		// instances it now holds that it has no header for, and shares
		// their storage like the frames.
		rows, err := tx.QueryContext(ctx, `SELECT sop_uid, header_id FROM dicomweb_headers WHERE image_set_id = $1`, x.InheritFrom)
		if err != nil {
			return err
		}
		src := map[string]string{}
		for rows.Next() {
			var sop, id string
			if err := rows.Scan(&sop, &id); err != nil {
				rows.Close()
				return err
			}
			src[sop] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, in := range x.Instances {
			id, ok := src[in.SOPInstanceUID]
			if !ok || in.HeaderID != "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO dicomweb_headers (image_set_id, sop_uid, header_id) VALUES ($1,$2,$3)
				ON CONFLICT (image_set_id, sop_uid) DO NOTHING`, is.ID, in.SOPInstanceUID, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO image_set_frames (image_set_id, frame_id) VALUES ($1,$2) ON CONFLICT DO NOTHING`, is.ID, id); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM dicomweb_series WHERE image_set_id = $1`, is.ID); err != nil {
		return err
	}
	e := &x.Series
	levels := string(e.Levels)
	if levels == "" {
		levels = "{}"
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO dicomweb_series (image_set_id, datastore_id, study_uid, series_uid, patient_id, patient_name,
		patient_birth_date, patient_birth_time, patient_sex, study_date, study_time, accession, referring_physician, study_description, study_id,
		modality, series_description, pps_start_date, pps_start_time, series_number, instance_count, levels)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)`,
		is.ID, is.DatastoreID, e.StudyInstanceUID, e.SeriesInstanceUID, e.PatientID, e.PatientName, e.PatientBirthDate, e.PatientBirthTime,
		e.PatientSex, e.StudyDate, e.StudyTime, e.AccessionNumber, e.ReferringPhysicianName, e.StudyDescription, e.StudyID, e.Modality,
		e.SeriesDescription, e.PPSStartDate, e.PPSStartTime, nullInt(e.SeriesNumber), len(x.Instances), levels); err != nil {
		return err
	}
	// Only the instances that changed are written: an image set that
	// grows by appends (STOW-RS requests, import jobs) keeps its rows.
	type row struct {
		class                  string
		num                    sql.NullInt64
		rows, cols, bits, nfrm int
	}
	have := map[string]row{}
	rs, err := tx.QueryContext(ctx, `SELECT sop_uid, sop_class_uid, instance_number, rows_, columns_, bits_allocated, number_of_frames
		FROM dicomweb_instances WHERE image_set_id = $1`, is.ID)
	if err != nil {
		return err
	}
	for rs.Next() {
		var sop string
		var r row
		if err := rs.Scan(&sop, &r.class, &r.num, &r.rows, &r.cols, &r.bits, &r.nfrm); err != nil {
			rs.Close()
			return err
		}
		have[sop] = r
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	var add []ohi.DICOMInstanceEntry
	keep := make(map[string]bool, len(x.Instances))
	for _, in := range x.Instances {
		keep[in.SOPInstanceUID] = true
		r, ok := have[in.SOPInstanceUID]
		want := row{class: in.SOPClassUID, rows: in.Rows, cols: in.Columns, bits: in.BitsAllocated, nfrm: in.NumberOfFrames}
		if in.InstanceNumber != nil {
			want.num = sql.NullInt64{Int64: *in.InstanceNumber, Valid: true}
		}
		if ok && r == want {
			continue
		}
		if ok {
			if _, err := tx.ExecContext(ctx, `DELETE FROM dicomweb_instances WHERE image_set_id = $1 AND sop_uid = $2`, is.ID, in.SOPInstanceUID); err != nil {
				return err
			}
		}
		add = append(add, in)
	}
	for sop := range have {
		if !keep[sop] {
			if _, err := tx.ExecContext(ctx, `DELETE FROM dicomweb_instances WHERE image_set_id = $1 AND sop_uid = $2`, is.ID, sop); err != nil {
				return err
			}
		}
	}
	const cols = 9
	for start := 0; start < len(add); start += 100 {
		batch := add[start:min(len(add), start+100)]
		ph := make([]string, len(batch))
		args := make([]any, 0, len(batch)*cols)
		for i, in := range batch {
			n := i * cols
			ph[i] = fmt.Sprintf("($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9)
			args = append(args, is.ID, is.DatastoreID, in.SOPInstanceUID, in.SOPClassUID, nullInt(in.InstanceNumber),
				in.Rows, in.Columns, in.BitsAllocated, in.NumberOfFrames)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO dicomweb_instances (image_set_id, datastore_id, sop_uid, sop_class_uid, instance_number,
			rows_, columns_, bits_allocated, number_of_frames) VALUES `+strings.Join(ph, ","), args...); err != nil {
			return err
		}
	}
	return nil
}

// unindexTx removes a deleted image set from the index.
func unindexTx(ctx context.Context, tx *sql.Tx, imageSetID string) error {
	for _, t := range []string{"dicomweb_instances", "dicomweb_series", "dicomweb_headers"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE image_set_id = $1`, imageSetID); err != nil {
			return err
		}
	}
	return nil
}

func nullInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

const dwSeriesCols = `s.image_set_id, i.updated_at, s.study_uid, s.series_uid, s.patient_id, s.patient_name, s.patient_birth_date,
	s.patient_birth_time, s.patient_sex, s.study_date, s.study_time, s.accession, s.referring_physician, s.study_description, s.study_id,
	s.modality, s.series_description, s.pps_start_date, s.pps_start_time, s.series_number, s.instance_count, s.levels`

func scanDWSeries(row interface{ Scan(...any) error }, extra ...any) (*ohi.DICOMSeriesRow, error) {
	var r ohi.DICOMSeriesRow
	var u sql.NullInt64
	var sn sql.NullInt64
	var levels string
	e := &r.Entry
	dst := []any{&r.ImageSetID, &u, &e.StudyInstanceUID, &e.SeriesInstanceUID, &e.PatientID, &e.PatientName, &e.PatientBirthDate,
		&e.PatientBirthTime, &e.PatientSex, &e.StudyDate, &e.StudyTime, &e.AccessionNumber, &e.ReferringPhysicianName, &e.StudyDescription,
		&e.StudyID, &e.Modality, &e.SeriesDescription, &e.PPSStartDate, &e.PPSStartTime, &sn, &r.Instances, &levels}
	if err := row.Scan(append(dst, extra...)...); err != nil {
		return nil, err
	}
	r.UpdatedAt = fromMS(u)
	if sn.Valid {
		v := sn.Int64
		e.SeriesNumber = &v
	}
	e.Levels = []byte(levels)
	return &r, nil
}

// DICOMInstanceFind implements ohi.MetadataStore: one query finds the
// image set, its current document and the instance with its header; the
// data store is looked at only to word a miss.
func (s *Store) DICOMInstanceFind(ctx context.Context, ref ohi.DICOMInstanceRef) (*ohi.DICOMInstanceLoc, error) {
	args := []any{ref.DatastoreID, ref.StudyInstanceUID, ref.SeriesInstanceUID, ref.SOPInstanceUID}
	where := `s.datastore_id = $1 AND s.study_uid = $2 AND s.series_uid = $3 AND i.state <> 'DELETED'`
	if ref.ImageSetID != "" {
		args = append(args, ref.ImageSetID)
		where += ` AND s.image_set_id = $5`
	} else {
		where += ` AND i.is_primary`
	}
	var loc ohi.DICOMInstanceLoc
	var u sql.NullInt64
	var sop, hid, key, ts sql.NullString
	var size sql.NullInt64
	err := s.queryRow(ctx, `SELECT i.id, i.version, v.metadata_key, i.updated_at, n.sop_uid, h.header_id, f.blob_key, f.transfer_syntax, f.size
		FROM dicomweb_series s JOIN datastores d ON d.id = s.datastore_id AND d.status <> 'DELETED'
		JOIN image_sets i ON i.id = s.image_set_id JOIN image_set_versions v ON v.image_set_id = i.id AND v.version = i.version
		LEFT JOIN dicomweb_instances n ON n.image_set_id = s.image_set_id AND n.sop_uid = $4
		LEFT JOIN dicomweb_headers h ON h.image_set_id = n.image_set_id AND h.sop_uid = n.sop_uid
		LEFT JOIN frames f ON f.id = h.header_id
		WHERE `+where, args...).Scan(&loc.ImageSetID, &loc.Version, &loc.MetadataKey, &u, &sop, &hid, &key, &ts, &size)
	if errors.Is(err, sql.ErrNoRows) {
		var dsStatus string
		err := s.queryRow(ctx, `SELECT status FROM datastores WHERE id = $1`, ref.DatastoreID).Scan(&dsStatus)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil, ohi.NotFoundf("data store %s does not exist", ref.DatastoreID)
		case err != nil:
			return nil, err
		case dsStatus == string(ohi.DatastoreDeleted):
			return nil, ohi.NotFoundf("data store %s was deleted", ref.DatastoreID)
		case ref.ImageSetID != "":
			return nil, ohi.NotFoundf("series %s of study %s is not in image set %s", ref.SeriesInstanceUID, ref.StudyInstanceUID, ref.ImageSetID)
		}
		return nil, ohi.NotFoundf("series %s of study %s has no primary image set", ref.SeriesInstanceUID, ref.StudyInstanceUID)
	}
	if err != nil {
		return nil, err
	}
	loc.UpdatedAt = fromMS(u)
	if ref.SOPInstanceUID == "" {
		return &loc, nil
	}
	if !sop.Valid {
		return nil, ohi.NotFoundf("instance %s is not in series %s (image set %s)", ref.SOPInstanceUID, ref.SeriesInstanceUID, loc.ImageSetID)
	}
	if key.Valid {
		loc.Header = &ohi.Frame{ID: hid.String, ImageSetID: loc.ImageSetID, BlobKey: key.String, TransferSyntaxUID: ts.String, Size: size.Int64}
	}
	return &loc, nil
}

// dwColumns are the columns QIDO-RS conditions may name.
var dwColumns = map[string]string{
	"study_uid": "s.study_uid", "series_uid": "s.series_uid", "patient_id": "s.patient_id", "patient_name": "s.patient_name",
	"patient_birth_date": "s.patient_birth_date", "patient_birth_time": "s.patient_birth_time", "study_date": "s.study_date",
	"study_time": "s.study_time", "accession": "s.accession", "referring_physician": "s.referring_physician",
	"study_description": "s.study_description", "study_id": "s.study_id", "modality": "s.modality",
	"series_number": "s.series_number", "pps_start_date": "s.pps_start_date", "pps_start_time": "s.pps_start_time",
	"sop_class_uid": "n.sop_class_uid", "sop_uid": "n.sop_uid", "instance_number": "n.instance_number",
	"modalities_in_study": "",
}

// dwNumeric are the integer columns (values compared as numbers).
var dwNumeric = map[string]bool{"series_number": true, "instance_number": true}

// likePattern turns a DICOM wildcard value (* and ?) into a LIKE pattern
// with \ as the escape character.
func likePattern(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch r {
		case '%', '_', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '*':
			b.WriteByte('%')
		case '?':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// dwWhere builds the conditions of q; instances tells whether the query
// joins dicomweb_instances as n.
func (s *Store) dwWhere(q *ohi.DICOMQuery, instances bool) (string, []any, error) {
	where := []string{"s.datastore_id = $1", "i.is_primary", "i.state <> 'DELETED'"}
	if instances {
		where = append(where, "n.datastore_id = $1")
	}
	args := []any{q.DatastoreID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, c := range q.Conds {
		col, ok := dwColumns[c.Column]
		if !ok || (strings.HasPrefix(col, "n.") && !instances) {
			return "", nil, fmt.Errorf("sqlstore: unknown DICOMweb search column %q", c.Column)
		}
		if c.Column == "modalities_in_study" {
			ph := make([]string, len(c.Values))
			for i, v := range c.Values {
				ph[i] = arg(v)
			}
			where = append(where, `s.study_uid IN (SELECT m.study_uid FROM dicomweb_series m JOIN image_sets mi ON mi.id = m.image_set_id
				WHERE m.datastore_id = $1 AND mi.is_primary AND mi.state <> 'DELETED' AND m.modality IN (`+strings.Join(ph, ",")+`))`)
			continue
		}
		if c.Range {
			var parts []string
			if c.Lo != "" {
				parts = append(parts, col+" >= "+arg(c.Lo))
			}
			if c.Hi != "" {
				parts = append(parts, col+" <= "+arg(c.Hi))
			}
			if len(parts) > 0 {
				where = append(where, "("+strings.Join(parts, " AND ")+")")
			}
			continue
		}
		var ors []string
		var exact []string
		for _, v := range c.Values {
			switch {
			case c.Person && q.Fuzzy:
				p := strings.ToLower(likePattern(v))
				ors = append(ors, "LOWER("+col+") LIKE "+arg(p+"%")+` ESCAPE '\'`,
					"LOWER("+col+") LIKE "+arg("%^"+p+"%")+` ESCAPE '\'`,
					"LOWER("+col+") LIKE "+arg("% "+p+"%")+` ESCAPE '\'`)
			case c.Wildcard && strings.ContainsAny(v, "*?"):
				if s.dialect == dialectSQLite {
					// GLOB is SQLite's case-sensitive match (LIKE is not).
					g := strings.NewReplacer("[", "[[]").Replace(v)
					ors = append(ors, col+" GLOB "+arg(g))
				} else {
					ors = append(ors, col+" LIKE "+arg(likePattern(v))+` ESCAPE '\'`)
				}
			case dwNumeric[c.Column]:
				var n int64
				if _, err := fmt.Sscan(v, &n); err != nil {
					return "", nil, ohi.Validationf(c.Column, "%q is not a number", v)
				}
				exact = append(exact, arg(n))
			default:
				exact = append(exact, arg(v))
			}
		}
		if len(exact) == 1 {
			ors = append(ors, col+" = "+exact[0])
		} else if len(exact) > 1 {
			ors = append(ors, col+" IN ("+strings.Join(exact, ",")+")")
		}
		if len(ors) > 0 {
			where = append(where, "("+strings.Join(ors, " OR ")+")")
		}
	}
	return strings.Join(where, " AND "), args, nil
}

// nullsFirst orders missing numbers first on both engines (SQLite's
// default), matching the indexes.
func (s *Store) nullsFirst() string {
	if s.dialect == dialectPostgres {
		return " NULLS FIRST"
	}
	return ""
}

func page(q *ohi.DICOMQuery) string {
	return fmt.Sprintf(" LIMIT %d OFFSET %d", max(q.Limit, 0), max(q.Offset, 0))
}

// DICOMSearchStudies implements ohi.MetadataStore: the page of studies
// (newest update first) and every primary series of them, in one
// statement.
func (s *Store) DICOMSearchStudies(ctx context.Context, q *ohi.DICOMQuery) ([]*ohi.DICOMStudyRow, error) {
	where, args, err := s.dwWhere(q, false)
	if err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT `+dwSeriesCols+`, t.u FROM dicomweb_series s JOIN image_sets i ON i.id = s.image_set_id
		JOIN (SELECT s.study_uid AS study_uid, MAX(i.updated_at) AS u FROM dicomweb_series s JOIN image_sets i ON i.id = s.image_set_id
			WHERE `+where+` GROUP BY s.study_uid ORDER BY u DESC, s.study_uid`+page(q)+`) t ON t.study_uid = s.study_uid
		WHERE s.datastore_id = $1 AND i.is_primary AND i.state <> 'DELETED'
		ORDER BY t.u DESC, s.study_uid, s.series_number`+s.nullsFirst()+`, s.series_uid`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ohi.DICOMStudyRow
	for rows.Next() {
		var u sql.NullInt64
		r, err := scanDWSeries(rows, &u)
		if err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].StudyInstanceUID != r.Entry.StudyInstanceUID {
			out = append(out, &ohi.DICOMStudyRow{StudyInstanceUID: r.Entry.StudyInstanceUID, UpdatedAt: fromMS(u)})
		}
		st := out[len(out)-1]
		st.Series = append(st.Series, *r)
	}
	return out, rows.Err()
}

// DICOMSearchSeries implements ohi.MetadataStore.
func (s *Store) DICOMSearchSeries(ctx context.Context, q *ohi.DICOMQuery) ([]*ohi.DICOMSeriesRow, error) {
	where, args, err := s.dwWhere(q, false)
	if err != nil {
		return nil, err
	}
	order := ` ORDER BY s.series_number` + s.nullsFirst() + `, s.series_uid, s.image_set_id`
	if q.ByUpdate {
		order = ` ORDER BY i.updated_at DESC, s.image_set_id`
	}
	rows, err := s.query(ctx, `SELECT `+dwSeriesCols+` FROM dicomweb_series s JOIN image_sets i ON i.id = s.image_set_id WHERE `+where+order+page(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ohi.DICOMSeriesRow
	for rows.Next() {
		r, err := scanDWSeries(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DICOMSearchInstances implements ohi.MetadataStore.
func (s *Store) DICOMSearchInstances(ctx context.Context, q *ohi.DICOMQuery) ([]*ohi.DICOMInstanceRow, error) {
	where, args, err := s.dwWhere(q, true)
	if err != nil {
		return nil, err
	}
	nf := s.nullsFirst()
	order := ` ORDER BY n.instance_number` + nf + `, n.sop_uid, n.image_set_id`
	if q.ByUpdate {
		order = ` ORDER BY i.updated_at DESC, n.image_set_id, n.instance_number` + nf + `, n.sop_uid`
	}
	// Within a study or series the instances are few: start from the
	// series (a CROSS JOIN keeps SQLite's planner to that order); across
	// the data store walk the Instance Number index.
	from := `dicomweb_instances n JOIN dicomweb_series s ON s.image_set_id = n.image_set_id JOIN image_sets i ON i.id = n.image_set_id
		JOIN image_set_versions v ON v.image_set_id = i.id AND v.version = i.version`
	for _, c := range q.Conds {
		if c.Column == "sop_uid" && !q.ByUpdate {
			// The SOP Instance UID index finds the few rows; a unary plus
			// keeps the planner from walking the order index instead.
			order = ` ORDER BY +n.instance_number` + nf + `, n.sop_uid, n.image_set_id`
		}
	}
	for _, c := range q.Conds {
		if c.Column == "study_uid" || c.Column == "series_uid" {
			from = `dicomweb_series s CROSS JOIN dicomweb_instances n CROSS JOIN image_sets i CROSS JOIN image_set_versions v`
			where += ` AND n.image_set_id = s.image_set_id AND i.id = s.image_set_id AND v.image_set_id = i.id AND v.version = i.version`
			break
		}
	}
	rows, err := s.query(ctx, `SELECT `+dwSeriesCols+`, n.sop_uid, n.sop_class_uid, n.instance_number, n.rows_, n.columns_, n.bits_allocated,
		n.number_of_frames, i.version, v.metadata_key FROM `+from+` WHERE `+where+order+page(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ohi.DICOMInstanceRow
	for rows.Next() {
		var r ohi.DICOMInstanceRow
		var num sql.NullInt64
		in := &r.Instance
		sr, err := scanDWSeries(rows, &in.SOPInstanceUID, &in.SOPClassUID, &num, &in.Rows, &in.Columns, &in.BitsAllocated,
			&in.NumberOfFrames, &r.Version, &r.MetadataKey)
		if err != nil {
			return nil, err
		}
		if num.Valid {
			v := num.Int64
			in.InstanceNumber = &v
		}
		r.Series = *sr
		out = append(out, &r)
	}
	return out, rows.Err()
}

// DICOMUnindexed implements ohi.MetadataStore.
func (s *Store) DICOMUnindexed(ctx context.Context, limit int) ([]*ohi.ImageSetVersion, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT i.id, i.version, v.metadata_key FROM image_sets i
		JOIN image_set_versions v ON v.image_set_id = i.id AND v.version = i.version
		WHERE i.state <> 'DELETED' AND NOT EXISTS (SELECT 1 FROM dicomweb_series s WHERE s.image_set_id = i.id)
		ORDER BY i.id LIMIT `+fmt.Sprint(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ohi.ImageSetVersion
	for rows.Next() {
		var v ohi.ImageSetVersion
		if err := rows.Scan(&v.ImageSetID, &v.Version, &v.MetadataKey); err != nil {
			return nil, err
		}
		out = append(out, &v)
	}
	return out, rows.Err()
}

// DICOMIndexPut implements ohi.MetadataStore.
func (s *Store) DICOMIndexPut(ctx context.Context, imageSetID string, version int64, x *ohi.DICOMIndex) (bool, error) {
	wrote := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var ds string
		err := tx.QueryRowContext(ctx, `SELECT datastore_id FROM image_sets WHERE id = $1 AND version = $2 AND state <> 'DELETED'
			AND NOT EXISTS (SELECT 1 FROM dicomweb_series s WHERE s.image_set_id = $1)`, imageSetID, version).Scan(&ds)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // changed meanwhile: its commit indexed it
		}
		if err != nil {
			return err
		}
		wrote = true
		return indexTx(ctx, tx, &ohi.ImageSetCommit{ImageSet: ohi.ImageSet{ID: imageSetID, DatastoreID: ds}, Index: x})
	})
	return wrote, err
}
