package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/sqlstore"
)

// dwSamples are the values the QIDO-RS query mix draws from.
type dwSamples struct {
	DatastoreID string
	Patients    []string // PatientID
	Names       []string // PatientName
	Studies     []string // StudyInstanceUID
	Series      [][2]string
	SOPs        []string
	Instances   int
}

// runSeedDICOMweb writes a data store whose DICOMweb index holds -instances
// instances (series of -per-series, 1-4 series a study, 5 studies a
// patient) through sqlstore's commit path, before the server starts.
func runSeedDICOMweb(args []string) error {
	fl := flag.NewFlagSet("seed-dicomweb", flag.ExitOnError)
	db := fl.String("database", "", "postgres:// URL or SQLite file")
	instances := fl.Int("instances", 100000, "instances to index")
	perSeries := fl.Int("per-series", 100, "instances per series")
	samples := fl.String("samples", "", "write the query samples here")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	prefix := fl.String("prefix", "DWSEED", "result key prefix")
	_ = fl.Parse(args)
	if *db == "" || *samples == "" {
		return errors.New("-database and -samples are required")
	}
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()
	ds := &ohi.Datastore{ID: ohi.NewID(), Name: "dicomweb-bench", Status: ohi.DatastoreActive, LosslessStorageFormat: "HTJ2K", CreatedAt: now, UpdatedAt: now}
	if _, _, err := st.DatastoreCreate(ctx, ds, "seed-"+ds.ID, "h", 1000); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(7, 7))
	s := &dwSamples{DatastoreID: ds.ID}
	modalities := []string{"CT", "MR", "CR", "US", "PT"}
	start := time.Now()
	n, study, series := 0, 0, 0
	for n < *instances {
		patient := study / 5
		pid, name := fmt.Sprintf("DW%06d", patient), fmt.Sprintf("Name%04d^Given%03d", patient%7919, patient%997)
		suid := fmt.Sprintf("1.2.826.0.1.3680043.10.1543.9.%d", study)
		date := now.AddDate(0, 0, -rng.IntN(5000)).Format("20060102")
		nseries := 1 + rng.IntN(4)
		if study%50 == 0 {
			s.Patients, s.Names, s.Studies = append(s.Patients, pid), append(s.Names, name), append(s.Studies, suid)
		}
		for k := 0; k < nseries && n < *instances; k++ {
			seuid := fmt.Sprintf("%s.%d", suid, k+1)
			sn := int64(k + 1)
			id := ohi.NewID()
			at := now.Add(-time.Duration(*instances-n) * time.Second)
			x := &ohi.DICOMIndex{Series: ohi.DICOMSeriesEntry{StudyInstanceUID: suid, SeriesInstanceUID: seuid, PatientID: pid,
				PatientName: name, PatientBirthDate: "19600101", PatientSex: "O", StudyDate: date, StudyTime: "101010", AccessionNumber: fmt.Sprintf("A%d", study),
				StudyDescription: "Bench study", StudyID: fmt.Sprint(study), Modality: modalities[rng.IntN(len(modalities))], SeriesNumber: &sn,
				Levels: []byte(fmt.Sprintf(`{"Patient":{"PatientID":%q,"PatientName":%q},"Study":{"StudyInstanceUID":%q,"StudyDate":%q},"Series":{"SeriesInstanceUID":%q,"SeriesNumber":%d}}`,
					pid, name, suid, date, seuid, sn))}}
			for i := 0; i < *perSeries && n < *instances; i++ {
				num := int64(i + 1)
				sop := fmt.Sprintf("%s.%d", seuid, i+1)
				x.Instances = append(x.Instances, ohi.DICOMInstanceEntry{SOPInstanceUID: sop, SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
					InstanceNumber: &num, Rows: 512, Columns: 512, BitsAllocated: 16, NumberOfFrames: 1})
				if n%500 == 0 {
					s.SOPs = append(s.SOPs, sop)
				}
				n++
			}
			if series%20 == 0 {
				s.Series = append(s.Series, [2]string{suid, seuid})
			}
			series++
			if err := st.ImageSetCommit(ctx, &ohi.ImageSetCommit{ImageSet: ohi.ImageSet{ID: id, DatastoreID: ds.ID, Version: 1,
				State: ohi.ImageSetActive, WorkflowStatus: ohi.WorkflowCreated, IsPrimary: true, CreatedAt: at, UpdatedAt: at,
				Tags: ohi.DICOMTags{PatientID: pid, StudyInstanceUID: suid, SeriesInstanceUID: seuid, StudyDate: date, InstanceCount: len(x.Instances)}},
				MetadataKey: "datastores/" + ds.ID + "/imagesets/" + id + "/bench.json.gz", Index: x}); err != nil {
				return err
			}
		}
		study++
	}
	s.Instances = n
	b, _ := json.Marshal(s)
	if err := os.WriteFile(*samples, b, 0o644); err != nil {
		return err
	}
	fmt.Printf("seeded %d instances, %d series, %d studies in %.1f s\n", n, series, study, time.Since(start).Seconds())
	var r results
	r.set(*prefix+"_DATASTORE", "%s", ds.ID)
	r.set(*prefix+"_INSTANCES", "%d", n)
	r.set(*prefix+"_SERIES", "%d", series)
	r.set(*prefix+"_STUDIES", "%d", study)
	return r.write(*result)
}

