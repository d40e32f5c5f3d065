// Package expr parses and evaluates Arazzo 1.0.x and 1.1 runtime expressions
// ($inputs.x, $response.body#/a/0, ...), string templates with embedded
// {$...} expressions, and the four criterion types (simple, regex, jsonpath,
// xpath).
//
// The package knows nothing about HTTP or workflows: evaluation asks a
// [Resolver] for the value an expression names.
package expr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-openapi/jsonpointer"
)

// Root is the first part of a runtime expression.
type Root int

// The expression roots of Arazzo 1.0.1.
const (
	URL                Root = iota + 1 // $url
	Method                             // $method
	StatusCode                         // $statusCode
	Request                            // $request.<source>
	Response                           // $response.<source>
	Inputs                             // $inputs.<name>
	Outputs                            // $outputs.<name>
	Steps                              // $steps.<stepId>.outputs.<name>
	Workflows                          // $workflows.<workflowId>.inputs|outputs.<name>
	SourceDescriptions                 // $sourceDescriptions.<name>.<ref>
	Components                         // $components.<kind>.<name>
	Message                            // $message.header.<token>, $message.payload[#<pointer>] (1.1)
	Self                               // $self (1.1)
)

var rootNames = map[Root]string{
	URL: "$url", Method: "$method", StatusCode: "$statusCode", Request: "$request",
	Response: "$response", Inputs: "$inputs", Outputs: "$outputs", Steps: "$steps",
	Workflows: "$workflows", SourceDescriptions: "$sourceDescriptions", Components: "$components",
	Message: "$message", Self: "$self",
}

func (r Root) String() string { return rootNames[r] }

// Source is the part of a request or response a $request/$response
// expression reads.
type Source int

// Request and response sources.
const (
	Header  Source = iota + 1 // header.<token>
	Query                     // query.<name>
	Path                      // path.<name>
	Body                      // body[#<pointer>]
	Payload                   // payload[#<pointer>] ($message, 1.1)
)

// Expr is a parsed runtime expression.
type Expr struct {
	Root   Root
	Source Source // for Request and Response
	// ID is the stepId, workflowId, source description name or component
	// kind ("inputs", "parameters", "successActions", "failureActions").
	ID string
	// Field is "outputs" for Steps, "inputs" or "outputs" for Workflows.
	Field string
	// Name is the header, query or path parameter name, the input or output
	// name, the source description reference (operationId, workflowId, url,
	// ...) or the component name.
	Name string
	// Step is the stepId of $workflows.<id>.steps.<stepId>.outputs.<name>
	// (a form outside the grammar, read leniently).
	Step string
	// Pointer is the RFC 6901 JSON pointer after '#', without the '#'.
	Pointer    string
	HasPointer bool
	// Deviation, when not empty, says how the expression departs from the
	// grammar in a way ohi reads unambiguously (a dot path after body, a
	// whole outputs map); validation reports it as a warning.
	Deviation string

	raw string
}

// String returns the expression as written.
func (e Expr) String() string { return e.raw }

// SyntaxError reports a runtime expression that does not parse.
type SyntaxError struct {
	Input  string
	Offset int // byte offset in Input
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid runtime expression %q at offset %d: %s", e.Input, e.Offset, e.Msg)
}

// maxExprLen bounds the length of a parsed expression or condition.
const maxExprLen = 64 << 10

// prefixes lists the text that starts a runtime expression. A string that
// starts with one of these is a whole-value expression (see [IsExpression]).
var prefixes = []string{
	"$url", "$method", "$statusCode", "$request.", "$response.", "$inputs.", "$outputs.",
	"$steps.", "$workflows.", "$sourceDescriptions.", "$components.", "$message.", "$self",
	"$dependencies.",
}

// IsExpression reports whether s starts like a runtime expression, that is
// whether a string value should be treated as a whole-value expression
// rather than a literal.
func IsExpression(s string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			rest := s[len(p):]
			if strings.HasSuffix(p, ".") || rest == "" || !isIdentChar(rest[0]) {
				return true
			}
		}
	}
	return false
}

// Parse parses s, which must be exactly one runtime expression.
func Parse(s string) (Expr, error) {
	if len(s) > maxExprLen {
		return Expr{}, &SyntaxError{Input: s, Msg: "expression too long"}
	}
	e, n, err := scan(s, 0, stopEnd, true)
	if err != nil {
		return Expr{}, err
	}
	if n != len(s) {
		return Expr{}, &SyntaxError{Input: s, Offset: n, Msg: fmt.Sprintf("unexpected %q after expression", s[n:])}
	}
	return e, nil
}

