package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"
)

// runImport creates a data store, imports -input through the API and
// reports the job's wall time, throughput, and the server's peak RSS and CPU.
func runImport(args []string) error {
	fl := flag.NewFlagSet("import", flag.ExitOnError)
	endpoint := fl.String("endpoint", "", "ohi endpoint URL")
	ak := fl.String("access-key", "bench", "access key id")
	sk := fl.String("secret", "bench-secret", "secret access key")
	input := fl.String("input", "", "input S3 URI of the series (s3://bucket/prefix/)")
	dir := fl.String("dir", "", "local copy of the input, to count files and bytes")
	pid := fl.Int("pid", 0, "server process id, for RSS and CPU figures")
	timeout := fl.Duration("timeout", 5*time.Minute, "give up after this long")
	poll := fl.Duration("poll", 20*time.Millisecond, "GetDICOMImportJob polling interval")
	samplesPath := fl.String("samples", "", "write the imported series' identifiers here (for search and orthanc-find)")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	_ = fl.Parse(args)
	if *endpoint == "" || *input == "" || *dir == "" || *pid == 0 {
		return errors.New("-endpoint, -input, -dir and -pid are required")
	}
	files, bytes, err := dicomFiles(*dir)
	if err != nil {
		return err
	}
	pixels, frames, err := pixelBytes(files)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := newClient(*endpoint, *ak, *sk)

	cd, err := c.CreateDatastore(ctx, &mi.CreateDatastoreInput{DatastoreName: aws.String("bench-import")})
	if err != nil {
		return fmt.Errorf("CreateDatastore: %w", err)
	}
	ds := *cd.DatastoreId
	for {
		g, err := c.GetDatastore(ctx, &mi.GetDatastoreInput{DatastoreId: &ds})
		if err != nil {
			return fmt.Errorf("GetDatastore: %w", err)
		}
		if g.DatastoreProperties.DatastoreStatus == types.DatastoreStatusActive {
			break
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for data store %s to be ACTIVE: %w", ds, err)
		}
	}
	_, rssBefore, err := procMem(*pid)
	if err != nil {
		return err
	}
	cpuBefore, err := procCPU(*pid)
	if err != nil {
		return err
	}

	start := time.Now()
	job, err := c.StartDICOMImportJob(ctx, &mi.StartDICOMImportJobInput{
		DatastoreId: &ds, JobName: aws.String("bench"),
		DataAccessRoleArn: aws.String("arn:aws:iam::123456789012:role/ImportRole"),
		InputS3Uri:        input, OutputS3Uri: aws.String("s3://bench-out/jobs/"),
	})
	if err != nil {
		return fmt.Errorf("StartDICOMImportJob: %w", err)
	}
	var props *types.DICOMImportJobProperties
	for {
		g, err := c.GetDICOMImportJob(ctx, &mi.GetDICOMImportJobInput{DatastoreId: &ds, JobId: job.JobId})
		if err != nil {
			return fmt.Errorf("GetDICOMImportJob: %w", err)
		}
		props = g.JobProperties
		if props.JobStatus == types.JobStatusCompleted || props.JobStatus == types.JobStatusFailed {
			break
		}
		if err := sleep(ctx, *poll); err != nil {
			return fmt.Errorf("waiting for job %s: %w", *job.JobId, err)
		}
	}
	wall := time.Since(start)
	_, peak, err := procMem(*pid)
	if err != nil {
		return err
	}
	cpuAfter, err := procCPU(*pid)
	if err != nil {
		return err
	}
	if props.JobStatus != types.JobStatusCompleted {
		return fmt.Errorf("job %s ended %s: %s", *job.JobId, props.JobStatus, aws.ToString(props.Message))
	}

	// Every file must be in an image set: walk them all, counting the
	// instances of each study once, and keep identifiers for the queries.
	w, err := walkImageSets(ctx, c, ds)
	if err != nil {
		return err
	}
	if w.instances != len(files) {
		return fmt.Errorf("the data store holds %d instances in %d image sets, want %d", w.instances, w.sets, len(files))
	}

	server := aws.ToTime(props.EndedAt).Sub(aws.ToTime(props.SubmittedAt))
	cpu := cpuAfter - cpuBefore
	ips := float64(len(files)) / wall.Seconds()
	mbps := float64(bytes) / 1e6 / wall.Seconds()
	fmt.Printf("ohi import: %d files, %.1f MB, job %s COMPLETED: %d image sets, %d studies, %d patients\n",
		len(files), float64(bytes)/1e6, *job.JobId, w.sets, w.studies, w.patients)
	fmt.Printf("  wall time StartDICOMImportJob -> COMPLETED seen: %.2f s (job submittedAt -> endedAt: %.2f s)\n", wall.Seconds(), server.Seconds())
	fmt.Printf("  throughput: %.1f instances/s, %.1f MB/s of files\n", ips, mbps)
	fmt.Printf("  pixel data: %d frames, %.1f MB decoded: %.1f MB/s over the wall time, %.1f MB per server CPU second\n",
		frames, float64(pixels)/1e6, float64(pixels)/1e6/wall.Seconds(), float64(pixels)/1e6/cpu.Seconds())
	fmt.Printf("  server peak RSS (VmHWM): %.0f MB (%.0f MB before the job); server CPU during the job: %.1f s (%.0f%% of one core)\n",
		float64(peak)/1e6, float64(rssBefore)/1e6, cpu.Seconds(), 100*cpu.Seconds()/wall.Seconds())

	var r results
	r.set("OHI_IMPORT_FILES", "%d", len(files))
	r.set("OHI_IMPORT_MB", "%.1f", float64(bytes)/1e6)
	r.set("OHI_IMPORT_WALL_S", "%.2f", wall.Seconds())
	r.set("OHI_IMPORT_SERVER_S", "%.2f", server.Seconds())
	r.set("OHI_IMPORT_IPS", "%.1f", ips)
	r.set("OHI_IMPORT_MBPS", "%.1f", mbps)
	r.set("OHI_IMPORT_PEAK_RSS_MB", "%.0f", float64(peak)/1e6)
	r.set("OHI_IMPORT_CPU_S", "%.1f", cpu.Seconds())
	r.set("OHI_IMPORT_CORES", "%.2f", cpu.Seconds()/wall.Seconds())
	r.set("OHI_IMPORT_FRAMES", "%d", frames)
	r.set("OHI_IMPORT_PIXEL_MB", "%.1f", float64(pixels)/1e6)
	r.set("OHI_IMPORT_PIXEL_MBPS", "%.1f", float64(pixels)/1e6/wall.Seconds())
	r.set("OHI_IMPORT_PIXEL_MB_PER_CPU_S", "%.1f", float64(pixels)/1e6/cpu.Seconds())
	r.set("OHI_IMPORT_IMAGE_SETS", "%d", w.sets)
	r.set("OHI_DATASTORE", "%s", ds)
	if err := r.write(*result); err != nil {
		return err
	}
	if *samplesPath != "" {
		return w.samples.write(*samplesPath)
	}
	return nil
}

