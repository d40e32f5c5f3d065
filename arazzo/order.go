package arazzo

import (
	"fmt"
	"strings"

	"github.com/openhealthimaging/ohi/arazzo/expr"
)

// stepRefs returns the stepIds whose outputs a step reads through
// $steps.<id> expressions (its implicit dependencies), in order of first
// use.
func stepRefs(s *Step) []string {
	var es []expr.Expr
	add := func(v any) {
		if got, err := expr.ValueExprs(v); err == nil {
			es = append(es, got...)
		}
	}
	for _, p := range s.Parameters {
		add(p.Value)
		if sel, ok := AsSelector(p.Value); ok {
			add(sel.Context)
		}
	}
	if s.RequestBody != nil {
		add(s.RequestBody.Payload)
		for _, r := range s.RequestBody.Replacements {
			add(r.Value)
		}
	}
	for _, c := range s.SuccessCriteria {
		if cr, err := expr.CompileCriterion(c.Condition, c.Context, c.Type.Type, c.Type.Version); err == nil {
			es = append(es, cr.Exprs()...)
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range es {
		if e.Root == expr.Steps && e.ID != s.StepID && !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e.ID)
		}
	}
	return out
}

// StepOrder returns the order in which the steps of w run (indexes into
// w.Steps): the document order, except that a step runs only after the
// steps of its workflow it depends on, explicitly (1.1 step dependsOn) or
// implicitly (reading their outputs). Among the steps that are ready, the
// first in document order runs first, so a workflow without dependsOn
// keeps its order. A dependency cycle is an error.
func StepOrder(w *Workflow) ([]int, error) {
	n := len(w.Steps)
	index := make(map[string]int, n)
	for i, s := range w.Steps {
		index[s.StepID] = i
	}
	deps := make([][]int, n)
	explicit := false
	for i := range w.Steps {
		s := &w.Steps[i]
		for _, d := range s.DependsOn {
			if j, ok := index[d]; ok && j != i {
				deps[i] = append(deps[i], j)
				explicit = true
			}
		}
	}
	order := make([]int, 0, n)
	if !explicit {
		for i := range n {
			order = append(order, i)
		}
		return order, nil
	}
	for i := range w.Steps {
		for _, d := range stepRefs(&w.Steps[i]) {
			if j, ok := index[d]; ok {
				deps[i] = append(deps[i], j)
			}
		}
	}
	done := make([]bool, n)
	for len(order) < n {
		progressed := false
		for i := range n {
			if done[i] {
				continue
			}
			ready := true
			for _, j := range deps[i] {
				if !done[j] {
					ready = false
					break
				}
			}
			if ready {
				done[i] = true
				order = append(order, i)
				progressed = true
				break
			}
		}
		if !progressed {
			var cyc []string
			for i := range n {
				if !done[i] {
					cyc = append(cyc, w.Steps[i].StepID)
				}
			}
			return nil, fmt.Errorf("workflow %s: steps %s depend on each other in a cycle", w.WorkflowID, strings.Join(cyc, ", "))
		}
	}
	return order, nil
}
