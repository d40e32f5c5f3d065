// Command apigen generates package api from the AWS HealthImaging service
// model (the botocore service-2.json for medical-imaging 2023-07-19).
//
// The model is the single description of the API surface: the generated code
// holds every operation's route, the request and response shapes with their
// HTTP bindings, and every length, range, pattern, enum, union and required
// constraint. Documentation strings are not carried over.
//
// Usage (from the repository root; see `make generate`):
//
//	go run ./internal/apigen -model ../shared/healthimaging/medical-imaging-service-2.json -out api/zz_generated.go -openapi api/openapi.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	modelPath := flag.String("model", "../shared/healthimaging/medical-imaging-service-2.json", "botocore service model")
	out := flag.String("out", "api/zz_generated.go", "output file")
	openapiOut := flag.String("openapi", "api/openapi.json", "OpenAPI 3.1 output file")
	flag.Parse()
	raw, err := os.ReadFile(*modelPath)
	if err != nil {
		log.Fatal(err)
	}
	src, err := Generate(raw)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
	spec, err := OpenAPI(raw)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*openapiOut, spec, 0o644); err != nil {
		log.Fatal(err)
	}
}

// model mirrors the parts of a botocore model the generator reads.
type model struct {
	Metadata   map[string]any       `json:"metadata"`
	Operations map[string]operation `json:"operations"`
	Shapes     map[string]*shape    `json:"shapes"`
	opOrder    []string
}

type operation struct {
	Name string `json:"name"`
	HTTP struct {
		Method       string `json:"method"`
		RequestURI   string `json:"requestUri"`
		ResponseCode int    `json:"responseCode"`
	} `json:"http"`
	Input    struct{ Shape string }   `json:"input"`
	Output   struct{ Shape string }   `json:"output"`
	Errors   []struct{ Shape string } `json:"errors"`
	Endpoint *struct {
		HostPrefix string `json:"hostPrefix"`
	} `json:"endpoint"`
	Idempotent bool `json:"idempotent"`
	ReadOnly   bool `json:"readonly"`
}

type shape struct {
	Type      string             `json:"type"`
	Members   map[string]*member `json:"members"`
	Required  []string           `json:"required"`
	Member    *member            `json:"member"`
	Key       *member            `json:"key"`
	Value     *member            `json:"value"`
	Enum      []string           `json:"enum"`
	Min       *int64             `json:"min"`
	Max       *int64             `json:"max"`
	Pattern   string             `json:"pattern"`
	Payload   string             `json:"payload"`
	Union     bool               `json:"union"`
	Streaming bool               `json:"streaming"`
	Sensitive bool               `json:"sensitive"`
	Exception bool               `json:"exception"`
	Error     *struct {
		HTTPStatusCode int `json:"httpStatusCode"`
	} `json:"error"`
	order []string
}

type member struct {
	Shape            string `json:"shape"`
	Location         string `json:"location"`
	LocationName     string `json:"locationName"`
	IdempotencyToken bool   `json:"idempotencyToken"`
}

