package arazzo

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/openhealthimaging/ohi/arazzo/expr"
)

// Severity of a diagnostic.
type Severity int

// Severities.
const (
	SeverityError Severity = iota
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one validation finding, positioned in its file.
type Diagnostic struct {
	File     string
	Line     int
	Col      int
	Path     string // JSON-path-like location, e.g. workflows[0].steps[1].operationId
	Severity Severity
	Msg      string
}

func (d Diagnostic) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s (at %s)", d.File, d.Line, d.Col, d.Severity, d.Msg, d.Path)
}

// ValidationError carries the error diagnostics of a document that failed
// validation.
type ValidationError struct{ Diagnostics []Diagnostic }

func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, d := range e.Diagnostics {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// HasErrors reports whether ds holds an error (not just warnings).
func HasErrors(ds []Diagnostic) bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

var (
	versionRe      = regexp.MustCompile(`^1\.0\.\d+(-.+)?$`)
	idRe           = regexp.MustCompile(`^[A-Za-z0-9_\-]+$`)
	componentKeyRe = regexp.MustCompile(`^[a-zA-Z0-9\.\-_]+$`)
)

type validator struct {
	doc *Document
	b   *Bundle
	out []Diagnostic
}

func (v *validator) add(sev Severity, path []any, format string, a ...any) {
	line, col := v.doc.Position(path...)
	v.out = append(v.out, Diagnostic{File: v.doc.URL, Line: line, Col: col, Path: pathString(path), Severity: sev, Msg: fmt.Sprintf(format, a...)})
}

func (v *validator) errf(path []any, format string, a ...any) {
	v.add(SeverityError, path, format, a...)
}

func pathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch k := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", k)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, k)
		}
	}
	if b.Len() == 0 {
		return "$"
	}
	return b.String()
}

func at(path []any, more ...any) []any {
	out := make([]any, 0, len(path)+len(more))
	return append(append(out, path...), more...)
}

// ValidateStructure checks doc only against the structure the Arazzo 1.0.x
// JSON Schema describes (required fields, types, patterns, enumerations,
// unknown fields): the verdict of the official schema, without the
// semantic rules [Validate] adds. Diagnostics are sorted by position.
func ValidateStructure(doc *Document) []Diagnostic {
	v := &validator{doc: doc}
	v.structure()
	v.sort()
	return v.out
}

func (v *validator) sort() {
	sort.SliceStable(v.out, func(i, j int) bool {
		if v.out[i].Line != v.out[j].Line {
			return v.out[i].Line < v.out[j].Line
		}
		return v.out[i].Col < v.out[j].Col
	})
}

// Validate checks doc against the structure the Arazzo 1.0.x JSON Schema
// describes and against the semantic rules of the specification (unique
// ids, resolvable targets, parseable runtime expressions and criteria,
// outputs that reference real steps). b, when not nil, is used to resolve
// operationId, operationPath and cross-document workflowId references.
// Diagnostics are sorted by position.
func Validate(doc *Document, b *Bundle) []Diagnostic {
	v := &validator{doc: doc, b: b}
	v.structure()
	if !HasErrors(v.out) {
		v.semantics()
	}
	v.sort()
	return v.out
}

// ---- structure ----------------------------------------------------------

type kind int

const (
	kString kind = iota
	kNumber
	kInteger
	kBool
	kObject
	kArray
	kAny
)

type field struct {
	name  string
	req   bool
	check func(path []any, val any)
}

func (v *validator) typeOK(path []any, val any, k kind) bool {
	ok := true
	switch k {
	case kString:
		_, ok = val.(string)
	case kNumber:
		_, ok = expr.Number(val)
	case kInteger:
		f, isNum := expr.Number(val)
		ok = isNum && f == float64(int64(f))
	case kBool:
		_, ok = val.(bool)
	case kObject:
		_, ok = val.(map[string]any)
	case kArray:
		_, ok = val.([]any)
	}
	if !ok {
		v.errf(path, "must be %s", [...]string{"a string", "a number", "an integer", "a boolean", "an object", "an array", "any"}[k])
	}
	return ok
}

