package arazzo

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
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

// MarshalText writes the severity as "error" or "warning".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "error" or "warning".
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = SeverityError
	case "warning":
		*s = SeverityWarning
	default:
		return fmt.Errorf("unknown severity %q", b)
	}
	return nil
}

// Diagnostic is one validation finding, positioned in its file.
type Diagnostic struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Col      int      `json:"col"`
	Path     string   `json:"path"` // JSON-path-like location, e.g. workflows[0].steps[1].operationId
	Severity Severity `json:"severity"`
	Msg      string   `json:"message"`
	// Hint, for a deviation other runners accept, says how to write it
	// as the specification does.
	Hint string `json:"hint,omitempty"`
}

func (d Diagnostic) String() string {
	s := fmt.Sprintf("%s:%d:%d: %s: %s (at %s)", d.File, d.Line, d.Col, d.Severity, d.Msg, d.Path)
	if d.Hint != "" {
		s += "; hint: " + d.Hint
	}
	return s
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
	versionRe      = regexp.MustCompile(`^1\.[01]\.\d+(-.+)?$`)
	idRe           = regexp.MustCompile(`^[A-Za-z0-9_\-]+$`)
	componentKeyRe = regexp.MustCompile(`^[a-zA-Z0-9\.\-_]+$`)
)

type validator struct {
	doc    *Document
	b      *Bundle
	strict bool
	v11    bool
	out    []Diagnostic
}

// ValidateOptions tune [ValidateWith].
type ValidateOptions struct {
	// Strict reports as errors the deviations that are otherwise
	// warnings because other runners accept them and their meaning is
	// unambiguous (a top-level $schema, $response.body.a.b dot paths,
	// sourceName.operationId, Swagger 2.0 sources, unknown fields, ...).
	Strict bool
}

// deviation reports something the specification does not allow but whose
// meaning is unambiguous: a warning with a hint, an error when strict.
func (v *validator) deviation(path []any, hint, format string, a ...any) {
	sev := SeverityWarning
	if v.strict {
		sev = SeverityError
	}
	v.add(sev, path, format, a...)
	v.out[len(v.out)-1].Hint = hint
}