// orderedKeys returns the keys of a JSON object in document order.
func orderedKeys(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func parseModel(raw []byte) (*model, error) {
	var m model
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	var top struct {
		Operations json.RawMessage            `json:"operations"`
		Shapes     map[string]json.RawMessage `json:"shapes"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	var err error
	if m.opOrder, err = orderedKeys(top.Operations); err != nil {
		return nil, err
	}
	for name, rs := range top.Shapes {
		var s struct {
			Members json.RawMessage `json:"members"`
		}
		if err := json.Unmarshal(rs, &s); err != nil {
			return nil, err
		}
		if len(s.Members) > 0 {
			if m.Shapes[name].order, err = orderedKeys(s.Members); err != nil {
				return nil, err
			}
		}
	}
	return &m, nil
}

// gen accumulates generated source.
type gen struct {
	m   *model
	buf bytes.Buffer
	// patterns maps a model pattern to the name of its compiled variable.
	patterns map[string]string
}

func (g *gen) p(format string, args ...any) { fmt.Fprintf(&g.buf, format+"\n", args...) }

// Generate returns the gofmt-ed Go source of package api for the model.
func Generate(raw []byte) ([]byte, error) {
	m, err := parseModel(raw)
	if err != nil {
		return nil, fmt.Errorf("parse model: %w", err)
	}
	g := &gen{m: m, patterns: map[string]string{}}
	g.file()
	src, err := format.Source(g.buf.Bytes())
	if err != nil {
		return g.buf.Bytes(), fmt.Errorf("format generated code: %w", err)
	}
	return src, nil
}

func exported(name string) string {
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

func (g *gen) sortedShapes() []string {
	names := make([]string, 0, len(g.m.Shapes))
	for n := range g.m.Shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// goType returns the Go type of a member whose target is shape name.
func (g *gen) goType(name string) string {
	s := g.m.Shapes[name]
	switch s.Type {
	case "string":
		if len(s.Enum) > 0 {
			return name
		}
		return "*string"
	case "integer":
		return "*int32"
	case "long":
		return "*int64"
	case "boolean":
		return "*bool"
	case "timestamp":
		return "*Time"
	case "blob":
		if s.Streaming {
			return "io.ReadCloser"
		}
		return "[]byte"
	case "structure":
		return "*" + name
	case "list":
		elem := g.goType(s.Member.Shape)
		return "[]" + strings.TrimPrefix(elem, "*")
	case "map":
		return "map[string]" + strings.TrimPrefix(g.goType(s.Value.Shape), "*")
	}
	panic("unsupported shape type " + s.Type + " for " + name)
}

func (g *gen) file() {
	g.p("// Code generated by internal/apigen from the AWS HealthImaging service model (%v %v); DO NOT EDIT.", g.m.Metadata["serviceId"], g.m.Metadata["apiVersion"])
	g.p("")
	g.p("package api")
	g.p("")
	g.p("import (")
	g.p("\t\"context\"")
	g.p("\t\"encoding/json\"")
	g.p("\t\"io\"")
	g.p("\t\"net/http\"")
	g.p("\t\"regexp\"")
	g.p(")")
	g.p("")
	g.p("// Service metadata from the model.")
	g.p("const (")
	g.p("\tAPIVersion = %q", g.m.Metadata["apiVersion"])
	g.p("\tSigningName = %q", g.m.Metadata["signingName"])
	g.p("\tServiceID = %q", g.m.Metadata["serviceId"])
	g.p(")")
	g.p("")
	g.enums()
	g.structs()
	g.validators()
	g.errorsTable()
	g.operations()
	g.patternVars()
}

func (g *gen) enums() {
	for _, name := range g.sortedShapes() {
		s := g.m.Shapes[name]
		if s.Type != "string" || len(s.Enum) == 0 {
			continue
		}
		g.p("// %s is an enumeration of the model.", name)
		g.p("type %s string", name)
		g.p("")
		g.p("// Values of %s.", name)
		g.p("const (")
		for _, v := range s.Enum {
			g.p("\t%s%s %s = %q", name, constName(v), name, v)
		}
		g.p(")")
		g.p("")
		g.p("// Values returns every value of %s.", name)
		g.p("func (%s) Values() []%s {", name, name)
		g.p("\treturn []%s{", name)
		for _, v := range s.Enum {
			g.p("\t\t%s%s,", name, constName(v))
		}
		g.p("\t}")
		g.p("}")
		g.p("")
	}
}

func constName(v string) string {
	var b strings.Builder
	up := true
	for _, r := range v {
		if r == '_' || r == '-' || r == '.' || r == ' ' {
			up = true
			continue
		}
		if up {
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		} else {
			b.WriteString(strings.ToLower(string(r)))
		}
	}
	return b.String()
}

func (g *gen) isRequired(s *shape, m string) bool {
	for _, r := range s.Required {
		if r == m {
			return true
		}
	}
	return false
}

func (g *gen) structs() {
	outputs := g.outputShapes()
	for _, name := range g.sortedShapes() {
		s := g.m.Shapes[name]
		if s.Type != "structure" || s.Exception {
			continue
		}
		kind := "structure"
		if s.Union {
			kind = "union (exactly one member is set)"
		}
		g.p("// %s is the model's %s %s.", name, kind, name)
		g.p("type %s struct {", name)
		var always []string
		for _, mn := range s.order {
			mm := s.Members[mn]
			tag := fmt.Sprintf("`json:%q`", mn+",omitempty")
			target := g.m.Shapes[mm.Shape]
			isList := target.Type == "list" || target.Type == "map"
			if isList && (g.isRequired(s, mn) || outputs[name]) {
				tag = fmt.Sprintf("`json:%q`", mn)
				if outputs[name] && mm.Location == "" && s.Payload != mn {
					always = append(always, mn)
				}
			}
			switch {
			case mm.Location != "":
				tag = fmt.Sprintf("`json:\"-\" location:%q name:%q`", mm.Location, mm.LocationName)
			case s.Payload == mn:
				tag = "`json:\"-\" location:\"payload\"`"
			}
			g.p("\t%s %s %s", exported(mn), g.goType(mm.Shape), tag)
		}
		g.p("}")
		g.p("")
		if len(always) > 0 {
			g.emptyListMarshaler(name, s, always)
		}
	}
}

