// Package sqlstore implements ohi.MetadataStore on SQL databases: SQLite
// (modernc.org/sqlite, no cgo) for the embedded default, and PostgreSQL for
// scale-out. Queries are written once with $N placeholders, which both
// engines bind by number; the few real differences live in dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/openhealthimaging/ohi"
)

//go:embed migrations
var migrations embed.FS

type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// Store is an ohi.MetadataStore on a SQL database.
type Store struct {
	w       *sql.DB // writes (one connection on SQLite)
	r       *sql.DB // reads
	dialect dialect

	stmts sync.Map // query text → *sql.Stmt on r, for the hot read paths
	nstmt atomic.Int32
}

// maxCachedStmts bounds the prepared statement cache.
const maxCachedStmts = 512

// stmt returns a cached prepared statement for a read query, so hot
// queries (search, frame lookups) are not parsed again on every call; nil
// when the cache is full.
func (s *Store) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	if s.nstmt.Load() >= maxCachedStmts {
		return nil, nil
	}
	st, err := s.r.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	s.nstmt.Add(1)
	return st, nil
}

// query runs a read query through a cached prepared statement.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.r.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

// queryRow runs a single-row read query through a cached prepared statement.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.stmt(ctx, q)
	if err != nil || st == nil {
		return s.r.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

var _ ohi.MetadataStore = (*Store)(nil)

// OpenSQLite opens (creating if needed) the SQLite database at path and
// applies the migrations.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn+"&mode=ro")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	s := &Store{w: w, r: r, dialect: dialectSQLite}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// OpenPostgres connects to the PostgreSQL database at url
// (postgres://user@host:port/db?...) and applies the migrations. Several
// ohi processes may share one database.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	// Prepared statements (ohi's and pgx's own cache) would switch to
	// generic plans after a few runs; search plans depend on the values
	// (a one-day createdAt range against a whole table), so always plan
	// with them.
	if !strings.Contains(url, "plan_cache_mode") {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		url += sep + "plan_cache_mode=force_custom_plan"
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	s := &Store{w: db, r: db, dialect: dialectPostgres}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Open opens the store named by a URL: postgres:// or postgresql:// for
// PostgreSQL, or a file path (optionally sqlite://PATH) for SQLite.
func Open(ctx context.Context, url string) (*Store, error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return OpenPostgres(ctx, url)
	case strings.HasPrefix(url, "sqlite://"):
		return OpenSQLite(ctx, strings.TrimPrefix(url, "sqlite://"))
	}
	return OpenSQLite(ctx, url)
}

// Shared reports whether other processes may use the same database (and
// so hold import job leases): true for PostgreSQL.
func (s *Store) Shared() bool { return s.dialect == dialectPostgres }

// Migrate applies the migrations; OpenSQLite and OpenPostgres already do.
func (s *Store) Migrate(ctx context.Context) error { return s.migrate(ctx) }

// lockQuota serialises quota checks across processes sharing a database.
func (s *Store) lockQuota(ctx context.Context, tx *sql.Tx, key int64) error {
	if s.dialect != dialectPostgres {
		return nil // SQLite has one writer
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, key)
	return err
}

func (s *Store) migrate(ctx context.Context) error {
	dir, gd := "migrations/sqlite", goose.DialectSQLite3
	if s.dialect == dialectPostgres {
		dir, gd = "migrations/postgres", goose.DialectPostgres
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	var opts []goose.ProviderOption
	if s.dialect == dialectPostgres {
		// Replicas starting together must not run the migrations twice.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, s.w, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

func ms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromMS(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}

// tx runs fn in a write transaction.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505") || strings.Contains(msg, "duplicate key value")
}

// --- data stores ---

const datastoreCols = `id, name, status, kms_key_arn, lambda_authorizer_arn, lossless_format, created_at, updated_at`

func scanDatastore(row interface{ Scan(...any) error }) (*ohi.Datastore, error) {
	var d ohi.Datastore
	var c, u sql.NullInt64
	if err := row.Scan(&d.ID, &d.Name, &d.Status, &d.KMSKeyARN, &d.LambdaAuthorizerARN, &d.LosslessStorageFormat, &c, &u); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ohi.ErrNotFound
		}
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt = fromMS(c), fromMS(u)
	return &d, nil
}

// DatastoreCreate implements ohi.MetadataStore.
func (s *Store) DatastoreCreate(ctx context.Context, ds *ohi.Datastore, token, hash string, maxActive int) (*ohi.Datastore, bool, error) {
	got, created, err := s.datastoreCreate(ctx, ds, token, hash, maxActive)
	if isUniqueViolation(err) {
		// Another process inserted the same client token concurrently: the
		// retry finds its data store.
		got, created, err = s.datastoreCreate(ctx, ds, token, hash, maxActive)
	}
	return got, created, err
}

func (s *Store) datastoreCreate(ctx context.Context, ds *ohi.Datastore, token, hash string, maxActive int) (*ohi.Datastore, bool, error) {
	var got *ohi.Datastore
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var id, h string
		err := tx.QueryRowContext(ctx, `SELECT id, request_hash FROM datastores WHERE client_token = $1`, token).Scan(&id, &h)
		switch {
		case err == nil:
			if h != hash {
				return ohi.Conflictf("clientToken %q was already used with a different request", token)
			}
			got, err = scanDatastore(tx.QueryRowContext(ctx, `SELECT `+datastoreCols+` FROM datastores WHERE id = $1`, id))
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if err := s.lockQuota(ctx, tx, 0x6f6869); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM datastores WHERE status NOT IN ('DELETED', 'CREATE_FAILED')`).Scan(&n); err != nil {
			return err
		}
		if n >= maxActive {
			return ohi.QuotaExceededf("the quota of %d data stores is reached", maxActive)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO datastores (`+datastoreCols+`, client_token, request_hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
			ds.ID, ds.Name, ds.Status, ds.KMSKeyARN, ds.LambdaAuthorizerARN, ds.LosslessStorageFormat, ms(ds.CreatedAt), ms(ds.UpdatedAt), token, hash)
		if err != nil {
			return err
		}
		got, created = ds, true
		return nil
	})
	return got, created, err
}

// DatastoreGet implements ohi.MetadataStore.
func (s *Store) DatastoreGet(ctx context.Context, id string) (*ohi.Datastore, error) {
	d, err := scanDatastore(s.queryRow(ctx, `SELECT `+datastoreCols+` FROM datastores WHERE id = $1`, id))
	if errors.Is(err, ohi.ErrNotFound) {
		return nil, ohi.NotFoundf("data store %s does not exist", id)
	}
	return d, err
}

// DatastoreList implements ohi.MetadataStore.
func (s *Store) DatastoreList(ctx context.Context, status ohi.DatastoreStatus, after string, limit int) ([]*ohi.Datastore, error) {
	q := `SELECT ` + datastoreCols + ` FROM datastores WHERE ($1 = '' OR status = $1)`
	args := []any{string(status)}
	if after != "" {
		q += ` AND (created_at, id) > (SELECT created_at, id FROM datastores WHERE id = $2)`
		args = append(args, after)
	}
	q += fmt.Sprintf(` ORDER BY created_at, id LIMIT %d`, limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ohi.Datastore
	for rows.Next() {
		d, err := scanDatastore(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DatastoreSetStatus implements ohi.MetadataStore.
func (s *Store) DatastoreSetStatus(ctx context.Context, id string, to ohi.DatastoreStatus, from ...ohi.DatastoreStatus) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var cur string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM datastores WHERE id = $1`, id).Scan(&cur); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ohi.NotFoundf("data store %s does not exist", id)
			}
			return err
		}
		ok := len(from) == 0
		for _, f := range from {
			if string(f) == cur {
				ok = true
			}
		}
		if !ok {
			return ohi.Conflictf("data store %s is %s", id, cur)
		}
		_, err := tx.ExecContext(ctx, `UPDATE datastores SET status = $1, updated_at = $2 WHERE id = $3`, string(to), time.Now().UnixMilli(), id)
		return err
	})
}

// DatastoreImageSetCount implements ohi.MetadataStore.
func (s *Store) DatastoreImageSetCount(ctx context.Context, id string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM image_sets WHERE datastore_id = $1 AND state <> 'DELETED'`, id).Scan(&n)
	return n, err
}

// --- tags ---

// TagsSet implements ohi.MetadataStore.
func (s *Store) TagsSet(ctx context.Context, arn string, tags map[string]string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for k, v := range tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tags (arn, key, value) VALUES ($1,$2,$3) ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value`, arn, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// TagsDelete implements ohi.MetadataStore.
func (s *Store) TagsDelete(ctx context.Context, arn string, keys []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE arn = $1 AND key = $2`, arn, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// TagsList implements ohi.MetadataStore.
func (s *Store) TagsList(ctx context.Context, arn string) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key, value FROM tags WHERE arn = $1`, arn)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// --- settings ---

// Setting implements ohi.MetadataStore.
func (s *Store) Setting(ctx context.Context, name string, init func() string) (string, error) {
	var v string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			v = init()
			_, err = tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)`, name, v)
		}
		return err
	})
	return v, err
}
