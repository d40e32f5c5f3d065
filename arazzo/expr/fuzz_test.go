package expr

import (
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"$statusCode == 200",
	"$response.body#/status == 'available' && !($statusCode >= 400 || $method == 'POST')",
	"$response.body.items[0].id != null",
	"$inputs.name == 'o''brien'",
	"{$steps.login.outputs.token}",
	"Bearer {$inputs.token} and {$response.header.X-Id}",
	"$steps.a.outputs.b#/c/0",
	"$workflows.w.outputs.x#/a~1b",
	"$sourceDescriptions.api.url",
	"$components.parameters.page",
	`$.jobProperties.jobStatus == "COMPLETED"`,
	"$.items.length > 0",
	"$[?count(@.pets) > 0]",
	"$..book[?@.price < 10]",
	"((((true))))",
	"!!!!false",
	"1.5e3 >= -2",
	"'", "{$", "$", "[", "(", ")",
}

// FuzzParse checks that no input makes the expression, template or
// condition parsers panic, and that a parsed expression prints back as its
// input.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if e, err := Parse(s); err == nil && e.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, e.String())
		}
		if tm, err := ParseTemplate(s); err == nil {
			_, _ = tm.Eval(res)
		}
		if c, err := ParseCondition(s); err == nil {
			ok, err := c.Eval(res)
			if err != nil && ok {
				t.Fatalf("Eval(%q) = true with error %v", s, err)
			}
		}
	})
}

// FuzzCriterion checks that compiling and evaluating criteria of every type
// never panics and never passes with an error.
func FuzzCriterion(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, "jsonpath")
		f.Add(s, "regex")
		f.Add(s, "simple")
	}
	f.Fuzz(func(t *testing.T, cond, typ string) {
		ctx := "$response.body"
		if strings.HasPrefix(typ, "r") {
			ctx = "$response.body#/status"
		}
		c, err := CompileCriterion(cond, ctx, typ, "")
		if err != nil {
			return
		}
		ok, err := c.Eval(res)
		if err != nil && ok {
			t.Fatalf("criterion %q (%s) = true with error %v", cond, typ, err)
		}
	})
}