// outputShapes returns the structures reachable from an operation's output.
func (g *gen) outputShapes() map[string]bool {
	seen := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		s := g.m.Shapes[name]
		if s == nil || seen[name] {
			return
		}
		switch s.Type {
		case "structure":
			seen[name] = true
			for _, mm := range s.Members {
				walk(mm.Shape)
			}
		case "list":
			walk(s.Member.Shape)
		case "map":
			walk(s.Value.Shape)
		}
	}
	for _, op := range g.m.Operations {
		if op.Output.Shape != "" {
			walk(op.Output.Shape)
		}
	}
	return seen
}

// emptyListMarshaler emits a MarshalJSON that encodes the list and map
// members of an output structure as [] and {} when they are empty (an
// empty list is a list, never an absent member or null). All but one are
// required by the model, so AWS always returns them; the optional one,
// ListDatastores' datastoreSummaries, is indexed without a check by AWS's
// example code, first on an account with no data stores.
func (g *gen) emptyListMarshaler(name string, s *shape, members []string) {
	g.p("// MarshalJSON encodes %s with its empty lists and maps as [] and {}.", name)
	g.p("func (s %s) MarshalJSON() ([]byte, error) {", name)
	g.p("\ttype plain %s", name)
	for _, mn := range members {
		f := exported(mn)
		g.p("\tif s.%s == nil {", f)
		g.p("\t\ts.%s = %s{}", f, g.goType(s.Members[mn].Shape))
		g.p("\t}")
	}
	g.p("\treturn json.Marshal(plain(s))")
	g.p("}")
	g.p("")
}

// validators emits one validate method per structure.
func (g *gen) validators() {
	for _, name := range g.sortedShapes() {
		s := g.m.Shapes[name]
		if s.Type != "structure" || s.Exception {
			continue
		}
		g.p("func (s *%s) validate(v *validator, path string) {", name)
		g.p("\tif s == nil {")
		g.p("\t\treturn")
		g.p("\t}")
		if s.Union {
			var set []string
			for _, mn := range s.order {
				set = append(set, g.isSetExpr("s."+exported(mn), s.Members[mn].Shape))
			}
			g.p("\tv.union(path, %s)", strings.Join(set, ", "))
		}
		for _, mn := range s.order {
			mm := s.Members[mn]
			wire := mn
			if mm.LocationName != "" {
				wire = mm.LocationName
			}
			g.member("s."+exported(mn), mm.Shape, fmt.Sprintf("v.join(path, %q)", wire), g.isRequired(s, mn), 1)
		}
		g.p("}")
		g.p("")
	}
}

func (g *gen) isSetExpr(expr, shapeName string) string {
	s := g.m.Shapes[shapeName]
	switch {
	case s.Type == "string" && len(s.Enum) > 0:
		return expr + ` != ""`
	case s.Type == "list" || s.Type == "map" || s.Type == "blob":
		return expr + " != nil"
	default:
		return expr + " != nil"
	}
}