// walked is what walkImageSets found.
type walked struct {
	sets, studies, patients int
	instances               int // instances of the studies, each counted once
	samples                 *sampleSet
}

// eachImageSet calls fn with every image set of a data store, paging
// through SearchImageSets (at most 200 pages of 50).
func eachImageSet(ctx context.Context, c *mi.Client, ds string, fn func(types.ImageSetsMetadataSummary)) error {
	var token *string
	for page := 0; page == 0 || token != nil; page++ {
		if page == 200 {
			return errors.New("more than 200 pages of image sets")
		}
		out, err := c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: &ds, NextToken: token, MaxResults: aws.Int32(50)})
		if err != nil {
			return fmt.Errorf("SearchImageSets: %w", err)
		}
		for _, is := range out.ImageSetsMetadataSummaries {
			fn(is)
		}
		token = out.NextToken
	}
	return nil
}

// walkImageSets pages through every image set of a data store and keeps up
// to 1,000 distinct patient ids and study UIDs.
func walkImageSets(ctx context.Context, c *mi.Client, ds string) (*walked, error) {
	w := &walked{samples: &sampleSet{}}
	patients, studies := map[string]bool{}, map[string]bool{}
	err := eachImageSet(ctx, c, ds, func(is types.ImageSetsMetadataSummary) {
		w.sets++
		t := is.DICOMTags
		if p := aws.ToString(t.DICOMPatientId); !patients[p] {
			patients[p] = true
			if len(w.samples.PatientIDs) < 1000 {
				w.samples.PatientIDs = append(w.samples.PatientIDs, p)
			}
		}
		if u := aws.ToString(t.DICOMStudyInstanceUID); !studies[u] {
			studies[u] = true
			w.instances += int(t.DICOMNumberOfStudyRelatedInstances)
			if len(w.samples.StudyUIDs) < 1000 {
				w.samples.StudyUIDs = append(w.samples.StudyUIDs, u)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	w.studies, w.patients = len(studies), len(patients)
	return w, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// sampleSet holds identifiers that exist in a dataset, for the search
// benchmarks to query. Empty ranges disable the range queries.
type sampleSet struct {
	PatientIDs []string  `json:"patientIds"`
	StudyUIDs  []string  `json:"studyUids"`
	CreatedMin time.Time `json:"createdMin,omitzero"`
	CreatedMax time.Time `json:"createdMax,omitzero"`
	StudyMin   time.Time `json:"studyDateMin,omitzero"` // a date (midnight UTC)
	StudyMax   time.Time `json:"studyDateMax,omitzero"`
}

func (s *sampleSet) write(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func readSamples(path string) (*sampleSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s sampleSet
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(s.PatientIDs) == 0 || len(s.StudyUIDs) == 0 {
		return nil, fmt.Errorf("%s: no patient ids or study UIDs", path)
	}
	return &s, nil
}
