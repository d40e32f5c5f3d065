// Package testdb gives tests a fresh PostgreSQL database on the machine's
// server. The admin connection comes from OHI_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); set it to
// "off" to skip PostgreSQL tests. Each call creates a database with a random
// name and drops it when the test ends.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// DefaultAdminURL is the admin connection used when OHI_TEST_POSTGRES is unset.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Postgres returns the URL of a new, empty database, or skips the test when
// no PostgreSQL server is reachable.
func Postgres(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv("OHI_TEST_POSTGRES")
	switch admin {
	case "off":
		tb.Skip("OHI_TEST_POSTGRES=off: PostgreSQL tests skipped")
	case "":
		admin = DefaultAdminURL
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if os.Getenv("CI") != "" {
			tb.Fatalf("testdb: PostgreSQL at %s is not reachable in CI: %v", redact(admin), err)
		}
		tb.Skipf("testdb: no PostgreSQL at %s (%v); set OHI_TEST_POSTGRES", redact(admin), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ohi_test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		tb.Fatalf("testdb: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		db.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}
