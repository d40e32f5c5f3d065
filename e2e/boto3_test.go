package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openhealthimaging/ohi/synth"
)

// TestBoto3 drives `ohi serve` with the machine's unmodified boto3, through
// e2e/clients/conformance.py. The summary checks are shared with TestJSSDK
// (sdkjs_test.go).
func TestBoto3(t *testing.T) {
	t.Parallel()
	python := lookClient(t, "python3")
	// The medical-imaging model ships with botocore 1.31.x and later.
	probe := exec.Command(python, "-c", "import boto3; assert 'medical-imaging' in boto3.session.Session().get_available_services(); print(boto3.__version__)")
	probe.Env = cleanEnv()
	out, err := probe.CombinedOutput()
	if err != nil {
		skipClient(t, "%s has no boto3 with the medical-imaging service (pip install boto3): %v\n%s", python, err, tail(out, 5))
	}
	t.Logf("boto3 %s", strings.TrimSpace(string(out)))
	dir := t.TempDir()
	cfg := synth.Config{Series: 2, Instances: 2, Rows: 40, Cols: 32, Seed: 37, PatientID: "BOTO%04d"}
	g := writeStudy(t, filepath.Join(dir, "buckets", "dicom-in", "boto3"), cfg)
	srv := startServer(t, serverOpts{DataDir: dir, Args: authArgs})

	s := runConformance(t, []string{python, filepath.Join(moduleRoot, "e2e", "clients", "conformance.py")}, clientEnv(srv, dir,
		"OHI_INPUT_S3_URI=s3://dicom-in/boto3/", "OHI_OUTPUT_S3_URI=s3://dicom-out/boto3/", "OHI_PATIENT_ID=BOTO0001",
		"PYTHONDONTWRITEBYTECODE=1"))
	if s.Client != "boto3" || !strings.HasPrefix(s.SDKVersion, "boto3 1.") {
		t.Errorf("client %q version %q, want boto3 1.x", s.Client, s.SDKVersion)
	}
	checkSummary(t, srv, g, s)
}
