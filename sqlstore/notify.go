package sqlstore

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/jackc/pgx/v5/stdlib"
)

// importChannel is the PostgreSQL notification channel for import work.
const importChannel = "ohi_import_work"

// NotifyImportWork tells every process listening on the database that
// import work (a new job, or a job's new tasks) is waiting. On SQLite,
// where one process owns the database, it does nothing.
func (s *Store) NotifyImportWork(ctx context.Context) error {
	if s.dialect != dialectPostgres {
		return nil
	}
	_, err := s.w.ExecContext(ctx, `SELECT pg_notify('`+importChannel+`', '')`)
	return err
}

// ListenImportWork calls fn for every notification of NotifyImportWork, on
// a dedicated connection, until ctx ends or the connection fails (the
// caller retries). On SQLite it waits for ctx and returns nil.
func (s *Store) ListenImportWork(ctx context.Context, fn func()) error {
	if s.dialect != dialectPostgres {
		<-ctx.Done()
		return nil
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("sqlstore: unexpected driver connection %T", dc)
		}
		pc := c.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+importChannel); err != nil {
			return err
		}
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				if ctx.Err() != nil {
					// The connection is mid-wait: do not return it to the pool.
					return driver.ErrBadConn
				}
				return err
			}
			fn()
		}
	})
}
