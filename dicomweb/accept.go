package dicomweb

import (
	"mime"
	"sort"
	"strconv"
	"strings"
)

// mediaRange is one entry of an Accept header.
type mediaRange struct {
	typ    string // lower case, e.g. "multipart/related"
	params map[string]string
	q      float64
	// except are the types a more specific range refuses (q=0): a
	// wildcard does not admit them (RFC 9110 12.5.1).
	except map[string]bool
}

// maxAcceptRanges bounds the media ranges read from one Accept header.
const maxAcceptRanges = 64

// parseAccept splits an Accept header into its media ranges, most
// preferred first: by q value (RFC 9110 12.5.1), in the order given among
// equal q values (DICOMweb clients list their preference first). Ranges
// with q=0 are refused and dropped; entries that do not parse are
// skipped. A header with no readable range is */*.
func parseAccept(h string) []mediaRange {
	var out []mediaRange
	refused := false
	excepted := map[string]bool{}
	for _, part := range splitOutsideQuotes(h) {
		if len(out) >= maxAcceptRanges {
			break
		}
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
		q := 1.0
		if s, ok := params["q"]; ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || v < 0 || v > 1 {
				continue // not a weight: skip the range rather than guess
			}
			q = v
		}
		if q == 0 {
			refused = true
			if !strings.HasSuffix(t, "/*") && len(params) == 1 {
				excepted[strings.ToLower(t)] = true
			}
			continue
		}
		out = append(out, mediaRange{typ: strings.ToLower(t), params: params, q: q})
	}
	if len(out) == 0 && !refused {
		// An empty (or entirely unreadable) header accepts anything.
		out = append(out, mediaRange{typ: "*/*", params: map[string]string{}, q: 1})
	}
	for i := range out {
		if strings.HasSuffix(out[i].typ, "/*") {
			out[i].except = excepted
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].q > out[j].q })
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
	case m.except[t]:
		return false
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

// negotiate lists the acceptable representations, most preferred
// first: single is the single-part media type of the resource
// (application/dicom or application/octet-stream), storedTS the stored
// transfer syntax. Callers take the first they can produce (pick); an
// empty list means nothing is acceptable (406).
func negotiate(accept string, single string, storedTS string) []choice {
	var out []choice
	for _, m := range parseAccept(accept) {
		if c, ok := m.choice(single, storedTS); ok {
			out = append(out, c)
		}
	}
	return out
}

// pick returns the first of cs that produce accepts.
func pick(cs []choice, produce func(choice) bool) (choice, bool) {
	for _, c := range cs {
		if produce(c) {
			return c, true
		}
	}
	return choice{}, false
}

// choice reads one media range as a representation of the resource.
func (m mediaRange) choice(single, storedTS string) (choice, bool) {
	ts := shortTS(m.params["transfer-syntax"])
	if ts == "" {
		ts = shortTS(m.params["ts"])
	}
	compressed := func(t string) bool {
		return single == "application/octet-stream" && (strings.HasPrefix(t, "image/") || strings.HasPrefix(t, "video/"))
	}
	switch {
	case m.typ == "multipart/related":
		t := strings.ToLower(m.params["type"])
		if t == "" {
			t = single
		}
		if t != single && !compressed(t) {
			return choice{}, false
		}
		if t != single {
			if frameMediaType(storedTS) != t {
				return choice{}, false // a compressed type the frames are not stored in
			}
			if ts == "" {
				ts = storedTS
			}
		}
		return choice{multipart: true, ts: ts, stored: ts == "*"}, true
	case m.matches(single):
		return choice{ts: ts, stored: ts == "*"}, true
	case compressed(m.typ):
		if frameMediaType(storedTS) != m.typ {
			return choice{}, false
		}
		if ts == "" {
			ts = storedTS
		}
		return choice{ts: ts, stored: ts == "*"}, true
	}
	return choice{}, false
}
