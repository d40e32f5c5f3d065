package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openhealthimaging/ohi/sqlstore"
)

// MigrateCmd applies the metadata store's schema migrations. `ohi serve`
// applies them at start too; run this before upgrading a fleet of replicas.
type MigrateCmd struct {
	Database string `env:"OHI_DATABASE" placeholder:"postgres://..." help:"Metadata database (default: SQLite in the data directory)."`
	DataDir  string `default:"./ohi-data" env:"OHI_DATA_DIR" type:"path" help:"Data directory of the embedded database."`
}

// Run applies the migrations.
func (c *MigrateCmd) Run() error {
	url := c.Database
	if url == "" {
		if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
			return err
		}
		url = filepath.Join(c.DataDir, "ohi.db")
	}
	s, err := sqlstore.Open(context.Background(), url)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Println("ohi: metadata store schema is up to date")
	return nil
}
