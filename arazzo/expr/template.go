package expr

import (
	"errors"
	"fmt"
	"strings"
)

// Template is a string value that is either one whole runtime expression
// ("$inputs.id", which keeps the type of the value it names) or text with
// embedded expressions ("Bearer {$steps.login.outputs.token}", always a
// string).
type Template struct {
	whole *Expr
	parts []part
}

type part struct {
	text string
	expr *Expr
}

// ParseTemplate parses s. A string that starts like a runtime expression
// (see [IsExpression]) must be exactly one expression; any other string is
// text in which each "{$" starts an embedded expression that runs to the
// next "}". A "{" not followed by "$" is literal text.
func ParseTemplate(s string) (*Template, error) {
	if len(s) > maxExprLen {
		return nil, &SyntaxError{Input: s[:64] + "...", Msg: "template too long"}
	}
	if IsExpression(s) {
		e, err := Parse(s)
		if err != nil {
			return nil, err
		}
		return &Template{whole: &e}, nil
	}
	t := &Template{}
	for len(s) > 0 {
		i := strings.Index(s, "{$")
		if i < 0 {
			t.parts = append(t.parts, part{text: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{text: s[:i]})
		}
		e, n, err := scan(s, i+1, stopBrace, true)
		if err != nil {
			return nil, err
		}
		if n >= len(s) || s[n] != '}' {
			return nil, &SyntaxError{Input: s, Offset: n, Msg: "embedded expression must end with '}'"}
		}
		t.parts = append(t.parts, part{expr: &e})
		s = s[n+1:]
	}
	return t, nil
}

// IsWhole reports whether the template is one whole-value expression.
func (t *Template) IsWhole() bool { return t.whole != nil }

// IsLiteral reports whether the template has no expressions.
func (t *Template) IsLiteral() bool {
	if t.whole != nil {
		return false
	}
	for _, p := range t.parts {
		if p.expr != nil {
			return false
		}
	}
	return true
}

// Exprs returns the expressions in the template.
func (t *Template) Exprs() []Expr {
	if t.whole != nil {
		return []Expr{*t.whole}
	}
	var out []Expr
	for _, p := range t.parts {
		if p.expr != nil {
			out = append(out, *p.expr)
		}
	}
	return out
}

// Eval evaluates the template. A whole-value expression returns the typed
// value; otherwise the result is a string with each embedded value rendered
// by [String].
func (t *Template) Eval(r Resolver) (any, error) {
	if t.whole != nil {
		return Eval(*t.whole, r)
	}
	if len(t.parts) == 1 && t.parts[0].expr == nil {
		return t.parts[0].text, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.expr == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := Eval(*p.expr, r)
		if err != nil {
			return nil, fmt.Errorf("{%s}: %w", p.expr, err)
		}
		b.WriteString(String(v))
	}
	return b.String(), nil
}

// EvalString evaluates s as a template (see [ParseTemplate]).
func EvalString(s string, r Resolver) (any, error) {
	t, err := ParseTemplate(s)
	if err != nil {
		return nil, err
	}
	return t.Eval(r)
}

// maxDepth bounds the nesting of values walked by [EvalValue].
const maxDepth = 256

// EvalValue evaluates every string in a literal value (a payload or a
// parameter value) as a template and returns a new value. Object members and
// array elements whose whole-value expression is undefined (an optional
// input that was not given) are left out; an undefined top-level value
// returns an error wrapping [ErrUndefined].
func EvalValue(v any, r Resolver) (any, error) {
	return evalValue(v, r, nil, 0)
}

// ObjectHook evaluates an object of a literal value itself when it
// returns ok (an Arazzo 1.1 Selector Object, for instance).
type ObjectHook func(m map[string]any) (v any, ok bool, err error)

// EvalValueHook is [EvalValue] that lets hook evaluate objects first.
func EvalValueHook(v any, r Resolver, hook ObjectHook) (any, error) {
	return evalValue(v, r, hook, 0)
}

func evalValue(v any, r Resolver, hook ObjectHook, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("value nested too deeply")
	}
	switch x := v.(type) {
	case string:
		return EvalString(x, r)
	case map[string]any:
		if hook != nil {
			if hv, ok, err := hook(x); ok {
				return hv, err
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			ev, err := evalValue(e, r, hook, depth+1)
			if errors.Is(err, ErrUndefined) && isWholeExpr(e) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = ev
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			ev, err := evalValue(e, r, hook, depth+1)
			if errors.Is(err, ErrUndefined) && isWholeExpr(e) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, ev)
		}
		return out, nil
	}
	return v, nil
}

func isWholeExpr(v any) bool {
	s, ok := v.(string)
	return ok && IsExpression(s)
}

// ValueExprs parses every string in v as a template and returns the
// expressions found, or the first syntax error.
func ValueExprs(v any) ([]Expr, error) {
	var out []Expr
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		if depth > maxDepth {
			return errors.New("value nested too deeply")
		}
		switch x := v.(type) {
		case string:
			t, err := ParseTemplate(x)
			if err != nil {
				return err
			}
			out = append(out, t.Exprs()...)
		case map[string]any:
			for _, e := range x {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range x {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := walk(v, 0)
	return out, err
}
