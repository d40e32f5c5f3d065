// Package testenv finds and runs the independent tools (DCMTK, GDCM,
// pydicom, ...) that tests compare ohi with, skipping a test whose tool is
// missing, or failing it where CI requires every tool (RequireEnv).
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RequireEnv set to 1 (as in CI) turns the skips for a missing tool into
// failures.
const RequireEnv = "OHI_E2E_REQUIRE_CLIENTS"

// NeedTool returns the path of the installed tool name, or skips the test
// (fails it under RequireEnv) naming the Debian package pkg to install.
func NeedTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s not installed (Debian %s; scripts/setup.sh installs it) and %s=1", name, pkg, RequireEnv)
		}
		t.Skipf("%s not installed (Debian %s; run scripts/setup.sh)", name, pkg)
	}
	return p
}

// RunTool runs a command and fails the test with its output on error.
func RunTool(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}
