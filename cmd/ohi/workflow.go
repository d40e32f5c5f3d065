package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/expr"
	"github.com/openhealthimaging/ohi/arazzo/runner"
	"go.yaml.in/yaml/v3"
	"golang.org/x/term"
)

// WorkflowCmd groups the Arazzo workflow commands.
type WorkflowCmd struct {
	Run      workflowRunCmd      `cmd:"" help:"Run an Arazzo workflow. Exit status: 0 succeeded, 1 failed, 2 usage, parse or validation error."`
	Validate workflowValidateCmd `cmd:"" help:"Validate Arazzo documents (structure and semantics). Exit status 2 when any has errors."`
}

type workflowRunCmd struct {
	File         string        `arg:"" help:"Arazzo document (file or http(s) URL)."`
	Workflow     string        `short:"w" help:"Workflow to run (required when the document has several)."`
	Input        []string      `short:"i" sep:"none" placeholder:"NAME=VALUE" help:"Workflow input, typed by the workflow's input schema. Repeatable."`
	Inputs       string        `placeholder:"FILE" help:"JSON or YAML file of workflow inputs (--input values override it)."`
	Server       []string      `sep:"none" placeholder:"SOURCE=URL" help:"Send requests of a source description to URL instead of its OpenAPI servers. Repeatable."`
	Output       string        `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
	MaxSteps     int           `default:"2000" help:"Maximum step executions (loops and retries included)."`
	Timeout      time.Duration `default:"1h" help:"Overall time limit."`
	PollInterval time.Duration `default:"1s" help:"Minimum wait before a step is re-run by a loop; grows 1.5x per repeat up to 30s."`
	Verbose      bool          `short:"v" help:"Log every HTTP exchange (secrets redacted) to stderr."`
	DryRun       bool          `help:"Print the requests the workflow would send (credentials redacted) without sending any; each step counts as succeeded."`
	Strict       bool          `help:"Refuse the document when it has deviations that are otherwise warnings (see validate --strict)."`
	AllowRemote  bool          `help:"Fetch source descriptions and $refs named by http(s) URL (allowed anyway when the document itself is a URL)."`
	AllowDir     string        `placeholder:"DIR" help:"Directory tree local source descriptions and $refs may lie in (default: the parent of the document's directory, or the working directory when the document lies under it)."`
}

func usageErr(err error) error { return &ExitError{Code: 2, Err: err} }

func splitPairs(flag string, vals []string) (map[string]string, error) {
	m := map[string]string{}
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want NAME=VALUE", flag, v)
		}
		m[k] = val
	}
	return m, nil
}

// Run runs the workflow.
func (c *workflowRunCmd) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return c.run(ctx, os.Stdout, os.Stderr, term.IsTerminal(int(os.Stderr.Fd())))
}

// run is the body of Run: the result goes to stdout, progress and -v logs
// to stderr; stderrTTY says whether stderr is a terminal (live progress).
func (c *workflowRunCmd) run(ctx context.Context, stdout, stderr io.Writer, stderrTTY bool) error {
	servers, err := splitPairs("server", c.Server)
	if err != nil {
		return usageErr(err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()

	f := &arazzo.Fetcher{AllowRemote: c.AllowRemote, Dir: c.AllowDir}
	b, err := f.LoadBundle(ctx, c.File, servers)
	if err != nil {
		return usageErr(err)
	}
	wf, err := pickWorkflow(b.Root, c.Workflow)
	if err != nil {
		return usageErr(err)
	}
	// Errors in workflows this run cannot reach do not stop it (as in
	// other runners, a broken workflow fails alone); they are warnings.
	reach := runner.Reachable(b, wf.WorkflowID)
	var errs, warnings []arazzo.Diagnostic
	for _, d := range arazzo.ValidateWith(b.Root, b, arazzo.ValidateOptions{Strict: c.Strict}) {
		if d.Severity == arazzo.SeverityError && !unreachable(b.Root, reach, d.Path) {
			errs = append(errs, d)
			continue
		}
		d.Severity = arazzo.SeverityWarning
		warnings = append(warnings, d)
	}
	if len(errs) > 0 {
		return usageErr(&arazzo.ValidationError{Diagnostics: errs})
	}
	if c.Output == "text" {
		for _, d := range warnings {
			fmt.Fprintln(stderr, d)
		}
	}
	inputs := map[string]any{}
	if c.Inputs != "" {
		data, err := os.ReadFile(c.Inputs)
		if err != nil {
			return usageErr(err)
		}
		var n yaml.Node
		var v any
		err = yaml.Unmarshal(data, &n)
		if err == nil {
			arazzo.KeepTimestampsAsText(&n)
			err = n.Decode(&v)
		}
		if err != nil && len(bytes.TrimSpace(data)) > 0 {
			return usageErr(fmt.Errorf("--inputs %s: %w", c.Inputs, err))
		}
		m, ok := expr.Normalize(v).(map[string]any)
		if !ok && v != nil {
			return usageErr(fmt.Errorf("--inputs %s: must hold an object", c.Inputs))
		}
		for k, v := range m {
			inputs[k] = v
		}
	}
	pairs, err := splitPairs("input", c.Input)
	if err != nil {
		return usageErr(err)
	}
	for k, v := range pairs {
		tv, err := runner.TypedInput(b.Root, wf, k, v)
		if err != nil {
			return usageErr(err)
		}
		inputs[k] = tv
	}

	opts := runner.Options{
		Client:       &http.Client{Timeout: 2 * time.Minute},
		MaxSteps:     c.MaxSteps,
		PollInterval: c.PollInterval,
		DryRun:       c.DryRun,
	}
	if c.Verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var prog *progress
	if c.Output == "text" && (stderrTTY || c.Verbose) {
		prog = &progress{w: stderr, live: stderrTTY, start: time.Now()}
		opts.OnStepStart, opts.OnStep, opts.OnWait = prog.stepStart, prog.step, prog.wait
	}
	start := time.Now()
	res, err := runner.New(b, opts).Run(ctx, wf.WorkflowID, inputs)
	if err != nil {
		return usageErr(err)
	}
	prog.done()
	if c.Output == "json" {
		out := struct {
			*runner.Result
			Warnings []arazzo.Diagnostic `json:"warnings"`
		}{res, warnings}
		if out.Warnings == nil {
			out.Warnings = []arazzo.Diagnostic{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		if c.DryRun {
			printRequests(stdout, res.Requests)
		}
		printSummary(stdout, res, time.Since(start))
	}
	if res.Status != runner.StatusSucceeded {
		return &ExitError{Code: 1}
	}
	return nil
}

// unreachable reports whether a diagnostic's path lies in a workflow of
// the root document that the run cannot reach.
func unreachable(doc *arazzo.Document, reach map[*arazzo.Workflow]*arazzo.Document, path string) bool {
	var i int
	if _, err := fmt.Sscanf(path, "workflows[%d]", &i); err != nil || i < 0 || i >= len(doc.Workflows) {
		return false
	}
	return reach[&doc.Workflows[i]] == nil
}

// printRequests prints a dry run's requests.
func printRequests(w io.Writer, reqs []runner.PlannedRequest) {
	fmt.Fprintf(w, "dry run: %d request(s), none sent\n", len(reqs))
	for _, r := range reqs {
		fmt.Fprintf(w, "\n%s/%s\n  %s %s\n", r.WorkflowID, r.StepID, r.Method, r.URL)
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range r.Header[k] {
				fmt.Fprintf(w, "  %s: %s\n", k, v)
			}
		}
		if r.Body != "" {
			body := r.Body
			if len(body) > 2000 {
				body = body[:2000] + "…"
			}
			fmt.Fprintf(w, "\n  %s\n", strings.ReplaceAll(body, "\n", "\n  "))
		}
		if r.Note != "" {
			fmt.Fprintf(w, "  (not known before the run: %s)\n", r.Note)
		}
	}
	fmt.Fprintln(w)
}

func pickWorkflow(doc *arazzo.Document, id string) (*arazzo.Workflow, error) {
	if id != "" {
		if w := doc.Workflow(id); w != nil {
			return w, nil
		}
		return nil, fmt.Errorf("no workflow %q in %s", id, doc.URL)
	}
	if len(doc.Workflows) == 1 {
		return &doc.Workflows[0], nil
	}
	ids := make([]string, len(doc.Workflows))
	for i, w := range doc.Workflows {
		ids[i] = w.WorkflowID
	}
	return nil, fmt.Errorf("%s has %d workflows (%s): choose one with --workflow", doc.URL, len(ids), strings.Join(ids, ", "))
}

// progress prints one line per step execution to stderr; on a terminal the
// line of the running step is rewritten in place.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	live  bool
	start time.Time
	// A polling loop (a step re-run by goto) is one line on a terminal,
	// rewritten at every poll; poll is its state.
	poll struct {
		key   string // workflow/step of the open poll line, "" when none
		since time.Time
		n     int
	}
}

func (p *progress) elapsed() string {
	return time.Since(p.start).Round(100 * time.Millisecond).String()
}

func (p *progress) stepStart(wf, step string, attempt int) {
	if !p.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.poll.key == wf+"/"+step {
		p.pollLine(fmt.Sprintf("polling (#%d)…", attempt))
		return
	}
	fmt.Fprintf(p.w, "\r\033[K… %s/%s #%d  [%s]", wf, step, attempt, p.elapsed())
}

// pollLine rewrites the open poll line: the step, how many times and for
// how long it has been polled, and what happens now.
func (p *progress) pollLine(now string) {
	fmt.Fprintf(p.w, "\r\033[K⟳ %s  polled %d× for %s: %s  [%s]", p.poll.key, p.poll.n,
		time.Since(p.poll.since).Round(100*time.Millisecond), now, p.elapsed())
}

func (p *progress) step(r runner.StepRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := r.WorkflowID + "/" + r.StepID
	loops := r.Action == "goto "+r.StepID
	if p.live && (loops || p.poll.key == key) {
		// A step that re-runs itself: keep one line for the whole loop.
		if p.poll.key != key {
			fmt.Fprint(p.w, "\r\033[K")
			p.poll.key, p.poll.since, p.poll.n = key, time.Now(), 0
		}
		p.poll.n++
		if loops {
			p.pollLine(fmt.Sprintf("status %d, %dms", r.StatusCode, r.DurationMs))
			return
		}
		// The loop ends: leave its line and print the last execution.
		p.pollLine("done")
		fmt.Fprintln(p.w)
		p.poll.key = ""
	}
	if p.live {
		fmt.Fprint(p.w, "\r\033[K")
	}
	mark := "✓"
	if r.Outcome != runner.OutcomeSuccess {
		mark = "✗"
	}
	fmt.Fprintf(p.w, "%s %s/%s #%d  status %d  %dms  → %s  [%s]\n", mark, r.WorkflowID, r.StepID, r.Attempt, r.StatusCode, r.DurationMs, orDash(r.Action), p.elapsed())
}

func (p *progress) wait(wf, step string, d time.Duration, why string) {
	if !p.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.poll.key == wf+"/"+step {
		p.pollLine(fmt.Sprintf("next %s in %s", why, d.Round(10*time.Millisecond)))
		return
	}
	fmt.Fprintf(p.w, "\r\033[K… %s/%s: waiting %s before %s  [%s]", wf, step, d.Round(10*time.Millisecond), why, p.elapsed())
}

func (p *progress) done() {
	if p == nil || !p.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r\033[K")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printSummary(w io.Writer, res *runner.Result, d time.Duration) {
	fmt.Fprintf(w, "workflow %s %s in %s (%d step executions)\n", res.WorkflowID, res.Status, d.Round(time.Millisecond), len(res.Steps))
	for _, s := range res.Steps {
		fmt.Fprintf(w, "  %-28s #%-3d %3d  %-7s %6dms  → %s\n", s.WorkflowID+"/"+s.StepID, s.Attempt, s.StatusCode, s.Outcome, s.DurationMs, orDash(s.Action))
		if s.Error != "" && s.Outcome != runner.OutcomeSuccess {
			fmt.Fprintf(w, "      %s\n", s.Error)
		}
	}
	if res.Error != nil {
		fmt.Fprintf(w, "error: %s\n", *res.Error)
	}
	if len(res.Outputs) > 0 {
		fmt.Fprintln(w, "outputs:")
		keys := make([]string, 0, len(res.Outputs))
		for k := range res.Outputs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := res.Outputs[k]
			s := expr.String(v)
			if v == nil {
				s = "null"
			}
			if len(s) > 200 {
				s = s[:200] + "…"
			}
			fmt.Fprintf(w, "  %s: %s\n", k, s)
		}
	}
}

type workflowValidateCmd struct {
	Files       []string `arg:"" help:"Arazzo documents (files or http(s) URLs)."`
	Strict      bool     `help:"Report as errors the deviations that other runners accept and ohi reads unambiguously (warnings by default): for linting."`
	Output      string   `short:"o" enum:"text,json" default:"text" help:"Output format: text (diagnostics on stderr) or json (one object per file on stdout)."`
	Offline     bool     `help:"Do not fetch http(s) source descriptions: validate without them (a warning says which were not checked)."`
	AllowRemote bool     `help:"Fetch source descriptions and $refs named by http(s) URL (allowed anyway when the document itself is a URL)."`
	AllowDir    string   `placeholder:"DIR" help:"Directory tree local source descriptions and $refs may lie in (default: the parent of the document's directory, or the working directory when the document lies under it)."`
}

// offlineTransport refuses every request.
type offlineTransport struct{}

func (offlineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("not fetched: --offline")
}

// Run validates each file and prints its diagnostics.
func (c *workflowValidateCmd) Run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	failed := false
	for _, file := range c.Files {
		f := &arazzo.Fetcher{AllowRemote: c.AllowRemote, Dir: c.AllowDir}
		if c.Offline {
			f.Client = &http.Client{Transport: offlineTransport{}}
		}
		ds, err := f.ValidateFile(ctx, file, arazzo.ValidateOptions{Strict: c.Strict})
		if c.Output == "json" {
			out := struct {
				File        string              `json:"file"`
				Valid       bool                `json:"valid"`
				Error       string              `json:"error,omitempty"`
				Diagnostics []arazzo.Diagnostic `json:"diagnostics"`
			}{File: file, Valid: err == nil && !arazzo.HasErrors(ds), Diagnostics: ds}
			if err != nil {
				out.Error = err.Error()
			}
			if out.Diagnostics == nil {
				out.Diagnostics = []arazzo.Diagnostic{}
			}
			if e := json.NewEncoder(os.Stdout).Encode(out); e != nil {
				return e
			}
			failed = failed || !out.Valid
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
			continue
		}
		for _, d := range ds {
			fmt.Fprintln(os.Stderr, d)
		}
		if arazzo.HasErrors(ds) {
			failed = true
		} else {
			fmt.Printf("%s: valid\n", file)
		}
	}
	if failed {
		return &ExitError{Code: 2}
	}
	return nil
}
