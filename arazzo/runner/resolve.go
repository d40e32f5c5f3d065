package runner

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/expr"
)

// exchange is the request and response of the current step.
type exchange struct {
	url        string
	method     string
	status     int
	reqHeader  http.Header
	reqQuery   url.Values
	reqPath    map[string]string
	reqBody    any
	respHeader http.Header
	respBody   any
	secrets    []string // credentials sent, never to be shown
}

func undefined(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), expr.ErrUndefined)
}

// Resolve implements expr.Resolver for the workflow run.
func (w *wfRun) Resolve(e expr.Expr) (any, error) {
	ex := w.last
	switch e.Root {
	case expr.URL, expr.Method, expr.StatusCode, expr.Request, expr.Response:
		if ex == nil {
			return nil, undefined("%s: no request in this context", e)
		}
	}
	switch e.Root {
	case expr.URL:
		return ex.url, nil
	case expr.Method:
		return ex.method, nil
	case expr.StatusCode:
		return ex.status, nil
	case expr.Request:
		switch e.Source {
		case expr.Header:
			if vs := ex.reqHeader.Values(e.Name); len(vs) > 0 {
				return vs[0], nil
			}
		case expr.Query:
			if vs, ok := ex.reqQuery[e.Name]; ok && len(vs) > 0 {
				return vs[0], nil
			}
		case expr.Path:
			if v, ok := ex.reqPath[e.Name]; ok {
				return v, nil
			}
		case expr.Body:
			if ex.reqBody != nil {
				return ex.reqBody, nil
			}
		}
		return nil, undefined("%s", e)
	case expr.Response:
		switch e.Source {
		case expr.Header:
			if vs := ex.respHeader.Values(e.Name); len(vs) > 0 {
				return vs[0], nil
			}
			return nil, undefined("%s", e)
		case expr.Body:
			return ex.respBody, nil
		}
		return nil, undefined("%s: responses have only header and body", e)
	case expr.Self:
		if w.doc.Self == "" {
			return nil, undefined("$self: the document has no $self")
		}
		return w.doc.Self, nil
	case expr.Message:
		return nil, undefined("%s: AsyncAPI messages are not received by this runner", e)
	case expr.Inputs:
		if e.Name == "" {
			return w.state.inputs, nil
		}
		if v, ok := dotted(w.state.inputs, e.Name); ok {
			return v, nil
		}
		return nil, undefined("%s: no input %q", e, e.Name)
	case expr.Outputs:
		src := w.state.outputs
		if w.subOutputs != nil {
			src = w.subOutputs
		}
		if v, ok := dotted(src, e.Name); ok {
			return v, nil
		}
		return nil, undefined("%s: no output %q", e, e.Name)
	case expr.Steps:
		outs, ok := w.stepOutputs[e.ID]
		sub := w.subByStep[e.ID]
		if v, found := sub[e.Name]; found && e.Name != "" {
			if _, declared := outs[e.Name]; !declared {
				return v, nil // an output of the workflow the step ran
			}
		}
		if !ok {
			return nil, undefined("%s: step %s has not succeeded", e, e.ID)
		}
		if e.Name == "" {
			return outs, nil
		}
		if v, ok := dotted(outs, e.Name); ok {
			return v, nil
		}
		return nil, undefined("%s: step %s has no output %q", e, e.ID, e.Name)
	case expr.Workflows:
		st, ok := w.r.workflows[e.ID]
		if !ok {
			return nil, undefined("%s: workflow %s has not run", e, e.ID)
		}
		m := st.inputs
		if e.Field == "outputs" {
			m = st.outputs
		}
		if e.Step != "" {
			if m = st.steps[e.Step]; m == nil {
				return nil, undefined("%s: step %s of workflow %s has not succeeded", e, e.Step, e.ID)
			}
		}
		if v, ok := m[e.Name]; ok {
			return v, nil
		}
		return nil, undefined("%s", e)
	case expr.SourceDescriptions:
		sd := w.doc.Source(e.ID)
		if sd == nil {
			return nil, undefined("%s: no source description %q", e, e.ID)
		}
		switch e.Name {
		case "url":
			return sd.URL, nil
		case "name":
			return sd.Name, nil
		case "type":
			return sd.Type, nil
		}
		return e.Name, nil
	case expr.Components:
		c := w.doc.Components
		var v any
		var ok bool
		switch e.ID {
		case "inputs":
			v, ok = c.Inputs[e.Name]
		case "parameters":
			var p arazzo.Parameter
			p, ok = c.Parameters[e.Name]
			v = map[string]any{"name": p.Name, "in": p.In, "value": p.Value}
		case "successActions":
			_, ok = c.SuccessActions[e.Name]
			v = e.Name
		case "failureActions":
			_, ok = c.FailureActions[e.Name]
			v = e.Name
		}
		if !ok {
			return nil, undefined("%s: no such component", e)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%s: unsupported expression", e)
}

// params returns the effective parameters of a step: the workflow's
// parameters overridden by the step's (same name and in), with Reusable
// Objects resolved.
func (w *wfRun) params(step *arazzo.Step) []arazzo.Parameter {
	var out []arazzo.Parameter
	idx := map[string]int{}
	add := func(ps []arazzo.Parameter) {
		for _, p := range ps {
			if p.Reference != "" {
				rp, ok := w.resolveParamRef(p)
				if !ok {
					w.r.opts.Logger.Warn("unresolvable parameter reference", "reference", p.Reference)
					continue
				}
				p = rp
			}
			if step.WorkflowID != "" && p.In != "" {
				continue
			}
			key := p.In + "\x00" + p.Name
			if i, ok := idx[key]; ok {
				out[i] = p
				continue
			}
			idx[key] = len(out)
			out = append(out, p)
		}
	}
	add(w.wf.Parameters)
	add(step.Parameters)
	return out
}

func (w *wfRun) resolveParamRef(p arazzo.Parameter) (arazzo.Parameter, bool) {
	e, err := expr.Parse(p.Reference)
	if err != nil || e.Root != expr.Components || e.ID != "parameters" {
		return p, false
	}
	cp, ok := w.doc.Components.Parameters[e.Name]
	if !ok {
		return p, false
	}
	if p.Value != nil {
		cp.Value = p.Value
	}
	return cp, true
}

// headerLike reports whether a name is an Arazzo-invisible transport
// header that parameters must not set.
func headerLike(name string) bool {
	switch strings.ToLower(name) {
	case "content-length", "host", "transfer-encoding":
		return true
	}
	return false
}

// dotted looks name up in m: as written, else, for a dotted name such as
// env.AUTH_TOKEN that no entry has, as member access from the longest
// prefix that is an entry ($inputs.env.AUTH_TOKEN reads member AUTH_TOKEN
// of input env).
func dotted(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k := strings.LastIndexByte(name, '.'); k > 0; k = strings.LastIndexByte(name[:k], '.') {
		v, ok := m[name[:k]]
		if !ok {
			continue
		}
		for _, seg := range strings.Split(name[k+1:], ".") {
			obj, isObj := v.(map[string]any)
			if !isObj {
				return nil, false
			}
			if v, ok = obj[seg]; !ok {
				return nil, false
			}
		}
		return v, true
	}
	return nil, false
}
