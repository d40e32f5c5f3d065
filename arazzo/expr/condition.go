package expr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Condition is a parsed `simple` criterion condition.
//
// Grammar (precedence from loosest to tightest; see docs/arazzo.md):
//
//	or      = and *( "||" and )
//	and     = unary *( "&&" unary )
//	unary   = "!" unary / compare
//	compare = operand [ ( "==" / "!=" / "<" / "<=" / ">" / ">=" ) operand ]
//	operand = "(" or ")" / literal / expression *( "." name / "[" index "]" )
//	literal = 'single-quoted' ('' escapes a quote) / "double-quoted"
//	        / number / true / false / null
type Condition struct {
	src  string
	root cnode
	// Deviations lists what the condition writes outside the grammar but
	// ohi reads unambiguously (an unquoted string literal).
	Deviations []string
}

// String returns the condition text.
func (c *Condition) String() string { return c.src }

// Exprs returns the runtime expressions used by the condition.
func (c *Condition) Exprs() []Expr {
	var out []Expr
	var walk func(n cnode)
	walk = func(n cnode) {
		switch x := n.(type) {
		case *logicNode:
			for _, k := range x.kids {
				walk(k)
			}
		case *notNode:
			walk(x.x)
		case *cmpNode:
			walk(x.l)
			walk(x.r)
		case *exprNode:
			out = append(out, x.e)
		}
	}
	walk(c.root)
	return out
}

type cnode interface{ isNode() }

type logicNode struct {
	and  bool
	kids []cnode
}

type notNode struct{ x cnode }

type cmpNode struct {
	op   string
	l, r cnode
}

type litNode struct{ v any }

type accessor struct {
	name  string
	index int
	isIdx bool
}

type exprNode struct {
	e      Expr
	access []accessor
}

func (*logicNode) isNode() {}
func (*notNode) isNode()   {}
func (*cmpNode) isNode()   {}
func (*litNode) isNode()   {}
func (*exprNode) isNode()  {}

const maxNesting = 64

type condParser struct {
	s          string
	i          int
	depth      int
	deviations []string
}

// ParseCondition parses a simple condition.
func ParseCondition(s string) (*Condition, error) {
	if len(s) > maxExprLen {
		return nil, &SyntaxError{Input: s[:64] + "...", Msg: "condition too long"}
	}
	p := &condParser{s: s}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(s) {
		return nil, p.errf("unexpected %q", p.rest())
	}
	return &Condition{src: s, root: n, Deviations: p.deviations}, nil
}

func (p *condParser) errf(format string, a ...any) error {
	return &SyntaxError{Input: p.s, Offset: p.i, Msg: fmt.Sprintf(format, a...)}
}

func (p *condParser) rest() string {
	r := p.s[p.i:]
	if len(r) > 20 {
		r = r[:20] + "..."
	}
	return r
}

func (p *condParser) ws() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *condParser) eat(tok string) bool {
	p.ws()
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *condParser) or() (cnode, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxNesting {
		return nil, p.errf("condition nested too deeply")
	}
	return p.chain("||", false, p.and)
}

func (p *condParser) and() (cnode, error) {
	return p.chain("&&", true, p.unary)
}