// member emits the checks for one value.
func (g *gen) member(expr, shapeName, pathExpr string, required bool, depth int) {
	s := g.m.Shapes[shapeName]
	ind := strings.Repeat("\t", depth)
	if required {
		g.p("%sif !(%s) {", ind, g.isSetExpr(expr, shapeName))
		g.p("%s\tv.missing(%s)", ind, pathExpr)
		g.p("%s}", ind)
	}
	sensitive := strconv.FormatBool(s.Sensitive)
	switch s.Type {
	case "string":
		if len(s.Enum) > 0 {
			g.p("%sif %s != \"\" {", ind, expr)
			g.p("%s\tv.enum(%s, string(%s), enumStrings(%s(\"\").Values()))", ind, pathExpr, expr, shapeName)
			g.p("%s}", ind)
			return
		}
		g.p("%sif %s != nil {", ind, expr)
		g.p("%s\tv.str(%s, *%s, %s, %s, %s, %s)", ind, pathExpr, expr, intOr(s.Min, -1), intOr(s.Max, -1), g.patternRef(s.Pattern), sensitive)
		g.p("%s}", ind)
	case "integer", "long":
		if s.Min == nil && s.Max == nil {
			return
		}
		g.p("%sif %s != nil {", ind, expr)
		g.p("%s\tv.integer(%s, int64(*%s), %s, %s, %t, %t)", ind, pathExpr, expr, intOr(s.Min, 0), intOr(s.Max, 0), s.Min != nil, s.Max != nil)
		g.p("%s}", ind)
	case "blob":
		if s.Streaming || (s.Min == nil && s.Max == nil) {
			return
		}
		g.p("%sif %s != nil {", ind, expr)
		g.p("%s\tv.length(%s, len(%s), %s, %s, \"bytes\")", ind, pathExpr, expr, intOr(s.Min, -1), intOr(s.Max, -1))
		g.p("%s}", ind)
	case "structure":
		g.p("%s%s.validate(v, %s)", ind, expr, pathExpr)
	case "list":
		g.p("%sif %s != nil {", ind, expr)
		if s.Min != nil || s.Max != nil {
			g.p("%s\tv.length(%s, len(%s), %s, %s, \"items\")", ind, pathExpr, expr, intOr(s.Min, -1), intOr(s.Max, -1))
		}
		el := g.m.Shapes[s.Member.Shape]
		if el.Type == "structure" {
			g.p("%s\tfor i := range %s {", ind, expr)
			g.p("%s\t\t%s[i].validate(v, v.index(%s, i))", ind, expr, pathExpr)
			g.p("%s\t}", ind)
		} else if el.Type == "string" && len(el.Enum) == 0 {
			g.p("%s\tfor i, e := range %s {", ind, expr)
			g.p("%s\t\tv.str(v.index(%s, i), e, %s, %s, %s, %t)", ind, pathExpr, intOr(el.Min, -1), intOr(el.Max, -1), g.patternRef(el.Pattern), el.Sensitive)
			g.p("%s\t}", ind)
		}
		g.p("%s}", ind)
	case "map":
		k, val := g.m.Shapes[s.Key.Shape], g.m.Shapes[s.Value.Shape]
		g.p("%sfor k, e := range %s {", ind, expr)
		g.p("%s\tv.str(v.key(%s, k), k, %s, %s, %s, %t)", ind, pathExpr, intOr(k.Min, -1), intOr(k.Max, -1), g.patternRef(k.Pattern), k.Sensitive)
		g.p("%s\tv.str(v.join(v.key(%s, k), \"value\"), e, %s, %s, %s, %t)", ind, pathExpr, intOr(val.Min, -1), intOr(val.Max, -1), g.patternRef(val.Pattern), val.Sensitive)
		g.p("%s}", ind)
	}
}

func intOr(p *int64, def int64) string {
	if p == nil {
		return strconv.FormatInt(def, 10)
	}
	return strconv.FormatInt(*p, 10)
}

