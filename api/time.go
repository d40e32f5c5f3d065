package api

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"time"
)

// Time is a model timestamp. On the wire (rest-json, no timestampFormat) it
// is a JSON number of seconds since the Unix epoch, possibly fractional.
type Time struct {
	time.Time
}

// NewTime returns a *Time for t, or nil for the zero time.
func NewTime(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{t}
}

// MarshalJSON writes epoch seconds with millisecond precision.
func (t Time) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', -1, 64), nil
}

// UnmarshalJSON reads epoch seconds given as an integer or a fraction.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	// An *json.UnmarshalTypeError lets encoding/json name the member.
	if len(b) == 0 || b[0] == '"' || bytes.Equal(b, []byte("null")) {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeOf(Time{})}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e12 {
		return &json.UnmarshalTypeError{Value: "number " + string(b), Type: reflect.TypeOf(Time{})}
	}
	sec := math.Floor(f)
	nsec := math.Round((f - sec) * 1e9)
	t.Time = time.Unix(int64(sec), int64(nsec)).UTC()
	return nil
}

func jsonKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '"':
		return "string"
	case b[0] == 'n':
		return "null"
	}
	return string(b)
}
