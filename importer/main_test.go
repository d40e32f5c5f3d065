package importer_test

import (
	"os"
	"testing"

	"github.com/openhealthimaging/ohi/codec/codecproc"
)

// workerEnv makes the test binary a codec worker process (codecproc.Serve).
const workerEnv = "OHI_IMPORTER_TEST_CODEC_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		if err := codecproc.Serve(os.Stdin, os.Stdout); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
