package dicomweb

import (
	"mime"
	"strings"
)

// mediaRange is one entry of an Accept header.
type mediaRange struct {
	typ    string // lower case, e.g. "multipart/related"
	params map[string]string
}

// parseAccept splits an Accept header into its media ranges, in the order
// given (q values are not used for ordering: DICOMweb clients list their
// preference first). Entries that do not parse are skipped. An empty
// header is */*.
func parseAccept(h string) []mediaRange {
	var out []mediaRange
	for _, part := range splitOutsideQuotes(h) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		t, params, err := mime.ParseMediaType(part)
		if err != nil {
			// Some clients send transfer-syntax=* unquoted, which the mime
			// package rejects; read it by hand.
			t, params = looseMediaType(part)
			if t == "" {
				continue
			}
		}
		out = append(out, mediaRange{typ: strings.ToLower(t), params: params})
	}
	if len(out) == 0 {
		out = append(out, mediaRange{typ: "*/*", params: map[string]string{}})
	}
	return out
}

func looseMediaType(s string) (string, map[string]string) {
	fields := strings.Split(s, ";")
	t := strings.ToLower(strings.TrimSpace(fields[0]))
	if !strings.Contains(t, "/") {
		return "", nil
	}
	params := map[string]string{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if ok {
			params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return t, params
}

func splitOutsideQuotes(s string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// matches reports whether a range accepts the media type t.
func (m mediaRange) matches(t string) bool {
	switch {
	case m.typ == "*/*" || m.typ == t:
		return true
	case strings.HasSuffix(m.typ, "/*"):
		return strings.HasPrefix(t, strings.TrimSuffix(m.typ, "*"))
	}
	return false
}

// Transfer syntax UIDs and the media types of PS3.18 Table 8.7.3-5.
const (
	tsImplicitLE = "1.2.840.10008.1.2"
	tsExplicitLE = "1.2.840.10008.1.2.1"
	tsDeflatedLE = "1.2.840.10008.1.2.1.99"
	tsExplicitBE = "1.2.840.10008.1.2.2"
	tsHTJ2KRPCL  = "1.2.840.10008.1.2.4.202"
)

// isNative reports whether a transfer syntax stores pixels uncompressed.
func isNative(ts string) bool {
	switch ts {
	case tsImplicitLE, tsExplicitLE, tsDeflatedLE, tsExplicitBE:
		return true
	}
	return false
}

// frameMediaType is the media type of a frame in a transfer syntax.
func frameMediaType(ts string) string {
	switch {
	case isNative(ts):
		return "application/octet-stream"
	case ts == "1.2.840.10008.1.2.4.201" || ts == "1.2.840.10008.1.2.4.202" || ts == "1.2.840.10008.1.2.4.203":
		return "image/jphc"
	case ts == "1.2.840.10008.1.2.4.90" || ts == "1.2.840.10008.1.2.4.91" || ts == "1.2.840.10008.1.2.4.92" || ts == "1.2.840.10008.1.2.4.93":
		return "image/jp2"
	case ts == "1.2.840.10008.1.2.4.50" || ts == "1.2.840.10008.1.2.4.51" || ts == "1.2.840.10008.1.2.4.57" || ts == "1.2.840.10008.1.2.4.70":
		return "image/jpeg"
	case ts == "1.2.840.10008.1.2.4.80" || ts == "1.2.840.10008.1.2.4.81":
		return "image/jls"
	case ts == "1.2.840.10008.1.2.4.110" || ts == "1.2.840.10008.1.2.4.111" || ts == "1.2.840.10008.1.2.4.112":
		return "image/jxl"
	case ts == "1.2.840.10008.1.2.5":
		return "image/dicom-rle"
	case strings.HasPrefix(ts, "1.2.840.10008.1.2.4.100") || strings.HasPrefix(ts, "1.2.840.10008.1.2.4.101"):
		return "video/mpeg"
	case strings.HasPrefix(ts, "1.2.840.10008.1.2.4.10"):
		return "video/mp4"
	}
	return "application/octet-stream"
}

// shortTS expands the short transfer syntax forms of OHIF's AWS
// configuration ("4.202", "1.2.1") to UIDs.
func shortTS(ts string) string {
	switch {
	case ts == "" || ts == "*" || strings.HasPrefix(ts, "1.2.840.10008."):
		return ts
	case strings.HasPrefix(ts, "4.") || strings.HasPrefix(ts, "1.2"):
		return "1.2.840.10008.1.2." + strings.TrimPrefix(ts, "1.2.")
	}
	return ts
}

// choice is the representation a retrieve answers with.
type choice struct {
	multipart bool   // multipart/related
	ts        string // transfer syntax ("" is decided by the caller's default)
	stored    bool   // the stored syntax (transfer-syntax=*)
}

// negotiate picks the first acceptable representation: single is the
// single-part media type of the resource (application/dicom or
// application/octet-stream), partTypes the media types parts may have.
// ok is false when nothing is acceptable (406).
func negotiate(accept string, single string, storedTS string) (c choice, ok bool) {
	for _, m := range parseAccept(accept) {
		ts := shortTS(m.params["transfer-syntax"])
		if ts == "" {
			ts = shortTS(m.params["ts"])
		}
		switch {
		case m.typ == "multipart/related":
			t := strings.ToLower(m.params["type"])
			if t == "" {
				t = single
			}
			if t == single || (single == "application/octet-stream" && strings.HasPrefix(t, "image/")) || (single == "application/octet-stream" && strings.HasPrefix(t, "video/")) {
				if t != single && ts == "" {
					// A compressed media type without a syntax: the stored
					// one if it has that media type.
					if frameMediaType(storedTS) != t {
						continue
					}
					ts = storedTS
				}
				return choice{multipart: true, ts: ts, stored: ts == "*"}, true
			}
		case m.matches(single):
			return choice{ts: ts, stored: ts == "*"}, true
		case single == "application/octet-stream" && (strings.HasPrefix(m.typ, "image/") || strings.HasPrefix(m.typ, "video/")):
			if ts == "" {
				if frameMediaType(storedTS) != m.typ {
					continue
				}
				ts = storedTS
			}
			return choice{ts: ts, stored: ts == "*"}, true
		}
	}
	return choice{}, false
}
