package expr

import (
	"errors"
	"fmt"
	"github.com/antchfx/xpath"
	"regexp"
	"strings"

	"github.com/theory/jsonpath"
	"github.com/theory/jsonpath/spec"
)

// Criterion types.
const (
	TypeSimple   = "simple"
	TypeRegex    = "regex"
	TypeJSONPath = "jsonpath"
	TypeXPath    = "xpath"
)

// JSONPath dialect names accepted in a Criterion Expression Type Object.
const (
	JSONPathRFC9535  = "rfc9535"
	JSONPathGoessner = "draft-goessner-dispatch-jsonpath-00"
)

// Criterion is a compiled Arazzo Criterion Object.
type Criterion struct {
	Type    string // simple (default), regex, jsonpath or xpath
	Version string // dialect for jsonpath/xpath, may be empty

	cond    string
	context *Expr
	simple  *Condition
	tmpl    *Template // condition with embedded {$...} (regex, jsonpath)
	re      *regexp.Regexp
	jp      jsonpathCond
	xp      *xpath.Expr
	strict  bool // RFC 9535 only (Arazzo 1.1)
}

// CompileCriterion parses and checks a criterion. typ may be empty
// (meaning simple); context may be empty.
func CompileCriterion(condition, context, typ, version string) (*Criterion, error) {
	return compileCriterion(condition, context, typ, version, false)
}

// CompileCriterionV11 compiles a criterion of an Arazzo 1.1 document, whose
// evaluation rules are normative: an RFC 9535 jsonpath query (the default
// version) is applied to the context as its root and passes when it
// selects at least one node, without the 1.0 reading that retries a root
// filter on the context value itself. A condition that is not a query but
// a filter expression ("$.status == 'done'") is still read as one, as in
// 1.0 documents, and reported by [Criterion.Deviations]: 1.1 says it
// evaluates to false.
func CompileCriterionV11(condition, context, typ, version string) (*Criterion, error) {
	return compileCriterion(condition, context, typ, version, true)
}

func compileCriterion(condition, context, typ, version string, v11 bool) (*Criterion, error) {
	if typ == "" {
		typ = TypeSimple
	}
	strict := v11 && typ == TypeJSONPath && version != JSONPathGoessner
	c := &Criterion{Type: typ, Version: version, cond: condition, strict: strict}
	if context != "" {
		e, err := Parse(context)
		if err != nil {
			return nil, fmt.Errorf("context: %w", err)
		}
		c.context = &e
	}
	switch typ {
	case TypeSimple:
		cond, err := ParseCondition(condition)
		if err != nil {
			return nil, err
		}
		c.simple = cond
		return c, nil
	case TypeRegex, TypeJSONPath, TypeXPath:
	default:
		return nil, fmt.Errorf("unknown criterion type %q", typ)
	}
	if c.context == nil {
		return nil, fmt.Errorf("a %s criterion needs a context", typ)
	}
	if strings.Contains(condition, "{$") {
		t, err := ParseTemplate(condition)
		if err != nil {
			return nil, err
		}
		if !t.IsLiteral() && !t.IsWhole() {
			c.tmpl = t
			return c, nil
		}
	}
	switch typ {
	case TypeRegex:
		re, err := compileRegex(condition)
		if err != nil {
			return nil, err
		}
		c.re = re
	case TypeJSONPath:
		if version != "" && version != JSONPathRFC9535 && version != JSONPathGoessner {
			return nil, fmt.Errorf("unknown jsonpath version %q", version)
		}
		jp, err := compileJSONPath(condition, strict)
		if err != nil {
			return nil, err
		}
		c.jp = jp
	case TypeXPath:
		xp, err := compileXPath(condition, version)
		if err != nil {
			return nil, err
		}
		c.xp = xp
	}
	return c, nil
}

// Deviations lists what the criterion writes outside the grammar but ohi
// reads unambiguously.
func (c *Criterion) Deviations() []string {
	if c.simple != nil {
		return c.simple.Deviations
	}
	if c.jp.deviation != "" {
		return []string{"the condition " + c.jp.deviation}
	}
	return nil
}

// Exprs returns the runtime expressions the criterion reads.
func (c *Criterion) Exprs() []Expr {
	var out []Expr
	if c.context != nil {
		out = append(out, *c.context)
	}
	if c.simple != nil {
		out = append(out, c.simple.Exprs()...)
	}
	if c.tmpl != nil {
		out = append(out, c.tmpl.Exprs()...)
	}
	return out
}