// stop decides where a JSON pointer ends: it returns true when the byte at
// s[i] ends the pointer.
type stop func(s string, i int) bool

func stopEnd(string, int) bool { return false }

func stopBrace(s string, i int) bool { return s[i] == '}' }

func stopCondition(s string, i int) bool {
	switch s[i] {
	case ' ', '\t', '\n', '\r', ')', '=', '!', '<', '>', '&', '|':
		return true
	}
	return false
}

func isIdentChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

func isStrictIdentChar(c byte) bool { return c != '.' && isIdentChar(c) }

// isTchar reports an RFC 9110 token character.
func isTchar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// scan parses one expression starting at s[i] ('$') and returns it with the
// offset just past it. Names end at the first byte outside their character
// class; a JSON pointer ends where stop says or at the end of s.
func scan(s string, i int, stopPtr stop, dots bool) (Expr, int, error) {
	start := i
	fail := func(at int, format string, a ...any) (Expr, int, error) {
		return Expr{}, at, &SyntaxError{Input: s, Offset: at, Msg: fmt.Sprintf(format, a...)}
	}
	if i >= len(s) || s[i] != '$' {
		return fail(i, "expression must start with '$'")
	}
	j := i + 1
	for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
		j++
	}
	word := s[i+1 : j]
	var e Expr
	// ident reads a name of the given class at j.
	ident := func(strict bool) (string, bool) {
		k := j
		for k < len(s) && (strict && isStrictIdentChar(s[k]) || !strict && isIdentChar(s[k])) {
			k++
		}
		if k == j {
			return "", false
		}
		name := s[j:k]
		j = k
		return name, true
	}
	dot := func() bool {
		if j < len(s) && s[j] == '.' {
			j++
			return true
		}
		return false
	}
	pointer := func() error {
		if j >= len(s) || s[j] != '#' {
			return nil
		}
		j++
		k := j
		for k < len(s) && !stopPtr(s, k) {
			k++
		}
		p := s[j:k]
		if p != "" && p[0] != '/' {
			return &SyntaxError{Input: s, Offset: j, Msg: "JSON pointer must be empty or start with '/'"}
		}
		for x := 0; x < len(p); x++ {
			if p[x] == '~' && (x+1 >= len(p) || p[x+1] != '0' && p[x+1] != '1') {
				return &SyntaxError{Input: s, Offset: j + x, Msg: "'~' in a JSON pointer must be followed by 0 or 1"}
			}
		}
		e.Pointer, e.HasPointer = p, true
		j = k
		return nil
	}
	// dotPath reads a ".a.b[0]" suffix after body or payload (a common
	// deviation from the "#/a/b/0" JSON pointer syntax) as a JSON pointer.
	// Conditions read such suffixes as property accessors themselves.
	dotPath := func() {
		if !dots || e.HasPointer || j >= len(s) || s[j] != '.' && s[j] != '[' {
			return
		}
		var ptr strings.Builder
		k := j
		for k < len(s) && !stopPtr(s, k) {
			if s[k] == '.' {
				m := k + 1
				for m < len(s) && isStrictIdentChar(s[m]) && !stopPtr(s, m) {
					m++
				}
				if m == k+1 {
					break
				}
				ptr.WriteString("/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(s[k+1:m]))
				k = m
				continue
			}
			if s[k] == '[' {
				m := k + 1
				for m < len(s) && s[m] >= '0' && s[m] <= '9' {
					m++
				}
				if m == k+1 || m >= len(s) || s[m] != ']' {
					break
				}
				ptr.WriteString("/" + s[k+1:m])
				k = m + 1
				continue
			}
			break
		}
		if ptr.Len() == 0 {
			return
		}
		e.Pointer, e.HasPointer = ptr.String(), true
		e.Deviation = "uses a dot path; read as the JSON pointer #" + e.Pointer
		j = k
	}
	switch word {
	case "url":
		e.Root = URL
	case "method":
		e.Root = Method
	case "statusCode":
		e.Root = StatusCode
	case "request", "response":
		e.Root = Request
		if word == "response" {
			e.Root = Response
		}
		if !dot() {
			return fail(j, "expected '.' after $%s", word)
		}
		k := j
		for k < len(s) && s[k] >= 'a' && s[k] <= 'z' {
			k++
		}
		src := s[j:k]
		j = k
		if src == "headers" {
			e.Deviation = "says headers; read as header"
			src = "header"
		}
		switch src {
		case "header":
			e.Source = Header
			if !dot() {
				return fail(j, "expected '.' after header")
			}
			k := j
			for k < len(s) && isTchar(s[k]) && !stopPtr(s, k) {
				k++
			}
			if k == j {
				return fail(j, "expected a header name")
			}
			e.Name, j = s[j:k], k
		case "query", "path":
			e.Source = Query
			if src == "path" {
				e.Source = Path
			}
			if !dot() {
				return fail(j, "expected '.' after %s", src)
			}
			name, ok := ident(false)
			if !ok {
				return fail(j, "expected a %s parameter name", src)
			}
			e.Name = name
		case "body":
			e.Source = Body
			if err := pointer(); err != nil {
				return Expr{}, j, err
			}
			dotPath()
		default:
			return fail(j-len(src), "unknown source %q (want header, query, path or body)", src)
		}
	case "message":
		e.Root = Message
		if !dot() {
			return fail(j, "expected '.' after $message")
		}
		switch {
		case strings.HasPrefix(s[j:], "header."):
			j += len("header.")
			e.Source = Header
			k := j
			for k < len(s) && isTchar(s[k]) && !stopPtr(s, k) {
				k++
			}
			if k == j {
				return fail(j, "expected a header name")
			}
			e.Name, j = s[j:k], k
		case strings.HasPrefix(s[j:], "payload"):
			j += len("payload")
			e.Source = Payload
			if err := pointer(); err != nil {
				return Expr{}, j, err
			}
			dotPath()
		default:
			return fail(j, "expected header or payload after $message.")
		}
	case "self":
		e.Root = Self
	case "dependencies":
		// $dependencies.<workflowId>.<output>: an extension of wso2's
		// runner for the outputs of a dependsOn workflow.
		if !dot() {
			return fail(j, "expected '.' after $dependencies")
		}
		id, ok := ident(true)
		if !ok || !dot() {
			return fail(j, "expected <workflowId>.<output> after $dependencies.")
		}
		name, ok := ident(false)
		if !ok {
			return fail(j, "expected an output name")
		}
		e.Root, e.ID, e.Field, e.Name = Workflows, id, "outputs", name
		e.Deviation = "is not in the grammar; read as $workflows." + id + ".outputs." + name
		if err := pointer(); err != nil {
			return Expr{}, j, err
		}
	case "inputs", "outputs":
		e.Root = Inputs
		if word == "outputs" {
			e.Root = Outputs
		}
		if !dot() {
			if e.Root == Inputs && (j == len(s) || stopPtr(s, j) || !isIdentChar(s[j])) {
				e.Deviation = "names no input; read as the map of all inputs"
				break
			}
			return fail(j, "expected '.' after $%s", word)
		}
		name, ok := ident(false)
		if !ok {
			return fail(j, "expected a name after $%s.", word)
		}
		e.Name = name
		if err := pointer(); err != nil {
			return Expr{}, j, err
		}
		dotPath()
	case "steps":
		e.Root = Steps
		if !dot() {
			return fail(j, "expected '.' after $steps")
		}
		id, ok := ident(true)
		if !ok {
			return fail(j, "expected a stepId after $steps.")
		}
		e.ID = id
		if !dot() {
			return fail(j, "expected '.outputs.' after the stepId")
		}
		if !strings.HasPrefix(s[j:], "outputs") {
			name, ok := ident(true)
			if !ok || j < len(s) && s[j] == '.' {
				return fail(j, "expected '.outputs.' after the stepId")
			}
			// $steps.<id>.<name>: the outputs segment left out.
			e.Field, e.Name = "outputs", name
			e.Deviation = "leaves out .outputs; read as $steps." + id + ".outputs." + name
			if err := pointer(); err != nil {
				return Expr{}, j, err
			}
			break
		}
		j += len("outputs")
		e.Field = "outputs"
		if !dot() {
			if j == len(s) || stopPtr(s, j) || !isIdentChar(s[j]) && s[j] != '#' {
				// $steps.<id>.outputs: the whole outputs map.
				e.Deviation = "names no output; read as the map of all the step's outputs"
				break
			}
			return fail(j, "expected '.' and an output name after outputs")
		}
		name, ok := ident(false)
		if !ok {
			return fail(j, "expected an output name")
		}
		e.Name = name
		if err := pointer(); err != nil {
			return Expr{}, j, err
		}
		dotPath()
	case "workflows":
		e.Root = Workflows
		if !dot() {
			return fail(j, "expected '.' after $workflows")
		}
		id, ok := ident(true)
		if !ok {
			return fail(j, "expected a workflowId after $workflows.")
		}
		e.ID = id
		if !dot() {
			return fail(j, "expected '.inputs.' or '.outputs.' after the workflowId")
		}
		switch {
		case strings.HasPrefix(s[j:], "inputs"):
			e.Field, j = "inputs", j+len("inputs")
		case strings.HasPrefix(s[j:], "outputs"):
			e.Field, j = "outputs", j+len("outputs")
		case strings.HasPrefix(s[j:], "steps."):
			// $workflows.<id>.steps.<stepId>.outputs.<name>: outside the
			// grammar, but unambiguous.
			j += len("steps.")
			step, ok := ident(true)
			if !ok || !strings.HasPrefix(s[j:], ".outputs") {
				return fail(j, "expected <stepId>.outputs after steps.")
			}
			e.Step, e.Field, j = step, "outputs", j+len(".outputs")
			e.Deviation = "reads a step of another workflow; the grammar has only $workflows.<id>.inputs and .outputs"
		default:
			return fail(j, "expected inputs or outputs")
		}
		if !dot() {
			return fail(j, "expected '.' and a name after %s", e.Field)
		}
		name, ok := ident(false)
		if !ok {
			return fail(j, "expected a name after %s.", e.Field)
		}
		e.Name = name
		if err := pointer(); err != nil {
			return Expr{}, j, err
		}
	case "sourceDescriptions":
		e.Root = SourceDescriptions
		if !dot() {
			return fail(j, "expected '.' after $sourceDescriptions")
		}
		id, ok := ident(true)
		if !ok {
			return fail(j, "expected a source description name")
		}
		e.ID = id
		if !dot() {
			return fail(j, "expected '.' and a reference after the source name")
		}
		name, ok := ident(false)
		if !ok {
			return fail(j, "expected an operationId, workflowId or field after the source name")
		}
		e.Name = name
	case "components":
		e.Root = Components
		if !dot() {
			return fail(j, "expected '.' after $components")
		}
		kind, ok := ident(true)
		if !ok {
			return fail(j, "expected a component kind")
		}
		switch kind {
		case "inputs", "parameters", "successActions", "failureActions":
		default:
			return fail(j-len(kind), "unknown component kind %q", kind)
		}
		e.ID = kind
		if !dot() {
			return fail(j, "expected '.' and a component name")
		}
		name, ok := ident(false)
		if !ok {
			return fail(j, "expected a component name")
		}
		e.Name = name
	default:
		return fail(start, "unknown expression root %q", "$"+word)
	}
	e.raw = s[start:j]
	return e, j, nil
}

