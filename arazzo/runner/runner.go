// Package runner executes Arazzo 1.0.x and 1.1.x workflows over HTTP.
//
// A [Runner] takes a loaded [arazzo.Bundle] and runs one workflow: it
// validates the inputs against the workflow's JSON Schema, runs
// dependsOn workflows first, executes the steps in order (operation steps as
// HTTP calls built from the OpenAPI source description, workflow steps as
// nested runs), evaluates success criteria, and follows success and failure
// actions (end, goto, retry). Choices the specification leaves open are
// documented in docs/arazzo.md.
package runner

import (
	"context"
	"net/url"

	"errors"
	"fmt"
	"github.com/getkin/kin-openapi/openapi3"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/expr"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Defaults for [Options].
const (
	DefaultMaxSteps         = 2000
	DefaultPollInterval     = time.Second
	DefaultMaxPollInterval  = 30 * time.Second
	DefaultMaxResponseBytes = 64 << 20
	DefaultMaxRetryAfter    = 5 * time.Minute
	maxWorkflowDepth        = 32
	pollBackoffFactor       = 1.5
)

// Workflow and step outcomes.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"

	OutcomeSuccess = "success" // success criteria passed
	OutcomeFailure = "failure" // a response arrived but the criteria failed
	OutcomeError   = "error"   // no usable response (transport, request building)
)

// Options configure a [Runner]. Zero values mean the documented defaults.
type Options struct {
	// Client sends the HTTP requests. Default: a client with a 60s timeout
	// per request.
	Client *http.Client
	// MaxSteps bounds the number of step executions in one run, across
	// nested workflows, retries and loops. Default: DefaultMaxSteps.
	MaxSteps int
	// PollInterval is the minimum wait before a step is re-run by a goto
	// loop (and before a retry that has no retryAfter and no Retry-After
	// header). Each further consecutive re-run waits 1.5 times longer, up
	// to MaxPollInterval. Default: DefaultPollInterval.
	PollInterval time.Duration
	// MaxPollInterval caps the loop backoff. Default: DefaultMaxPollInterval,
	// or PollInterval if that is larger.
	MaxPollInterval time.Duration
	// MaxRetryAfter caps a server's Retry-After header and an action's
	// retryAfter. Default:
	// DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// MaxResponseBytes bounds a response body after decompression.
	// Default: DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Auth applies the source description's security schemes to requests.
	// Default: [NewEnvAuth] with os.Getenv.
	Auth Authenticator
	// Logger receives one debug record per HTTP exchange (method, URL with
	// secrets redacted, status, duration). Default: discard.
	Logger *slog.Logger
	// OnStepStart and OnStep, when set, are called before and after each
	// step execution (for progress display).
	OnStepStart func(workflowID, stepID string, attempt int)
	OnStep      func(StepRecord)
	// OnWait, when set, is called before the runner sleeps between polls or
	// retries.
	OnWait func(workflowID, stepID string, d time.Duration, why string)
	// Sleep waits for d or until ctx ends. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// DryRun builds every request (credentials applied, then redacted in
	// the report) and records it in Result.Requests instead of sending it.
	// Each operation step counts as succeeded with no response, so the
	// run follows the steps' success path; values read from responses are
	// undefined.
	DryRun bool
}

// ResultFormat identifies the JSON layout of [Result]. It changes only
// when a field is removed or changes meaning; fields may be added.
const ResultFormat = "ohi.workflow.result/v1"

// PlannedRequest is a request a dry run would have sent.
type PlannedRequest struct {
	WorkflowID string              `json:"workflowId"`
	StepID     string              `json:"stepId"`
	Method     string              `json:"method"`
	URL        string              `json:"url"`
	Header     map[string][]string `json:"header"`
	Body       string              `json:"body,omitempty"`
	// Note says what could not be built (an undefined value, missing
	// credentials); the request is shown without it.
	Note string `json:"note,omitempty"`
}

