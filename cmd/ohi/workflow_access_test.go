package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRunRemoteSourceNeedsAllowRemote checks that a local workflow whose
// source description is an http(s) URL is refused without --allow-remote
// (nothing is fetched), and loads with it.
func TestRunRemoteSourceNeedsAllowRemote(t *testing.T) {
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Write([]byte(pollAPI))
	}))
	defer srv.Close()
	dir := t.TempDir()
	flow := strings.Replace(pollFlow, "url: ./api.yaml", "url: "+srv.URL+"/api.yaml", 1)
	path := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(path, []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, false, "workflow", "run", path, "-w", "poll", "--dry-run")
	if code != 2 || !strings.Contains(stderr, "refused") || gets.Load() != 0 {
		t.Errorf("without --allow-remote: exit %d, %d fetches, stderr %s", code, gets.Load(), stderr)
	}
	code, stdout, stderr := runCmd(t, false, "workflow", "run", path, "-w", "poll", "--dry-run", "--allow-remote")
	if code != 0 || gets.Load() == 0 {
		t.Errorf("with --allow-remote: exit %d, %d fetches\n%s\n%s", code, gets.Load(), stdout, stderr)
	}
}