// object checks an object's fields. Unknown fields are errors unless they
// are specification extensions (x-...) or ignoreUnknown is set.
func (v *validator) object(path []any, val any, fields []field, ignoreUnknown bool) map[string]any {
	m, ok := val.(map[string]any)
	if !ok {
		v.errf(path, "must be an object")
		return nil
	}
	known := map[string]bool{}
	for _, f := range fields {
		known[f.name] = true
		fv, present := m[f.name]
		if !present {
			if f.req {
				v.errf(path, "missing required field %q", f.name)
			}
			continue
		}
		if f.check != nil {
			f.check(at(path, f.name), fv)
		}
	}
	if !ignoreUnknown {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !known[k] && !strings.HasPrefix(k, "x-") {
				v.errf(at(path, k), "unknown field %q", k)
			}
		}
	}
	return m
}

func (v *validator) str(path []any, val any) { v.typeOK(path, val, kString) }

func (v *validator) pattern(re *regexp.Regexp, what string) func([]any, any) {
	return func(path []any, val any) {
		if v.typeOK(path, val, kString) && !re.MatchString(val.(string)) {
			v.errf(path, "%s %q must match %s", what, val, re)
		}
	}
}

func (v *validator) enum(vals ...string) func([]any, any) {
	return func(path []any, val any) {
		if !v.typeOK(path, val, kString) {
			return
		}
		for _, e := range vals {
			if val == e {
				return
			}
		}
		v.errf(path, "%q must be one of %s", val, strings.Join(vals, ", "))
	}
}

func (v *validator) array(min int, item func([]any, any)) func([]any, any) {
	return func(path []any, val any) {
		if !v.typeOK(path, val, kArray) {
			return
		}
		a := val.([]any)
		if len(a) < min {
			v.errf(path, "must have at least %d item(s)", min)
		}
		for i, e := range a {
			if item != nil {
				item(at(path, i), e)
			}
		}
	}
}

func (v *validator) mapOf(keyRe *regexp.Regexp, item func([]any, any)) func([]any, any) {
	return func(path []any, val any) {
		if !v.typeOK(path, val, kObject) {
			return
		}
		m := val.(map[string]any)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if keyRe != nil && !keyRe.MatchString(k) {
				v.errf(at(path, k), "key %q must match %s", k, keyRe)
			}
			if item != nil {
				item(at(path, k), m[k])
			}
		}
	}
}

func (v *validator) min0(k kind) func([]any, any) {
	return func(path []any, val any) {
		if v.typeOK(path, val, k) {
			if f, _ := expr.Number(val); f < 0 {
				v.errf(path, "must not be negative")
			}
		}
	}
}

func (v *validator) structure() {
	root := v.doc.Raw
	v.object(nil, root, []field{
		{"arazzo", true, v.pattern(versionRe, "arazzo version")},
		{"info", true, func(p []any, val any) {
			v.object(p, val, []field{{"title", true, v.str}, {"summary", false, v.str}, {"description", false, v.str}, {"version", true, v.str}}, false)
		}},
		{"sourceDescriptions", true, v.array(1, func(p []any, val any) {
			m := v.object(p, val, []field{{"name", true, v.pattern(idRe, "name")}, {"url", true, v.str}, {"type", false, v.enum(SourceOpenAPI, SourceArazzo)}}, false)
			_ = m
		})},
		{"workflows", true, v.array(1, v.workflow)},
		{"components", false, func(p []any, val any) {
			v.object(p, val, []field{
				{"inputs", false, v.mapOf(componentKeyRe, func(p []any, val any) { v.typeOK(p, val, kObject) })},
				{"parameters", false, v.mapOf(componentKeyRe, v.parameter(false))},
				{"successActions", false, v.mapOf(componentKeyRe, v.action(false))},
				{"failureActions", false, v.mapOf(componentKeyRe, v.action(true))},
			}, false)
		}},
	}, false)
}