// StepRecord reports one execution of a step.
type StepRecord struct {
	WorkflowID string `json:"workflowId"`
	StepID     string `json:"stepId"`
	// Attempt counts the executions of this step in its workflow run,
	// from 1, including retries and goto loops.
	Attempt    int    `json:"attempt"`
	StatusCode int    `json:"statusCode"`
	Outcome    string `json:"outcome"`
	DurationMs int64  `json:"durationMs"`
	// Action is what happened next: "next", "end", "goto <id>",
	// "retry", "fail" or "" when the run stopped.
	Action string `json:"action,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Result is the outcome of running a workflow.
type Result struct {
	// Format is [ResultFormat].
	Format     string         `json:"format"`
	WorkflowID string         `json:"workflowId"`
	Status     string         `json:"status"`
	Outputs    map[string]any `json:"outputs"`
	Steps      []StepRecord   `json:"steps"`
	Error      *string        `json:"error"`
	// Requests are the requests of a dry run.
	Requests []PlannedRequest `json:"requests,omitempty"`
}

// InputError reports workflow inputs that do not satisfy the workflow's
// input schema (or cannot be typed).
type InputError struct {
	WorkflowID string
	Problems   []string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("workflow %s: invalid inputs:\n  %s", e.WorkflowID, strings.Join(e.Problems, "\n  "))
}

// Runner runs workflows of one bundle. It is not safe for concurrent use.
type Runner struct {
	b    *arazzo.Bundle
	opts Options

	steps     int
	records   []StepRecord
	workflows map[string]*workflowState
	planned   []PlannedRequest
	compiled  map[criterionKey]*expr.Criterion        // criteria without embedded expressions
	schemas   map[*arazzo.Workflow]*jsonschema.Schema // compiled input schemas
}

type workflowState struct {
	inputs  map[string]any
	outputs map[string]any
	steps   map[string]map[string]any // outputs of the steps that succeeded
	status  string
}

// New returns a Runner for b.
func New(b *arazzo.Bundle, opts Options) *Runner {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 60 * time.Second}
	}
	if opts.MaxSteps <= 0 {
		opts.MaxSteps = DefaultMaxSteps
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.MaxPollInterval <= 0 {
		opts.MaxPollInterval = DefaultMaxPollInterval
	}
	opts.MaxPollInterval = max(opts.MaxPollInterval, opts.PollInterval)
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.Auth == nil {
		opts.Auth = NewEnvAuth(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	return &Runner{b: b, opts: opts}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run runs the workflow workflowID of the bundle's root document (the only
// workflow when workflowID is empty) with inputs. Input validation errors
// are returned as *InputError; everything that happens during execution is
// reported in the Result.
func (r *Runner) Run(ctx context.Context, workflowID string, inputs map[string]any) (*Result, error) {
	doc := r.b.Root
	if workflowID == "" {
		if len(doc.Workflows) != 1 {
			ids := make([]string, len(doc.Workflows))
			for i, w := range doc.Workflows {
				ids[i] = w.WorkflowID
			}
			return nil, fmt.Errorf("the document has %d workflows (%s): choose one with --workflow", len(ids), strings.Join(ids, ", "))
		}
		workflowID = doc.Workflows[0].WorkflowID
	}
	wf := doc.Workflow(workflowID)
	if wf == nil {
		return nil, fmt.Errorf("no workflow %q in %s", workflowID, doc.URL)
	}
	if err := Unsupported(r.b, workflowID); err != nil {
		return nil, err
	}
	inputs = expr.Normalize(inputs).(map[string]any)
	if inputs == nil {
		inputs = map[string]any{}
	}
	applyDefaults(doc, wf, inputs)
	if err := r.validateInputs(doc, wf, inputs); err != nil {
		return nil, err
	}
	r.steps, r.records = 0, nil
	r.workflows = map[string]*workflowState{}
	r.planned = nil
	res := &Result{Format: ResultFormat, WorkflowID: workflowID, Outputs: map[string]any{}}
	st, err := r.runWorkflow(ctx, doc, wf, inputs, 0)
	res.Steps = r.records
	res.Requests = r.planned
	if res.Steps == nil {
		res.Steps = []StepRecord{}
	}
	if st != nil && st.outputs != nil {
		res.Outputs = st.outputs
	}
	res.Status = StatusSucceeded
	if err != nil {
		res.Status = StatusFailed
		msg := err.Error()
		res.Error = &msg
	}
	return res, nil
}

// errEndFailed marks a workflow ended by an end action on the failure path.
type endError struct{ step string }

func (e *endError) Error() string {
	return fmt.Sprintf("step %s failed and an end action ended the workflow", e.step)
}

// runWorkflow runs one workflow and returns its state (inputs and outputs)
// and nil, or the error that made it fail.
func (r *Runner) runWorkflow(ctx context.Context, doc *arazzo.Document, wf *arazzo.Workflow, inputs map[string]any, depth int) (*workflowState, error) {
	if depth > maxWorkflowDepth {
		return nil, fmt.Errorf("workflows nested deeper than %d", maxWorkflowDepth)
	}
	st := &workflowState{inputs: inputs}
	r.workflows[wf.WorkflowID] = st
	for _, dep := range wf.DependsOn {
		if prev, ok := r.workflows[depKey(dep)]; ok && prev.status == StatusSucceeded {
			continue
		}
		ddoc, dwf, err := r.b.ResolveWorkflow(doc, dep)
		if err != nil {
			return st, fmt.Errorf("dependsOn: %w", err)
		}
		din := filterInputs(ddoc, dwf, inputs)
		if err := r.validateInputs(ddoc, dwf, din); err != nil {
			return st, fmt.Errorf("dependsOn %s: %w", dep, err)
		}
		if _, err := r.runWorkflow(ctx, ddoc, dwf, din, depth+1); err != nil {
			return st, fmt.Errorf("dependsOn %s failed: %w", dep, err)
		}
	}
	owf, err := ordered(wf)
	if err != nil {
		return st, err
	}
	run := &wfRun{r: r, doc: doc, wf: owf, state: st, stepOutputs: map[string]map[string]any{}, depth: depth}
	st.steps = run.stepOutputs
	err = run.execute(ctx)
	st.outputs = run.evalWorkflowOutputs()
	st.status = StatusSucceeded
	if err != nil {
		st.status = StatusFailed
	}
	r.workflows[wf.WorkflowID] = st
	return st, err
}

func depKey(ref string) string {
	if i := strings.LastIndexByte(ref, '.'); strings.HasPrefix(ref, "$sourceDescriptions.") && i > 0 {
		return ref[i+1:]
	}
	return ref
}

// wfRun is the state of one workflow execution.
type wfRun struct {
	r           *Runner
	doc         *arazzo.Document
	wf          *arazzo.Workflow
	state       *workflowState
	stepOutputs map[string]map[string]any
	depth       int

	last       *exchange      // the current step's request and response
	dryNote    []string       // what a dry run could not build for the current request
	subOutputs map[string]any // outputs of the workflow a workflow step ran
	// subByStep keeps, per workflow step, the outputs of the workflow it
	// ran: $steps.<id>.outputs.<name> falls back to them when the step
	// does not declare <name> itself.
	subByStep map[string]map[string]any
	attempts  map[string]int
	loops     map[string]int
}

// stepResult is what executing a step once produced.
type stepResult struct {
	success    bool
	err        error // why it failed, if it did
	retryAfter time.Duration
	hasRA      bool // a Retry-After header was present
}

func (w *wfRun) execute(ctx context.Context) error {
	w.attempts = map[string]int{}
	w.loops = map[string]int{}
	retries := map[string]int{} // stepId/actionName -> retries used
	i := 0
	viaRetry := false
	for i < len(w.wf.Steps) {
		step := &w.wf.Steps[i]
		if !viaRetry {
			for k := range retries {
				if strings.HasPrefix(k, step.StepID+"/") {
					delete(retries, k)
				}
			}
			if w.attempts[step.StepID] > 0 {
				// Re-entering a step that already ran: a loop. Wait.
				w.loops[step.StepID]++
				d := w.pollDelay(w.loops[step.StepID])
				if err := w.wait(ctx, step.StepID, d, "poll"); err != nil {
					return err
				}
			}
		}
		viaRetry = false

		res, rec, err := w.runStep(ctx, step)
		if err != nil { // fatal: limits, cancellation
			rec.Action = ""
			w.r.record(rec)
			return err
		}
		var actions []arazzo.Action
		if res.success {
			actions = combine(step.OnSuccess, w.wf.SuccessActions)
		} else {
			actions = combine(step.OnFailure, w.wf.FailureActions)
		}
		act, err := w.choose(actions, step.StepID, retries)
		if err != nil {
			rec.Action = "fail"
			w.r.record(rec)
			return err
		}
		if act == nil {
			if res.success {
				rec.Action = "next"
				w.r.record(rec)
				i++
				continue
			}
			rec.Action = "fail"
			w.r.record(rec)
			return fmt.Errorf("step %s failed: %w", step.StepID, res.err)
		}
		switch act.Type {
		case arazzo.ActionEnd:
			rec.Action = "end"
			w.r.record(rec)
			if res.success {
				return nil
			}
			return fmt.Errorf("%w: %v", &endError{step: step.StepID}, res.err)
		case arazzo.ActionGoto:
			if act.StepID != "" {
				j := w.wf.StepIndex(act.StepID)
				if j < 0 {
					rec.Action = "fail"
					w.r.record(rec)
					return fmt.Errorf("step %s: goto: no step %q", step.StepID, act.StepID)
				}
				rec.Action = "goto " + act.StepID
				w.r.record(rec)
				i = j
				continue
			}
			rec.Action = "goto " + act.WorkflowID
			w.r.record(rec)
			return w.gotoWorkflow(ctx, act)
		case arazzo.ActionRetry:
			rec.Action = "retry"
			w.r.record(rec)
			retries[step.StepID+"/"+act.Name]++
			if act.StepID != "" {
				j := w.wf.StepIndex(act.StepID)
				if j < 0 {
					return fmt.Errorf("step %s: retry: no step %q", step.StepID, act.StepID)
				}
				if _, rec2, err := w.runStep(ctx, &w.wf.Steps[j]); err != nil {
					w.r.record(rec2)
					return err
				} else {
					rec2.Action = "retry " + step.StepID
					w.r.record(rec2)
				}
			} else if act.WorkflowID != "" {
				ddoc, dwf, err := w.r.b.ResolveWorkflow(w.doc, act.WorkflowID)
				if err != nil {
					return fmt.Errorf("step %s: retry: %w", step.StepID, err)
				}
				din, err := w.actionInputs(act, ddoc, dwf)
				if err != nil {
					return fmt.Errorf("step %s: retry: %w", step.StepID, err)
				}
				if _, err := w.r.runWorkflow(ctx, ddoc, dwf, din, w.depth+1); err != nil {
					return fmt.Errorf("step %s: retry: workflow %s failed: %w", step.StepID, act.WorkflowID, err)
				}
			}
			d := w.retryDelay(act, res, retries[step.StepID+"/"+act.Name])
			if err := w.wait(ctx, step.StepID, d, "retry"); err != nil {
				return err
			}
			viaRetry = true
			continue
		default:
			return fmt.Errorf("step %s: unknown action type %q", step.StepID, act.Type)
		}
	}
	return nil
}

func (w *wfRun) gotoWorkflow(ctx context.Context, act *arazzo.Action) error {
	ref := act.WorkflowID
	ddoc, dwf, err := w.r.b.ResolveWorkflow(w.doc, ref)
	if err != nil {
		return fmt.Errorf("goto: %w", err)
	}
	din, err := w.actionInputs(act, ddoc, dwf)
	if err != nil {
		return fmt.Errorf("goto %s: %w", ref, err)
	}
	if err := w.r.validateInputs(ddoc, dwf, din); err != nil {
		return fmt.Errorf("goto %s: %w", ref, err)
	}
	if _, err := w.r.runWorkflow(ctx, ddoc, dwf, din, w.depth+1); err != nil {
		return fmt.Errorf("goto workflow %s failed: %w", ref, err)
	}
	return nil
}

func (r *Runner) record(rec StepRecord) {
	r.records = append(r.records, rec)
	if r.opts.OnStep != nil {
		r.opts.OnStep(rec)
	}
}

func (w *wfRun) pollDelay(n int) time.Duration {
	d := float64(w.r.opts.PollInterval) * math.Pow(pollBackoffFactor, float64(n-1))
	if d > float64(w.r.opts.MaxPollInterval) {
		return w.r.opts.MaxPollInterval
	}
	return time.Duration(d)
}

// retryDelay is the Retry-After header if the response had one, else the
// action's retryAfter (both capped at MaxRetryAfter), else the poll
// backoff.
func (w *wfRun) retryDelay(act *arazzo.Action, res stepResult, n int) time.Duration {
	switch {
	case res.hasRA:
		return min(res.retryAfter, w.r.opts.MaxRetryAfter)
	case act.RetryAfter != nil:
		// The document's value, in seconds, capped like a server's (a
		// huge or non-finite number would overflow a Duration).
		s := *act.RetryAfter
		if !(s < w.r.opts.MaxRetryAfter.Seconds()) {
			return w.r.opts.MaxRetryAfter
		}
		return time.Duration(s * float64(time.Second))
	}
	return w.pollDelay(n)
}

func (w *wfRun) wait(ctx context.Context, stepID string, d time.Duration, why string) error {
	if d <= 0 || w.r.opts.DryRun {
		return ctx.Err()
	}
	if w.r.opts.OnWait != nil {
		w.r.opts.OnWait(w.wf.WorkflowID, stepID, d, why)
	}
	if err := w.r.opts.Sleep(ctx, d); err != nil {
		return fmt.Errorf("waiting before re-running step %s: %w", stepID, err)
	}
	return nil
}

// combine merges step-level actions with workflow-level ones: the step's
// actions come first, then the workflow's actions whose names the step does
// not define (a step action with the same name overrides the workflow one;
// the workflow's actions cannot be removed).
func combine(step, workflow []arazzo.Action) []arazzo.Action {
	if len(workflow) == 0 {
		return step
	}
	names := map[string]bool{}
	for _, a := range step {
		names[a.Name] = true
	}
	out := append([]arazzo.Action(nil), step...)
	for _, a := range workflow {
		if a.Reference != "" || !names[a.Name] {
			out = append(out, a)
		}
	}
	return out
}

// choose returns the first action whose criteria all pass, skipping retry
// actions whose retryLimit is exhausted.
func (w *wfRun) choose(actions []arazzo.Action, stepID string, retries map[string]int) (*arazzo.Action, error) {
	seen := map[string]bool{}
	for _, a := range actions {
		a, err := w.resolveAction(a)
		if err != nil {
			return nil, fmt.Errorf("step %s: %w", stepID, err)
		}
		if seen[a.Name] {
			continue // overridden by an earlier action of the same name
		}
		seen[a.Name] = true
		if a.Type == arazzo.ActionRetry {
			limit := 1
			if a.RetryLimit != nil {
				limit = *a.RetryLimit
			}
			if retries[stepID+"/"+a.Name] >= limit {
				continue
			}
		}
		ok, err := w.criteria(a.Criteria)
		if err != nil {
			w.r.opts.Logger.Debug("action criterion error", "step", stepID, "action", a.Name, "err", err)
		}
		if ok {
			return &a, nil
		}
	}
	return nil, nil
}

func (w *wfRun) resolveAction(a arazzo.Action) (arazzo.Action, error) {
	if a.Reference == "" {
		return a, nil
	}
	e, err := expr.Parse(a.Reference)
	if err != nil || e.Root != expr.Components {
		return a, fmt.Errorf("action reference %q: want $components.successActions.<name> or $components.failureActions.<name>", a.Reference)
	}
	var ok bool
	var out arazzo.Action
	switch e.ID {
	case "successActions":
		out, ok = w.doc.Components.SuccessActions[e.Name]
	case "failureActions":
		out, ok = w.doc.Components.FailureActions[e.Name]
	}
	if !ok {
		return a, fmt.Errorf("action reference %q: no such component", a.Reference)
	}
	return out, nil
}

// criteria evaluates criteria with AND; an evaluation error fails.
func (w *wfRun) criteria(cs []arazzo.Criterion) (bool, error) {
	for _, c := range cs {
		cr, err := w.r.compile(c, w.doc.V11())
		if err != nil {
			return false, fmt.Errorf("criterion %q: %w", c.Condition, err)
		}
		ok, err := cr.Eval(w)
		if err != nil {
			return false, fmt.Errorf("criterion %q: %w", c.Condition, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// criterionKey identifies a compiled criterion: its text and the rules
// (1.0 or 1.1) of its document.
type criterionKey struct {
	c   arazzo.Criterion
	v11 bool
}

// compile compiles a criterion once per runner, with the evaluation rules
// of the document's version.
func (r *Runner) compile(c arazzo.Criterion, v11 bool) (*expr.Criterion, error) {
	key := criterionKey{c, v11}
	if cr, ok := r.compiled[key]; ok {
		return cr, nil
	}
	ctxExpr := c.Context
	if c.Type.Type == "" || c.Type.Type == expr.TypeSimple {
		if _, err := expr.Parse(ctxExpr); err != nil {
			ctxExpr = "" // a simple condition does not use its context
		}
	}
	compile := expr.CompileCriterion
	if v11 {
		compile = expr.CompileCriterionV11
	}
	cr, err := compile(c.Condition, ctxExpr, c.Type.Type, c.Type.Version)
	if err != nil {
		return nil, err
	}
	if r.compiled == nil {
		r.compiled = map[criterionKey]*expr.Criterion{}
	}
	r.compiled[key] = cr
	return cr, nil
}

// errLimit wraps fatal run-limit errors.
var errLimit = errors.New("run limit reached")

// runStep executes one step once. The error is fatal (limits,
// cancellation); a failing step is reported through stepResult.
func (w *wfRun) runStep(ctx context.Context, step *arazzo.Step) (stepResult, StepRecord, error) {
	w.attempts[step.StepID]++
	rec := StepRecord{WorkflowID: w.wf.WorkflowID, StepID: step.StepID, Attempt: w.attempts[step.StepID]}
	if err := ctx.Err(); err != nil {
		rec.Outcome, rec.Error = OutcomeError, err.Error()
		return stepResult{}, rec, fmt.Errorf("step %s: %w", step.StepID, err)
	}
	w.r.steps++
	if w.r.steps > w.r.opts.MaxSteps {
		rec.Outcome, rec.Error = OutcomeError, "max steps exceeded"
		return stepResult{}, rec, fmt.Errorf("%w: more than %d step executions (raise --max-steps)", errLimit, w.r.opts.MaxSteps)
	}
	if w.r.opts.OnStepStart != nil {
		w.r.opts.OnStepStart(w.wf.WorkflowID, step.StepID, rec.Attempt)
	}
	start := time.Now()
	w.last, w.subOutputs = nil, nil
	var res stepResult
	var fatal error
	if err := w.checkDependsOn(step); err != nil {
		res = stepResult{err: err}
	} else if step.WorkflowID != "" {
		res, fatal = w.runWorkflowStep(ctx, step)
	} else {
		res = w.runOperationStep(ctx, step)
	}
	rec.DurationMs = time.Since(start).Milliseconds()
	if w.last != nil {
		rec.StatusCode = w.last.status
	}
	switch {
	case res.success:
		rec.Outcome = OutcomeSuccess
	case w.last != nil && w.last.status != 0 || step.WorkflowID != "" && res.err != nil && w.subOutputs != nil:
		rec.Outcome = OutcomeFailure
	default:
		rec.Outcome = OutcomeError
	}
	if res.err != nil {
		rec.Error = res.err.Error()
	}
	if fatal == nil && ctx.Err() != nil {
		fatal = fmt.Errorf("step %s: %w", step.StepID, ctx.Err())
	}
	if res.success {
		w.stepOutputs[step.StepID] = w.evalOutputs(step.Outputs)
	}
	return res, rec, fatal
}

func (w *wfRun) runOperationStep(ctx context.Context, step *arazzo.Step) stepResult {
	var op *arazzo.Operation
	var err error
	switch {
	case step.XOperation != nil && step.OperationID == "" && step.OperationPath == "":
		op, err = xOperation(step.XOperation)
	case step.OperationID != "":
		op, err = w.r.b.ResolveOperationID(w.doc, step.OperationID)
	default:
		op, err = w.r.b.ResolveOperationPath(w.doc, step.OperationPath)
	}
	if err != nil {
		return stepResult{err: err}
	}
	callCtx := ctx
	if step.Timeout != nil && *step.Timeout > 0 {
		// The 1.1 step timeout (milliseconds) bounds the step's request.
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, time.Duration(*step.Timeout)*time.Millisecond)
		defer cancel()
	}
	ex, err := w.call(callCtx, step, op)
	w.last = ex
	if err != nil && callCtx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("step timeout of %dms exceeded: %w", *step.Timeout, err)
	}
	if w.r.opts.DryRun {
		// Nothing was sent: the step counts as done, so that the run
		// shows the requests of its success path.
		return stepResult{success: true}
	}
	if err != nil {
		return stepResult{err: err}
	}
	res := stepResult{}
	if ra, ok := parseRetryAfter(ex.respHeader.Get("Retry-After"), time.Now()); ok {
		res.retryAfter, res.hasRA = ra, true
	}
	if len(step.SuccessCriteria) == 0 {
		res.success = ex.status >= 200 && ex.status < 300
		if !res.success {
			res.err = fmt.Errorf("HTTP status %d%s (no successCriteria: a 2xx status is required)", ex.status, summarySuffix(ex))
		}
		return res
	}
	ok, err := w.criteria(step.SuccessCriteria)
	res.success = ok
	switch {
	case err != nil:
		res.err = err
	case !ok:
		res.err = fmt.Errorf("success criteria not met (HTTP status %d%s)", ex.status, summarySuffix(ex))
	}
	return res
}

func (w *wfRun) runWorkflowStep(ctx context.Context, step *arazzo.Step) (stepResult, error) {
	ddoc, dwf, err := w.r.b.ResolveWorkflow(w.doc, step.WorkflowID)
	if err != nil {
		return stepResult{err: err}, nil
	}
	in := map[string]any{}
	for _, p := range w.params(step) {
		if p.In != "" {
			continue
		}
		v, err := w.evalValue(p.Value)
		if errors.Is(err, expr.ErrUndefined) {
			continue
		}
		if err != nil {
			return stepResult{err: fmt.Errorf("parameter %s: %w", p.Name, err)}, nil
		}
		in[p.Name] = v
	}
	applyDefaults(ddoc, dwf, in)
	if err := w.r.validateInputs(ddoc, dwf, in); err != nil {
		return stepResult{err: err}, nil
	}
	st, err := w.r.runWorkflow(ctx, ddoc, dwf, in, w.depth+1)
	if errors.Is(err, errLimit) || ctx.Err() != nil {
		return stepResult{err: err}, err
	}
	w.subOutputs = map[string]any{}
	if st != nil && st.outputs != nil {
		w.subOutputs = st.outputs
	}
	if w.subByStep == nil {
		w.subByStep = map[string]map[string]any{}
	}
	w.subByStep[step.StepID] = w.subOutputs
	if err != nil {
		return stepResult{err: fmt.Errorf("workflow %s failed: %w", step.WorkflowID, err)}, nil
	}
	ok, err := w.criteria(step.SuccessCriteria)
	res := stepResult{success: ok}
	if err != nil {
		res.err = err
	} else if !ok {
		res.err = errors.New("success criteria not met")
	}
	return res, nil
}

// evalOutputs evaluates output expressions; undefined values become null.
func (w *wfRun) evalOutputs(outs arazzo.Outputs) map[string]any {
	m := make(map[string]any, len(outs))
	for _, o := range outs {
		v, err := w.evalOutput(o)
		if err != nil {
			w.r.opts.Logger.Debug("output undefined", "workflow", w.wf.WorkflowID, "output", o.Name, "err", err)
			v = nil
		}
		m[o.Name] = v
	}
	return m
}

func (w *wfRun) evalWorkflowOutputs() map[string]any {
	w.last, w.subOutputs = nil, nil
	w.state.outputs = map[string]any{}
	for _, o := range w.wf.Outputs {
		v, err := w.evalOutput(o)
		if err != nil {
			v = nil
		}
		w.state.outputs[o.Name] = v
	}
	return w.state.outputs
}

// evalOutput evaluates an output expression or (1.1) Selector Object.
func (w *wfRun) evalOutput(o arazzo.Output) (any, error) {
	if o.Selector != nil {
		return w.evalSelector(o.Selector)
	}
	return expr.EvalString(o.Value, w)
}

// xOperation makes an operation of Respect's x-operation extension: the
// URL's scheme, host and query as the server, its path as the template,
// no parameters or security of a description.
func xOperation(x *arazzo.XOperation) (*arazzo.Operation, error) {
	u, err := url.Parse(x.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("x-operation url %q: not an absolute http(s) URL", x.URL)
	}
	server := u.Scheme + "://" + u.Host
	if u.RawQuery != "" {
		server += "?" + u.RawQuery
	}
	src := &arazzo.OpenAPISource{Name: "x-operation", URL: x.URL, Doc: &openapi3.T{}, ServerOverride: server}
	path := u.Path
	if path == "" {
		path = "/"
	}
	return &arazzo.Operation{Source: src, PathKey: path, Path: path, Method: strings.ToUpper(x.Method),
		PathItem: &openapi3.PathItem{}, Op: &openapi3.Operation{}}, nil
}
