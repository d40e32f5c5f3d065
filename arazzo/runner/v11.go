package runner

import (
	"errors"
	"fmt"
	"strings"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/expr"
)

// evalValue evaluates a parameter value, payload or replacement value:
// every string as a template and, in an Arazzo 1.1 document, every
// Selector Object by applying its selector.
func (w *wfRun) evalValue(v any) (any, error) {
	if !w.doc.V11() {
		return expr.EvalValue(v, w)
	}
	return expr.EvalValueHook(v, w, func(m map[string]any) (any, bool, error) {
		sel, ok := arazzo.AsSelector(m)
		if !ok {
			return nil, false, nil
		}
		val, err := w.evalSelector(sel)
		return val, true, err
	})
}

// evalSelector evaluates a Selector Object.
func (w *wfRun) evalSelector(s *arazzo.Selector) (any, error) {
	e, err := expr.Parse(s.Context)
	if err != nil {
		return nil, fmt.Errorf("selector context: %w", err)
	}
	v, err := expr.Eval(e, w)
	if err != nil {
		return nil, err
	}
	return expr.Select(v, s.Selector, s.Type.Type, s.Type.Version)
}

// actionInputs returns the inputs of the workflow a goto or retry action
// transfers to: the current inputs the target declares, overridden by the
// action's parameters (Arazzo 1.1).
func (w *wfRun) actionInputs(a *arazzo.Action, ddoc *arazzo.Document, dwf *arazzo.Workflow) (map[string]any, error) {
	in := filterInputs(ddoc, dwf, w.state.inputs)
	for _, p := range a.Parameters {
		if p.Reference != "" {
			rp, ok := w.resolveParamRef(p)
			if !ok {
				return nil, fmt.Errorf("action %s: parameter reference %q: no such component", a.Name, p.Reference)
			}
			p = rp
		}
		v, err := w.evalValue(p.Value)
		if errors.Is(err, expr.ErrUndefined) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("action %s: parameter %s: %w", a.Name, p.Name, err)
		}
		in[p.Name] = v
	}
	applyDefaults(ddoc, dwf, in)
	return in, nil
}

// ordered returns wf with its steps in execution order when steps declare
// dependsOn (Arazzo 1.1), else wf itself.
func ordered(wf *arazzo.Workflow) (*arazzo.Workflow, error) {
	has := false
	for _, s := range wf.Steps {
		if len(s.DependsOn) > 0 {
			has = true
			break
		}
	}
	if !has {
		return wf, nil
	}
	order, err := arazzo.StepOrder(wf)
	if err != nil {
		return nil, err
	}
	out := *wf
	out.Steps = make([]arazzo.Step, len(order))
	for i, j := range order {
		out.Steps[i] = wf.Steps[j]
	}
	return &out, nil
}

// checkDependsOn verifies that the steps of other workflows a step
// depends on have completed: dependsOn orders, it does not run them.
func (w *wfRun) checkDependsOn(step *arazzo.Step) error {
	for _, dep := range step.DependsOn {
		var wid, sid string
		switch {
		case strings.HasPrefix(dep, "$workflows."):
			wid, sid, _ = strings.Cut(strings.TrimPrefix(dep, "$workflows."), ".steps.")
		case strings.HasPrefix(dep, "$sourceDescriptions."):
			rest := strings.TrimPrefix(dep, "$sourceDescriptions.")
			_, rest, _ = strings.Cut(rest, ".")
			wid, sid, _ = strings.Cut(rest, ".steps.")
		default:
			if _, done := w.stepOutputs[dep]; !done {
				return fmt.Errorf("step %s depends on step %s, which has not completed", step.StepID, dep)
			}
			continue
		}
		st, ok := w.r.workflows[wid]
		if !ok || st.steps == nil {
			return fmt.Errorf("step %s depends on %s: workflow %s has not run (dependsOn does not start it)", step.StepID, dep, wid)
		}
		if _, done := st.steps[sid]; !done {
			return fmt.Errorf("step %s depends on %s, which has not completed", step.StepID, dep)
		}
	}
	return nil
}

// Reachable returns the workflows, of b's root document and of its arazzo
// sources, that running workflowID can reach: through dependsOn, workflow
// steps and goto or retry actions. Each maps to the document holding it.
func Reachable(b *arazzo.Bundle, workflowID string) map[*arazzo.Workflow]*arazzo.Document {
	seen := map[*arazzo.Workflow]*arazzo.Document{}
	var visit func(doc *arazzo.Document, wf *arazzo.Workflow)
	visitRef := func(doc *arazzo.Document, ref string) {
		if d, w, err := b.ResolveWorkflow(doc, ref); err == nil {
			visit(d, w)
		}
	}
	visit = func(doc *arazzo.Document, wf *arazzo.Workflow) {
		if seen[wf] != nil {
			return
		}
		seen[wf] = doc
		for _, dep := range wf.DependsOn {
			visitRef(doc, dep)
		}
		actions := append(append([]arazzo.Action{}, wf.SuccessActions...), wf.FailureActions...)
		for _, s := range wf.Steps {
			if s.WorkflowID != "" {
				visitRef(doc, s.WorkflowID)
			}
			actions = append(append(actions, s.OnSuccess...), s.OnFailure...)
		}
		for _, a := range actions {
			if n, ok := strings.CutPrefix(a.Reference, "$components.successActions."); ok {
				a = doc.Components.SuccessActions[n]
			} else if n, ok := strings.CutPrefix(a.Reference, "$components.failureActions."); ok {
				a = doc.Components.FailureActions[n]
			}
			if a.WorkflowID != "" {
				visitRef(doc, a.WorkflowID)
			}
		}
	}
	doc := b.Root
	if workflowID == "" && len(doc.Workflows) == 1 {
		workflowID = doc.Workflows[0].WorkflowID
	}
	if wf := doc.Workflow(workflowID); wf != nil {
		visit(doc, wf)
	}
	return seen
}

// Unsupported reports, before anything runs, a step that the workflow
// workflowID of b's root document could reach and that ohi cannot execute
// yet: AsyncAPI steps (channelPath, or an operationId of an AsyncAPI
// source).
func Unsupported(b *arazzo.Bundle, workflowID string) error {
	for wf, doc := range Reachable(b, workflowID) {
		for _, s := range wf.Steps {
			if isAsync(b, doc, &s) {
				return fmt.Errorf("workflow %s step %s is an AsyncAPI step (%s): ohi validates AsyncAPI steps but does not execute them yet",
					wf.WorkflowID, s.StepID, asyncWhat(&s))
			}
		}
	}
	return nil
}

func isAsync(b *arazzo.Bundle, doc *arazzo.Document, s *arazzo.Step) bool {
	if s.ChannelPath != "" {
		return true
	}
	if s.OperationID == "" {
		return false
	}
	if _, err := b.ResolveOperationID(doc, s.OperationID); err == nil {
		return false
	}
	id := s.OperationID
	name := ""
	if strings.HasPrefix(id, "$sourceDescriptions.") {
		name, id, _ = strings.Cut(strings.TrimPrefix(id, "$sourceDescriptions."), ".")
	}
	for n, a := range b.AsyncAPISources(doc) {
		if (name == "" || n == name) && a.Operations[id] != nil {
			return true
		}
	}
	if sd := doc.Source(name); sd != nil && sd.Type == arazzo.SourceAsyncAPI {
		return true
	}
	return false
}

func asyncWhat(s *arazzo.Step) string {
	if s.ChannelPath != "" {
		return "channelPath " + s.ChannelPath
	}
	what := "operationId " + s.OperationID
	if s.Action != "" {
		what += ", action " + s.Action
	}
	return what
}