// signer signs DICOMweb requests (SigV4, service medical-imaging).
type signer struct{ ak, sk string }

func (s *signer) sign(req *http.Request, payloadHash string) error {
	if s == nil || s.ak == "" {
		return nil
	}
	return v4.NewSigner().SignHTTP(req.Context(), aws.Credentials{AccessKeyID: s.ak, SecretAccessKey: s.sk}, req, payloadHash,
		"medical-imaging", "us-east-1", time.Now())
}

var emptyHash = func() string { h := sha256.Sum256(nil); return hex.EncodeToString(h[:]) }()

// loadRun is a timed series of GETs.
type loadRun struct {
	lat      []time.Duration
	bytes    int64
	wall     time.Duration
	requests int
}

// timeGets sends n GETs of the paths (cycled) from clients parallel
// keep-alive clients and checks each answers 200 with a body.
func timeGets(ctx context.Context, base string, paths []string, accept string, sg *signer, n, clients int) (*loadRun, error) {
	run := &loadRun{}
	var mu sync.Mutex
	next := 0
	errc := make(chan error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := orthancClient()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n || ctx.Err() != nil {
					return
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+paths[i%len(paths)], nil)
				if err != nil {
					errc <- err
					return
				}
				if accept != "" {
					req.Header.Set("Accept", accept)
				}
				t0 := time.Now()
				if err := sg.sign(req, emptyHash); err != nil {
					errc <- err
					return
				}
				resp, err := hc.Do(req)
				if err != nil {
					errc <- err
					return
				}
				nb, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				if err != nil || resp.StatusCode != 200 || nb == 0 {
					errc <- fmt.Errorf("GET %s: status %d, %d bytes, %v", paths[i%len(paths)], resp.StatusCode, nb, err)
					return
				}
				mu.Lock()
				run.lat = append(run.lat, d)
				run.bytes += nb
				run.requests++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	run.wall = time.Since(start)
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	return run, ctx.Err()
}

func (r *loadRun) report(res *results, prefix, label string) {
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	p50, p99 := percentile(r.lat, 50), percentile(r.lat, 99)
	rps := float64(r.requests) / r.wall.Seconds()
	fmt.Printf("  %-52s %6d req  p50 %7s ms  p99 %7s ms  %8.0f req/s  %7.1f KB/resp\n", label, r.requests, msec(p50), msec(p99), rps,
		float64(r.bytes)/1e3/float64(max(r.requests, 1)))
	res.set(prefix+"_P50_MS", "%s", msec(p50))
	res.set(prefix+"_P99_MS", "%s", msec(p99))
	res.set(prefix+"_RPS", "%.0f", rps)
	res.set(prefix+"_KB", "%.1f", float64(r.bytes)/1e3/float64(max(r.requests, 1)))
}

// runDICOMwebGet times GETs of one path (frames, metadata) on ohi or
// Orthanc.
func runDICOMwebGet(args []string) error {
	fl := flag.NewFlagSet("dicomweb-get", flag.ExitOnError)
	base := fl.String("base", "", "DICOMweb root (http://host:port/datastore/ID or Orthanc's /dicom-web)")
	path := fl.String("path", "", "path below -base")
	accept := fl.String("accept", "", "Accept header")
	ak := fl.String("access-key", "", "sign with this key (ohi)")
	sk := fl.String("secret", "", "secret key")
	n := fl.Int("n", 2000, "requests")
	clients := fl.Int("clients", 2, "parallel keep-alive clients")
	warmup := fl.Int("warmup", 50, "untimed requests first")
	label := fl.String("label", "", "report label")
	prefix := fl.String("prefix", "DW", "result key prefix")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	_ = fl.Parse(args)
	if *base == "" || *path == "" {
		return errors.New("-base and -path are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var sg *signer
	if *ak != "" {
		sg = &signer{*ak, *sk}
	}
	if _, err := timeGets(ctx, *base, []string{*path}, *accept, sg, *warmup, 1); err != nil {
		return err
	}
	run, err := timeGets(ctx, *base, []string{*path}, *accept, sg, *n, *clients)
	if err != nil {
		return err
	}
	var r results
	run.report(&r, *prefix, *label)
	return r.write(*result)
}

// runQIDO times a QIDO-RS query mix drawn from seed-dicomweb's samples,
// sequentially (one client), -n requests per kind, and reports each kind
// and the whole mix.
func runQIDO(args []string) error {
	fl := flag.NewFlagSet("qido", flag.ExitOnError)
	endpoint := fl.String("endpoint", "", "ohi URL")
	samplesPath := fl.String("samples", "", "samples of seed-dicomweb")
	ak := fl.String("access-key", "", "access key")
	sk := fl.String("secret", "", "secret key")
	n := fl.Int("n", 300, "requests per query kind")
	prefix := fl.String("prefix", "QIDO", "result key prefix")
	label := fl.String("label", "", "dataset label")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	_ = fl.Parse(args)
	b, err := os.ReadFile(*samplesPath)
	if err != nil {
		return err
	}
	var s dwSamples
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 3))
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	kinds := []struct {
		name string
		gen  func() string
	}{
		{"studies (newest 100)", func() string { return "/studies?limit=100" }},
		{"studies?PatientID=", func() string { return "/studies?PatientID=" + pick(s.Patients) }},
		{"studies?PatientName=prefix*", func() string {
			return "/studies?PatientName=" + url.QueryEscape(strings.Split(pick(s.Names), "^")[0]) + "*"
		}},
		{"studies?PatientName=fuzzy", func() string {
			return "/studies?fuzzymatching=true&PatientName=" + url.QueryEscape(strings.ToLower(strings.Split(pick(s.Names), "^")[1]))
		}},
		{"studies?StudyDate=range (30 days)", func() string {
			d := time.Now().AddDate(0, 0, -rng.IntN(5000))
			return "/studies?limit=100&StudyDate=" + d.Format("20060102") + "-" + d.AddDate(0, 0, 30).Format("20060102")
		}},
		{"studies?StudyInstanceUID=", func() string { return "/studies?StudyInstanceUID=" + pick(s.Studies) }},
		{"studies/{study}/series", func() string { return "/studies/" + pick(s.Studies) + "/series" }},
		{"series?Modality=MR&limit=100", func() string { return "/series?Modality=MR&limit=100" }},
		{"studies/{s}/series/{se}/instances", func() string {
			x := s.Series[rng.IntN(len(s.Series))]
			return "/studies/" + x[0] + "/series/" + x[1] + "/instances"
		}},
		{"instances?SOPInstanceUID=", func() string { return "/instances?SOPInstanceUID=" + pick(s.SOPs) }},
		{"instances (first 100)", func() string { return "/instances?limit=100" }},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	base := *endpoint + "/datastore/" + s.DatastoreID
	sg := &signer{*ak, *sk}
	var all []time.Duration
	var r results
	fmt.Printf("QIDO-RS on %d instances (%s), %d sequential requests per kind\n", s.Instances, *label, *n)
	for i, k := range kinds {
		paths := make([]string, *n)
		for j := range paths {
			paths[j] = k.gen()
		}
		if _, err := timeGets(ctx, base, paths[:min(20, len(paths))], "application/dicom+json", sg, 20, 1); err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		run, err := timeGets(ctx, base, paths, "application/dicom+json", sg, *n, 1)
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		all = append(all, run.lat...)
		run.report(&r, fmt.Sprintf("%s_K%d", *prefix, i), k.name)
	}
	mix := &loadRun{lat: all, requests: len(all), wall: time.Second}
	sort.Slice(mix.lat, func(i, j int) bool { return mix.lat[i] < mix.lat[j] })
	fmt.Printf("  whole mix: p50 %s ms, p99 %s ms\n", msec(percentile(mix.lat, 50)), msec(percentile(mix.lat, 99)))
	r.set(*prefix+"_P50_MS", "%s", msec(percentile(mix.lat, 50)))
	r.set(*prefix+"_P99_MS", "%s", msec(percentile(mix.lat, 99)))
	return r.write(*result)
}

// runStow stores every .dcm file under -dir with STOW-RS: -batch instances
// per multipart request from -clients parallel clients (-batch 0: all in
// one request, streamed), and reports instances/s and the server's peak RSS.
func runStow(args []string) error {
	fl := flag.NewFlagSet("stow", flag.ExitOnError)
	base := fl.String("base", "", "DICOMweb root")
	dir := fl.String("dir", "", "directory of .dcm files")
	ak := fl.String("access-key", "", "sign with this key (ohi)")
	sk := fl.String("secret", "", "secret key")
	batch := fl.Int("batch", 50, "instances per request (0: all in one)")
	clients := fl.Int("clients", 2, "parallel clients")
	pid := fl.Int("pid", 0, "server process id (RSS)")
	prefix := fl.String("prefix", "STOW", "result key prefix")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	_ = fl.Parse(args)
	files, total, err := dicomFiles(*dir)
	if err != nil {
		return err
	}
	if *batch <= 0 {
		*batch, *clients = len(files), 1
	}
	var batches [][]string
	for i := 0; i < len(files); i += *batch {
		batches = append(batches, files[i:min(len(files), i+*batch)])
	}
	var sg *signer
	if *ak != "" {
		sg = &signer{*ak, *sk}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	work := make(chan []string)
	errc := make(chan error, *clients)
	var wg sync.WaitGroup
	start := time.Now()
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 15 * time.Minute}
			for b := range work {
				if err := postStow(ctx, hc, *base, b, sg); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
	for _, b := range batches {
		select {
		case work <- b:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	wall := time.Since(start)
	select {
	case err := <-errc:
		return err
	default:
	}
	ips := float64(len(files)) / wall.Seconds()
	fmt.Printf("STOW-RS: %d instances (%.0f MB) in %d requests of up to %d, %d clients: %.2f s, %.1f instances/s\n",
		len(files), float64(total)/1e6, len(batches), *batch, *clients, wall.Seconds(), ips)
	var r results
	r.set(*prefix+"_IPS", "%.1f", ips)
	r.set(*prefix+"_WALL_S", "%.2f", wall.Seconds())
	r.set(*prefix+"_MB", "%.0f", float64(total)/1e6)
	if *pid > 0 {
		_, peak, err := procMem(*pid)
		if err == nil {
			fmt.Printf("  server peak RSS (VmHWM): %.0f MB\n", float64(peak)/1e6)
			r.set(*prefix+"_PEAK_RSS_MB", "%.0f", float64(peak)/1e6)
		}
	}
	return r.write(*result)
}

// multipartBody streams files as a multipart/related body.
func multipartBody(files []string, boundary string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		mw := multipart.NewWriter(pw)
		_ = mw.SetBoundary(boundary)
		for _, f := range files {
			part, err := mw.CreatePart(map[string][]string{"Content-Type": {"application/dicom"}})
			if err == nil {
				var fh *os.File
				if fh, err = os.Open(f); err == nil {
					_, err = io.Copy(part, bufio.NewReaderSize(fh, 1<<20))
					fh.Close()
				}
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	return pr
}

func postStow(ctx context.Context, hc *http.Client, base string, files []string, sg *signer) error {
	boundary := "ohibench" + ohi.NewID()
	hash := "UNSIGNED-PAYLOAD"
	if sg != nil {
		// Hash the body in a first pass, so it can stream in the second.
		h := sha256.New()
		body := multipartBody(files, boundary)
		if _, err := io.Copy(h, body); err != nil {
			return err
		}
		body.Close()
		hash = hex.EncodeToString(h.Sum(nil))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/studies", multipartBody(files, boundary))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+boundary)
	req.Header.Set("Accept", "application/dicom+json")
	if sg != nil {
		req.Header.Set("X-Amz-Content-Sha256", hash)
		if err := sg.sign(req, hash); err != nil {
			return err
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return fmt.Errorf("STOW-RS of %d files: %d %.300s", len(files), resp.StatusCode, b)
	}
	if n := bytes.Count(b, []byte(`"00081155"`)); n != len(files) {
		return fmt.Errorf("STOW-RS of %d files referenced %d", len(files), n)
	}
	return nil
}