// ErrUndefined is returned (wrapped) by resolvers when an expression names a
// value that does not exist, such as a missing input or a step that has not
// run.
var ErrUndefined = errors.New("undefined value")

// Resolver returns the value a runtime expression names, without applying
// the expression's JSON pointer (see [Eval]). It returns an error wrapping
// [ErrUndefined] when the value does not exist.
type Resolver interface {
	Resolve(e Expr) (any, error)
}

// ResolverFunc adapts a function to [Resolver].
type ResolverFunc func(Expr) (any, error)

// Resolve calls f(e).
func (f ResolverFunc) Resolve(e Expr) (any, error) { return f(e) }

// Eval resolves e with r and applies its JSON pointer, if any.
func Eval(e Expr, r Resolver) (any, error) {
	v, err := r.Resolve(e)
	if err != nil {
		return nil, err
	}
	if !e.HasPointer || e.Pointer == "" {
		return v, nil
	}
	return Pointer(v, e.Pointer)
}

// Pointer applies the RFC 6901 pointer p to v. A pointer into a string that
// holds JSON (an unparsed body) parses the string first.
func Pointer(v any, p string) (any, error) {
	ptr, err := jsonpointer.New(p)
	if err != nil {
		return nil, fmt.Errorf("JSON pointer %q: %w", p, err)
	}
	if s, ok := v.(string); ok {
		if j, err := DecodeJSON([]byte(s)); err == nil {
			v = j
		}
	}
	out, _, err := ptr.Get(v)
	if err != nil {
		return nil, fmt.Errorf("JSON pointer %q: %v: %w", p, err, ErrUndefined)
	}
	return out, nil
}