// Eval evaluates the criterion. A non-nil error always comes with false and
// explains why the criterion could not pass.
func (c *Criterion) Eval(r Resolver) (bool, error) {
	if c.simple != nil {
		return c.simple.Eval(r)
	}
	ctxVal, err := Eval(*c.context, r)
	if errors.Is(err, ErrUndefined) {
		return false, fmt.Errorf("context %s is undefined", c.context)
	}
	if err != nil {
		return false, err
	}
	re, jp := c.re, c.jp
	if c.tmpl != nil {
		v, err := c.tmpl.Eval(r)
		if err != nil {
			return false, err
		}
		cond := String(v)
		switch c.Type {
		case TypeRegex:
			if re, err = compileRegex(cond); err != nil {
				return false, err
			}
		case TypeJSONPath:
			if jp, err = compileJSONPath(cond, c.strict); err != nil {
				return false, err
			}
		case TypeXPath:
			xp, err := compileXPath(cond, c.Version)
			if err != nil {
				return false, err
			}
			return evalXPathCondition(xp, ctxVal)
		}
	}
	switch c.Type {
	case TypeRegex:
		if ctxVal == nil {
			return false, nil
		}
		return re.MatchString(String(ctxVal)), nil
	case TypeJSONPath:
		if s, ok := ctxVal.(string); ok {
			if j, err := DecodeJSON([]byte(s)); err == nil {
				ctxVal = j
			}
		}
		v := Normalize(ctxVal)
		if err := CheckJSONPathCost(jp.text, v); err != nil {
			return false, err
		}
		return jp.eval(v), nil
	case TypeXPath:
		if ctxVal == nil {
			return false, nil
		}
		return evalXPathCondition(c.xp, ctxVal)
	}
	return false, fmt.Errorf("unknown criterion type %q", c.Type)
}

func compileRegex(s string) (*regexp.Regexp, error) {
	if len(s) > maxExprLen {
		return nil, errors.New("regular expression too long")
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("regex: %w", err)
	}
	return re, nil
}

// jsonpathCond is a compiled jsonpath condition: either an RFC 9535 query
// (passes when it selects something) or a filter expression evaluated
// against the context value.
type jsonpathCond struct {
	query     *jsonpath.Path
	filter    *spec.FilterSelector
	strict    bool
	deviation string
	text      string // the condition as written
}

// MaxJSONPathCost bounds the estimated work of one JSONPath evaluation:
// the value's node count times its depth to the power of the query's
// descendant segments ("..") less one. Descendant segments on a deeply
// nested value cost that power: "$..*..*" on a 30 KB array nested 3000
// deep would run for minutes.
const MaxJSONPathCost = 4_000_000

// CheckJSONPathCost returns an error when evaluating the JSONPath query
// (its text) on v would cost more than MaxJSONPathCost.
func CheckJSONPathCost(query string, v any) error {
	k := strings.Count(query, "..")
	if k == 0 {
		return nil
	}
	nodes, depth := jsonShape(v, MaxJSONPathCost)
	cost := nodes
	for i := 1; i < k && cost <= MaxJSONPathCost; i++ {
		cost *= max(depth, 1)
	}
	if cost > MaxJSONPathCost {
		return fmt.Errorf("jsonpath %q is too costly on this value (%d nodes, %d deep, %d descendant segments)", query, nodes, depth, k)
	}
	return nil
}

// jsonShape returns the node count and depth of v, counting no further
// than limit nodes.
func jsonShape(v any, limit int) (nodes, depth int) {
	type item struct {
		v any
		d int
	}
	stack := []item{{v, 1}}
	for len(stack) > 0 && nodes <= limit {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		nodes++
		depth = max(depth, it.d)
		switch x := it.v.(type) {
		case map[string]any:
			for _, c := range x {
				stack = append(stack, item{c, it.d + 1})
			}
		case []any:
			for _, c := range x {
				stack = append(stack, item{c, it.d + 1})
			}
		}
	}
	return nodes, depth
}

func (j jsonpathCond) eval(v any) bool {
	if j.filter != nil {
		return j.filter.Eval(v, v)
	}
	if len(j.query.Select(v)) > 0 {
		return true
	}
	if j.strict {
		return false
	}
	// A filter applied to the root tests the root's children only; also
	// test the root value itself, so that the common "$[?@.status == 'x']"
	// works on an object body.
	segs := j.query.Query().Segments()
	if len(segs) > 0 && !segs[0].IsDescendant() {
		for _, sel := range segs[0].Selectors() {
			if _, ok := sel.(*spec.FilterSelector); ok {
				return len(j.query.Select([]any{v})) > 0
			}
		}
	}
	return false
}

