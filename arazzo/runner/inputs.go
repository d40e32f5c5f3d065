package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/expr"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// workflowIndex returns the index of wf in doc.Workflows.
func workflowIndex(doc *arazzo.Document, wf *arazzo.Workflow) int {
	for i := range doc.Workflows {
		if &doc.Workflows[i] == wf {
			return i
		}
	}
	return -1
}

// inputSchema returns the workflow's input schema with a local $ref to
// #/components/inputs/... followed (one level).
func inputSchema(doc *arazzo.Document, wf *arazzo.Workflow) map[string]any {
	s, _ := wf.Inputs.(map[string]any)
	return deref(doc, s)
}

func deref(doc *arazzo.Document, s map[string]any) map[string]any {
	for range 8 {
		ref, ok := s["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#/") {
			return s
		}
		v, err := expr.Pointer(doc.Raw, ref[1:])
		if err != nil {
			return s
		}
		next, ok := v.(map[string]any)
		if !ok {
			return s
		}
		s = next
	}
	return s
}

// ValidateInputs validates inputs against the workflow's input JSON Schema
// (draft 2020-12 unless the schema says otherwise). $refs into the Arazzo
// document (#/components/inputs/...) resolve; nothing is fetched.
func ValidateInputs(doc *arazzo.Document, wf *arazzo.Workflow, inputs map[string]any) error {
	if wf.Inputs == nil {
		return nil
	}
	sch, err := compileInputSchema(doc, wf)
	if err != nil {
		return err
	}
	return validateWith(sch, wf, inputs)
}

// validateInputs is ValidateInputs with the compiled schemas cached in the
// runner (a workflow run many times, as a nested or dependsOn workflow or
// by a long-lived caller, is compiled once).
func (r *Runner) validateInputs(doc *arazzo.Document, wf *arazzo.Workflow, inputs map[string]any) error {
	if wf.Inputs == nil {
		return nil
	}
	sch, ok := r.schemas[wf]
	if !ok {
		var err error
		if sch, err = compileInputSchema(doc, wf); err != nil {
			return err
		}
		if r.schemas == nil {
			r.schemas = map[*arazzo.Workflow]*jsonschema.Schema{}
		}
		r.schemas[wf] = sch
	}
	return validateWith(sch, wf, inputs)
}

// compileInputSchema compiles the input schema of wf, a workflow of doc.
func compileInputSchema(doc *arazzo.Document, wf *arazzo.Workflow) (*jsonschema.Schema, error) {
	idx := workflowIndex(doc, wf)
	if idx < 0 {
		return nil, fmt.Errorf("workflow %s not in document", wf.WorkflowID)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	const base = "urn:ohi:arazzo"
	raw, err := toSchemaJSON(doc.Raw)
	if err != nil {
		return nil, err
	}
	if err := c.AddResource(base, raw); err != nil {
		return nil, fmt.Errorf("workflow %s: input schema: %w", wf.WorkflowID, err)
	}
	sch, err := c.Compile(fmt.Sprintf("%s#/workflows/%d/inputs", base, idx))
	if err != nil {
		return nil, fmt.Errorf("workflow %s: input schema: %w", wf.WorkflowID, err)
	}
	return sch, nil
}

// validateWith validates inputs against a compiled input schema of wf.
func validateWith(sch *jsonschema.Schema, wf *arazzo.Workflow, inputs map[string]any) error {
	inst, err := toSchemaJSON(inputs)
	if err != nil {
		return err
	}
	err = sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var problems []string
	var walk func(u jsonschema.OutputUnit)
	walk = func(u jsonschema.OutputUnit) {
		if u.Error != nil && len(u.Errors) == 0 {
			loc := u.InstanceLocation
			if loc == "" {
				loc = "inputs"
			} else {
				loc = "inputs" + strings.ReplaceAll(loc, "/", ".")
			}
			problems = append(problems, fmt.Sprintf("%s: %s", loc, u.Error))
		}
		for _, e := range u.Errors {
			walk(e)
		}
	}
	walk(*ve.BasicOutput())
	sort.Strings(problems)
	if len(problems) == 0 {
		problems = []string{ve.Error()}
	}
	return &InputError{WorkflowID: wf.WorkflowID, Problems: problems}
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema %s not loaded", url)
}

func toSchemaJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// applyDefaults sets missing top-level inputs that have a schema default.
func applyDefaults(doc *arazzo.Document, wf *arazzo.Workflow, inputs map[string]any) {
	props, _ := inputSchema(doc, wf)["properties"].(map[string]any)
	for name, p := range props {
		ps, _ := p.(map[string]any)
		ps = deref(doc, ps)
		if d, ok := ps["default"]; ok {
			if _, set := inputs[name]; !set {
				inputs[name] = d
			}
		}
	}
}

// filterInputs passes the inputs a target workflow declares (all of them
// when its schema lists no properties).
func filterInputs(doc *arazzo.Document, wf *arazzo.Workflow, inputs map[string]any) map[string]any {
	props, ok := inputSchema(doc, wf)["properties"].(map[string]any)
	out := map[string]any{}
	for k, v := range inputs {
		if _, declared := props[k]; declared || !ok {
			out[k] = v
		}
	}
	applyDefaults(doc, wf, out)
	return out
}

// TypedInput converts a command-line NAME=VALUE value to the type the
// workflow's input schema declares for NAME: integer and number parse as
// numbers, boolean as a boolean, object and array as JSON; anything else
// (string, no schema, unknown name) stays a string.
func TypedInput(doc *arazzo.Document, wf *arazzo.Workflow, name, value string) (any, error) {
	props, _ := inputSchema(doc, wf)["properties"].(map[string]any)
	ps, _ := props[name].(map[string]any)
	ps = deref(doc, ps)
	var types []string
	switch t := ps["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				types = append(types, s)
			}
		}
	}
	has := func(t string) bool {
		for _, x := range types {
			if x == t {
				return true
			}
		}
		return false
	}
	if has("string") || len(types) == 0 {
		return value, nil
	}
	switch {
	case has("integer"), has("number"):
		if _, err := strconv.ParseFloat(value, 64); err == nil {
			return json.Number(value), nil
		}
	case has("boolean"):
		if b, err := strconv.ParseBool(value); err == nil {
			return b, nil
		}
	}
	if has("null") && value == "null" {
		return nil, nil
	}
	if has("object") || has("array") {
		v, err := expr.DecodeJSON([]byte(value))
		if err == nil {
			return v, nil
		}
		return nil, fmt.Errorf("input %s: want JSON %s: %v", name, strings.Join(types, " or "), err)
	}
	return nil, fmt.Errorf("input %s: %q is not a valid %s", name, value, strings.Join(types, " or "))
}