// chain parses operands joined by op, each read by next: the operand
// itself when there is one, else a logicNode of them.
func (p *condParser) chain(op string, and bool, next func() (cnode, error)) (cnode, error) {
	first, err := next()
	if err != nil {
		return nil, err
	}
	kids := []cnode{first}
	for p.eat(op) {
		n, err := next()
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &logicNode{and: and, kids: kids}, nil
}

func (p *condParser) unary() (cnode, error) {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '!' && !strings.HasPrefix(p.s[p.i:], "!=") {
		p.i++
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxNesting {
			return nil, p.errf("condition nested too deeply")
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &notNode{x: x}, nil
	}
	return p.compare()
}

var cmpOps = []string{"==", "!=", "<=", ">=", "<", ">"}

func (p *condParser) compare() (cnode, error) {
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	p.ws()
	for _, op := range cmpOps {
		if strings.HasPrefix(p.s[p.i:], op) {
			p.i += len(op)
			r, err := p.operand()
			if err != nil {
				return nil, err
			}
			return &cmpNode{op: op, l: l, r: r}, nil
		}
	}
	return l, nil
}

func (p *condParser) operand() (cnode, error) {
	p.ws()
	if p.i >= len(p.s) {
		return nil, p.errf("expected an operand")
	}
	c := p.s[p.i]
	switch {
	case c == '(':
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.eat(")") {
			return nil, p.errf("expected ')'")
		}
		return n, nil
	case c == '\'' || c == '"':
		s, err := p.str(c)
		if err != nil {
			return nil, err
		}
		return &litNode{v: s}, nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == '$':
		e, n, err := scan(p.s, p.i, stopCondition, false)
		if err != nil {
			return nil, err
		}
		p.i = n
		x := &exprNode{e: e}
		for p.i < len(p.s) {
			switch p.s[p.i] {
			case '.':
				k := p.i + 1
				for k < len(p.s) && isStrictIdentChar(p.s[k]) {
					k++
				}
				if k == p.i+1 {
					return nil, p.errf("expected a property name after '.'")
				}
				x.access = append(x.access, accessor{name: p.s[p.i+1 : k]})
				p.i = k
				continue
			case '[':
				p.i++
				p.ws()
				if p.i < len(p.s) && (p.s[p.i] == '\'' || p.s[p.i] == '"') {
					s, err := p.str(p.s[p.i])
					if err != nil {
						return nil, err
					}
					x.access = append(x.access, accessor{name: s})
				} else {
					k := p.i
					for k < len(p.s) && p.s[k] >= '0' && p.s[k] <= '9' {
						k++
					}
					n, err := strconv.Atoi(p.s[p.i:k])
					if err != nil || k-p.i > 9 {
						return nil, p.errf("expected an array index or a quoted name in '[]'")
					}
					x.access = append(x.access, accessor{index: n, isIdx: true})
					p.i = k
				}
				if !p.eat("]") {
					return nil, p.errf("expected ']'")
				}
				continue
			}
			break
		}
		return x, nil
	}
	for _, kw := range []struct {
		w string
		v any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if strings.HasPrefix(p.s[p.i:], kw.w) && (p.i+len(kw.w) == len(p.s) || !isIdentChar(p.s[p.i+len(kw.w)])) {
			p.i += len(kw.w)
			return &litNode{v: kw.v}, nil
		}
	}
	if k := p.i; k < len(p.s) && (p.s[k] >= 'A' && p.s[k] <= 'Z' || p.s[k] >= 'a' && p.s[k] <= 'z') {
		for k < len(p.s) && isStrictIdentChar(p.s[k]) {
			k++
		}
		if k == len(p.s) || strings.ContainsRune(" \t)=!<>&|", rune(p.s[k])) {
			w := p.s[p.i:k]
			p.i = k
			p.deviations = append(p.deviations, fmt.Sprintf("the unquoted word %s is read as the string '%s'", w, w))
			return &litNode{v: w}, nil
		}
	}
	return nil, p.errf("unexpected %q (strings need quotes, expressions start with '$')", p.rest())
}

func (p *condParser) str(q byte) (string, error) {
	start := p.i
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q && q == '\'' && p.i+1 < len(p.s) && p.s[p.i+1] == '\'':
			b.WriteByte('\'')
			p.i += 2
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\' && q == '"' && p.i+1 < len(p.s):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	p.i = start
	return "", p.errf("unterminated string")
}

func (p *condParser) number() (cnode, error) {
	start := p.i
	k := p.i
	if k < len(p.s) && p.s[k] == '-' {
		k++
	}
	digits := func() int {
		n := 0
		for k < len(p.s) && p.s[k] >= '0' && p.s[k] <= '9' {
			k++
			n++
		}
		return n
	}
	if digits() == 0 {
		return nil, p.errf("expected a number")
	}
	if k < len(p.s) && p.s[k] == '.' {
		k++
		if digits() == 0 {
			p.i = k
			return nil, p.errf("expected digits after '.'")
		}
	}
	if k < len(p.s) && (p.s[k] == 'e' || p.s[k] == 'E') {
		k++
		if k < len(p.s) && (p.s[k] == '+' || p.s[k] == '-') {
			k++
		}
		if digits() == 0 {
			p.i = k
			return nil, p.errf("expected an exponent")
		}
	}
	if k < len(p.s) && isIdentChar(p.s[k]) {
		p.i = k
		return nil, p.errf("unexpected character after number")
	}
	f, err := strconv.ParseFloat(p.s[start:k], 64)
	if err != nil {
		return nil, p.errf("invalid number: %v", err)
	}
	p.i = k
	return &litNode{v: f}, nil
}

// undefined marks a value that an expression named but that does not exist.
type undefined struct{}

// ErrNotBoolean is returned when a condition's result (or an operand of !,
// && or ||) is not a boolean.
var ErrNotBoolean = errors.New("condition operand is not a boolean")

// Eval evaluates the condition. An error (an unknown operand type, an
// ordering comparison between booleans, a failing resolver) means the
// criterion fails; callers should report it.
func (c *Condition) Eval(r Resolver) (bool, error) {
	v, err := c.eval(c.root, r)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%w: %s", ErrNotBoolean, describe(v))
	}
	return b, nil
}

func describe(v any) string {
	switch v.(type) {
	case undefined:
		return "undefined value"
	case nil:
		return "null"
	}
	s := String(v)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Sprintf("%T %s", v, s)
}

func (c *Condition) eval(n cnode, r Resolver) (any, error) {
	switch x := n.(type) {
	case *litNode:
		return x.v, nil
	case *exprNode:
		return resolveAccess(x, r)
	case *notNode:
		v, err := c.eval(x.x, r)
		if err != nil {
			return nil, err
		}
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%w: ! applied to %s", ErrNotBoolean, describe(v))
		}
		return !b, nil
	case *logicNode:
		for _, k := range x.kids {
			v, err := c.eval(k, r)
			if err != nil {
				return nil, err
			}
			b, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("%w: %s", ErrNotBoolean, describe(v))
			}
			if x.and && !b {
				return false, nil
			}
			if !x.and && b {
				return true, nil
			}
		}
		return x.and, nil
	case *cmpNode:
		l, err := c.eval(x.l, r)
		if err != nil {
			return nil, err
		}
		rv, err := c.eval(x.r, r)
		if err != nil {
			return nil, err
		}
		return Compare(x.op, l, rv)
	}
	return nil, fmt.Errorf("unknown condition node %T", n)
}

