// Package arazzo loads, validates and models Arazzo 1.0.x and 1.1.x
// workflow documents (https://spec.openapis.org/arazzo/v1.1.0.html) and
// the OpenAPI (3.x, and Swagger 2.0 converted) and AsyncAPI source
// descriptions they reference. Execution lives in arazzo/runner and
// runtime expressions and criteria in arazzo/expr.
package arazzo

import (
	"fmt"
	"strings"

	"github.com/openhealthimaging/ohi/arazzo/expr"
	"go.yaml.in/yaml/v3"
)

// Document is an Arazzo Specification Object.
type Document struct {
	Arazzo string `yaml:"arazzo"`
	// Self is the 1.1 $self URI: the document's identity and base URI.
	Self               string              `yaml:"$self"`
	Info               Info                `yaml:"info"`
	SourceDescriptions []SourceDescription `yaml:"sourceDescriptions"`
	Workflows          []Workflow          `yaml:"workflows"`
	Components         Components          `yaml:"components"`

	// URL is where the document was loaded from (a file path or an
	// http(s) URL); relative source URLs resolve against it.
	URL string `yaml:"-"`
	// Root is the parsed YAML tree, kept for line and column lookups.
	Root *yaml.Node `yaml:"-"`
	// Raw is the document as a JSON-typed value (for schema checks and
	// $ref resolution in input schemas).
	Raw any `yaml:"-"`
}

// V11 reports whether the document declares Arazzo 1.1 or later, whose
// features (Selector Objects, embedded-expression interpolation in
// criteria, ...) apply to it.
func (d *Document) V11() bool {
	return !strings.HasPrefix(d.Arazzo, "1.0")
}

// BaseURI is the URI relative references in the document resolve
// against: $self (resolved against the location the document was read
// from when it is relative), else that location. A local file whose $self
// is an absolute URL is a copy of a published document: its relative
// references resolve beside the file, so that local copies work offline.
func (d *Document) BaseURI() string {
	if d.Self == "" {
		return d.URL
	}
	if isHTTP(d.Self) {
		if isHTTP(d.URL) {
			return d.Self
		}
		return d.URL
	}
	if r, err := ResolveReference(d.URL, d.Self); err == nil {
		return r
	}
	return d.URL
}

// Info is the Info Object.
type Info struct {
	Title       string `yaml:"title"`
	Summary     string `yaml:"summary"`
	Description string `yaml:"description"`
	Version     string `yaml:"version"`
}

// Source description types.
const (
	SourceOpenAPI = "openapi"
	SourceArazzo  = "arazzo"
)

// SourceDescription is a Source Description Object.
type SourceDescription struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	Type string `yaml:"type"`
}

// Workflow is a Workflow Object.
type Workflow struct {
	WorkflowID     string      `yaml:"workflowId"`
	Summary        string      `yaml:"summary"`
	Description    string      `yaml:"description"`
	Inputs         any         `yaml:"inputs"`
	DependsOn      []string    `yaml:"dependsOn"`
	Steps          []Step      `yaml:"steps"`
	SuccessActions []Action    `yaml:"successActions"`
	FailureActions []Action    `yaml:"failureActions"`
	Outputs        Outputs     `yaml:"outputs"`
	Parameters     []Parameter `yaml:"parameters"`
}

// Step is a Step Object.
type Step struct {
	StepID          string       `yaml:"stepId"`
	Description     string       `yaml:"description"`
	OperationID     string       `yaml:"operationId"`
	OperationPath   string       `yaml:"operationPath"`
	WorkflowID      string       `yaml:"workflowId"`
	Parameters      []Parameter  `yaml:"parameters"`
	RequestBody     *RequestBody `yaml:"requestBody"`
	SuccessCriteria []Criterion  `yaml:"successCriteria"`
	OnSuccess       []Action     `yaml:"onSuccess"`
	OnFailure       []Action     `yaml:"onFailure"`
	Outputs         Outputs      `yaml:"outputs"`

	// Arazzo 1.1.
	DependsOn     []string `yaml:"dependsOn"`
	ChannelPath   string   `yaml:"channelPath"`
	Action        string   `yaml:"action"` // send or receive (AsyncAPI)
	CorrelationID string   `yaml:"correlationId"`
	Timeout       *int64   `yaml:"timeout"` // milliseconds

	// XOperation is Redocly Respect's extension for a request to a URL
	// that no OpenAPI description describes.
	XOperation *XOperation `yaml:"x-operation"`
}

// XOperation is the x-operation extension of a step: a method and an
// absolute URL, which may hold {name} path parameters.
type XOperation struct {
	URL    string `yaml:"url"`
	Method string `yaml:"method"`
}

// Parameter is a Parameter Object, or a Reusable Object when Reference is
// set (then Value, if present, overrides the referenced parameter's value).
type Parameter struct {
	Name      string `yaml:"name"`
	In        string `yaml:"in"`
	Value     any    `yaml:"value"`
	Reference string `yaml:"reference"`
}

// RequestBody is a Request Body Object.
type RequestBody struct {
	ContentType  string        `yaml:"contentType"`
	Payload      any           `yaml:"payload"`
	Replacements []Replacement `yaml:"replacements"`
}

// Replacement is a Payload Replacement Object.
type Replacement struct {
	Target string `yaml:"target"`
	Value  any    `yaml:"value"`
	// TargetSelectorType (1.1) says how Target is read: jsonpointer
	// (the default for JSON payloads), jsonpath or xpath.
	TargetSelectorType CriterionType `yaml:"targetSelectorType"`
}