// patternRef returns the expression for a pattern check: nil for none, or a
// *pattern variable. Patterns the RE2 engine cannot compile are mapped to
// hand-written checks in runtime code (see patternFuncs in validate.go).
func (g *gen) patternRef(p string) string {
	if p == "" {
		return "nil"
	}
	if name, ok := g.patterns[p]; ok {
		return name
	}
	name := fmt.Sprintf("pattern%d", len(g.patterns)+1)
	g.patterns[p] = name
	return name
}

func (g *gen) patternVars() {
	type pv struct{ name, pat string }
	var list []pv
	for p, n := range g.patterns {
		list = append(list, pv{n, p})
	}
	sort.Slice(list, func(i, j int) bool {
		a, _ := strconv.Atoi(strings.TrimPrefix(list[i].name, "pattern"))
		b, _ := strconv.Atoi(strings.TrimPrefix(list[j].name, "pattern"))
		return a < b
	})
	g.p("// Patterns of the model. Smithy patterns are unanchored; identifiers and")
	g.p("// names are checked as whole-string matches (see newPattern).")
	g.p("var (")
	for _, v := range list {
		g.p("\t%s = newPattern(%q)", v.name, v.pat)
	}
	g.p(")")
	g.p("")
	g.p("var _ = regexp.MustCompile")
}

func (g *gen) errorsTable() {
	g.p("// errorStatus maps each modeled error code to its HTTP status.")
	g.p("var errorStatus = map[string]int{")
	for _, name := range g.sortedShapes() {
		s := g.m.Shapes[name]
		if s.Exception && s.Error != nil {
			g.p("\t%q: %d,", name, s.Error.HTTPStatusCode)
		}
	}
	g.p("}")
	g.p("")
}

func (g *gen) operations() {
	g.p("// Service is implemented by the HealthImaging service; each method is one")
	g.p("// operation of the model. Methods receive validated input.")
	g.p("type Service interface {")
	for _, name := range g.m.opOrder {
		op := g.m.Operations[name]
		g.p("\t%s(ctx context.Context, in *%s) (*%s, error)", name, op.Input.Shape, op.Output.Shape)
	}
	g.p("}")
	g.p("")
	g.p("// Operations lists every operation of the model with its HTTP binding.")
	g.p("var Operations = []Operation{")
	for _, name := range g.m.opOrder {
		op := g.m.Operations[name]
		prefix := ""
		if op.Endpoint != nil {
			prefix = op.Endpoint.HostPrefix
		}
		var errs []string
		for _, e := range op.Errors {
			errs = append(errs, strconv.Quote(e.Shape))
		}
		g.p("\t{Name: %q, Method: %q, Path: %q, HostPrefix: %q, Input: %q, Output: %q, Errors: []string{%s}, Idempotent: %t, ReadOnly: %t,",
			name, op.HTTP.Method, op.HTTP.RequestURI, prefix, op.Input.Shape, op.Output.Shape, strings.Join(errs, ", "), op.Idempotent, op.ReadOnly)
		g.p("\t\tserve: func(svc Service, w http.ResponseWriter, r *http.Request) error {")
		g.p("\t\t\tin := new(%s)", op.Input.Shape)
		g.p("\t\t\tif err := bind(r, in); err != nil {")
		g.p("\t\t\t\treturn err")
		g.p("\t\t\t}")
		g.p("\t\t\tif err := validateInput(in); err != nil {")
		g.p("\t\t\t\treturn err")
		g.p("\t\t\t}")
		g.p("\t\t\tout, err := svc.%s(r.Context(), in)", name)
		g.p("\t\t\tif err != nil {")
		g.p("\t\t\t\treturn err")
		g.p("\t\t\t}")
		g.p("\t\t\treturn writeOutput(w, r, %d, out)", op.HTTP.ResponseCode)
		g.p("\t\t}},")
	}
	g.p("}")
	g.p("")
}