func (v *validator) workflow(path []any, val any) {
	v.object(path, val, []field{
		{"workflowId", true, v.pattern(idRe, "workflowId")},
		{"summary", false, v.str},
		{"description", false, v.str},
		{"inputs", false, func(p []any, val any) { v.typeOK(p, val, kObject) }},
		{"dependsOn", false, v.array(0, v.str)},
		{"steps", true, v.array(1, v.step)},
		{"successActions", false, v.array(0, v.reusableOr(v.action(false)))},
		{"failureActions", false, v.array(0, v.reusableOr(v.action(true)))},
		{"outputs", false, v.mapOf(componentKeyRe, v.str)},
		{"parameters", false, v.array(0, v.reusableOr(v.parameter(false)))},
	}, false)
}

func (v *validator) step(path []any, val any) {
	m, _ := val.(map[string]any)
	n := 0
	for _, k := range []string{"operationId", "operationPath", "workflowId"} {
		if _, ok := m[k]; ok {
			n++
		}
	}
	_, isWorkflow := m["workflowId"]
	if m != nil && n != 1 {
		v.errf(path, "a step needs exactly one of operationId, operationPath and workflowId (has %d)", n)
	}
	v.object(path, val, []field{
		{"stepId", true, v.pattern(idRe, "stepId")},
		{"description", false, v.str},
		{"operationId", false, v.str},
		{"operationPath", false, v.str},
		{"workflowId", false, v.str},
		{"parameters", false, v.array(0, v.reusableOr(v.parameter(!isWorkflow && n == 1)))},
		{"requestBody", false, func(p []any, val any) {
			v.object(p, val, []field{
				{"contentType", false, v.str},
				{"payload", false, nil},
				{"replacements", false, v.array(0, func(p []any, val any) {
					v.object(p, val, []field{{"target", true, v.str}, {"value", true, nil}}, false)
				})},
			}, false)
		}},
		{"successCriteria", false, v.array(1, v.criterion)},
		{"onSuccess", false, v.array(0, v.reusableOr(v.action(false)))},
		{"onFailure", false, v.array(0, v.reusableOr(v.action(true)))},
		{"outputs", false, v.mapOf(componentKeyRe, v.str)},
	}, false)
}

func (v *validator) reusableOr(check func([]any, any)) func([]any, any) {
	return func(path []any, val any) {
		if m, ok := val.(map[string]any); ok {
			if _, ok := m["reference"]; ok {
				// Extra fields on a Reusable Object MUST be ignored.
				v.object(path, val, []field{{"reference", true, v.str}, {"value", false, nil}}, true)
				return
			}
		}
		check(path, val)
	}
}

func (v *validator) parameter(needIn bool) func([]any, any) {
	return func(path []any, val any) {
		m := v.object(path, val, []field{
			{"name", true, v.str},
			{"in", false, v.enum("path", "query", "header", "cookie")},
			{"value", true, nil},
		}, false)
		if m != nil && needIn {
			if _, ok := m["in"]; !ok {
				v.errf(path, "a parameter of an operation step needs \"in\"")
			}
		}
	}
}

func (v *validator) criterion(path []any, val any) {
	m := v.object(path, val, []field{
		{"condition", true, v.str},
		{"context", false, v.str},
		{"type", false, func(p []any, val any) {
			if _, ok := val.(string); ok {
				v.enum(expr.TypeSimple, expr.TypeRegex, expr.TypeJSONPath, expr.TypeXPath)(p, val)
				return
			}
			v.object(p, val, []field{
				{"type", true, v.enum(expr.TypeJSONPath, expr.TypeXPath)},
				{"version", true, v.str},
			}, false)
		}},
	}, false)
	if m == nil {
		return
	}
	typ, _ := m["type"].(string)
	if tm, ok := m["type"].(map[string]any); ok {
		typ, _ = tm["type"].(string)
	}
	if typ != "" && typ != expr.TypeSimple {
		if _, ok := m["context"]; !ok {
			v.errf(path, "a %s criterion needs a context", typ)
		}
	}
}

