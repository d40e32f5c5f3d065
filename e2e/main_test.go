package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Set by TestMain.
var (
	ohiBin     string // the ohi binary under test
	moduleRoot string // the directory holding go.mod
)

// TestMain builds the ohi binary once for every test of the package. With
// OHI_E2E_LOG_DIR set, every server log is saved there. With
// OHI_E2E_RACE=1 the binary is built with the race detector and a reported
// race fails the test that ran the server.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		fmt.Fprintf(os.Stderr, "e2e: cannot find the module root (go env GOMOD: %q, %v)\n", out, err)
		return 1
	}
	moduleRoot = filepath.Dir(strings.TrimSpace(string(out)))
	tmp, err := os.MkdirTemp("", "ohi-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	ohiBin = filepath.Join(tmp, "ohi")
	args := []string{"build", "-o", ohiBin}
	if os.Getenv("OHI_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/ohi")...)
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go %s ./cmd/ohi: %v\n%s", strings.Join(args, " "), err, out)
		return 1
	}
	return m.Run()
}

// Bounds of the process harness.
const (
	startTimeout = 30 * time.Second // until the server logs its endpoint
	termTimeout  = 20 * time.Second // SIGTERM to exit, before SIGKILL
	killTimeout  = 10 * time.Second // SIGKILL to exit
	maxLogLines  = 50000            // lines of server log kept in memory
)

// serverOpts configures one `ohi serve` process.
type serverOpts struct {
	DataDir string
	Args    []string // extra flags after serve --listen --data-dir
	Env     []string // added to a copy of the environment without AWS_* and OHI_*
	// OnLine, if set, is called for every log line as soon as the server
	// writes it, on the goroutine that reads the server's output.
	OnLine func(p *serverProc, line string)
}

// serverProc is a running `ohi serve` process.
type serverProc struct {
	t        testing.TB
	Endpoint string // e.g. http://127.0.0.1:40123
	DataDir  string
	Log      *logLines

	cmd     *exec.Cmd
	pid     int
	started chan struct{} // closed once pid is set
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
}

var endpointRE = regexp.MustCompile(`msg="ohi listening" endpoint=(http://\S+)`)

// cleanEnv returns the environment without AWS_* and OHI_* variables, so
// the host's AWS configuration cannot leak into a test.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "OHI_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startServer starts `ohi serve` on a free loopback port and waits until it
// logs its endpoint. A cleanup stops it (SIGTERM, then SIGKILL) and fails
// the test if its log shows a panic or a data race.
func startServer(t testing.TB, o serverOpts) *serverProc {
	t.Helper()
	p := &serverProc{t: t, DataDir: o.DataDir, started: make(chan struct{}), done: make(chan struct{})}
	p.Log = newLogLines(func(line string) {
		if o.OnLine != nil {
			o.OnLine(p, line)
		}
	})
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", o.DataDir,
		"--log-format", "text", "--shutdown-timeout", "5s"}, o.Args...)
	p.cmd = exec.Command(ohiBin, args...)
	p.cmd.Env = cleanEnv(o.Env...)
	p.cmd.Stdout, p.cmd.Stderr = p.Log, p.Log
	// Its own process group (a terminal's ^C reaches the test, which stops it),
	// and SIGKILL if the test process dies first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", ohiBin, err)
	}
	p.pid = p.cmd.Process.Pid
	close(p.started)
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.cleanup)
	line, err := p.Log.Wait(endpointRE.String(), func(l string) bool { return endpointRE.MatchString(l) }, startTimeout, p.done)
	if err != nil {
		t.Fatalf("ohi serve did not start: %v\n%s", err, p.Log.Tail(40))
	}
	p.Endpoint = endpointRE.FindStringSubmatch(line)[1]
	return p
}