// v11field reports a 1.1 field in a document that declares 1.0.
func (v *validator) v11field(path []any, name string) {
	if !v.v11 {
		v.deviation(path, "declare arazzo: 1.1.0", "%s is an Arazzo 1.1 field; the document declares %s", name, v.doc.Arazzo)
	}
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

// ValidateStructure checks doc only against the structure the Arazzo 1.0
// and 1.1 JSON Schemas describe (required fields, types, patterns, enumerations,
// unknown fields): the verdict of the official schema, without the
// semantic rules [Validate] adds. Diagnostics are sorted by position.
func ValidateStructure(doc *Document) []Diagnostic {
	v := &validator{doc: doc, v11: doc.V11()}
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

// Validate checks doc against the structure the Arazzo 1.0 and 1.1 JSON
// Schemas describe and against the semantic rules of the specification (unique
// ids, resolvable targets, parseable runtime expressions and criteria,
// outputs that reference real steps). b, when not nil, is used to resolve
// operationId, operationPath and cross-document workflowId references.
// Diagnostics are sorted by position.
func Validate(doc *Document, b *Bundle) []Diagnostic {
	return ValidateWith(doc, b, ValidateOptions{})
}

// ValidateWith is [Validate] with options.
func ValidateWith(doc *Document, b *Bundle, opts ValidateOptions) []Diagnostic {
	v := &validator{doc: doc, b: b, strict: opts.Strict, v11: doc.V11()}
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
		what := "the value"
		if len(path) > 0 {
			what = fmt.Sprint(path[len(path)-1])
			if _, isIdx := path[len(path)-1].(int); isIdx && len(path) > 1 {
				what = fmt.Sprintf("%v[%v]", path[len(path)-2], path[len(path)-1])
			}
		}
		v.errf(path, "%s must be %s", what, [...]string{"a string", "a number", "an integer", "a boolean", "an object", "an array", "any"}[k])
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
				v.deviation(at(path, k), "remove it, or name it x-"+k+" as a specification extension", "unknown field %q (ignored)", k)
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
		what := "value"
		if len(path) > 0 {
			what = fmt.Sprint(path[len(path)-1])
		}
		v.errf(path, "%s %q must be one of %s", what, val, strings.Join(vals, ", "))
	}
}

func (v *validator) array(min int, item func([]any, any)) func([]any, any) {
	return func(path []any, val any) {
		if !v.typeOK(path, val, kArray) {
			return
		}
		a := val.([]any)
		if len(a) < min {
			what := "the list"
			if len(path) > 0 {
				what = fmt.Sprint(path[len(path)-1])
			}
			v.errf(path, "%s must have at least %d item(s)", what, min)
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
	if m, ok := root.(map[string]any); ok {
		if _, ok := m["$schema"]; ok {
			v.deviation([]any{"$schema"}, "remove $schema: the arazzo field says which specification applies", "a top-level $schema is not an Arazzo field (ignored)")
		}
	}
	v.object(nil, root, []field{
		{"arazzo", true, v.pattern(versionRe, "arazzo version")},
		{"$schema", false, nil},
		{"$self", false, func(p []any, val any) {
			v.v11field(p, "$self")
			if v.typeOK(p, val, kString) && strings.Contains(val.(string), "#") {
				v.errf(p, "$self must not contain a fragment")
			}
			if s, _ := val.(string); s != "" {
				if _, err := url.Parse(s); err != nil {
					v.errf(p, "$self is not a URI reference: %v", err)
				}
			}
		}},
		{"info", true, func(p []any, val any) {
			v.object(p, val, []field{{"title", true, v.str}, {"summary", false, v.str}, {"description", false, v.str}, {"version", true, v.str}}, false)
		}},
		{"sourceDescriptions", true, v.array(1, func(p []any, val any) {
			m := v.object(p, val, []field{{"name", true, v.pattern(idRe, "name")}, {"url", true, v.str}, {"type", false, v.enum(SourceOpenAPI, SourceArazzo, SourceAsyncAPI)}}, false)
			if m["type"] == SourceAsyncAPI {
				v.v11field(at(p, "type"), "type asyncapi")
			}
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
		{"dependsOn", false, v.uniqueStrings(0)},
		{"steps", true, v.array(1, v.step)},
		{"successActions", false, v.array(0, v.reusableOr(v.action(false)))},
		{"failureActions", false, v.array(0, v.reusableOr(v.action(true)))},
		{"outputs", false, v.mapOf(componentKeyRe, v.outputValue)},
		{"parameters", false, v.array(0, v.reusableOr(v.parameter(false)))},
	}, false)
}

// uniqueStrings checks an array of distinct strings with at least min
// items.
func (v *validator) uniqueStrings(min int) func([]any, any) {
	return func(path []any, val any) {
		seen := map[string]bool{}
		v.array(min, func(p []any, e any) {
			if v.typeOK(p, e, kString) {
				if seen[e.(string)] {
					v.errf(p, "duplicate entry %q", e)
				}
				seen[e.(string)] = true
			}
		})(path, val)
	}
}

// outputValue checks an output: a runtime expression, or (1.1) a Selector
// Object.
func (v *validator) outputValue(path []any, val any) {
	if _, ok := val.(map[string]any); ok {
		v.v11field(path, "a Selector Object")
		v.selector(path, val)
		return
	}
	v.str(path, val)
}

var exprTypeVersions = map[string][]string{
	"jsonpath":    {"rfc9535", "draft-goessner-dispatch-jsonpath-00"},
	"xpath":       {"xpath-31", "xpath-30", "xpath-20", "xpath-10"},
	"jsonpointer": {"rfc6901"},
}

// exprType checks a selector type: a string or an Expression Type Object
// among the given types.
func (v *validator) exprType(types ...string) func([]any, any) {
	return func(path []any, val any) {
		if _, ok := val.(string); ok {
			v.enum(types...)(path, val)
			return
		}
		m := v.object(path, val, []field{
			{"type", true, v.enum(types...)},
			{"version", true, v.str},
		}, false)
		t, _ := m["type"].(string)
		ver, _ := m["version"].(string)
		if allowed, ok := exprTypeVersions[t]; ok && ver != "" && !slices.Contains(allowed, ver) {
			v.errf(at(path, "version"), "version %q is not a version of %s (want %s)", ver, t, strings.Join(allowed, ", "))
		}
	}
}

// selector checks a Selector Object.
func (v *validator) selector(path []any, val any) {
	m := v.object(path, val, []field{
		{"context", true, v.str},
		{"selector", true, v.str},
		{"type", true, v.exprType("jsonpath", "xpath", "jsonpointer")},
	}, false)
	for _, k := range []string{"context", "selector", "type"} {
		if _, ok := m[k]; m != nil && !ok {
			v.errf(path, "a Selector Object needs context, selector and type")
			break
		}
	}
	if c, ok := m["context"].(string); ok {
		if _, err := expr.Parse(c); err != nil {
			v.errf(at(path, "context"), "%v", err)
		}
	}
}

// looksLikeSelector reports whether a value is meant as a Selector Object
// (an object with a selector member).
func looksLikeSelector(val any) bool {
	m, ok := val.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["selector"]
	return ok
}

// selectorOrAny checks a parameter or replacement value: any value, or a
// Selector Object in a 1.1 document.
func (v *validator) selectorOrAny(path []any, val any) {
	if v.v11 && looksLikeSelector(val) {
		v.selector(path, val)
	}
}

func (v *validator) step(path []any, val any) {
	m, _ := val.(map[string]any)
	var targets []string
	for _, k := range []string{"operationId", "operationPath", "workflowId", "channelPath"} {
		if _, ok := m[k]; ok {
			targets = append(targets, k)
		}
	}
	_, isWorkflow := m["workflowId"]
	if x, ok := m["x-operation"]; ok {
		if len(targets) == 0 {
			v.deviation(at(path, "x-operation"), "describe the operation in an OpenAPI source and use operationId",
				"x-operation is Redocly Respect's extension for a request without an OpenAPI operation; ohi sends it as written")
			xm := v.object(at(path, "x-operation"), x, []field{{"url", true, v.str}, {"method", true, v.enum(methods...)}}, false)
			if u, _ := xm["url"].(string); u != "" && !isHTTP(u) {
				v.errf(at(path, "x-operation", "url"), "x-operation url %q must be an absolute http(s) URL", u)
			}
		}
		targets = append(targets, "x-operation")
	}
	if m != nil && len(targets) != 1 {
		if len(targets) == 0 {
			v.errf(path, "a step needs one of operationId, operationPath, workflowId and channelPath (has none)")
		} else {
			v.errf(path, "a step takes only one of operationId, operationPath, workflowId and channelPath (has %s)", strings.Join(targets, " and "))
		}
	}
	if m != nil {
		_, hasAction := m["action"]
		if _, ok := m["channelPath"]; ok && !hasAction {
			v.errf(path, "a channelPath step needs an action (send or receive)")
		}
		if isWorkflow {
			for _, k := range []string{"action", "correlationId"} {
				if _, ok := m[k]; ok {
					v.errf(at(path, k), "%s applies only to AsyncAPI operation steps, not to a workflow step", k)
				}
			}
		}
		if _, ok := m["correlationId"]; ok && m["action"] != "receive" {
			v.errf(at(path, "correlationId"), "correlationId applies only to a step with action receive")
		}
	}
	v.object(path, val, []field{
		{"stepId", true, v.pattern(idRe, "stepId")},
		{"description", false, v.str},
		{"operationId", false, v.str},
		{"operationPath", false, v.str},
		{"workflowId", false, v.str},
		{"channelPath", false, func(p []any, val any) { v.v11field(p, "channelPath"); v.str(p, val) }},
		{"action", false, func(p []any, val any) { v.v11field(p, "action"); v.enum("send", "receive")(p, val) }},
		{"correlationId", false, func(p []any, val any) { v.v11field(p, "correlationId"); v.str(p, val) }},
		{"timeout", false, func(p []any, val any) { v.v11field(p, "timeout"); v.min0(kInteger)(p, val) }},
		{"dependsOn", false, func(p []any, val any) { v.v11field(p, "step dependsOn"); v.uniqueStrings(1)(p, val) }},
		{"parameters", false, v.array(0, v.reusableOr(v.parameter(!isWorkflow && len(targets) == 1)))},
		{"x-operation", false, nil},
		{"requestBody", false, func(p []any, val any) {
			v.object(p, val, []field{
				{"contentType", false, v.str},
				{"payload", false, nil},
				{"replacements", false, v.array(0, func(p []any, val any) {
					v.object(p, val, []field{
						{"target", true, v.str},
						{"targetSelectorType", false, func(p []any, val any) {
							v.v11field(p, "targetSelectorType")
							v.exprType("jsonpointer", "jsonpath", "xpath")(p, val)
						}},
						{"value", true, v.selectorOrAny},
					}, false)
				})},
			}, false)
		}},
		{"successCriteria", false, v.array(1, v.criterion)},
		{"onSuccess", false, v.array(0, v.reusableOr(v.action(false)))},
		{"onFailure", false, v.array(0, v.reusableOr(v.action(true)))},
		{"outputs", false, v.mapOf(componentKeyRe, v.outputValue)},
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
			{"in", false, func(p []any, val any) {
				if val == "querystring" {
					v.v11field(p, "in: querystring")
				}
				v.enum("path", "query", "querystring", "header", "cookie")(p, val)
			}},
			{"value", true, v.selectorOrAny},
		}, false)
		if m != nil && needIn {
			if _, ok := m["in"]; !ok {
				v.errf(path, "a parameter of an operation step needs \"in\"")
			}
		}
	}
}

// actionParameter checks a parameter of a success or failure action (1.1):
// an input of the target workflow, without "in".
func (v *validator) actionParameter(path []any, val any) {
	m := v.object(path, val, []field{
		{"name", true, v.str},
		{"in", false, nil},
		{"value", true, v.selectorOrAny},
	}, false)
	if _, ok := m["in"]; ok {
		v.errf(at(path, "in"), "a parameter of an action is an input of the target workflow: \"in\" must not be used")
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
			v.exprType(expr.TypeJSONPath, expr.TypeXPath)(p, val)
		}},
	}, false)
	if m == nil {
		return
	}
	typ, _ := m["type"].(string)
	if tm, ok := m["type"].(map[string]any); ok {
		typ, _ = tm["type"].(string)
	}
	if _, ok := m["context"]; !ok {
		switch typ {
		case "":
		case expr.TypeSimple:
			v.deviation(path, "remove type: simple, or give a context", "the specification asks for a context whenever type is given; a simple condition does not use it")
		default:
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
			{"parameters", false, func(p []any, val any) {
				v.v11field(p, "action parameters")
				v.array(0, v.reusableOr(v.actionParameter))(p, val)
			}},
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
		if _, ok := m["parameters"]; ok && !hasW {
			v.deviation(at(path, "parameters"), "remove them, or target a workflow with workflowId", "action parameters are inputs of a target workflow; without workflowId they are ignored")
		}
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
		if v.b == nil {
			continue
		}
		if err := v.b.SourceError(d, sd.Name); err != nil {
			v.deviation([]any{"sourceDescriptions", i, "url"}, "check the url, or run with the source reachable",
				"could not be loaded, so the references into it are not checked: %v", err)
		}
		for _, n := range v.b.SourceNotes(d) {
			if n.Name == sd.Name {
				v.deviation([]any{"sourceDescriptions", i}, n.Hint, "%s", n.Msg)
			}
		}
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
	v.stepDependencies(w, wp)
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
			v.output(at(sp, "outputs", o.Name), o, steps)
		}
	}
	for _, o := range w.Outputs {
		v.output(at(wp, "outputs", o.Name), o, steps)
	}
}

func (v *validator) output(path []any, o Output, steps map[string]*Step) {
	if o.Selector != nil {
		if e, err := expr.Parse(o.Selector.Context); err == nil {
			v.checkRef(at(path, "context"), e, steps, false)
		}
		return
	}
	v.exprString(path, o.Value, steps, true)
}

// stepDependencies checks step dependsOn entries (1.1) and, in a workflow
// without them, that no step reads the outputs of a later step (a forward
// reference that sequential execution cannot satisfy) unless goto actions
// may run the later step first.
func (v *validator) stepDependencies(w *Workflow, wp []any) {
	index := map[string]int{}
	for i, s := range w.Steps {
		index[s.StepID] = i
	}
	any11, gotos := false, false
	for si, s := range w.Steps {
		for _, a := range append(append([]Action{}, s.OnSuccess...), s.OnFailure...) {
			if a.Type == ActionGoto || a.Reference != "" {
				gotos = true
			}
		}
		for di, dep := range s.DependsOn {
			any11 = true
			dp := at(wp, "steps", si, "dependsOn", di)
			switch {
			case strings.HasPrefix(dep, "$workflows."):
				wid, sid, ok := strings.Cut(strings.TrimPrefix(dep, "$workflows."), ".steps.")
				if !ok || !idRe.MatchString(wid) || !idRe.MatchString(sid) {
					v.errf(dp, "dependsOn %q must be a stepId, $workflows.<workflowId>.steps.<stepId> or $sourceDescriptions.<name>.<workflowId>.steps.<stepId>", dep)
					continue
				}
				ow := v.doc.Workflow(wid)
				if ow == nil {
					v.errf(dp, "dependsOn %s: no workflow %q", dep, wid)
				} else if ow.Step(sid) == nil {
					v.errf(dp, "dependsOn %s: no step %q in workflow %s", dep, sid, wid)
				}
			case strings.HasPrefix(dep, sdPrefix):
				rest := strings.TrimPrefix(dep, sdPrefix)
				name, rest, ok1 := strings.Cut(rest, ".")
				wid, sid, ok2 := strings.Cut(rest, ".steps.")
				if !ok1 || !ok2 || !idRe.MatchString(sid) {
					v.errf(dp, "dependsOn %q must be a stepId, $workflows.<workflowId>.steps.<stepId> or $sourceDescriptions.<name>.<workflowId>.steps.<stepId>", dep)
					continue
				}
				if v.doc.Source(name) == nil {
					v.errf(dp, "dependsOn %s: no source description %q", dep, name)
					continue
				}
				if v.b != nil {
					if sub := v.b.ArazzoSource(v.doc, name); sub != nil {
						if ow := sub.Workflow(wid); ow == nil || ow.Step(sid) == nil {
							v.errf(dp, "dependsOn %s: no step %q in workflow %s of %s", dep, sid, wid, name)
						}
					}
				}
			default:
				if !idRe.MatchString(dep) {
					v.errf(dp, "dependsOn %q must be a stepId, $workflows.<workflowId>.steps.<stepId> or $sourceDescriptions.<name>.<workflowId>.steps.<stepId>", dep)
				} else if _, ok := index[dep]; !ok {
					v.errf(dp, "dependsOn: no step %q in workflow %s", dep, w.WorkflowID)
				} else if dep == s.StepID {
					v.errf(dp, "step %s depends on itself", dep)
				}
			}
		}
	}
	if any11 {
		if _, err := StepOrder(w); err != nil {
			v.errf(at(wp, "steps"), "%v", err)
		}
		return
	}
	if gotos {
		return
	}
	for si, s := range w.Steps {
		for _, ref := range stepRefs(&s) {
			if j, ok := index[ref]; ok && j > si {
				v.errf(at(wp, "steps", si), "step %s reads the outputs of step %s, which runs after it; move it, or declare dependsOn", s.StepID, ref)
			}
		}
	}
}

func (v *validator) resolveWorkflow(ref string) (*Document, *Workflow, error) {
	if v.b != nil && !v.unchecked(ref) {
		return v.b.ResolveWorkflow(v.doc, ref)
	}
	if strings.HasPrefix(ref, sdPrefix) && strings.Contains(ref, "#") {
		return nil, nil, nil // checked by ResolveWorkflow when loaded
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
	if s.XOperation != nil && s.OperationID == "" && s.OperationPath == "" && s.WorkflowID == "" && s.ChannelPath == "" {
		return
	}
	for _, t := range []struct{ field, val string }{{"operationId", s.OperationID}, {"operationPath", s.OperationPath}, {"workflowId", s.WorkflowID}, {"channelPath", s.ChannelPath}} {
		if name := sourceOf(t.val); name != "" {
			if sd := v.doc.Source(name); sd != nil && sd.Name != name {
				v.deviation(at(sp, t.field), "write "+sd.Name+" (source names are case-sensitive)", "source description %q matches %q only ignoring case", name, sd.Name)
			}
		}
	}
	if strings.HasPrefix(s.WorkflowID, sdPrefix) && (strings.Contains(s.WorkflowID, "#") || strings.Contains(s.WorkflowID, ".workflows.")) {
		v.deviation(at(sp, "workflowId"), "write $sourceDescriptions.<name>.<workflowId>", "workflowId %q is read as a reference to a workflow of an arazzo source", s.WorkflowID)
	}
	switch {
	case s.WorkflowID != "":
		if _, _, err := v.resolveWorkflow(s.WorkflowID); err != nil {
			v.errf(at(sp, "workflowId"), "%v", err)
		}
		if s.RequestBody != nil {
			v.errf(at(sp, "requestBody"), "a workflow step cannot have a requestBody")
		}
		return
	case s.ChannelPath != "":
		v.channelPath(s, sp)
		return
	case s.OperationID != "":
		id := s.OperationID
		if strings.HasPrefix(id, sdPrefix) && strings.Contains(id, "#") {
			name, ptr, _ := strings.Cut(id[len(sdPrefix):], "#")
			v.deviation(at(sp, "operationId"), fmt.Sprintf("write operationPath: '{$sourceDescriptions.%s.url}#%s'", name, ptr),
				"operationId holds a source and a JSON pointer; read as an operationPath")
			if v.doc.Source(name) == nil {
				v.errf(at(sp, "operationId"), "no source description named %q", name)
				return
			}
		} else if name, _, ok := splitSourceRef(id); ok {
			if sd := v.doc.Source(name); sd == nil {
				v.errf(at(sp, "operationId"), "no source description named %q", name)
				return
			}
		} else if n := v.countOpenAPISources(); n > 1 {
			v.add(SeverityWarning, at(sp, "operationId"), "with %d openapi source descriptions, operationId should be written $sourceDescriptions.<name>.%s", n, id)
		}
		if kind := v.sourceKind(id); kind == SourceAsyncAPI {
			v.asyncStep(s, sp)
			return
		}
		v.notAsync(s, sp)
		if v.b == nil || v.unchecked(id) {
			return
		}
		op, err := v.b.ResolveOperationID(v.doc, id)
		if err != nil {
			v.errf(at(sp, "operationId"), "%v", err)
			return
		}
		if name, ref, ok := strings.Cut(id, "."); ok && !strings.HasPrefix(id, "$") && op.Op.OperationID == ref {
			v.deviation(at(sp, "operationId"), fmt.Sprintf("write $sourceDescriptions.%s.%s", name, ref),
				"operationId %q is read as operation %q of source %s", id, ref, name)
		} else if ref := id[strings.LastIndexByte(id, '.')+1:]; !strings.Contains(id, "#") && op.Op.OperationID != ref && strings.EqualFold(op.Op.OperationID, ref) {
			v.deviation(at(sp, "operationId"), "write "+op.Op.OperationID+" (operationIds are case-sensitive)",
				"operationId %q matches %q only ignoring case", ref, op.Op.OperationID)
		}
	case s.OperationPath != "":
		v.notAsync(s, sp)
		if ref, _, ok := strings.Cut(s.OperationPath, "#"); ok && !strings.HasPrefix(ref, "{") {
			name := strings.TrimPrefix(ref, sdPrefix)
			if v.doc.Source(name) != nil {
				v.deviation(at(sp, "operationPath"), fmt.Sprintf("write '{$sourceDescriptions.%s.url}#...'", v.doc.Source(name).Name),
					"operationPath names its source as %q; read as {$sourceDescriptions.%s.url}", ref, name)
			}
		}
		if !strings.Contains(s.OperationPath, "#") {
			v.errf(at(sp, "operationPath"), "operationPath needs a source reference and a JSON pointer: {$sourceDescriptions.<name>.url}#/paths/...")
			return
		}
		if v.b != nil && !v.unchecked(s.OperationPath) {
			if _, err := v.b.ResolveOperationPath(v.doc, s.OperationPath); err != nil {
				v.errf(at(sp, "operationPath"), "%v", err)
			}
		}
	}
}

// sourceOf returns the source description a step target names
// explicitly ($sourceDescriptions.<name>... or {$sourceDescriptions.<name>.url}#...),
// or "".
func sourceOf(target string) string {
	t := strings.TrimPrefix(target, "{")
	if !strings.HasPrefix(t, sdPrefix) {
		return ""
	}
	t = t[len(sdPrefix):]
	if i := strings.IndexAny(t, ".#"); i >= 0 {
		return t[:i]
	}
	return t
}

// sourceKind tells the kind of source an operationId refers to: the type
// of its named source, else the type all the document's non-arazzo
// sources share, else "" (unknown without loading them).
func (v *validator) sourceKind(id string) string {
	if name := sourceOf(id); name != "" {
		if sd := v.doc.Source(name); sd != nil && sd.Type != "" {
			return sd.Type
		}
		if v.b != nil && v.b.AsyncAPISources(v.doc)[name] != nil {
			return SourceAsyncAPI
		}
		return ""
	}
	kind := ""
	for _, sd := range v.doc.SourceDescriptions {
		t := sd.Type
		if t == SourceArazzo {
			continue
		}
		if t == "" && v.b != nil && v.b.AsyncAPISources(v.doc)[sd.Name] != nil {
			t = SourceAsyncAPI
		} else if t == "" {
			t = SourceOpenAPI
		}
		if kind != "" && kind != t {
			// Mixed sources: the loaded AsyncAPI sources decide.
			if v.b != nil {
				for _, a := range v.b.AsyncAPISources(v.doc) {
					if a.Operations[id] != nil {
						return SourceAsyncAPI
					}
				}
			}
			return SourceOpenAPI
		}
		kind = t
	}
	return kind
}

// unchecked reports whether a target reads a source that could not be
// loaded (or, for a bare operationId, whether any source could not be).
func (v *validator) unchecked(target string) bool {
	if v.b == nil {
		return true
	}
	if name := sourceOf(target); name != "" {
		return v.b.SourceError(v.doc, name) != nil
	}
	for _, sd := range v.doc.SourceDescriptions {
		if v.b.SourceError(v.doc, sd.Name) != nil {
			return true
		}
	}
	return false
}

// notAsync reports AsyncAPI fields on an OpenAPI operation step.
func (v *validator) notAsync(s *Step, sp []any) {
	for k, set := range map[string]bool{"action": s.Action != "", "correlationId": s.CorrelationID != ""} {
		if set {
			v.deviation(at(sp, k), "remove it", "%s applies only to AsyncAPI steps; this step calls an OpenAPI operation (ignored)", k)
		}
	}
}

// asyncStep checks an AsyncAPI operation step.
func (v *validator) asyncStep(s *Step, sp []any) {
	if s.Action == "" {
		v.errf(sp, "an AsyncAPI step needs an action (send or receive)")
	}
	if s.RequestBody != nil && s.Action == "receive" {
		v.add(SeverityWarning, at(sp, "requestBody"), "a receive step sends nothing; its requestBody is ignored")
	}
	if v.b == nil || v.unchecked(s.OperationID) {
		return
	}
	id := s.OperationID
	name, ref, explicit := splitSourceRef(id)
	for n, a := range v.b.AsyncAPISources(v.doc) {
		if explicit && n != name {
			continue
		}
		if !explicit {
			ref = id
		}
		if a.Operations[ref] != nil {
			return
		}
	}
	v.errf(at(sp, "operationId"), "operationId %s: not found in any asyncapi source description", id)
}

// channelPath checks a channelPath step (1.1): a source reference and a
// JSON pointer to a channel of an AsyncAPI source.
func (v *validator) channelPath(s *Step, sp []any) {
	cp := s.ChannelPath
	ref, ptr, ok := strings.Cut(cp, "#")
	name := sourceOf(ref)
	if !ok || name == "" || !strings.HasPrefix(ptr, "/channels/") {
		if len(v.doc.SourceDescriptions) == 1 && v.doc.SourceDescriptions[0].Type == SourceAsyncAPI && idRe.MatchString(cp) {
			v.deviation(at(sp, "channelPath"), fmt.Sprintf("write '{$sourceDescriptions.%s.url}#/channels/%s'", v.doc.SourceDescriptions[0].Name, cp),
				"channelPath %q is not a source reference with a JSON pointer; read as the channel %q of the only source", cp, cp)
		} else {
			v.errf(at(sp, "channelPath"), "channelPath %q must be a source reference and a JSON pointer: {$sourceDescriptions.<name>.url}#/channels/<channel>", cp)
		}
		return
	}
	sd := v.doc.Source(name)
	if sd == nil {
		v.errf(at(sp, "channelPath"), "no source description named %q", name)
		return
	}
	if sd.Type != "" && sd.Type != SourceAsyncAPI {
		v.errf(at(sp, "channelPath"), "channelPath needs an asyncapi source; %s is %s", name, sd.Type)
		return
	}
	if v.b == nil || v.b.SourceError(v.doc, name) != nil {
		return
	}
	if a := v.b.AsyncAPISources(v.doc)[name]; a == nil {
		v.errf(at(sp, "channelPath"), "source %s is not an AsyncAPI description", name)
	} else if !a.Channel(ptr) {
		v.errf(at(sp, "channelPath"), "channelPath %s: no channel at %q in %s", cp, ptr, name)
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
	if c.Context != "" && (c.Type.Type == "" || c.Type.Type == expr.TypeSimple) {
		if _, err := expr.Parse(c.Context); err != nil {
			v.deviation(at(path, "context"), "remove the context", "context %q is not a runtime expression; a simple condition does not use it (ignored)", c.Context)
			c.Context = ""
		}
	}
	compile := expr.CompileCriterion
	if v.v11 {
		compile = expr.CompileCriterionV11
	}
	cr, err := compile(c.Condition, c.Context, c.Type.Type, c.Type.Version)
	if err != nil && c.Type.Type == expr.TypeXPath {
		// ohi's XPath engine is XPath 1.0 with part of 2.0: a limit of
		// ohi, not necessarily an error of the document.
		v.add(SeverityWarning, at(path, "condition"), "%v; the criterion will fail", err)
		return
	}
	if err != nil {
		v.errf(at(path, "condition"), "%v", err)
		return
	}
	for _, d := range cr.Deviations() {
		hint := "quote string literals"
		if cr.Type == expr.TypeJSONPath {
			hint = "write an RFC 9535 query: a filter tests the children of the node before it ($[?@.status == 'done'] passes when a member of the root has status done)"
		}
		v.deviation(at(path, "condition"), hint, "%s", d)
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
//
// A reference to a step or step output that does not exist evaluates to
// nothing at run time; it is a warning (an error when strict), as in
// other runners' linters, since the step may still run correctly.
func (v *validator) checkRef(path []any, e expr.Expr, steps map[string]*Step, strict bool) {
	if e.Deviation != "" {
		hint := "write it as the runtime-expression grammar does"
		for _, src := range []string{".body", ".payload"} {
			if i := strings.Index(e.String(), src); i > 0 && e.HasPointer {
				hint = "write " + e.String()[:i+len(src)] + "#" + e.Pointer
				break
			}
		}
		v.deviation(path, hint, "%s %s", e, e.Deviation)
	}
	switch e.Root {
	case expr.Steps:
		if steps == nil {
			return
		}
		s := steps[e.ID]
		if s == nil {
			v.deviation(path, "reference a stepId of this workflow", "%s: no step %q in this workflow; it will be undefined at run time", e, e.ID)
			return
		}
		if e.Name == "" {
			return
		}
		for _, o := range s.Outputs {
			if o.Name == e.Name || strings.HasPrefix(e.Name, o.Name+".") {
				return
			}
		}
		v.deviation(path, fmt.Sprintf("declare the output under step %s's outputs", e.ID), "%s: step %s has no output %q; it will be undefined at run time", e, e.ID, e.Name)
	case expr.Workflows:
		_, w, err := v.resolveWorkflow(e.ID)
		if err != nil && v.b != nil {
			// A workflow of an arazzo source, named without its source.
			for _, sd := range v.doc.SourceDescriptions {
				if sub := v.b.ArazzoSource(v.doc, sd.Name); sub != nil && sub.Workflow(e.ID) != nil {
					v.deviation(path, "workflows of other documents are read through the outputs of the step that runs them",
						"%s names workflow %s of source %s, which $workflows does not reach in this document", e, e.ID, sd.Name)
					return
				}
			}
		}
		if err != nil {
			v.errf(path, "%s: %v", e, err)
			return
		}
		if e.Step != "" && w != nil && w.Step(e.Step) == nil {
			v.errf(path, "%s: no step %q in workflow %s", e, e.Step, e.ID)
		}
	case expr.SourceDescriptions:
		if v.doc.Source(e.ID) == nil {
			v.errf(path, "%s: no source description %q", e, e.ID)
		}
	case expr.Components:
		if e.ID == "inputs" && v.v11 {
			v.deviation(path, "reference input schemas with $ref: '#/components/inputs/"+e.Name+"'",
				"%s: Arazzo 1.1 expressions reach only components of type parameters, successActions and failureActions", e)
		}
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