func (v *validator) action(failure bool) func([]any, any) {
	return func(path []any, val any) {
		types := []string{ActionEnd, ActionGoto}
		fields := []field{
			{"name", true, v.str},
			{"type", true, nil},
			{"workflowId", false, v.str},
			{"stepId", false, v.str},
			{"criteria", false, v.array(1, v.criterion)},
		}
		if failure {
			types = append(types, ActionRetry)
			fields = append(fields, field{"retryAfter", false, v.min0(kNumber)}, field{"retryLimit", false, v.min0(kInteger)})
		}
		fields[1].check = v.enum(types...)
		m := v.object(path, val, fields, false)
		if m == nil {
			return
		}
		_, hasW := m["workflowId"]
		_, hasS := m["stepId"]
		switch m["type"] {
		case ActionGoto:
			if hasW == hasS {
				v.errf(path, "a goto action needs exactly one of workflowId and stepId")
			}
		case ActionRetry:
			if hasW && hasS {
				v.errf(path, "a retry action takes at most one of workflowId and stepId")
			}
		case ActionEnd:
			if hasW || hasS {
				v.errf(path, "an end action takes no workflowId or stepId")
			}
		}
		if m["type"] != ActionRetry {
			for _, k := range []string{"retryAfter", "retryLimit"} {
				if _, ok := m[k]; ok {
					v.errf(at(path, k), "%s applies only to retry actions", k)
				}
			}
		}
	}
}

// ---- semantics ----------------------------------------------------------

func (v *validator) semantics() {
	d := v.doc
	seen := map[string]bool{}
	for i, sd := range d.SourceDescriptions {
		if seen[sd.Name] {
			v.errf([]any{"sourceDescriptions", i, "name"}, "duplicate source description name %q", sd.Name)
		}
		seen[sd.Name] = true
	}
	seen = map[string]bool{}
	for wi := range d.Workflows {
		w := &d.Workflows[wi]
		wp := []any{"workflows", wi}
		if seen[w.WorkflowID] {
			v.errf(at(wp, "workflowId"), "duplicate workflowId %q", w.WorkflowID)
		}
		seen[w.WorkflowID] = true
		v.workflowSemantics(w, wp)
	}
	for name, p := range d.Components.Parameters {
		v.valueExprs([]any{"components", "parameters", name, "value"}, p.Value, nil)
	}
	for name, a := range d.Components.SuccessActions {
		v.actionSemantics([]any{"components", "successActions", name}, a, nil, nil)
	}
	for name, a := range d.Components.FailureActions {
		v.actionSemantics([]any{"components", "failureActions", name}, a, nil, nil)
	}
}

func (v *validator) workflowSemantics(w *Workflow, wp []any) {
	steps := map[string]*Step{}
	for si := range w.Steps {
		s := &w.Steps[si]
		if steps[s.StepID] != nil {
			v.errf(at(wp, "steps", si, "stepId"), "duplicate stepId %q in workflow %s", s.StepID, w.WorkflowID)
		}
		steps[s.StepID] = s
	}
	for i, dep := range w.DependsOn {
		if _, _, err := v.resolveWorkflow(dep); err != nil {
			v.errf(at(wp, "dependsOn", i), "dependsOn: %v", err)
		} else if dep == w.WorkflowID {
			v.errf(at(wp, "dependsOn", i), "workflow %s depends on itself", dep)
		}
	}
	v.params(at(wp, "parameters"), w.Parameters, w, steps)
	v.actions(at(wp, "successActions"), w.SuccessActions, w, steps)
	v.actions(at(wp, "failureActions"), w.FailureActions, w, steps)
	for si := range w.Steps {
		s := &w.Steps[si]
		sp := at(wp, "steps", si)
		v.stepTarget(s, sp)
		v.params(at(sp, "parameters"), s.Parameters, w, steps)
		if s.RequestBody != nil {
			v.valueExprs(at(sp, "requestBody", "payload"), s.RequestBody.Payload, steps)
			for ri, r := range s.RequestBody.Replacements {
				v.valueExprs(at(sp, "requestBody", "replacements", ri, "value"), r.Value, steps)
			}
		}
		for ci, c := range s.SuccessCriteria {
			v.criterionSemantics(at(sp, "successCriteria", ci), c, steps)
		}
		v.actions(at(sp, "onSuccess"), s.OnSuccess, w, steps)
		v.actions(at(sp, "onFailure"), s.OnFailure, w, steps)
		for _, o := range s.Outputs {
			v.exprString(at(sp, "outputs", o.Name), o.Value, steps, true)
		}
	}
	for _, o := range w.Outputs {
		v.exprString(at(wp, "outputs", o.Name), o.Value, steps, true)
	}
}