// compileJSONPath compiles a jsonpath condition. See docs/arazzo.md,
// "jsonpath conditions".
func compileJSONPath(cond string, strict bool) (jsonpathCond, error) {
	cond = strings.TrimSpace(cond)
	if len(cond) > maxExprLen {
		return jsonpathCond{}, errors.New("jsonpath condition too long")
	}
	p, qerr := jsonpath.Parse(cond)
	if qerr == nil {
		return jsonpathCond{query: p, strict: strict, text: cond}, nil
	}

	rewritten := rewriteLength(cond)
	fp, ferr := jsonpath.Parse("$[?" + rewritten + "]")
	if ferr == nil {
		segs := fp.Query().Segments()
		if len(segs) == 1 && len(segs[0].Selectors()) == 1 {
			if f, ok := segs[0].Selectors()[0].(*spec.FilterSelector); ok {
				jc := jsonpathCond{filter: f, text: cond}
				if strict {
					jc.deviation = "is not an RFC 9535 query, which Arazzo 1.1 evaluates to false; ohi reads it as the filter expression ?" + cond + " on the context"
				}
				return jc, nil
			}
		}
		ferr = errors.New("not a single filter expression")
	}
	if strings.HasPrefix(cond, "$") && !strings.ContainsAny(cond, "=<>!&|") {
		return jsonpathCond{}, fmt.Errorf("jsonpath: %w", qerr)
	}
	return jsonpathCond{}, fmt.Errorf("jsonpath: neither an RFC 9535 query (%v) nor a filter expression (%v)", qerr, ferr)
}

// rewriteLength turns "<query>.length" (JavaScript style) into
// "length(<query>)" for queries starting with $ or @ outside string
// literals.
func rewriteLength(s string) string {
	if !strings.Contains(s, ".length") {
		return s
	}
	var b strings.Builder
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			j := skipString(s, i)
			b.WriteString(s[i:j])
			i = j
		case (c == '$' || c == '@') && (i == 0 || !isIdentChar(s[i-1])):
			j, lastSeg := scanQuery(s, i)
			q := s[i:j]
			if lastSeg >= 0 && s[lastSeg:j] == ".length" {
				b.WriteString("length(" + s[i:lastSeg] + ")")
			} else {
				b.WriteString(q)
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func skipString(s string, i int) int {
	q := s[i]
	j := i + 1
	for j < len(s) {
		if s[j] == '\\' {
			j += 2
			continue
		}
		if s[j] == q {
			return j + 1
		}
		j++
	}
	return len(s)
}

// scanQuery returns the end of a JSONPath query starting at s[i] and the
// start of its last segment (-1 when it has none).
func scanQuery(s string, i int) (end, last int) {
	j := i + 1
	last = -1
	for j < len(s) {
		switch {
		case strings.HasPrefix(s[j:], ".."):
			last = j
			j += 2
			j = scanName(s, j)
		case s[j] == '.':
			last = j
			j = scanName(s, j+1)
		case s[j] == '[':
			last = j
			depth := 0
			for j < len(s) {
				if s[j] == '\'' || s[j] == '"' {
					j = skipString(s, j)
					continue
				}
				if s[j] == '[' {
					depth++
				} else if s[j] == ']' {
					depth--
					if depth == 0 {
						j++
						break
					}
				}
				j++
			}
		default:
			return j, last
		}
	}
	return j, last
}

func scanName(s string, j int) int {
	if j < len(s) && s[j] == '*' {
		return j + 1
	}
	for j < len(s) && (s[j] >= 0x80 || isStrictIdentChar(s[j]) && s[j] != '-') {
		j++
	}
	return j
}

// Select applies a selector of the given type ("jsonpath", the default,
// "jsonpointer" or "xpath") to v, as an Arazzo 1.1 Selector Object does.
// A JSONPath query (RFC 9535, applied to v as its root) that selects one
// node returns that node, several return an array of them, none an error
// wrapping [ErrUndefined]. A string v that holds JSON is parsed first.
func Select(v any, selector, typ, version string) (any, error) {
	if s, ok := v.(string); ok {
		if j, err := DecodeJSON([]byte(s)); err == nil {
			v = j
		}
	}
	switch typ {
	case "", TypeJSONPath:
		if version != "" && version != JSONPathRFC9535 && version != JSONPathGoessner {
			return nil, fmt.Errorf("unknown jsonpath version %q", version)
		}
		p, err := jsonpath.Parse(selector)
		if err != nil {
			return nil, fmt.Errorf("selector %q: %w", selector, err)
		}
		if err := CheckJSONPathCost(selector, v); err != nil {
			return nil, err
		}
		nodes := p.Select(v)
		switch len(nodes) {
		case 0:
			return nil, fmt.Errorf("selector %q selects nothing: %w", selector, ErrUndefined)
		case 1:
			return nodes[0], nil
		}
		return []any(nodes), nil
	case "jsonpointer":
		return Pointer(v, selector)
	case TypeXPath:
		return selectXPath(v, selector, version)
	}
	return nil, fmt.Errorf("unknown selector type %q", typ)
}