// OpenAPI returns an OpenAPI 3.1 description of the model's operations:
// the same source as the routes, so /openapi.json can never disagree with
// what the server accepts.
func OpenAPI(raw []byte) ([]byte, error) {
	m, err := parseModel(raw)
	if err != nil {
		return nil, err
	}
	o := &oapi{m: m, schemas: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, name := range m.opOrder {
		op := m.Operations[name]
		path := op.HTTP.RequestURI
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(op.HTTP.Method)] = o.operation(name, op)
	}
	errs := map[string]any{}
	for _, n := range g0sortedKeys(m.Shapes) {
		if s := m.Shapes[n]; s.Exception {
			errs[n] = map[string]any{"type": "object", "required": []string{"message"},
				"properties": map[string]any{"message": map[string]any{"type": "string"}}, "x-aws-error-status": s.Error.HTTPStatusCode}
		}
	}
	for k, v := range errs {
		o.schemas[k] = v
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":             "AWS HealthImaging API as served by ohi",
			"version":           m.Metadata["apiVersion"],
			"description":       "Generated by ohi's internal/apigen from the AWS HealthImaging service model; the same description drives ohi's routes and validation.",
			"x-aws-signingName": m.Metadata["signingName"],
			"x-aws-serviceId":   m.Metadata["serviceId"],
			"x-aws-protocol":    m.Metadata["protocol"],
		},
		"servers":  []any{map[string]any{"url": "http://127.0.0.1:8080"}},
		"security": []any{map[string]any{"sigv4": []string{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas": o.schemas,
			"securitySchemes": map[string]any{"sigv4": map[string]any{
				"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4",
			}},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func g0sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type oapi struct {
	m       *model
	schemas map[string]any
}

func (o *oapi) operation(name string, op operation) map[string]any {
	in := o.m.Shapes[op.Input.Shape]
	out := o.m.Shapes[op.Output.Shape]
	var params []any
	bodyMembers := []string{}
	for _, mn := range in.order {
		mm := in.Members[mn]
		req := false
		for _, r := range in.Required {
			req = req || r == mn
		}
		switch mm.Location {
		case "uri":
			params = append(params, map[string]any{"name": mm.LocationName, "in": "path", "required": true, "schema": o.schema(mm.Shape)})
		case "querystring":
			p := map[string]any{"name": mm.LocationName, "in": "query", "required": req, "schema": o.schema(mm.Shape), "x-aws-member": mn}
			if o.m.Shapes[mm.Shape].Type == "list" {
				p["style"], p["explode"] = "form", true
			}
			params = append(params, p)
		case "header":
			params = append(params, map[string]any{"name": mm.LocationName, "in": "header", "required": req, "schema": o.schema(mm.Shape), "x-aws-member": mn})
		default:
			if in.Payload != mn {
				bodyMembers = append(bodyMembers, mn)
			}
		}
	}
	res := map[string]any{
		"operationId": name,
		"responses":   o.responses(op, out),
	}
	if params != nil {
		res["parameters"] = params
	}
	if op.Endpoint != nil && op.Endpoint.HostPrefix != "" {
		res["x-aws-hostPrefix"] = op.Endpoint.HostPrefix
	}
	switch {
	case in.Payload != "":
		req := false
		for _, r := range in.Required {
			req = req || r == in.Payload
		}
		res["requestBody"] = map[string]any{"required": req, "content": map[string]any{"application/json": map[string]any{
			"schema": o.schema(in.Members[in.Payload].Shape)}}}
	case len(bodyMembers) > 0:
		res["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{
			"schema": o.bodySchema(op.Input.Shape+"Body", in, bodyMembers)}}}
	}
	return res
}

func (o *oapi) responses(op operation, out *shape) map[string]any {
	ok := map[string]any{"description": "Success"}
	headers := map[string]any{}
	var body []string
	for _, mn := range out.order {
		mm := out.Members[mn]
		switch {
		case mm.Location == "header":
			headers[mm.LocationName] = map[string]any{"schema": o.schema(mm.Shape), "x-aws-member": mn}
		case out.Payload == mn:
		default:
			body = append(body, mn)
		}
	}
	if len(headers) > 0 {
		ok["headers"] = headers
	}
	if out.Payload != "" {
		ok["content"] = map[string]any{"*/*": map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}}}
	} else {
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": o.bodySchema(op.Output.Shape, out, body)}}
	}
	res := map[string]any{strconv.Itoa(op.HTTP.ResponseCode): ok}
	byStatus := map[int][]string{}
	for _, e := range op.Errors {
		st := o.m.Shapes[e.Shape].Error.HTTPStatusCode
		byStatus[st] = append(byStatus[st], e.Shape)
	}
	for st, names := range byStatus {
		var refs []any
		for _, n := range names {
			refs = append(refs, map[string]any{"$ref": "#/components/schemas/" + n})
		}
		var schema any = refs[0]
		if len(refs) > 1 {
			schema = map[string]any{"oneOf": refs}
		}
		res[strconv.Itoa(st)] = map[string]any{"description": strings.Join(names, " or "),
			"headers": map[string]any{"X-Amzn-ErrorType": map[string]any{"schema": map[string]any{"type": "string", "enum": names}}},
			"content": map[string]any{"application/json": map[string]any{"schema": schema}}}
	}
	return res
}

