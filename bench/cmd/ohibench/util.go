package main

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/openhealthimaging/ohi/internal/miclient"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
)

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of d,
// which it sorts in place; 0 for an empty slice.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	rank := int(float64(len(d))*p/100+0.999999) - 1
	rank = max(0, min(rank, len(d)-1))
	return d[rank]
}

// msec formats a duration as milliseconds with two decimals.
func msec(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

// results collects KEY=VALUE lines for a -result file.
type results struct{ lines []string }

func (r *results) set(key string, format string, args ...any) {
	r.lines = append(r.lines, key+"="+fmt.Sprintf(format, args...))
}

// write appends the lines to path ("" does nothing).
func (r *results) write(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strings.Join(r.lines, "\n") + "\n")
	return errors.Join(err, f.Close())
}

// procMem returns the current and peak resident set size of a process, in
// bytes, from /proc/PID/status (VmRSS and VmHWM).
func procMem(pid int) (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if peak == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
	}
	return rss, peak, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the user plus system CPU time a process has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is parenthesised and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// dicomFiles lists the .dcm files under dir in lexical order with their
// total size.
func dicomFiles(dir string) ([]string, int64, error) {
	var files []string
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".dcm") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, p)
		total += info.Size()
		return nil
	})
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no .dcm files under %s", dir)
	}
	return files, total, err
}

// newClient returns a HealthImaging client for an ohi endpoint that signs
// with SigV4 (any key pair works against --no-auth) and never retries, so
// that every timed request is exactly one HTTP exchange. Its transport gives
// the SDK a private copy of each request body (aws/aws-sdk-go-v2#1825,
// #2737: on loopback with 37 KB responses about 4% of SearchImageSets calls
// otherwise failed with "use of closed network connection").
func newClient(endpoint, accessKey, secret string) *mi.Client {
	return miclient.New(endpoint, accessKey, secret)
}
