package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/openhealthimaging/ohi"
)

// MaxRequestBody is the largest request body accepted, in bytes. The largest
// member of the model (copiableAttributes) is 260,000 characters.
const MaxRequestBody = 2 << 20

// bind fills in from r according to the struct tags the generator wrote:
// location "uri", "querystring", "header" and "payload"; members without a
// location come from the JSON body.
func bind(r *http.Request, in any) error {
	rv := reflect.ValueOf(in).Elem()
	rt := rv.Type()
	hasBody := false
	var query map[string][]string
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		loc, name := f.Tag.Get("location"), f.Tag.Get("name")
		fv := rv.Field(i)
		switch loc {
		case "uri":
			s := r.PathValue(name)
			fv.Set(reflect.ValueOf(&s))
		case "querystring":
			if query == nil {
				query = r.URL.Query()
			}
			vals, ok := query[name]
			if !ok {
				continue
			}
			if err := setQuery(fv, name, vals); err != nil {
				return err
			}
		case "header":
			if v := r.Header.Get(name); v != "" {
				fv.Set(reflect.ValueOf(&v))
			}
		case "payload":
			body, err := readBody(r)
			if err != nil {
				return err
			}
			if len(bytes.TrimSpace(body)) == 0 {
				continue
			}
			ptr := reflect.New(f.Type.Elem())
			if err := decodeJSON(body, ptr.Interface(), f.Name); err != nil {
				return err
			}
			fv.Set(ptr)
		default:
			hasBody = true
		}
	}
	if hasBody {
		body, err := readBody(r)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := decodeJSON(body, in, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &ohi.ValidationError{Reason: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
		}
		return nil, &ohi.ValidationError{Reason: "cannot read request body: " + err.Error()}
	}
	if len(body) > MaxRequestBody {
		return nil, &ohi.ValidationError{Reason: fmt.Sprintf("request body exceeds %d bytes", MaxRequestBody)}
	}
	return body, nil
}

// decodeJSON decodes a request body, turning decoder errors into validation
// errors that name the member.
func decodeJSON(body []byte, v any, member string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			field := te.Field
			if member != "" {
				field = strings.TrimPrefix(member+"."+field, ".")
			}
			return &ohi.ValidationError{Field: lowerFirst(field), Reason: fmt.Sprintf("expected %s, got JSON %s", describeType(te.Type), te.Value)}
		case errors.As(err, &se):
			return &ohi.ValidationError{Reason: fmt.Sprintf("request body is not valid JSON: %v (at byte %d)", se, se.Offset)}
		default:
			return &ohi.ValidationError{Reason: "request body is not valid JSON: " + err.Error()}
		}
	}
	if dec.More() {
		return &ohi.ValidationError{Reason: "request body has data after the JSON value"}
	}
	return nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeOf(Time{}) {
		return "a timestamp (seconds since the epoch, as a JSON number)"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

func setQuery(fv reflect.Value, name string, vals []string) error {
	t := fv.Type()
	if t.Kind() == reflect.Slice {
		fv.Set(reflect.ValueOf(append([]string(nil), vals...)))
		return nil
	}
	s := vals[0]
	if t.Kind() == reflect.String { // enums are named string types
		fv.SetString(s)
		return nil
	}
	switch t.Elem().Kind() {
	case reflect.String:
		fv.Set(reflect.ValueOf(&s))
	case reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return &ohi.ValidationError{Field: name, Reason: fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must be an integer", quoteValue(s), name)}
		}
		n32 := int32(n)
		fv.Set(reflect.ValueOf(&n32))
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil || (s != "true" && s != "false") {
			return &ohi.ValidationError{Field: name, Reason: fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must be true or false", quoteValue(s), name)}
		}
		fv.Set(reflect.ValueOf(&b))
	default:
		return fmt.Errorf("api: unsupported query member type %s", t)
	}
	return nil
}