// Exited reports whether the process has exited.
func (p *serverProc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits for the exit, sending SIGKILL after
// termTimeout. It reports whether the process exited after SIGTERM alone.
func (p *serverProc) Stop() bool {
	if p.Exited() {
		return true
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(termTimeout):
	}
	p.Kill()
	return false
}

// Kill sends SIGKILL and waits (bounded) for the exit. Signals go through
// os.Process (a pidfd on Linux), so they never reach another process that
// reuses the pid after the exit.
func (p *serverProc) Kill() {
	<-p.started
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(killTimeout):
		p.t.Errorf("ohi serve (pid %d) still running %v after SIGKILL", p.pid, killTimeout)
	}
}

// killNow sends SIGKILL without waiting; for OnLine callbacks, which run on
// the goroutine that must drain the output for the process to exit.
func (p *serverProc) killNow() {
	<-p.started
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
}

func (p *serverProc) cleanup() {
	if !p.Stop() {
		p.t.Errorf("ohi serve (pid %d) ignored SIGTERM for %v", p.pid, termTimeout)
	}
	for _, l := range p.Log.Lines() {
		if strings.Contains(l, "WARNING: DATA RACE") || strings.HasPrefix(l, "panic:") ||
			strings.Contains(l, `msg="panic serving request"`) || strings.HasPrefix(l, "fatal error:") {
			p.t.Errorf("ohi serve log reports a crash or a race: %s", l)
		}
	}
	if d := os.Getenv("OHI_E2E_LOG_DIR"); d != "" {
		name := fmt.Sprintf("%s-%d.log", strings.ReplaceAll(p.t.Name(), "/", "_"), p.pid)
		if err := os.WriteFile(filepath.Join(d, name), []byte(strings.Join(p.Log.Lines(), "\n")+"\n"), 0o644); err != nil {
			p.t.Errorf("save the server log: %v", err)
		}
	}
	if p.t.Failed() {
		p.t.Logf("ohi serve log (last lines, data dir %s):\n%s", p.DataDir, p.Log.Tail(60))
	}
}

// logLines collects a process's output line by line, keeping the last
// maxLogLines lines, and lets tests wait for a line.
type logLines struct {
	onLine func(string)

	mu      sync.Mutex
	partial []byte
	lines   []string
	total   int           // lines written so far, including dropped ones
	changed chan struct{} // closed and replaced whenever a line arrives
}

func newLogLines(onLine func(string)) *logLines {
	return &logLines{onLine: onLine, changed: make(chan struct{})}
}

// Write implements io.Writer.
func (l *logLines) Write(b []byte) (int, error) {
	l.mu.Lock()
	l.partial = append(l.partial, b...)
	var got []string
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		got = append(got, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	l.lines = append(l.lines, got...)
	l.total += len(got)
	if over := len(l.lines) - maxLogLines; over > 0 {
		l.lines = append(l.lines[:0], l.lines[over:]...)
	}
	if len(got) > 0 {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	l.mu.Unlock()
	for _, line := range got {
		l.onLine(line)
	}
	return len(b), nil
}

// Lines returns a copy of the lines so far.
func (l *logLines) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// Count returns the number of lines containing substr.
func (l *logLines) Count(substr string) int {
	n := 0
	for _, line := range l.Lines() {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// Tail returns the last n lines as one string.
func (l *logLines) Tail(n int) string {
	lines := l.Lines()
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Wait returns the first line for which match is true, waiting at most
// timeout; it gives up early when stop is closed.
func (l *logLines) Wait(what string, match func(string) bool, timeout time.Duration, stop <-chan struct{}) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0 // lines already matched against, counted from the first line ever
	stopped := false
	for {
		l.mu.Lock()
		first := l.total - len(l.lines)
		var fresh []string
		if seen < first {
			seen = first
		}
		fresh = append(fresh, l.lines[seen-first:]...)
		seen = l.total
		changed := l.changed
		l.mu.Unlock()
		for _, line := range fresh {
			if match(line) {
				return line, nil
			}
		}
		if stopped {
			return "", errors.New("the process exited before logging " + what)
		}
		select {
		case <-changed:
		case <-stop:
			stopped = true // one more pass over lines written before the exit
		case <-deadline.C:
			return "", fmt.Errorf("no log line %s within %v", what, timeout)
		}
	}
}
