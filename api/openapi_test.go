package api

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// botocore is the part of the botocore model the comparison reads.
type botocore struct {
	Operations map[string]struct {
		HTTP struct {
			Method     string `json:"method"`
			RequestURI string `json:"requestUri"`
		} `json:"http"`
		Input  struct{ Shape string }   `json:"input"`
		Output struct{ Shape string }   `json:"output"`
		Errors []struct{ Shape string } `json:"errors"`
	} `json:"operations"`
	Shapes map[string]struct {
		Type    string   `json:"type"`
		Enum    []string `json:"enum"`
		Payload string   `json:"payload"`
		Members map[string]struct {
			Shape        string `json:"shape"`
			Location     string `json:"location"`
			LocationName string `json:"locationName"`
		} `json:"members"`
		Error *struct {
			HTTPStatusCode int `json:"httpStatusCode"`
		} `json:"error"`
	} `json:"shapes"`
}

func TestOpenAPILoads(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPIJSON)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
}

// TestOpenAPIMatchesModel checks /openapi.json against the botocore model:
// every operation, member, enum and error is present and matches.
func TestOpenAPIMatchesModel(t *testing.T) {
	raw, err := os.ReadFile("../../shared/healthimaging/medical-imaging-service-2.json")
	if os.IsNotExist(err) {
		t.Skip("../shared/healthimaging is not beside the repository")
	}
	if err != nil {
		t.Fatal(err)
	}
	var m botocore
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Enum       []string                   `json:"enum"`
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPIJSON, &spec); err != nil {
		t.Fatal(err)
	}
	for name, op := range m.Operations {
		rawOp, ok := spec.Paths[op.HTTP.RequestURI][strings.ToLower(op.HTTP.Method)]
		if !ok {
			t.Errorf("%s: %s %s missing from openapi.json", name, op.HTTP.Method, op.HTTP.RequestURI)
			continue
		}
		var o struct {
			OperationID string `json:"operationId"`
			Parameters  []struct{ Name, In string }
			RequestBody *struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					}
				}
			} `json:"requestBody"`
			Responses map[string]struct {
				Headers map[string]struct {
					Schema struct{ Enum []string }
				}
			}
		}
		if err := json.Unmarshal(rawOp, &o); err != nil {
			t.Fatal(err)
		}
		if o.OperationID != name {
			t.Errorf("%s: operationId %q", name, o.OperationID)
		}
		in := m.Shapes[op.Input.Shape]
		var want, got, body []string
		for mn, mm := range in.Members {
			switch mm.Location {
			case "uri":
				want = append(want, "path:"+mm.LocationName)
			case "querystring":
				want = append(want, "query:"+mm.LocationName)
			case "header":
				want = append(want, "header:"+mm.LocationName)
			default:
				if mn != in.Payload {
					body = append(body, mn)
				}
			}
		}
		for _, p := range o.Parameters {
			got = append(got, p.In+":"+p.Name)
		}
		sort.Strings(want)
		sort.Strings(got)
		if strings.Join(want, ",") != strings.Join(got, ",") {
			t.Errorf("%s: parameters %v, model has %v", name, got, want)
		}
		if len(body) > 0 || in.Payload != "" {
			if o.RequestBody == nil {
				t.Errorf("%s: no request body", name)
				continue
			}
			ref := o.RequestBody.Content["application/json"].Schema.Ref
			schema := spec.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
			if in.Payload != "" {
				if ref != "#/components/schemas/"+in.Members[in.Payload].Shape {
					t.Errorf("%s: payload schema %s, want %s", name, ref, in.Members[in.Payload].Shape)
				}
			} else {
				for _, b := range body {
					if _, ok := schema.Properties[b]; !ok {
						t.Errorf("%s: body member %s missing", name, b)
					}
				}
				if len(schema.Properties) != len(body) {
					t.Errorf("%s: body has %d properties, model %d", name, len(schema.Properties), len(body))
				}
			}
		}
		for _, e := range op.Errors {
			st := m.Shapes[e.Shape].Error.HTTPStatusCode
			found := false
			for _, v := range o.Responses[itoa(st)].Headers["X-Amzn-ErrorType"].Schema.Enum {
				found = found || v == e.Shape
			}
			if !found {
				t.Errorf("%s: error %s (%d) missing", name, e.Shape, st)
			}
		}
	}
	for name, s := range m.Shapes {
		switch {
		case s.Type == "structure" && s.Error == nil && len(s.Members) > 0 && !strings.HasSuffix(name, "Request") && !strings.HasSuffix(name, "Response"):
			got, ok := spec.Components.Schemas[name]
			if !ok {
				t.Errorf("structure %s missing", name)
				continue
			}
			for mn := range s.Members {
				if _, ok := got.Properties[mn]; !ok {
					t.Errorf("structure %s lacks member %s", name, mn)
				}
			}
		case len(s.Enum) > 0:
			if !strings.Contains(string(OpenAPIJSON), `"`+s.Enum[len(s.Enum)-1]+`"`) {
				t.Errorf("enum %s value %s missing", name, s.Enum[len(s.Enum)-1])
			}
		}
	}
	if len(m.Operations) != len(Operations) {
		t.Errorf("model has %d operations, the router %d", len(m.Operations), len(Operations))
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
