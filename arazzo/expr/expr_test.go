package expr

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Expr // raw is ignored
		err  string
	}{
		{in: "$url", want: Expr{Root: URL}},
		{in: "$method", want: Expr{Root: Method}},
		{in: "$statusCode", want: Expr{Root: StatusCode}},
		{in: "$request.header.X-Rate-Limit", want: Expr{Root: Request, Source: Header, Name: "X-Rate-Limit"}},
		{in: "$request.query.queryUrl", want: Expr{Root: Request, Source: Query, Name: "queryUrl"}},
		{in: "$request.path.id", want: Expr{Root: Request, Source: Path, Name: "id"}},
		{in: "$request.body", want: Expr{Root: Request, Source: Body}},
		{in: "$request.body#/user/uuid", want: Expr{Root: Request, Source: Body, Pointer: "/user/uuid", HasPointer: true}},
		{in: "$response.body#/a~1b/0/c~0d", want: Expr{Root: Response, Source: Body, Pointer: "/a~1b/0/c~0d", HasPointer: true}},
		{in: "$response.body#", want: Expr{Root: Response, Source: Body, HasPointer: true}},
		{in: "$response.header.Server", want: Expr{Root: Response, Source: Header, Name: "Server"}},
		{in: "$inputs.username", want: Expr{Root: Inputs, Name: "username"}},
		{in: "$inputs.order#/items/0", want: Expr{Root: Inputs, Name: "order", Pointer: "/items/0", HasPointer: true}},
		{in: "$outputs.pets", want: Expr{Root: Outputs, Name: "pets"}},
		{in: "$steps.someStepId.outputs.pets", want: Expr{Root: Steps, ID: "someStepId", Field: "outputs", Name: "pets"}},
		{in: "$steps.s-1.outputs.pets#/0/id", want: Expr{Root: Steps, ID: "s-1", Field: "outputs", Name: "pets", Pointer: "/0/id", HasPointer: true}},
		{in: "$steps.a.outputs.b.c", want: Expr{Root: Steps, ID: "a", Field: "outputs", Name: "b.c"}},
		{in: "$workflows.foo.inputs.username", want: Expr{Root: Workflows, ID: "foo", Field: "inputs", Name: "username"}},
		{in: "$workflows.foo.outputs.bar#/name", want: Expr{Root: Workflows, ID: "foo", Field: "outputs", Name: "bar", Pointer: "/name", HasPointer: true}},
		{in: "$sourceDescriptions.petstore.url", want: Expr{Root: SourceDescriptions, ID: "petstore", Name: "url"}},
		{in: "$sourceDescriptions.petstore.my.dotted.opId", want: Expr{Root: SourceDescriptions, ID: "petstore", Name: "my.dotted.opId"}},
		{in: "$components.parameters.page", want: Expr{Root: Components, ID: "parameters", Name: "page"}},
		{in: "$components.failureActions.refresh", want: Expr{Root: Components, ID: "failureActions", Name: "refresh"}},
		{in: "$components.inputs.creds", want: Expr{Root: Components, ID: "inputs", Name: "creds"}},
		// Invalid.
		{in: "", err: "must start with '$'"},
		{in: "inputs.x", err: "must start with '$'"},
		{in: "$", err: "unknown expression root"},
		{in: "$foo.bar", err: "unknown expression root"},
		{in: "$inputs", want: Expr{Root: Inputs, Deviation: "names no input; read as the map of all inputs"}}, {in: "$inputs!", err: "unexpected"},
		{in: "$inputs.", err: "expected a name"},
		{in: "$inputs.foo}", err: "unexpected"},
		{in: "$urlx", err: "unknown expression root"},
		{in: "$statusCode.x", err: "unexpected"},
		{in: "$request.cookie.x", err: "unknown source"},
		{in: "$response.body/x", err: "unexpected"},
		{in: "$response.body#x", err: "start with '/'"},
		{in: "$response.body#/a~2", err: "'~'"},
		{in: "$steps.a.pets", want: Expr{Root: Steps, ID: "a", Field: "outputs", Name: "pets", Deviation: "leaves out .outputs; read as $steps.a.outputs.pets"}}, {in: "$steps.a.pets.x", err: "'.outputs.'"},
		{in: "$steps.a.b.outputs.c", err: "'.outputs.'"},
		{in: "$workflows.a.steps.b", err: "<stepId>.outputs after steps."},
		{in: "$workflows.a.nope.b", err: "inputs or outputs"},
		// Arazzo 1.1 roots.
		{in: "$self", want: Expr{Root: Self}},
		{in: "$message.header.Correlation-Id", want: Expr{Root: Message, Source: Header, Name: "Correlation-Id"}},
		{in: "$message.payload#/status", want: Expr{Root: Message, Source: Payload, Pointer: "/status", HasPointer: true}},
		{in: "$message.body", err: "header or payload"},
		// Deviations read leniently, each marked.
		{in: "$response.body.data.items[0].id", want: Expr{Root: Response, Source: Body, Pointer: "/data/items/0/id", HasPointer: true,
			Deviation: "uses a dot path; read as the JSON pointer #/data/items/0/id"}},
		{in: "$message.payload.user-id", want: Expr{Root: Message, Source: Payload, Pointer: "/user-id", HasPointer: true,
			Deviation: "uses a dot path; read as the JSON pointer #/user-id"}},
		{in: "$steps.s.outputs", want: Expr{Root: Steps, ID: "s", Field: "outputs",
			Deviation: "names no output; read as the map of all the step's outputs"}},
		{in: "$workflows.w.steps.s.outputs.id", want: Expr{Root: Workflows, ID: "w", Step: "s", Field: "outputs", Name: "id",
			Deviation: "reads a step of another workflow; the grammar has only $workflows.<id>.inputs and .outputs"}},
		{in: "$components.things.x", err: "unknown component kind"},
		{in: "$message.payload", want: Expr{Root: Message, Source: Payload}}, // back in 1.1
		{in: "$request.header.", err: "header name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.err != "" {
				var se *SyntaxError
				if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) error = %v, want SyntaxError containing %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
			got.raw = ""
			if got != tt.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// testResolver resolves from fixed data.
type testResolver map[string]any

func (r testResolver) Resolve(e Expr) (any, error) {
	key := e.Root.String()
	switch e.Root {
	case Request, Response:
		key += "." + [...]string{"", "header", "query", "path", "body"}[e.Source]
		if e.Source != Body {
			key += "." + strings.ToLower(e.Name)
		}
	case Inputs, Outputs:
		key += "." + e.Name
	case Steps, Workflows:
		key += "." + e.ID + "." + e.Field + "." + e.Name
	case SourceDescriptions, Components:
		key += "." + e.ID + "." + e.Name
	}
	v, ok := r[key]
	if !ok {
		return nil, ErrUndefined
	}
	return v, nil
}

func jsonv(s string) any {
	v, err := DecodeJSON([]byte(s))
	if err != nil {
		panic(err)
	}
	return v
}

var res = testResolver{
	"$statusCode":                   200,
	"$method":                       "GET",
	"$url":                          "http://x/pets?id=1",
	"$response.header.content-type": "application/json",
	"$response.header.x-count":      "12",
	"$response.body": jsonv(`{"status":"Available","count":3,"items":[{"id":"a"},{"id":"b"}],
		"pets":[{"name":"Rex"}],"flag":true,"nothing":null,"jobProperties":{"jobStatus":"COMPLETED"},
		"text":"hello"}`),
	"$inputs.name":                   "O'Brien",
	"$inputs.limit":                  json.Number("10"),
	"$inputs.order":                  jsonv(`{"id":7,"lines":[1,2]}`),
	"$inputs.enabled":                false,
	"$steps.login.outputs.token":     "abc",
	"$steps.list.outputs.pets":       jsonv(`[{"id":1},{"id":2}]`),
	"$workflows.w.outputs.result":    "ok",
	"$sourceDescriptions.api.url":    "./api.yaml",
	"$components.parameters.page":    1,
	"$inputs.bodyText":               `{"a":{"b":5}}`,
	"$response.header.retry-after":   "3",
	"$request.header.authorization":  "Bearer x",
	"$request.query.q":               "cats",
	"$request.path.id":               "42",
	"$request.body":                  jsonv(`{"user":{"uuid":"u-1"}}`),
	"$outputs.final":                 "done",
	"$workflows.w.inputs.username":   "bob",
	"$steps.list.outputs.pets.count": 99, // a dotted output name
}

func TestEvalAndTemplates(t *testing.T) {
	tests := []struct {
		in   string
		want any
		err  bool
	}{
		{in: "$statusCode", want: 200},
		{in: "$response.body#/items/1/id", want: "b"},
		{in: "$response.body#/count", want: json.Number("3")},
		{in: "$response.body#/missing", err: true},
		{in: "$inputs.order#/lines/1", want: json.Number("2")},
		{in: "$inputs.bodyText#/a/b", want: json.Number("5")}, // pointer into a JSON string
		{in: "$request.body#/user/uuid", want: "u-1"},
		{in: "$steps.list.outputs.pets#/0/id", want: json.Number("1")},
		{in: "$inputs.nope", err: true},
		{in: "Bearer {$steps.login.outputs.token}", want: "Bearer abc"},
		{in: "{$inputs.limit} items of {$inputs.order#/id}", want: "10 items of 7"},
		{in: `{"order":{$inputs.order}}`, want: `{"order":{"id":7,"lines":[1,2]}}`},
		{in: "no expressions {here}", want: "no expressions {here}"},
		{in: "price $5", want: "price $5"},
		{in: "{$inputs.nope}", err: true},
		{in: "a={$inputs.name}&b={$statusCode}", want: "a=O'Brien&b=200"},
	}
	for _, tt := range tests {
		got, err := EvalString(tt.in, res)
		if tt.err {
			if err == nil {
				t.Errorf("EvalString(%q) = %v, want error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("EvalString(%q): %v", tt.in, err)
			continue
		}
		if !Equal(got, tt.want) && got != tt.want {
			t.Errorf("EvalString(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"{$inputs.x", "{$bogus.x}", "$inputs.x}", "x {$steps.a}"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("ParseTemplate(%q) succeeded, want error", bad)
		}
	}
}

func TestEvalValueOmitsUndefined(t *testing.T) {
	in := map[string]any{"a": "$inputs.name", "b": "$inputs.nope", "c": []any{"$inputs.nope", "x"}, "d": "lit"}
	got, err := EvalValue(in, res)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "O'Brien", "c": []any{"x"}, "d": "lit"}
	if !Equal(got, want) {
		t.Fatalf("EvalValue = %v, want %v", got, want)
	}
	if _, err := EvalValue(map[string]any{"a": "x {$inputs.nope}"}, res); !errors.Is(err, ErrUndefined) {
		t.Fatalf("embedded undefined: err = %v, want ErrUndefined", err)
	}
}
