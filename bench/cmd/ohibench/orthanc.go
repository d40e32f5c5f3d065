package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// orthancClient returns an HTTP client holding one keep-alive connection.
func orthancClient() *http.Client {
	return &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true},
	}
}

// runOrthancUpload POSTs every file under -dir to Orthanc's /instances with
// -clients parallel keep-alive connections, each request reading its file
// from disk, and reports the wall time and Orthanc's peak RSS and CPU.
func runOrthancUpload(args []string) error {
	fl := flag.NewFlagSet("orthanc-upload", flag.ExitOnError)
	base := fl.String("url", "", "Orthanc base URL")
	dir := fl.String("dir", "", "directory of .dcm files")
	clients := fl.Int("clients", 2, "parallel keep-alive clients")
	pid := fl.Int("pid", 0, "Orthanc process id, for RSS and CPU figures")
	timeout := fl.Duration("timeout", 5*time.Minute, "give up after this long")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	_ = fl.Parse(args)
	if *base == "" || *dir == "" || *pid == 0 || *clients < 1 {
		return errors.New("-url, -dir, -pid and -clients >= 1 are required")
	}
	files, total, err := dicomFiles(*dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	_, rssBefore, err := procMem(*pid)
	if err != nil {
		return err
	}
	cpuBefore, err := procCPU(*pid)
	if err != nil {
		return err
	}

	work := make(chan string)
	errc := make(chan error, *clients)
	var wg sync.WaitGroup
	start := time.Now()
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := orthancClient()
			for p := range work {
				if err := postInstance(ctx, hc, *base, p); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for _, p := range files {
		select {
		case work <- p:
		case <-ctx.Done():
			break feed
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
	if err := ctx.Err(); err != nil {
		return err
	}
	_, peak, err := procMem(*pid)
	if err != nil {
		return err
	}
	cpuAfter, err := procCPU(*pid)
	if err != nil {
		return err
	}
	var stats struct{ CountInstances int }
	if err := getJSON(ctx, orthancClient(), *base+"/statistics", &stats); err != nil {
		return err
	}
	if stats.CountInstances != len(files) {
		return fmt.Errorf("Orthanc holds %d instances after the upload, want %d", stats.CountInstances, len(files))
	}

	cpu := cpuAfter - cpuBefore
	ips := float64(len(files)) / wall.Seconds()
	mbps := float64(total) / 1e6 / wall.Seconds()
	fmt.Printf("Orthanc upload: %d files, %.1f MB, POST /instances with %d keep-alive clients\n", len(files), float64(total)/1e6, *clients)
	fmt.Printf("  wall time first request -> last response: %.2f s\n", wall.Seconds())
	fmt.Printf("  throughput: %.1f instances/s, %.1f MB/s\n", ips, mbps)
	fmt.Printf("  Orthanc peak RSS (VmHWM): %.0f MB (%.0f MB before); Orthanc CPU during the upload: %.1f s (%.0f%% of one core)\n",
		float64(peak)/1e6, float64(rssBefore)/1e6, cpu.Seconds(), 100*cpu.Seconds()/wall.Seconds())
	var r results
	r.set("ORTHANC_UPLOAD_WALL_S", "%.2f", wall.Seconds())
	r.set("ORTHANC_UPLOAD_IPS", "%.1f", ips)
	r.set("ORTHANC_UPLOAD_MBPS", "%.1f", mbps)
	r.set("ORTHANC_UPLOAD_PEAK_RSS_MB", "%.0f", float64(peak)/1e6)
	r.set("ORTHANC_UPLOAD_CPU_S", "%.1f", cpu.Seconds())
	return r.write(*result)
}

func postInstance(ctx context.Context, hc *http.Client, base, path string) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/instances", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/dicom")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	var out struct{ Status string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || (out.Status != "Success" && out.Status != "AlreadyStored") {
		return fmt.Errorf("POST /instances %s: %s %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.Unmarshal(b, v)
}

// findQuery is one kind of Orthanc /tools/find request.
type findQuery struct {
	name string
	body func(s *sampleSet, rng *rand.Rand) any
}

var findQueries = []findQuery{
	{"study-all", func(*sampleSet, *rand.Rand) any {
		return map[string]any{"Level": "Study", "Query": map[string]string{}, "Expand": true, "Limit": 50}
	}},
	{"study-by-patientId", func(s *sampleSet, rng *rand.Rand) any {
		return map[string]any{"Level": "Study", "Query": map[string]string{"PatientID": pick(s.PatientIDs, rng)}, "Expand": true, "Limit": 50}
	}},
	{"series-by-studyUID", func(s *sampleSet, rng *rand.Rand) any {
		return map[string]any{"Level": "Series", "Query": map[string]string{"StudyInstanceUID": pick(s.StudyUIDs, rng)}, "Expand": true, "Limit": 50}
	}},
}

func pick(s []string, rng *rand.Rand) string { return s[rng.IntN(len(s))] }

// runOrthancFind times sequential POST /tools/find requests, -n per query
// kind, on one keep-alive connection.
func runOrthancFind(args []string) error {
	fl := flag.NewFlagSet("orthanc-find", flag.ExitOnError)
	base := fl.String("url", "", "Orthanc base URL")
	samplesPath := fl.String("samples", "", "identifiers to query (written by import)")
	n := fl.Int("n", 1000, "requests per query kind")
	warmup := fl.Int("warmup", 20, "untimed requests per query kind first")
	label := fl.String("label", "", "dataset description for the report")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	_ = fl.Parse(args)
	if *base == "" || *samplesPath == "" || *n < 1 {
		return errors.New("-url, -samples and -n >= 1 are required")
	}
	s, err := readSamples(*samplesPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hc := orthancClient()
	rng := rand.New(rand.NewPCG(7, 7))
	var r results
	var all []time.Duration
	fmt.Printf("Orthanc /tools/find, %d sequential requests per kind, one keep-alive connection (%s)\n", *n, *label)
	fmt.Printf("  %-22s %9s %9s %9s %8s\n", "query", "p50 ms", "p99 ms", "req/s", "results")
	for _, q := range findQueries {
		lat := make([]time.Duration, 0, *n)
		var hits int
		began := time.Now()
		for i := range *warmup + *n {
			t0 := time.Now()
			k, err := postFind(ctx, hc, *base, q.body(s, rng))
			if err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
			if i >= *warmup {
				lat = append(lat, time.Since(t0))
				hits += k
			} else if i == *warmup-1 {
				began = time.Now()
			}
		}
		if hits == 0 {
			return fmt.Errorf("%s: no request found anything", q.name)
		}
		rate := float64(*n) / time.Since(began).Seconds()
		all = append(all, lat...)
		p50, p99 := percentile(lat, 50), percentile(lat, 99)
		fmt.Printf("  %-22s %9s %9s %9.0f %8.1f\n", q.name, msec(p50), msec(p99), rate, float64(hits)/float64(*n))
		key := strings.ToUpper(strings.ReplaceAll(q.name, "-", "_"))
		r.set("ORTHANC_FIND_"+key+"_P50_MS", "%s", msec(p50))
		r.set("ORTHANC_FIND_"+key+"_P99_MS", "%s", msec(p99))
		r.set("ORTHANC_FIND_"+key+"_RPS", "%.0f", rate)
	}
	p50, p99 := percentile(all, 50), percentile(all, 99)
	fmt.Printf("  %-22s %9s %9s\n", "overall", msec(p50), msec(p99))
	r.set("ORTHANC_FIND_ALL_P50_MS", "%s", msec(p50))
	r.set("ORTHANC_FIND_ALL_P99_MS", "%s", msec(p99))
	return r.write(*result)
}

// postFind runs one /tools/find and returns the number of results.
func postFind(ctx context.Context, hc *http.Client, base string, body any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/tools/find", bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("POST /tools/find: %s %s", resp.Status, strings.TrimSpace(string(out)))
	}
	var list []json.RawMessage
	if err := json.Unmarshal(out, &list); err != nil {
		return 0, fmt.Errorf("POST /tools/find: %w", err)
	}
	return len(list), nil
}
