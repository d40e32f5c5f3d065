package api

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"reflect"
	"testing"
)

// modelShapes is the part of the botocore model the empty-list walk reads.
type modelShapes struct {
	Operations map[string]struct {
		Output struct{ Shape string } `json:"output"`
	} `json:"operations"`
	Shapes map[string]struct {
		Type    string `json:"type"`
		Payload string `json:"payload"`
		Member  *struct {
			Shape string `json:"shape"`
		} `json:"member"`
		Value *struct {
			Shape string `json:"shape"`
		} `json:"value"`
		Members map[string]struct {
			Shape    string `json:"shape"`
			Location string `json:"location"`
		} `json:"members"`
	} `json:"shapes"`
}

// fillOutput fills v (a struct) for the empty-list walk: every nested
// structure pointer gets a zero structure, and, when withElems is set, every
// list of structures gets one zero element (so the lists inside list
// elements are reached too); lists and maps are otherwise left nil.
func fillOutput(v reflect.Value, withElems bool, depth int) {
	if depth > 8 {
		return
	}
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Kind() {
		case reflect.Pointer:
			if f.Type().Elem().Kind() == reflect.Struct && f.Type().Elem() != reflect.TypeOf(Time{}) {
				f.Set(reflect.New(f.Type().Elem()))
				fillOutput(f.Elem(), withElems, depth+1)
			}
		case reflect.Slice:
			if withElems && f.Type().Elem().Kind() == reflect.Struct {
				f.Set(reflect.MakeSlice(f.Type(), 1, 1))
				fillOutput(f.Index(0), withElems, depth+1)
			}
		}
	}
}

// TestEmptyListsEncoded walks every output shape of the model, encodes the
// generated response with every list and map member empty, and requires each
// such member to be present as [] or {} (never absent, never null), at every
// depth: AWS always returns them and AWS's example code indexes them (for
// example datastoreSummaries of a ListDatastores on a server with no data
// stores).
func TestEmptyListsEncoded(t *testing.T) {
	raw, err := os.ReadFile("../../shared/healthimaging/medical-imaging-service-2.json")
	if err != nil {
		t.Skip("../shared/healthimaging is not beside the repository")
	}
	var m modelShapes
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	svc := reflect.TypeOf((*Service)(nil)).Elem()
	checked := 0
	for _, op := range Operations {
		meth, ok := svc.MethodByName(op.Name)
		if !ok {
			t.Fatalf("Service has no method %s", op.Name)
		}
		outType := meth.Type.Out(0).Elem()
		if outType.Name() != op.Output {
			t.Fatalf("%s returns %s, model output %s", op.Name, outType.Name(), op.Output)
		}
		shape := m.Shapes[op.Output]
		if shape.Payload != "" {
			continue // a streamed body or a raw payload, not a JSON document
		}
		for _, withElems := range []bool{false, true} {
			out := reflect.New(outType)
			fillOutput(out.Elem(), withElems, 0)
			rec := httptest.NewRecorder()
			if err := writeOutput(rec, httptest.NewRequest("GET", "/", nil), 200, out.Interface()); err != nil {
				t.Fatalf("%s: %v", op.Name, err)
			}
			var doc any
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatalf("%s: body %q: %v", op.Name, rec.Body.String(), err)
			}
			var walk func(path, shapeName string, v any)
			walk = func(path, shapeName string, v any) {
				s := m.Shapes[shapeName]
				switch s.Type {
				case "structure":
					obj, ok := v.(map[string]any)
					if !ok {
						t.Errorf("%s: %s is %T, want an object", op.Name, path, v)
						return
					}
					for mn, mm := range s.Members {
						if mm.Location != "" {
							continue
						}
						child, present := obj[mn]
						switch m.Shapes[mm.Shape].Type {
						case "list":
							checked++
							if !present || child == nil {
								t.Errorf("%s: %s.%s is %v (present %v), want []", op.Name, path, mn, child, present)
								continue
							}
						case "map":
							checked++
							if !present || child == nil {
								t.Errorf("%s: %s.%s is %v (present %v), want {}", op.Name, path, mn, child, present)
								continue
							}
						}
						if present {
							walk(path+"."+mn, mm.Shape, child)
						}
					}
				case "list":
					arr, ok := v.([]any)
					if !ok {
						t.Errorf("%s: %s is %T, want a list", op.Name, path, v)
						return
					}
					if !withElems && len(arr) != 0 {
						t.Errorf("%s: %s has %d elements, want none", op.Name, path, len(arr))
					}
					for _, e := range arr {
						walk(path+"[]", s.Member.Shape, e)
					}
				case "map":
					if _, ok := v.(map[string]any); !ok {
						t.Errorf("%s: %s is %T, want an object", op.Name, path, v)
					}
				}
			}
			walk(op.Output, op.Output, doc)
		}
	}
	// ListDatastores, ListDICOMImportJobs, ListImageSetVersions,
	// SearchImageSets, ListTagsForResource and GetDICOMImportJob's
	// importConfiguration mappings, each in both passes.
	if checked < 12 {
		t.Errorf("checked %d list and map members, want at least 12", checked)
	}
}
