package api

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strconv"
)

// writeOutput writes a generated response structure: header members as
// headers, a streaming payload as the raw body, and otherwise the JSON body.
func writeOutput(w http.ResponseWriter, r *http.Request, status int, out any) error {
	rv := reflect.ValueOf(out).Elem()
	rt := rv.Type()
	var payload reflect.Value
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		switch f.Tag.Get("location") {
		case "header":
			if p := rv.Field(i); !p.IsNil() {
				w.Header().Set(f.Tag.Get("name"), p.Elem().String())
			}
		case "payload":
			payload = rv.Field(i)
		}
	}
	if payload.IsValid() {
		if rc, ok := payload.Interface().(io.ReadCloser); ok {
			if rc == nil {
				w.WriteHeader(status)
				return nil
			}
			defer rc.Close()
			if w.Header().Get("Content-Type") == "" {
				w.Header().Set("Content-Type", "application/octet-stream")
			}
			if s, ok := rc.(interface{ Size() int64 }); ok && w.Header().Get("Content-Encoding") == "" {
				w.Header().Set("Content-Length", strconv.FormatInt(s.Size(), 10))
			}
			w.WriteHeader(status)
			if r.Method == http.MethodHead {
				return nil
			}
			_, err := io.Copy(w, rc)
			// Once the status line is out an error can only cut the body short.
			_ = err
			return nil
		}
		return writeJSON(w, status, payload.Interface())
	}
	return writeJSON(w, status, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}