func (v *validator) resolveWorkflow(ref string) (*Document, *Workflow, error) {
	if v.b != nil {
		return v.b.ResolveWorkflow(v.doc, ref)
	}
	if name, _, ok := splitSourceRef(ref); ok {
		sd := v.doc.Source(name)
		if sd == nil || sd.Type == SourceOpenAPI {
			return nil, nil, fmt.Errorf("workflowId %s: no arazzo source description named %q: %w", ref, name, ErrNotFound)
		}
		return nil, nil, nil // cannot check without loading the source
	}
	w := v.doc.Workflow(ref)
	if w == nil {
		return nil, nil, fmt.Errorf("workflowId %s: %w", ref, ErrNotFound)
	}
	return v.doc, w, nil
}

func (v *validator) stepTarget(s *Step, sp []any) {
	switch {
	case s.WorkflowID != "":
		if _, _, err := v.resolveWorkflow(s.WorkflowID); err != nil {
			v.errf(at(sp, "workflowId"), "%v", err)
		}
		if s.RequestBody != nil {
			v.errf(at(sp, "requestBody"), "a workflow step cannot have a requestBody")
		}
		return
	case s.OperationID != "":
		if name, _, ok := splitSourceRef(s.OperationID); ok {
			if sd := v.doc.Source(name); sd == nil {
				v.errf(at(sp, "operationId"), "no source description named %q", name)
				return
			}
		} else if n := v.countOpenAPISources(); n > 1 {
			v.add(SeverityWarning, at(sp, "operationId"), "with %d openapi source descriptions, operationId should be written $sourceDescriptions.<name>.%s", n, s.OperationID)
		}
		if v.b != nil {
			if _, err := v.b.ResolveOperationID(v.doc, s.OperationID); err != nil {
				v.errf(at(sp, "operationId"), "%v", err)
			}
		}
	case s.OperationPath != "":
		if !strings.Contains(s.OperationPath, "#") {
			v.errf(at(sp, "operationPath"), "operationPath needs a source reference and a JSON pointer: {$sourceDescriptions.<name>.url}#/paths/...")
			return
		}
		if v.b != nil {
			if _, err := v.b.ResolveOperationPath(v.doc, s.OperationPath); err != nil {
				v.errf(at(sp, "operationPath"), "%v", err)
			}
		}
	}
}

func (v *validator) countOpenAPISources() int {
	n := 0
	for _, sd := range v.doc.SourceDescriptions {
		if sd.Type != SourceArazzo {
			n++
		}
	}
	return n
}

func (v *validator) params(path []any, ps []Parameter, w *Workflow, steps map[string]*Step) {
	seen := map[string]bool{}
	for i, p := range ps {
		pp := at(path, i)
		if p.Reference != "" {
			e, err := expr.Parse(p.Reference)
			if err != nil || e.Root != expr.Components || e.ID != "parameters" {
				v.errf(at(pp, "reference"), "reference must be $components.parameters.<name>")
				continue
			}
			cp, ok := v.doc.Components.Parameters[e.Name]
			if !ok {
				v.errf(at(pp, "reference"), "no component parameter %q", e.Name)
				continue
			}
			if p.Value != nil {
				v.valueExprs(at(pp, "value"), p.Value, steps)
			}
			p = cp
		} else {
			v.valueExprs(at(pp, "value"), p.Value, steps)
		}
		key := p.In + ":" + p.Name
		if seen[key] {
			v.errf(pp, "duplicate parameter %q in %q", p.Name, p.In)
		}
		seen[key] = true
	}
}

