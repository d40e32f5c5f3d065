package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// bogusAWSEnv is what an AWS developer's shell typically holds: their own
// key, a session token, a profile, a region and an endpoint, none of which
// work against an ohi server. Every call that the demo or the README makes
// must ignore them.
var bogusAWSEnv = []string{
	"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
	"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	"AWS_SESSION_TOKEN=FwoGZXIvYXdzEXAMPLETOKEN",
	"AWS_PROFILE=someone-elses-profile",
	"AWS_DEFAULT_REGION=eu-north-9",
	"AWS_REGION=eu-north-9",
	"AWS_ENDPOINT_URL=http://127.0.0.1:9",
	"AWS_ENDPOINT_URL_MEDICAL_IMAGING=http://127.0.0.1:9",
}

// runDemo runs scripts/demo.sh with the binary ohi and the environment
// env (the test's environment without AWS_* and OHI_*, plus env).
func runDemo(t *testing.T, ohi string, env ...string) (stdout, stderr string, code int) {
	t.Helper()
	lookClient(t, "aws")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(moduleRoot, "scripts", "demo.sh"))
	cmd.Env = cleanEnv(append([]string{"OHI=" + ohi}, env...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("demo.sh did not finish in time:\n%s\n%s", tail(out.Bytes(), 2000), tail(errb.Bytes(), 2000))
	}
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestDemoIgnoresCallersAWSEnvironment runs `make demo`'s script the way an
// AWS developer would: with their own credentials, profile, region and
// endpoint in the environment. It must complete.
func TestDemoIgnoresCallersAWSEnvironment(t *testing.T) {
	out, errs, code := runDemo(t, ohiBin, bogusAWSEnv...)
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "demo completed") {
		t.Fatalf("demo.sh exit %d\nstdout:\n%s\nstderr:\n%s", code, tail([]byte(out), 3000), errs)
	}
	for _, want := range []string{"jobStatus: COMPLETED", "contentType: image/jph", "workflow import-dicom-and-search succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

// TestDemoFailureIsOneLine makes the server reject every signature (its
// credentials file holds the right key id with the wrong secret) and
// requires the demo to fail with exactly one line on stderr, naming the
// step and the AWS error, and no Python traceback.
func TestDemoFailureIsOneLine(t *testing.T) {
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "ohi-wrong-secret")
	script := `#!/usr/bin/env bash
# ohi serve with a key pair that differs from the credentials file it leaves.
if [ "$1" = serve ]; then
	prev= dd=
	for a in "$@"; do [ "$prev" = --data-dir ] && dd=$a; prev=$a; done
	printf '[ohi]\naws_access_key_id = OHIDEMOKEY0000000001\naws_secret_access_key = not-the-servers-secret\n' >"$dd/credentials"
	exec "` + ohiBin + `" "$@" --access-key-id OHIDEMOKEY0000000001 --secret-access-key the-servers-secret
fi
exec "` + ohiBin + `" "$@"
`
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runDemo(t, wrapper, bogusAWSEnv...)
	if code == 0 {
		t.Fatalf("demo.sh succeeded against a server that rejects its key:\n%s", tail([]byte(out), 2000))
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) != 1 || strings.Contains(errs, "Traceback") {
		t.Fatalf("demo.sh printed %d lines on stderr, want one:\n%s", len(lines), errs)
	}
	re := regexp.MustCompile(`^demo: CreateDatastore: aws medical-imaging create-datastore failed: .*An error occurred \((\w+)\).* \(server log: (\S+)\)$`)
	m := re.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("stderr line %q does not name the step, the call and the AWS error", lines[0])
	}
	// The data directory is kept for a look at the server log; remove it.
	if _, err := os.Stat(m[2]); err != nil {
		t.Errorf("the server log named in the failure line: %v", err)
	}
	if data := filepath.Dir(m[2]); strings.Contains(filepath.Base(data), "ohi-demo.") {
		os.RemoveAll(data)
	}
}

// TestREADMECommandsIgnoreCallersAWSEnvironment runs the README's "Using
// the server" client setup (the mi function: --profile ohi, --region and
// --endpoint-url on the command line, the generated credentials file) with
// a developer's AWS variables in the environment, against a fresh server:
// the calls must be signed with ohi's key, and ListDatastores on a server
// with no data stores must answer an empty datastoreSummaries list.
func TestREADMECommandsIgnoreCallersAWSEnvironment(t *testing.T) {
	lookClient(t, "aws")
	srv := startServer(t, serverOpts{DataDir: t.TempDir()})
	readme := string(readFile(t, filepath.Join(moduleRoot, "README.md")))
	// The README's function, verbatim, with its endpoint and credentials
	// file pointed at this server.
	fn := regexp.MustCompile(`(?s)\nmi\(\) \{.*?\n\}\n`).FindString(readme)
	if fn == "" {
		t.Fatal("README.md has no mi() { ... } function under Using the server")
	}
	fn = strings.ReplaceAll(fn, "http://127.0.0.1:8080", srv.Endpoint)
	fn = strings.ReplaceAll(fn, "ohi-data/credentials", filepath.Join(srv.DataDir, "credentials"))
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", fn+"\nmi list-datastores\nmi create-datastore --datastore-name readme\n")
	cmd.Env = cleanEnv(bogusAWSEnv...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("README commands: %v\n%s\n%s", err, out, stderr)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var list map[string]json.RawMessage
	if err := dec.Decode(&list); err != nil {
		t.Fatalf("list-datastores output %q: %v", out, err)
	}
	if got := string(list["datastoreSummaries"]); got != "[]" {
		t.Errorf("list-datastores on an empty server: datastoreSummaries = %q, want []", got)
	}
	var created struct {
		DatastoreID string `json:"datastoreId"`
	}
	if err := dec.Decode(&created); err != nil || created.DatastoreID == "" {
		t.Errorf("create-datastore output %q: %v", out, err)
	}
}
