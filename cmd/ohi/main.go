// Command ohi is the open health imaging server and workflow runner.
//
//	ohi serve             run the HealthImaging-compatible API server
//	ohi workflow run      execute an Arazzo workflow document
//	ohi workflow validate validate Arazzo workflow documents
//	ohi synth             write synthetic DICOM studies
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/alecthomas/kong"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// cli is the command tree. Each command lives in its own file.
type cli struct {
	Serve    ServeCmd    `cmd:"" help:"Run the HealthImaging-compatible API server."`
	Workflow WorkflowCmd `cmd:"" help:"Run or validate Arazzo workflow documents."`
	Synth    SynthCmd    `cmd:"" help:"Write synthetic DICOM studies for demos, tests and benchmarks."`
	Migrate  MigrateCmd  `cmd:"" help:"Apply the metadata store's schema migrations."`
	// CodecWorker is started by `ohi serve` to decode pixel data in a
	// separate process.
	CodecWorker CodecWorkerCmd `cmd:"" name:"codec-worker" hidden:"" help:"Decode pixel data for ohi serve (internal)."`
	Version     VersionCmd     `cmd:"" help:"Print the version."`
}

// ExitError carries a process exit code out of a command. Commands return it
// when the exit code matters (for example 1 for a failed workflow, 2 for a
// usage or validation error); any other error exits with 1.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run() error {
	fmt.Println("ohi", version)
	return nil
}

func main() {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("ohi"),
		kong.Description("ohi (open health imaging): an AWS HealthImaging-compatible server and Arazzo workflow runner."),
		kong.UsageOnError(),
		kong.Exit(func(code int) {
			if code != 0 {
				code = 2 // usage errors
			}
			os.Exit(code)
		}),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ohi:", err)
		os.Exit(2)
	}
	ctx, err := parser.Parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ohi:", err)
		os.Exit(2)
	}
	if err := ctx.Run(); err != nil {
		var ee *ExitError
		if errors.As(err, &ee) {
			if ee.Err != nil {
				fmt.Fprintln(os.Stderr, "ohi:", ee.Err)
			}
			os.Exit(ee.Code)
		}
		fmt.Fprintln(os.Stderr, "ohi:", err)
		os.Exit(1)
	}
}
