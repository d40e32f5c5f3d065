package runner

import (
	"encoding/base64"
	"mime"
	"net/http"
	"strings"
	"unicode"

	"github.com/openhealthimaging/ohi/arazzo"
)

// maxSummaryRunes bounds the length of an error response summary.
const maxSummaryRunes = 200

// errorSummary describes an error response (status >= 400) in one short
// line for step errors: the error type (AWS X-Amzn-ErrorType header or
// "__type" member, else a JSON body's code, error or title) and its message
// (message, detail, error_description, or the first line of a text/plain
// body). Credentials sent with the request are replaced by REDACTED. It
// returns "" when the response is not an error or says nothing useful.
func errorSummary(ex *exchange) string {
	if ex == nil || ex.status < 400 {
		return ""
	}
	typ := ex.respHeader.Get("X-Amzn-ErrorType")
	var msg string
	switch b := ex.respBody.(type) {
	case map[string]any:
		if nested, ok := b["error"].(map[string]any); ok {
			typ = first(typ, str(nested, "code", "type"))
			msg = str(nested, "message")
		}
		typ = first(typ, str(b, "__type", "code", "Code", "errorCode", "error", "title"))
		msg = first(msg, str(b, "message", "Message", "detail", "error_description", "errorMessage"))
	case string:
		if mt, _, _ := mime.ParseMediaType(ex.respHeader.Get("Content-Type")); mt == "text/plain" {
			msg = b
		}
	}
	// AWS writes "Code:http://internal..." in the header and
	// "namespace#Code" in the body.
	typ, _, _ = strings.Cut(typ, ":")
	if i := strings.LastIndexByte(typ, '#'); i >= 0 {
		typ = typ[i+1:]
	}
	s := oneLine(redact(typ, ex.secrets))
	if m := oneLine(redact(msg, ex.secrets)); m != "" && m != s {
		if s != "" {
			s += ": "
		}
		s += m
	}
	if r := []rune(s); len(r) > maxSummaryRunes {
		s = string(r[:maxSummaryRunes]) + "…"
	}
	return s
}

// redact replaces secrets in (a bounded prefix of) s by REDACTED.
func redact(s string, secrets []string) string {
	const bound = 64 << 10
	if len(s) > bound {
		s = s[:bound]
	}
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, "REDACTED")
	}
	return s
}

// summarySuffix is ": <errorSummary>" or "".
func summarySuffix(ex *exchange) string {
	if s := errorSummary(ex); s != "" {
		return ": " + s
	}
	return ""
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// str returns the first of keys whose value in m is a non-empty string.
func str(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if v, ok := m[k].(string); ok && strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// oneLine returns the first non-empty line of s, trimmed, with control
// characters removed. It looks at a bounded prefix of s only.
func oneLine(s string) string {
	if len(s) > 4*maxSummaryRunes {
		s = s[:4*maxSummaryRunes]
	}
	for line := range strings.Lines(s) {
		line = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return -1
			}
			return r
		}, line)
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// credentialValues returns the credentials an Authenticator added to req:
// the values of headers it set or changed (and their token after the
// scheme, and a Basic password), of query parameters it asked to redact,
// and of cookies it added. before is the header before authentication.
func credentialValues(req *http.Request, before http.Header, redactQuery []string) []string {
	var out []string
	for k, vs := range req.Header {
		old := strings.Join(before[k], "\x00")
		if strings.Join(vs, "\x00") == old {
			continue
		}
		for _, v := range vs {
			out = headerCredentials(out, k, v, old)
		}
	}
	return queryCredentials(out, req, redactQuery)
}

// sensitiveHeaders carry credentials whoever set them (an Authenticator or
// the workflow's own parameters).
var sensitiveHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key",
	"X-Auth-Token", "X-Amz-Security-Token"}

// declaredCredentials returns the credentials a workflow put in req itself,
// as parameters: the values of sensitiveHeaders and of the headers, query
// parameters and cookies that the operation's apiKey security schemes name.
// It returns the query parameter names to redact too.
func declaredCredentials(req *http.Request, op *arazzo.Operation) (secrets, query []string) {
	headers := append([]string(nil), sensitiveHeaders...)
	var cookies []string
	if doc := op.Source.Doc; doc != nil && doc.Components != nil {
		for _, ref := range doc.Components.SecuritySchemes {
			if ref == nil || ref.Value == nil || ref.Value.Type != "apiKey" || ref.Value.Name == "" {
				continue
			}
			switch ref.Value.In {
			case "header":
				headers = append(headers, ref.Value.Name)
			case "query":
				query = append(query, ref.Value.Name)
			case "cookie":
				cookies = append(cookies, ref.Value.Name)
			}
		}
	}
	for _, h := range headers {
		for _, v := range req.Header.Values(h) {
			secrets = headerCredentials(secrets, http.CanonicalHeaderKey(h), v, "")
		}
	}
	for _, c := range cookies {
		if ck, err := req.Cookie(c); err == nil && len(ck.Value) >= 4 {
			secrets = append(secrets, ck.Value)
		}
	}
	return queryCredentials(secrets, req, query), query
}

// headerCredentials appends the credentials in header k's value v: the
// value, its token after a scheme, a Basic password; for Cookie, the values
// of the cookies not in old. Values shorter than 4 bytes are left out.
func headerCredentials(out []string, k, v, old string) []string {
	add := func(v string) {
		if len(v) >= 4 {
			out = append(out, v)
		}
	}
	if k == "Cookie" {
		for c := range strings.SplitSeq(v, ";") {
			if _, val, ok := strings.Cut(c, "="); ok && !strings.Contains(old, c) {
				add(strings.TrimSpace(val))
			}
		}
		return out
	}
	add(v)
	if scheme, tok, ok := strings.Cut(v, " "); ok {
		add(tok)
		if strings.EqualFold(scheme, "Basic") {
			if dec, err := base64.StdEncoding.DecodeString(tok); err == nil {
				if _, pw, ok := strings.Cut(string(dec), ":"); ok {
					add(pw)
				}
			}
		}
	}
	return out
}

// queryCredentials appends the values of req's query parameters names.
func queryCredentials(out []string, req *http.Request, names []string) []string {
	q := req.URL.Query()
	for _, n := range names {
		for _, v := range q[n] {
			if len(v) >= 4 {
				out = append(out, v)
			}
		}
	}
	return out
}