// Selector is a Selector Object (Arazzo 1.1): a JSONPath, JSON Pointer or
// XPath selection applied to the value of a runtime expression.
type Selector struct {
	Context  string        `yaml:"context"`
	Selector string        `yaml:"selector"`
	Type     CriterionType `yaml:"type"`
}

// AsSelector returns v as a Selector Object when it is one: an object with
// string context and selector members and a type, and nothing else but
// extensions.
func AsSelector(v any) (*Selector, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	c, ok1 := m["context"].(string)
	sel, ok2 := m["selector"].(string)
	if !ok1 || !ok2 {
		return nil, false
	}
	s := &Selector{Context: c, Selector: sel}
	for k, x := range m {
		switch k {
		case "context", "selector":
		case "type":
			switch t := x.(type) {
			case string:
				s.Type.Type = t
			case map[string]any:
				s.Type.Type, _ = t["type"].(string)
				s.Type.Version, _ = t["version"].(string)
			default:
				return nil, false
			}
		default:
			if !strings.HasPrefix(k, "x-") {
				return nil, false
			}
		}
	}
	return s, true
}

// Criterion is a Criterion Object.
type Criterion struct {
	Context   string        `yaml:"context"`
	Condition string        `yaml:"condition"`
	Type      CriterionType `yaml:"type"`
}

// CriterionType is a criterion's or selector's type: a plain string, or
// an Expression Type Object with a version.
type CriterionType struct {
	Type    string
	Version string
}

// UnmarshalYAML accepts both forms of the type field.
func (t *CriterionType) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&t.Type)
	case yaml.MappingNode:
		var o struct {
			Type    string `yaml:"type"`
			Version string `yaml:"version"`
		}
		if err := n.Decode(&o); err != nil {
			return err
		}
		t.Type, t.Version = o.Type, o.Version
		return nil
	}
	// Other shapes are reported by the validator.
	return nil
}

// Action types.
const (
	ActionEnd   = "end"
	ActionGoto  = "goto"
	ActionRetry = "retry"
)

// Action is a Success Action Object or Failure Action Object, or a Reusable
// Object when Reference is set.
type Action struct {
	Name       string      `yaml:"name"`
	Type       string      `yaml:"type"`
	WorkflowID string      `yaml:"workflowId"`
	StepID     string      `yaml:"stepId"`
	RetryAfter *float64    `yaml:"retryAfter"`
	RetryLimit *int        `yaml:"retryLimit"`
	Criteria   []Criterion `yaml:"criteria"`
	Reference  string      `yaml:"reference"`
	// Parameters (1.1) are the inputs of the workflow a goto or retry
	// action transfers to.
	Parameters []Parameter `yaml:"parameters"`
}

// Components is the Components Object.
type Components struct {
	Inputs         map[string]any       `yaml:"inputs"`
	Parameters     map[string]Parameter `yaml:"parameters"`
	SuccessActions map[string]Action    `yaml:"successActions"`
	FailureActions map[string]Action    `yaml:"failureActions"`
}

// Output is one named output: a runtime expression, or (1.1) a Selector
// Object.
type Output struct {
	Name     string
	Value    string
	Selector *Selector
}

// Outputs is an ordered map of output names to runtime expressions.
type Outputs []Output

// UnmarshalYAML keeps the document order of the outputs.
func (o *Outputs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: outputs must be a map", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		out := Output{Name: n.Content[i].Value}
		vn := n.Content[i+1]
		switch vn.Kind {
		case yaml.MappingNode:
			var raw any
			if err := vn.Decode(&raw); err == nil {
				out.Selector, _ = AsSelector(expr.Normalize(raw))
			}
		case yaml.ScalarNode:
			out.Value = vn.Value
		}
		// Other shapes are reported by the validator, which reads the raw
		// document.
		*o = append(*o, out)
	}
	return nil
}

// Workflow returns the workflow with the given id, or nil.
func (d *Document) Workflow(id string) *Workflow {
	for i := range d.Workflows {
		if d.Workflows[i].WorkflowID == id {
			return &d.Workflows[i]
		}
	}
	return nil
}

// Source returns the source description with the given name, or nil.
// When no name matches exactly, a unique case-insensitive match is
// returned (validation reports it as a deviation).
func (d *Document) Source(name string) *SourceDescription {
	var fold *SourceDescription
	n := 0
	for i := range d.SourceDescriptions {
		if d.SourceDescriptions[i].Name == name {
			return &d.SourceDescriptions[i]
		}
		if strings.EqualFold(d.SourceDescriptions[i].Name, name) {
			fold = &d.SourceDescriptions[i]
			n++
		}
	}
	if n == 1 {
		return fold
	}
	return nil
}

// Step returns the step with the given id, or nil.
func (w *Workflow) Step(id string) *Step {
	if i := w.StepIndex(id); i >= 0 {
		return &w.Steps[i]
	}
	return nil
}

// StepIndex returns the index of the step with the given id, or -1.
func (w *Workflow) StepIndex(id string) int {
	for i := range w.Steps {
		if w.Steps[i].StepID == id {
			return i
		}
	}
	return -1
}

// Position returns the line and column (1-based) of the value at the given
// path (map keys as strings, sequence indexes as ints) in the document, or
// of the deepest ancestor that exists. It returns 0, 0 without a YAML tree.
func (d *Document) Position(path ...any) (line, col int) {
	n := d.Root
	if n == nil {
		return 0, 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line, col = n.Line, n.Column
	for _, p := range path {
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k >= 0 && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			return line, col
		}
		n = next
		line, col = n.Line, n.Column
	}
	return line, col
}
