package expr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSimpleConditions(t *testing.T) {
	tests := []struct {
		cond    string
		want    bool
		evalErr bool // evaluation error (criterion fails)
	}{
		{cond: "$statusCode == 200", want: true},
		{cond: "$statusCode==200", want: true},
		{cond: "$statusCode != 200", want: false},
		{cond: "$statusCode >= 200 && $statusCode < 300", want: true},
		{cond: "$statusCode == 404 || $statusCode == 200", want: true},
		// Case-insensitive string comparison, as the spec requires.
		{cond: "$response.body#/status == 'available'", want: true},
		{cond: "$response.body#/status == 'AVAILABLE'", want: true},
		{cond: "$response.body#/status != 'sold'", want: true},
		{cond: "$method == 'get'", want: true},
		{cond: `$response.body#/status == "Available"`, want: true}, // double quotes accepted
		{cond: "'abc' < 'ABD'", want: true},
		{cond: "$inputs.name == 'o''brien'", want: true}, // '' escapes a quote
		// Numbers and numeric strings.
		{cond: "$response.body#/count > 2", want: true},
		{cond: "$response.body#/count == 3.0", want: true},
		{cond: "$response.header.X-Count > 9", want: true}, // header "12" coerced
		{cond: "$response.header.x-count == 12", want: true},
		{cond: "'10' > '9'", want: false}, // two strings compare as strings
		{cond: "$inputs.limit <= 10", want: true},
		{cond: "-1 < 0", want: true},
		{cond: "1e2 == 100", want: true},
		// Booleans, null and undefined.
		{cond: "$response.body#/flag", want: true},
		{cond: "$response.body#/flag == true", want: true},
		{cond: "!$response.body#/flag", want: false},
		{cond: "!$inputs.enabled", want: true},
		{cond: "$inputs.enabled == 'false'", want: true},
		{cond: "$response.body#/nothing == null", want: true},
		{cond: "$response.body#/missing == null", want: true}, // undefined equals null
		{cond: "$response.body#/missing != null", want: false},
		{cond: "$response.body#/missing > 1", want: false},
		{cond: "$response.body#/count == null", want: false},
		{cond: "null == null", want: true},
		{cond: "$inputs.nope == 'x'", want: false},
		// Precedence: ! binds tighter than comparison operands' results,
		// comparison tighter than &&, && tighter than ||.
		{cond: "$statusCode == 500 || $statusCode == 200 && $method == 'GET'", want: true},
		{cond: "($statusCode == 500 || $statusCode == 200) && $method == 'POST'", want: false},
		{cond: "!($statusCode == 500)", want: true},
		{cond: "!!true", want: true},
		{cond: "true && !false", want: true},
		// Member and index access after an expression.
		{cond: "$response.body.items[1].id == 'B'", want: true},
		{cond: "$response.body#/items.length == 2", want: false}, // pointer runs to the operator: no such member
		{cond: "$response.body.items.length == 2", want: true},
		{cond: "$response.body.text.length == 5", want: true},
		{cond: "$response.body['status'] == 'available'", want: true},
		{cond: "$response.body.items[9].id == null", want: true},
		{cond: "$steps.list.outputs.pets[0].id == 1", want: true},
		{cond: "$inputs.order.id == 7", want: true}, // dotted name falls back to property access
		{cond: "$steps.list.outputs.pets.count == 99", want: true},
		{cond: "$response.body#/jobProperties/jobStatus == 'completed'", want: true},
		// Objects and arrays: equality only.
		{cond: "$inputs.order == $inputs.order", want: true},
		{cond: "$inputs.order > 1", evalErr: true},
		// Non-boolean results and type errors fail with an error.
		{cond: "$statusCode", evalErr: true},
		{cond: "$response.body#/status && true", evalErr: true},
		{cond: "true < false", evalErr: true},
		{cond: "200 < 'abc'", evalErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			c, err := ParseCondition(tt.cond)
			if err != nil {
				t.Fatalf("ParseCondition: %v", err)
			}
			got, err := c.Eval(res)
			if tt.evalErr {
				if err == nil || got {
					t.Fatalf("Eval = %v, %v; want false and an error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Eval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSimpleConditionSyntaxErrors(t *testing.T) {
	for _, cond := range []string{
		"", "$statusCode ==", "== 200", "$statusCode = 200", "($statusCode == 200", "$statusCode == 200)",
		"'unterminated", "$statusCode === 200", "1.", "1e", "12abc",
		"$response.body.", "$response.body[", "$response.body[x]", "$bogus == 1", "&& true", "true &&",
		"{$statusCode == 401}", // braces wrap a condition in the 1.0.x Components example: rejected
	} {
		if _, err := ParseCondition(cond); err == nil {
			t.Errorf("ParseCondition(%q) succeeded, want error", cond)
		}
	}
}

func TestCriteria(t *testing.T) {
	tests := []struct {
		name                string
		cond, ctx, typ, ver string
		want                bool
		compileErr, evalErr bool
	}{
		{name: "simple default type", cond: "$statusCode == 200", want: true},
		{name: "simple ignores context", cond: "$statusCode == 200", ctx: "$response.body", typ: "simple", want: true},
		{name: "regex status", cond: "^2\\d\\d$", ctx: "$statusCode", typ: "regex", want: true},
		{name: "regex no match", cond: "^4", ctx: "$statusCode", typ: "regex", want: false},
		{name: "regex on header", cond: "json", ctx: "$response.header.Content-Type", typ: "regex", want: true},
		{name: "regex undefined context", cond: ".*", ctx: "$response.header.Missing", typ: "regex", evalErr: true},
		{name: "regex embedded", cond: "^{$steps.login.outputs.token}$", ctx: "$steps.login.outputs.token", typ: "regex", want: true},
		{name: "regex invalid", cond: "(", ctx: "$statusCode", typ: "regex", compileErr: true},
		{name: "regex needs context", cond: "x", typ: "regex", compileErr: true},
		// jsonpath: seed style comparisons.
		{name: "seed style equal", cond: `$.jobProperties.jobStatus == "COMPLETED"`, ctx: "$response.body", typ: "jsonpath", want: true},
		{name: "seed style other", cond: `$.jobProperties.jobStatus == "FAILED"`, ctx: "$response.body", typ: "jsonpath", want: false},
		{name: "seed style case-sensitive", cond: `$.jobProperties.jobStatus == "completed"`, ctx: "$response.body", typ: "jsonpath", want: false},
		{name: "length style", cond: `$.items.length > 0`, ctx: "$response.body", typ: "jsonpath", want: true},
		{name: "length style false", cond: `$.items.length > 5`, ctx: "$response.body", typ: "jsonpath", want: false},
		{name: "length of string", cond: `$.text.length == 5`, ctx: "$response.body", typ: "jsonpath", want: true},
		{name: "length in string literal untouched", cond: `$.status == "x.length"`, ctx: "$response.body", typ: "jsonpath", want: false},
		{name: "logical ops", cond: `$.count > 1 && $.status == "Available" || $.flag == false`, ctx: "$response.body", typ: "jsonpath", want: true},
		{name: "function form", cond: `count($.items[*]) == 2`, ctx: "$response.body", typ: "jsonpath", want: true},
		// jsonpath: RFC 9535 queries pass when they select something.
		{name: "rfc query selects", cond: `$.items[?@.id == 'a']`, ctx: "$response.body", typ: "jsonpath", want: true},
		{name: "rfc query empty", cond: `$.items[?@.id == 'z']`, ctx: "$response.body", typ: "jsonpath", want: false},
		{name: "rfc existence", cond: `$.jobProperties.jobStatus`, ctx: "$response.body", typ: "jsonpath", want: true},
		{name: "rfc missing", cond: `$.nope`, ctx: "$response.body", typ: "jsonpath", want: false},
		// The spec's own example filters the root object.
		{name: "root filter spec example", cond: `$[?count(@.pets) > 0]`, ctx: "$response.body", typ: "jsonpath", want: true},
		{name: "root filter false", cond: `$[?count(@.pets) > 5]`, ctx: "$response.body", typ: "jsonpath", want: false},
		{name: "root filter on array", cond: `$[?@.id == 2]`, ctx: "$steps.list.outputs.pets", typ: "jsonpath", want: true},
		{name: "goessner version", cond: `$.items[0]`, ctx: "$response.body", typ: "jsonpath", ver: JSONPathGoessner, want: true},
		{name: "unknown version", cond: `$.items[0]`, ctx: "$response.body", typ: "jsonpath", ver: "v9", compileErr: true},
		{name: "jsonpath json string context", cond: `$.a.b == 5`, ctx: "$inputs.bodyText", typ: "jsonpath", want: true},
		{name: "jsonpath embedded", cond: `$.status == "{$response.body#/status}"`, ctx: "$response.body", typ: "jsonpath", want: true},
		{name: "jsonpath invalid", cond: `$.items[?`, ctx: "$response.body", typ: "jsonpath", compileErr: true},
		{name: "jsonpath non-singular comparison", cond: `$.items[*].id == "a"`, ctx: "$response.body", typ: "jsonpath", compileErr: true},
		{name: "jsonpath undefined context", cond: `$.x`, ctx: "$inputs.nope", typ: "jsonpath", evalErr: true},
		{name: "unknown type", cond: "x", ctx: "$statusCode", typ: "glob", compileErr: true},
		{name: "bad context", cond: "x", ctx: "statusCode", typ: "regex", compileErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CompileCriterion(tt.cond, tt.ctx, tt.typ, tt.ver)
			if tt.compileErr {
				if err == nil {
					t.Fatal("compiled, want error")
				}
				return
			}
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			got, err := c.Eval(res)
			if tt.evalErr {
				if err == nil || got {
					t.Fatalf("Eval = %v, %v; want false and an error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Eval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRewriteLength(t *testing.T) {
	for in, want := range map[string]string{
		"$.items.length > 0":           "length($.items) > 0",
		"@.a['b'].length == 1":         "length(@.a['b']) == 1",
		"$.a.lengthy == 1":             "$.a.lengthy == 1",
		`$.a == "$.b.length"`:          `$.a == "$.b.length"`,
		"$.x.length > 1 && @.y.length": "length($.x) > 1 && length(@.y)",
	} {
		if got := rewriteLength(in); got != want {
			t.Errorf("rewriteLength(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnquotedWordDeviation(t *testing.T) {
	c, err := ParseCondition("$response.body#/status == NEW && $statusCode == 200")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Deviations) != 1 || !strings.Contains(c.Deviations[0], "NEW") {
		t.Fatalf("deviations %q, want one naming NEW", c.Deviations)
	}
	ok, err := c.Eval(ResolverFunc(func(e Expr) (any, error) {
		if e.Root == StatusCode {
			return 200, nil
		}
		return map[string]any{"status": "new"}, nil
	}))
	if err != nil || !ok {
		t.Fatalf("Eval = %v, %v; want true (strings compare case-insensitively)", ok, err)
	}
}

// TestJSONPathV11 checks the normative 1.1 jsonpath rules against the 1.0
// readings: a query applies to the context as its root, without the 1.0
// retry of a root filter on the context value itself; a filter expression
// that is not a query is still read, with a deviation.
func TestJSONPathV11(t *testing.T) {
	body := map[string]any{"pets": []any{1.0, 2.0}, "status": "done"}
	r := ResolverFunc(func(Expr) (any, error) { return body, nil })
	for _, tc := range []struct {
		cond     string
		v10, v11 bool
		dev11    bool
	}{
		{"$[?count(@.pets) > 0]", true, false, false}, // the spec's idiom: count() counts nodes
		{"$.pets[*]", true, true, false},
		{"$[?@ == 'done']", true, true, false},
		{"$.status == 'done'", true, true, true},
		{"$.status == 'other'", false, false, true},
	} {
		for _, v11 := range []bool{false, true} {
			compile, want := CompileCriterion, tc.v10
			if v11 {
				compile, want = CompileCriterionV11, tc.v11
			}
			c, err := compile(tc.cond, "$response.body", TypeJSONPath, "")
			if err != nil {
				t.Fatalf("%q (1.1 %v): %v", tc.cond, v11, err)
			}
			if got, err := c.Eval(r); got != want || err != nil {
				t.Errorf("%q (1.1 %v) = %v, %v; want %v", tc.cond, v11, got, err, want)
			}
			if dev := len(c.Deviations()) > 0; dev != (v11 && tc.dev11) {
				t.Errorf("%q (1.1 %v): deviations %q", tc.cond, v11, c.Deviations())
			}
		}
	}
}

// TestXPath checks xpath criteria (effective boolean values) and
// selectors on an XML context.
func TestXPath(t *testing.T) {
	const doc = `<?xml version="1.0"?><Invoice><Header><InvoiceNumber>INV-7</InvoiceNumber></Header>` +
		`<Item sku="a" qty="2"/><Item sku="b" qty="0"/></Invoice>`
	r := ResolverFunc(func(e Expr) (any, error) {
		if e.Root == Inputs {
			return "INV-7", nil
		}
		return doc, nil
	})
	for _, tc := range []struct {
		cond string
		want bool
	}{
		{"/Invoice/Header/InvoiceNumber", true},                 // a non-empty node set
		{"/Invoice/Missing", false},                             // an empty one
		{"count(//Item) = 2", true},                             // a boolean
		{"count(//Item[@qty > 0])", true},                       // a non-zero number
		{"//Item[@sku='c']/@qty", false},                        // nothing
		{"/Invoice/Header/InvoiceNumber = '{$inputs.n}'", true}, // embedded expression
		{"string(/Invoice/Nope)", false},                        // an empty string
	} {
		c, err := CompileCriterion(tc.cond, "$response.body", TypeXPath, "xpath-10")
		if err != nil {
			t.Fatalf("%q: %v", tc.cond, err)
		}
		if got, err := c.Eval(r); got != tc.want || err != nil {
			t.Errorf("%q = %v, %v; want %v", tc.cond, got, err, tc.want)
		}
	}
	if c, err := CompileCriterion("/a", "$response.body", TypeXPath, ""); err != nil {
		t.Fatal(err)
	} else if ok, err := c.Eval(ResolverFunc(func(Expr) (any, error) { return "not xml <", nil })); ok || err == nil {
		t.Errorf("a context that is not XML: %v, %v; want an error", ok, err)
	}
	if _, err := CompileCriterion("/a[", "$response.body", TypeXPath, ""); err == nil {
		t.Error("an invalid xpath compiled")
	}
	if v, err := Select(doc, "/Invoice/Header/InvoiceNumber", TypeXPath, "xpath-30"); err != nil || v != "INV-7" {
		t.Errorf("selector: %v, %v", v, err)
	}
	if v, err := Select(doc, "//Item/@sku", TypeXPath, ""); err != nil || fmt.Sprint(v) != "[a b]" {
		t.Errorf("selector of two nodes: %v, %v", v, err)
	}
	if _, err := Select(doc, "//Nope", TypeXPath, ""); !errors.Is(err, ErrUndefined) {
		t.Errorf("selector of nothing: %v, want undefined", err)
	}
	out, err := ReplaceXPath(doc, "/Invoice/Header/InvoiceNumber", "INV-8")
	if err == nil {
		out, err = ReplaceXPath(out, "//Item/@qty", 9)
	}
	if err != nil || !strings.Contains(out, "<InvoiceNumber>INV-8</InvoiceNumber>") || strings.Count(out, `qty="9"`) != 2 {
		t.Errorf("replacements: %v\n%s", err, out)
	}
	if _, err := ReplaceXPath(doc, "//Nope", 1); err == nil {
		t.Error("a replacement target that selects nothing: no error")
	}
}

// TestJSONPathCostBounded checks that descendant queries on a deeply
// nested value fail fast instead of running for minutes, and that the same
// queries on an ordinary value still work.
func TestJSONPathCostBounded(t *testing.T) {
	deep := strings.Repeat("[", 3000) + "1" + strings.Repeat(",1,2]", 3000)
	r := testResolver{"$response.body": jsonv(deep), "$inputs.name": jsonv(`{"a":{"a":{"b":1}}}`)}
	for _, q := range []string{"$..*..*", "$..[?@..*]", "$..*..*..*"} {
		c, err := CompileCriterion(q, "$response.body", TypeJSONPath, "")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ok, err := c.Eval(r)
		if ok || err == nil || !strings.Contains(err.Error(), "too costly") {
			t.Errorf("%s on a value 3000 deep: %v, %v; want a cost error", q, ok, err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("%s: %v to refuse", q, el)
		}
		if _, err := Select(jsonv(deep), q, TypeJSONPath, ""); err == nil || !strings.Contains(err.Error(), "too costly") {
			t.Errorf("selector %s: err = %v, want a cost error", q, err)
		}
	}
	// One descendant segment is linear: allowed on the deep value.
	c, _ := CompileCriterion("$..*", "$response.body", TypeJSONPath, "")
	if ok, err := c.Eval(r); !ok || err != nil {
		t.Errorf("$..* = %v, %v; want true", ok, err)
	}
	c, _ = CompileCriterion("$..a..b", "$inputs.name", TypeJSONPath, "")
	if ok, err := c.Eval(r); !ok || err != nil {
		t.Errorf("$..a..b on a small value = %v, %v; want true", ok, err)
	}
}

// TestXPathCostBounded checks that nested descendant steps on a deeply
// nested XML document fail fast, and still work on an ordinary one.
func TestXPathCostBounded(t *testing.T) {
	deep := strings.Repeat("<a>", 3000) + strings.Repeat("<b/></a>", 3000)
	r := testResolver{"$response.body": deep, "$inputs.name": "<r><a><b/></a></r>"}
	c, err := CompileCriterion("count(//*//*//*) > 0", "$response.body", TypeXPath, "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if ok, err := c.Eval(r); ok || err == nil || !strings.Contains(err.Error(), "too costly") {
		t.Errorf("on a document 3000 deep: %v, %v; want a cost error", ok, err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("%v to refuse", el)
	}
	c, _ = CompileCriterion("count(//*//*//*) > 0", "$inputs.name", TypeXPath, "")
	if ok, err := c.Eval(r); !ok || err != nil {
		t.Errorf("on a small document: %v, %v; want true", ok, err)
	}
}