// resolveAccess evaluates an expression and its accessors. An undefined
// value yields undefined{} rather than an error. When a dotted name (as in
// $inputs.order.id) is undefined as a whole, the longest defined prefix is
// used and the rest is read as property access.
func resolveAccess(x *exprNode, r Resolver) (any, error) {
	v, err := Eval(x.e, r)
	access := x.access
	if errors.Is(err, ErrUndefined) && !x.e.HasPointer && strings.Contains(x.e.Name, ".") {
		name := x.e.Name
		for k := strings.LastIndexByte(name, '.'); k > 0; k = strings.LastIndexByte(name[:k], '.') {
			e := x.e
			e.Name = name[:k]
			v2, err2 := Eval(e, r)
			if err2 == nil {
				var acc []accessor
				for _, seg := range strings.Split(name[k+1:], ".") {
					acc = append(acc, accessor{name: seg})
				}
				v, err, access = v2, nil, append(acc, x.access...)
				break
			}
		}
	}
	if errors.Is(err, ErrUndefined) {
		return undefined{}, nil
	}
	if err != nil {
		return nil, err
	}
	for _, a := range access {
		switch c := v.(type) {
		case map[string]any:
			if a.isIdx {
				return undefined{}, nil
			}
			e, ok := c[a.name]
			if !ok {
				return undefined{}, nil
			}
			v = e
		case []any:
			if !a.isIdx {
				if a.name == "length" {
					v = len(c)
					continue
				}
				return undefined{}, nil
			}
			if a.index >= len(c) {
				return undefined{}, nil
			}
			v = c[a.index]
		case string:
			if !a.isIdx && a.name == "length" {
				v = len([]rune(c))
				continue
			}
			return undefined{}, nil
		default:
			return undefined{}, nil
		}
	}
	return v, nil
}

// Compare applies a comparison operator with the simple-condition rules:
// numbers (and numeric strings compared with a number) compare numerically;
// two strings compare case-insensitively; booleans compare with booleans and
// with the strings "true"/"false"; null and undefined equal only null or
// undefined, and every ordering comparison involving them is false; objects
// and arrays support only == and != (deep equality).
func Compare(op string, l, r any) (bool, error) {
	if _, ok := l.(undefined); ok {
		l = nil
	}
	if _, ok := r.(undefined); ok {
		r = nil
	}
	eqOnly := func(eq bool, what string) (bool, error) {
		switch op {
		case "==":
			return eq, nil
		case "!=":
			return !eq, nil
		}
		return false, fmt.Errorf("operator %s cannot compare %s", op, what)
	}
	if l == nil || r == nil {
		if op == "==" || op == "!=" {
			return eqOnly(l == nil && r == nil, "")
		}
		return false, nil
	}
	ln, lnum := Number(l)
	rn, rnum := Number(r)
	ls, lstr := l.(string)
	rs, rstr := r.(string)
	if lnum && rstr {
		rn, rnum = numericString(rs)
	}
	if rnum && lstr {
		ln, lnum = numericString(ls)
	}
	switch {
	case lnum && rnum:
		return ordered(op, cmpFloat(ln, rn)), nil
	case lstr && rstr:
		return ordered(op, strings.Compare(strings.ToLower(ls), strings.ToLower(rs))), nil
	}
	lb, lbool := l.(bool)
	rb, rbool := r.(bool)
	if lbool && rstr {
		if v, err := strconv.ParseBool(strings.ToLower(rs)); err == nil {
			rb, rbool = v, true
		}
	}
	if rbool && lstr {
		if v, err := strconv.ParseBool(strings.ToLower(ls)); err == nil {
			lb, lbool = v, true
		}
	}
	if lbool && rbool {
		return eqOnly(lb == rb, "booleans")
	}
	_, lcomp := l.(map[string]any)
	_, rcomp := r.(map[string]any)
	_, larr := l.([]any)
	_, rarr := r.([]any)
	if lcomp || rcomp || larr || rarr {
		return eqOnly(Equal(l, r), "objects or arrays")
	}
	// Different scalar types: never equal.
	return eqOnly(false, fmt.Sprintf("%s with %s", describe(l), describe(r)))
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ordered(op string, c int) bool {
	switch op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}