// bodySchema is an object schema of the JSON body members of a shape.
func (o *oapi) bodySchema(name string, s *shape, members []string) map[string]any {
	props := map[string]any{}
	var req []string
	for _, mn := range members {
		props[mn] = o.schema(s.Members[mn].Shape)
		for _, r := range s.Required {
			if r == mn {
				req = append(req, mn)
			}
		}
	}
	o.schemas[name] = map[string]any{"type": "object", "properties": props}
	if req != nil {
		o.schemas[name].(map[string]any)["required"] = req
	}
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

// schema returns the JSON Schema of a shape (a $ref for structures).
func (o *oapi) schema(name string) map[string]any {
	s := o.m.Shapes[name]
	out := map[string]any{}
	switch s.Type {
	case "string":
		out["type"] = "string"
		if len(s.Enum) > 0 {
			out["enum"] = s.Enum
		}
		switch p := s.Pattern; {
		case p == `\p{ASCII}{0,8192}`:
			// Written so that RE2-based tools (Go) can compile it too.
			out["pattern"] = `^[\x00-\x7F]*$`
		case strings.HasPrefix(p, "(?!aws:)"):
			out["pattern"] = "^(?:" + strings.TrimPrefix(p, "(?!aws:)") + ")$"
			out["not"] = map[string]any{"pattern": "^aws:"}
		case p != "":
			out["pattern"] = "^(?:" + p + ")$"
		}
		if s.Min != nil {
			out["minLength"] = *s.Min
		}
		if s.Max != nil {
			out["maxLength"] = *s.Max
		}
	case "integer", "long":
		out["type"] = "integer"
		if s.Min != nil {
			out["minimum"] = *s.Min
		}
		if s.Max != nil {
			out["maximum"] = *s.Max
		}
	case "boolean":
		out["type"] = "boolean"
	case "timestamp":
		out["type"], out["description"] = "number", "seconds since the Unix epoch"
	case "blob":
		out["type"] = "string"
		if s.Streaming {
			out["contentMediaType"] = "application/octet-stream"
		} else {
			out["contentEncoding"] = "base64"
			if s.Min != nil {
				out["x-aws-minBytes"] = *s.Min
			}
			if s.Max != nil {
				out["x-aws-maxBytes"] = *s.Max
			}
		}
	case "list":
		out["type"], out["items"] = "array", o.schema(s.Member.Shape)
		if s.Min != nil {
			out["minItems"] = *s.Min
		}
		if s.Max != nil {
			out["maxItems"] = *s.Max
		}
	case "map":
		out["type"] = "object"
		out["propertyNames"] = o.schema(s.Key.Shape)
		out["additionalProperties"] = o.schema(s.Value.Shape)
	case "structure":
		if _, done := o.schemas[name]; !done {
			o.schemas[name] = nil // break cycles
			props := map[string]any{}
			for _, mn := range s.order {
				props[mn] = o.schema(s.Members[mn].Shape)
			}
			def := map[string]any{"type": "object", "properties": props}
			if len(s.Required) > 0 {
				def["required"] = s.Required
			}
			if s.Union {
				def["minProperties"], def["maxProperties"] = 1, 1
			}
			o.schemas[name] = def
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return out
}