func (v *validator) actions(path []any, as []Action, w *Workflow, steps map[string]*Step) {
	seen := map[string]bool{}
	for i, a := range as {
		ap := at(path, i)
		if a.Reference != "" {
			e, err := expr.Parse(a.Reference)
			if err != nil || e.Root != expr.Components || (e.ID != "successActions" && e.ID != "failureActions") {
				v.errf(at(ap, "reference"), "reference must be $components.successActions.<name> or $components.failureActions.<name>")
				continue
			}
			var ok bool
			if e.ID == "successActions" {
				a, ok = v.doc.Components.SuccessActions[e.Name]
			} else {
				a, ok = v.doc.Components.FailureActions[e.Name]
			}
			if !ok {
				v.errf(at(ap, "reference"), "no component %s %q", e.ID, e.Name)
				continue
			}
			v.actionSemantics(ap, a, w, steps)
		} else {
			v.actionSemantics(ap, a, w, steps)
		}
		if seen[a.Name] {
			v.errf(ap, "duplicate action name %q", a.Name)
		}
		seen[a.Name] = true
	}
}

func (v *validator) actionSemantics(ap []any, a Action, w *Workflow, steps map[string]*Step) {
	if a.StepID != "" && w != nil && steps[a.StepID] == nil {
		v.errf(at(ap, "stepId"), "%s target: no step %q in workflow %s", a.Type, a.StepID, w.WorkflowID)
	}
	if a.WorkflowID != "" {
		if _, _, err := v.resolveWorkflow(a.WorkflowID); err != nil {
			v.errf(at(ap, "workflowId"), "%s target: %v", a.Type, err)
		}
	}
	for ci, c := range a.Criteria {
		v.criterionSemantics(at(ap, "criteria", ci), c, steps)
	}
}

func (v *validator) criterionSemantics(path []any, c Criterion, steps map[string]*Step) {
	cr, err := expr.CompileCriterion(c.Condition, c.Context, c.Type.Type, c.Type.Version)
	if errors.Is(err, expr.ErrXPathUnsupported) {
		v.add(SeverityWarning, at(path, "condition"), "xpath criteria are not supported by this runner and will fail")
		return
	}
	if err != nil {
		v.errf(at(path, "condition"), "%v", err)
		return
	}
	for _, e := range cr.Exprs() {
		v.checkRef(at(path, "condition"), e, steps, false)
	}
}

// valueExprs checks every runtime expression in a literal value.
func (v *validator) valueExprs(path []any, val any, steps map[string]*Step) {
	es, err := expr.ValueExprs(val)
	if err != nil {
		v.errf(path, "%v", err)
		return
	}
	for _, e := range es {
		v.checkRef(path, e, steps, false)
	}
}

func (v *validator) exprString(path []any, s string, steps map[string]*Step, output bool) {
	t, err := expr.ParseTemplate(s)
	if err != nil {
		v.errf(path, "%v", err)
		return
	}
	if output && t.IsLiteral() {
		v.add(SeverityWarning, path, "output %q is a literal, not a runtime expression", s)
	}
	for _, e := range t.Exprs() {
		v.checkRef(path, e, steps, output)
	}
}

// checkRef checks that an expression refers to things that exist.
func (v *validator) checkRef(path []any, e expr.Expr, steps map[string]*Step, strict bool) {
	switch e.Root {
	case expr.Steps:
		if steps == nil {
			return
		}
		s := steps[e.ID]
		if s == nil {
			v.errf(path, "%s: no step %q in this workflow", e, e.ID)
			return
		}
		for _, o := range s.Outputs {
			if o.Name == e.Name || strings.HasPrefix(e.Name, o.Name+".") {
				return
			}
		}
		v.errf(path, "%s: step %s has no output %q", e, e.ID, e.Name)
	case expr.Workflows:
		if _, _, err := v.resolveWorkflow(e.ID); err != nil {
			v.errf(path, "%s: %v", e, err)
		}
	case expr.SourceDescriptions:
		if v.doc.Source(e.ID) == nil {
			v.errf(path, "%s: no source description %q", e, e.ID)
		}
	case expr.Components:
		ok := false
		switch e.ID {
		case "inputs":
			_, ok = v.doc.Components.Inputs[e.Name]
		case "parameters":
			_, ok = v.doc.Components.Parameters[e.Name]
		case "successActions":
			_, ok = v.doc.Components.SuccessActions[e.Name]
		case "failureActions":
			_, ok = v.doc.Components.FailureActions[e.Name]
		}
		if !ok {
			v.errf(path, "%s: no such component", e)
		}
	}
}
