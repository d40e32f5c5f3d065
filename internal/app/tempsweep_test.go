package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
)

// TestStartRemovesTempLeftovers: the spool files a crash left in
// <data-dir>/tmp (a SigV4 request body, a STOW-RS request's parts, an
// import's copy of an input object) are removed when the server starts;
// a temporary file made after the start is left alone.
func TestStartRemovesTempLeftovers(t *testing.T) {
	dataDir := t.TempDir()
	tmp := filepath.Join(dataDir, "tmp")
	old := time.Now().Add(-2 * time.Hour)
	leftovers := []string{"ohi-body-123", "stow-456/part-1.dcm", "ohi-import-789", "ohi-inflate-1"}
	for _, rel := range leftovers {
		p := filepath.Join(tmp, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("left by a crash"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{p, filepath.Dir(p)} {
			if err := os.Chtimes(q, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A leftover of a moment ago: with the embedded database the data
	// directory is this process's alone, so it is a leftover too.
	recent := filepath.Join(tmp, "ohi-body-recent")
	if err := os.WriteFile(recent, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, dataDir)
	for _, rel := range leftovers {
		if _, err := os.Stat(filepath.Join(tmp, rel)); !os.IsNotExist(err) {
			t.Errorf("leftover %s still there after the start (%v)", rel, err)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "stow-456")); !os.IsNotExist(err) {
		t.Errorf("leftover STOW-RS spool directory still there (%v)", err)
	}
	_, err := os.Stat(recent)
	if shared := backendFor(t, dataDir).database != ""; shared == os.IsNotExist(err) {
		t.Errorf("shared database %v: recent leftover stat = %v", shared, err)
	}
	fresh := filepath.Join(tmp, "ohi-body-fresh")
	if err := os.WriteFile(fresh, []byte("in use"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.client.ListDatastores(context.Background(), &mi.ListDatastoresInput{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the start's background work runs
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("a temporary file made after the start was removed: %v", err)
	}
}
