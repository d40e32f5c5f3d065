// Command ohibench drives the benchmarks in bench/*.sh: it imports a series
// through the HealthImaging API and times the job, uploads the same files to
// Orthanc, seeds a large index directly into an ohi SQLite database, and times
// SearchImageSets and Orthanc /tools/find requests, times GetImageFrame and
// Orthanc's raw frame requests, and compares package codec's per-frame work
// with OpenJPH's ojph_compress on sample frames. Each subcommand prints a
// human-readable report and, with -result FILE, appends KEY=VALUE lines that
// the shell scripts source to print their summary.
//
//	ohibench freeport
//	ohibench import -endpoint URL -input s3://bucket/prefix/ -dir LOCALDIR -pid PID
//	ohibench orthanc-upload -url URL -dir DIR -clients 2 -pid PID
//	ohibench seed -db DATADIR/ohi.db -image-sets 100000 -patients 20000 -samples FILE
//	ohibench search -endpoint URL -datastore ID -samples FILE -n 1000
//	ohibench orthanc-find -url URL -samples FILE -n 1000
//	ohibench seed-bulk -database postgres://...|DATADIR/ohi.db -image-sets 1000000 -patients 200000 -samples FILE
//	ohibench frames -endpoint URL -datastore ID -n 3 -clients 2
//	ohibench orthanc-frames -url URL -n 3 -clients 2
//	ohibench pixels -dir DIR -sample 50 -ojph ojph_compress
//	ohibench seed-dicomweb -database URL|FILE -instances 100000 -samples FILE
//	ohibench qido -endpoint URL -samples FILE -n 300
//	ohibench dicomweb-get -base URL -path PATH -accept TYPE -n 2000 -clients 2
//	ohibench stow -base URL -dir DIR -batch 50 -clients 2 -pid PID
package main

import (
	"fmt"
	"net"
	"os"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ohibench freeport|import|orthanc-upload|seed|search|orthanc-find|seed-bulk|frames|orthanc-frames|pixels|seed-dicomweb|dicomweb-get|qido|stow [flags]")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "freeport":
		err = freePort()
	case "import":
		err = runImport(args)
	case "orthanc-upload":
		err = runOrthancUpload(args)
	case "seed":
		err = runSeed(args)
	case "search":
		err = runSearch(args)
	case "orthanc-find":
		err = runOrthancFind(args)
	case "seed-bulk":
		err = runSeedBulk(args)
	case "frames":
		err = runFrames(args)
	case "orthanc-frames":
		err = runOrthancFrames(args)
	case "pixels":
		err = runPixels(args)
	case "seed-dicomweb":
		err = runSeedDICOMweb(args)
	case "dicomweb-get":
		err = runDICOMwebGet(args)
	case "qido":
		err = runQIDO(args)
	case "stow":
		err = runStow(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ohibench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// freePort prints a TCP port that was free on 127.0.0.1 a moment ago.
func freePort() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	return nil
}
