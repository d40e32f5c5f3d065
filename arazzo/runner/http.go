package runner

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/theory/jsonpath"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-openapi/jsonpointer"
	"github.com/openhealthimaging/ohi/arazzo"
	"github.com/openhealthimaging/ohi/arazzo/expr"
)

// call builds, authenticates and sends the request of an operation step
// and reads the response. A non-nil error means no usable response.
func (w *wfRun) call(ctx context.Context, step *arazzo.Step, op *arazzo.Operation) (*exchange, error) {
	base, err := op.ServerURL()
	if err != nil {
		return nil, err
	}
	ex := &exchange{method: op.Method, reqHeader: http.Header{}, reqQuery: url.Values{}, reqPath: map[string]string{}}
	var rawQuery []string
	var cookies []string
	pathVals := map[string]string{}
	params := w.params(step)
	params = append(params, requiredDefaults(op, params)...)
	for _, p := range params {
		v, err := w.evalValue(p.Value)
		if errors.Is(err, expr.ErrUndefined) && expr.IsExpression(fmt.Sprint(p.Value)) {
			continue // an optional input that was not given
		}
		if err != nil {
			if w.r.opts.DryRun {
				w.dryNote = append(w.dryNote, fmt.Sprintf("parameter %s: %v", p.Name, err))
				continue
			}
			return nil, fmt.Errorf("parameter %s: %w", p.Name, err)
		}
		def := findParam(op, p.Name, p.In)
		switch p.In {
		case "path":
			if v == nil {
				if w.r.opts.DryRun {
					w.dryNote = append(w.dryNote, fmt.Sprintf("no value for path parameter %q", p.Name))
					continue
				}
				return nil, fmt.Errorf("parameter %s: the path parameter's value is null", p.Name)
			}
			s := serializePath(p.Name, v, def)
			pathVals[p.Name] = s
			ex.reqPath[p.Name] = expr.String(v)
		case "query":
			pairs := serializeQuery(p.Name, v, def)
			for _, kv := range pairs {
				ex.reqQuery.Add(kv[0], kv[1])
				allowReserved := def != nil && def.AllowReserved
				rawQuery = append(rawQuery, escape(kv[0], false)+"="+escape(kv[1], allowReserved))
			}
		case "querystring":
			// The whole query string (Arazzo 1.1, OpenAPI 3.2).
			qs := strings.TrimPrefix(expr.String(v), "?")
			if q, err := url.ParseQuery(qs); err == nil {
				for k, vs := range q {
					ex.reqQuery[k] = append(ex.reqQuery[k], vs...)
				}
			}
			if qs != "" {
				rawQuery = append(rawQuery, escapeQueryString(qs))
			}
		case "header":
			if headerLike(p.Name) {
				return nil, fmt.Errorf("parameter %s: header cannot be set by a workflow", p.Name)
			}
			ex.reqHeader.Set(p.Name, serializeSimple(v, def != nil && def.Explode != nil && *def.Explode))
		case "cookie":
			cookies = append(cookies, p.Name+"="+serializeSimple(v, false))
		default:
			return nil, fmt.Errorf("parameter %s: unsupported location %q", p.Name, p.In)
		}
	}
	if len(cookies) > 0 {
		ex.reqHeader.Set("Cookie", strings.Join(cookies, "; "))
	}
	// Fill the path template.
	var path strings.Builder
	var plain strings.Builder
	t := op.Path
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			path.WriteString(t)
			plain.WriteString(t)
			break
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("path template %q: unclosed '{'", op.Path)
		}
		name := t[i+1 : i+j]
		val, ok := pathVals[name]
		if !ok && w.r.opts.DryRun {
			val, ok = "{"+name+"}", true
			if note := fmt.Sprintf("no value for path parameter %q", name); !slices.Contains(w.dryNote, note) {
				w.dryNote = append(w.dryNote, note)
			}
		}
		if !ok {
			return nil, fmt.Errorf("operation %s: no value for path parameter %q", op.ID(), name)
		}
		path.WriteString(t[:i])
		path.WriteString(val)
		plain.WriteString(t[:i])
		unesc, _ := url.PathUnescape(val)
		plain.WriteString(unesc)
		t = t[i+j+1:]
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", base, err)
	}
	u.RawPath = strings.TrimRight(u.EscapedPath(), "/") + path.String()
	u.Path = strings.TrimRight(u.Path, "/") + plain.String()
	if u.RawQuery != "" {
		rawQuery = append([]string{u.RawQuery}, rawQuery...)
	}
	u.RawQuery = strings.Join(rawQuery, "&")
	u.Fragment = ""

	var body []byte
	if step.RequestBody != nil {
		ct, b, parsed, err := w.buildBody(step.RequestBody, op)
		if err != nil && w.r.opts.DryRun {
			w.dryNote = append(w.dryNote, fmt.Sprintf("request body: %v", err))
			err = nil
		}
		if err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
		body, ex.reqBody = b, parsed
		if ct != "" {
			ex.reqHeader.Set("Content-Type", ct)
		}
	}
	req, err := http.NewRequestWithContext(ctx, op.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.URL = u // keep RawPath exactly as built
	if body == nil {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	for k, vs := range ex.reqHeader {
		req.Header[k] = vs
	}
	ex.url = u.String()
	before := req.Header.Clone()
	redact, err := w.r.opts.Auth.Authenticate(ctx, req, body, op)
	if err != nil && w.r.opts.DryRun {
		w.dryNote = append(w.dryNote, fmt.Sprintf("authentication: %v", err))
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("authentication: %w", err)
	}
	ex.secrets = credentialValues(req, before, redact)
	declared, declaredQuery := declaredCredentials(req, op)
	ex.secrets = append(ex.secrets, declared...)
	redact = append(redact, declaredQuery...)
	if w.r.opts.DryRun {
		w.plan(step, req, body, redact, ex.secrets)
		return ex, nil
	}
	start := time.Now()
	resp, err := w.r.opts.Client.Do(req)
	if err != nil {
		w.r.opts.Logger.Debug("http", "method", op.Method, "url", redactURL(u, redact), "err", err)
		return nil, fmt.Errorf("%s %s: %w", op.Method, redactURL(u, redact), scrub(err, u, redact))
	}
	defer resp.Body.Close()
	ex.status = resp.StatusCode
	ex.respHeader = resp.Header
	raw, err := readBody(resp, w.r.opts.MaxResponseBytes)
	w.r.opts.Logger.Debug("http", "method", op.Method, "url", redactURL(u, redact), "status", resp.StatusCode,
		"bytes", len(raw), "ms", time.Since(start).Milliseconds())
	if err != nil {
		return ex, fmt.Errorf("reading response: %w", err)
	}
	ex.respBody = parseBody(resp.Header.Get("Content-Type"), raw)
	return ex, nil
}

// scrub removes the URL (which may carry an API key) from a transport error.
func scrub(err error, u *url.URL, redact []string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func redactURL(u *url.URL, names []string) string {
	if len(names) == 0 || u.RawQuery == "" {
		return u.String()
	}
	c := *u
	q := c.Query()
	for _, n := range names {
		if q.Has(n) {
			q.Set(n, "REDACTED")
		}
	}
	c.RawQuery = q.Encode()
	return c.String()
}

// findParam finds the OpenAPI parameter definition (operation level first,
// then path level).
func findParam(op *arazzo.Operation, name, in string) *openapi3.Parameter {
	for _, ps := range []openapi3.Parameters{op.Op.Parameters, op.PathItem.Parameters} {
		for _, pr := range ps {
			if pr != nil && pr.Value != nil && pr.Value.In == in && (pr.Value.Name == name || in == "header" && strings.EqualFold(pr.Value.Name, name)) {
				return pr.Value
			}
		}
	}
	return nil
}

// escape percent-encodes everything but RFC 3986 unreserved characters
// (and reserved ones when allowReserved).
func escape(s string, allowReserved bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 ||
			allowReserved && strings.IndexByte(":/?#[]@!$&'()*+,;=", c) >= 0 && c != '&' && c != '#' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// serializeSimple renders a value in OpenAPI "simple" style (unescaped).
func serializeSimple(v any, explode bool) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = expr.String(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		var parts []string
		for _, k := range sortedKeys(x) {
			if explode {
				parts = append(parts, k+"="+expr.String(x[k]))
			} else {
				parts = append(parts, k, expr.String(x[k]))
			}
		}
		return strings.Join(parts, ",")
	}
	return expr.String(v)
}

// serializePath renders a path parameter (styles simple, label, matrix)
// percent-encoded.
func serializePath(name string, v any, def *openapi3.Parameter) string {
	style, explode := "simple", false
	if def != nil {
		if def.Style != "" {
			style = def.Style
		}
		if def.Explode != nil {
			explode = *def.Explode
		}
	}
	enc := func(s string) string { return escape(s, false) }
	items := func(sep string) string {
		switch x := v.(type) {
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = enc(expr.String(e))
			}
			return strings.Join(parts, sep)
		case map[string]any:
			var parts []string
			for _, k := range sortedKeys(x) {
				if explode {
					parts = append(parts, enc(k)+"="+enc(expr.String(x[k])))
				} else {
					parts = append(parts, enc(k)+","+enc(expr.String(x[k])))
				}
			}
			return strings.Join(parts, sep)
		}
		return enc(expr.String(v))
	}
	switch style {
	case "label":
		if explode {
			return "." + items(".")
		}
		return "." + items(",")
	case "matrix":
		if _, isArr := v.([]any); isArr && explode {
			var parts []string
			for _, e := range v.([]any) {
				parts = append(parts, ";"+enc(name)+"="+enc(expr.String(e)))
			}
			return strings.Join(parts, "")
		}
		if _, isObj := v.(map[string]any); isObj && explode {
			return ";" + items(";")
		}
		return ";" + enc(name) + "=" + items(",")
	}
	return items(",")
}

// serializeQuery renders a query parameter (styles form, spaceDelimited,
// pipeDelimited, deepObject) as unescaped name/value pairs.
func serializeQuery(name string, v any, def *openapi3.Parameter) [][2]string {
	style, explode := "form", true
	if def != nil {
		if def.Style != "" {
			style = def.Style
		}
		if def.Explode != nil {
			explode = *def.Explode
		} else if style != "form" {
			explode = false
		}
	}
	switch x := v.(type) {
	case []any:
		if explode && style == "form" {
			out := make([][2]string, len(x))
			for i, e := range x {
				out[i] = [2]string{name, expr.String(e)}
			}
			return out
		}
		sep := ","
		switch style {
		case "spaceDelimited":
			sep = " "
		case "pipeDelimited":
			sep = "|"
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = expr.String(e)
		}
		return [][2]string{{name, strings.Join(parts, sep)}}
	case map[string]any:
		var out [][2]string
		switch {
		case style == "deepObject":
			for _, k := range sortedKeys(x) {
				out = append(out, [2]string{name + "[" + k + "]", expr.String(x[k])})
			}
		case explode:
			for _, k := range sortedKeys(x) {
				out = append(out, [2]string{k, expr.String(x[k])})
			}
		default:
			return [][2]string{{name, serializeSimple(x, false)}}
		}
		return out
	}
	return [][2]string{{name, expr.String(v)}}
}

// buildBody evaluates the payload, applies replacements and serializes it
// for the content type. It returns the content type, the bytes and the
// value $request.body refers to.
func (w *wfRun) buildBody(rb *arazzo.RequestBody, op *arazzo.Operation) (string, []byte, any, error) {
	ct := rb.ContentType
	if ct == "" && op.Op.RequestBody != nil && op.Op.RequestBody.Value != nil {
		content := op.Op.RequestBody.Value.Content
		if _, ok := content["application/json"]; ok {
			ct = "application/json"
		} else {
			keys := make([]string, 0, len(content))
			for k := range content {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if len(keys) > 0 {
				ct = keys[0]
			}
		}
	}
	if ct == "" {
		// No request body content: a Content-Type header parameter with
		// one allowed value (as in descriptions of form posts) says it.
		if d := findParam(op, "Content-Type", "header"); d != nil && d.Schema != nil && d.Schema.Value != nil {
			if s := d.Schema.Value; len(s.Enum) == 1 {
				ct, _ = s.Enum[0].(string)
			} else if def, ok := s.Default.(string); ok {
				ct = def
			}
		}
	}
	payload, err := w.evalValue(rb.Payload)
	if err != nil {
		return "", nil, nil, err
	}
	mt, _, _ := mime.ParseMediaType(ct)
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	if len(rb.Replacements) > 0 {
		if s, ok := payload.(string); ok && isJSON {
			if j, err := expr.DecodeJSON([]byte(s)); err == nil {
				payload = j
			}
		}
		if s, ok := payload.(string); ok && mt == "application/x-www-form-urlencoded" {
			// A form written as text: replace its fields by name
			// (target /field), as other runners do.
			if q, err := url.ParseQuery(s); err == nil {
				m := make(map[string]any, len(q))
				for k, vs := range q {
					if len(vs) == 1 {
						m[k] = vs[0]
					} else {
						arr := make([]any, len(vs))
						for i, v := range vs {
							arr[i] = v
						}
						m[k] = arr
					}
				}
				payload = m
			}
		}
		for _, r := range rb.Replacements {
			val, err := w.evalValue(r.Value)
			if err != nil {
				return "", nil, nil, fmt.Errorf("replacement %s: %w", r.Target, err)
			}
			targets := []string{r.Target}
			sel := r.TargetSelectorType.Type
			if sel == "" && (strings.HasSuffix(mt, "/xml") || strings.HasSuffix(mt, "+xml")) {
				sel = "xpath" // the default for XML payloads
			}
			switch sel {
			case "xpath":
				doc, ok := payload.(string)
				if !ok {
					return "", nil, nil, fmt.Errorf("replacement %s: an XPath target needs an XML payload written as text", r.Target)
				}
				if payload, err = expr.ReplaceXPath(doc, r.Target, val); err != nil {
					return "", nil, nil, fmt.Errorf("replacement %s: %w", r.Target, err)
				}
				continue
			case "", "jsonpointer":
				if !strings.HasPrefix(r.Target, "/") && r.Target != "" {
					return "", nil, nil, fmt.Errorf("replacement target %q: a JSON pointer must start with '/' (or set targetSelectorType: jsonpath)", r.Target)
				}
			case "jsonpath":
				targets, err = jsonPathTargets(payload, r.Target)
				if err != nil {
					return "", nil, nil, fmt.Errorf("replacement %s: %w", r.Target, err)
				}
			default:
				return "", nil, nil, fmt.Errorf("replacement %s: %s targets are not supported", r.Target, r.TargetSelectorType.Type)
			}
			for _, t := range targets {
				payload, err = setPointer(payload, t, val)
				if err != nil {
					return "", nil, nil, fmt.Errorf("replacement %s: %w", r.Target, err)
				}
			}
		}
	}
	switch x := payload.(type) {
	case nil:
		return ct, nil, nil, nil
	case string:
		if isJSON {
			if j, err := expr.DecodeJSON([]byte(x)); err == nil {
				return ct, []byte(x), j, nil
			}
		}
		return ct, []byte(x), x, nil
	}
	if mt == "application/x-www-form-urlencoded" {
		m, ok := payload.(map[string]any)
		if !ok {
			return "", nil, nil, errors.New("a form-urlencoded payload must be an object or a string")
		}
		var parts []string
		for _, k := range sortedKeys(m) {
			for _, kv := range serializeQuery(k, m[k], nil) {
				parts = append(parts, escape(kv[0], false)+"="+escape(kv[1], false))
			}
		}
		return ct, []byte(strings.Join(parts, "&")), payload, nil
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return "", nil, nil, err
	}
	if ct == "" {
		ct = "application/json"
	}
	return ct, b, payload, nil
}

// setPointer sets the value at an RFC 6901 pointer, creating missing
// object members on the way (a missing array index is an error).
func setPointer(doc any, ptr string, val any) (any, error) {
	if ptr == "" {
		return val, nil
	}
	p, err := jsonpointer.New(ptr)
	if err != nil {
		return nil, err
	}
	toks := p.DecodedTokens()
	if doc == nil {
		doc = map[string]any{}
	}
	cur := doc
	for i, t := range toks {
		last := i == len(toks)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[t] = val
				return doc, nil
			}
			next, ok := c[t]
			if !ok || next == nil {
				next = map[string]any{}
				c[t] = next
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(t)
			if t == "-" && last {
				return nil, errors.New("appending with '-' is not supported")
			}
			if err != nil || n < 0 || n >= len(c) {
				return nil, fmt.Errorf("array index %q out of range", t)
			}
			if last {
				c[n] = val
				return doc, nil
			}
			cur = c[n]
		default:
			return nil, fmt.Errorf("cannot descend into %T at %q", cur, t)
		}
	}
	return doc, nil
}

// readBody reads a response body, decoding gzip or deflate content the
// transport did not already decode, within limit bytes.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	var r io.Reader = resp.Body
	if !resp.Uncompressed {
		switch strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))) {
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				return nil, fmt.Errorf("gzip: %w", err)
			}
			defer zr.Close()
			r = zr
		case "deflate":
			zr := flate.NewReader(resp.Body)
			defer zr.Close()
			r = zr
		}
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("response body larger than %d bytes", limit)
	}
	return b, nil
}

// parseBody turns a response body into the value $response.body names:
// parsed JSON for JSON content (or content that parses as JSON), text
// otherwise.
func parseBody(ct string, b []byte) any {
	if len(b) == 0 {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(ct)
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	if isJSON || mt == "" || mt == "text/plain" {
		if v, err := expr.DecodeJSON(b); err == nil {
			return v
		}
	}
	return string(b)
}

// parseRetryAfter parses an HTTP Retry-After value (seconds or HTTP date).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > 1e6 {
			n = 1e6
		}
		return time.Duration(n * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// jsonPathTargets returns the JSON pointers of the nodes a JSONPath query
// selects in payload (a replacement target with targetSelectorType
// jsonpath).
func jsonPathTargets(payload any, query string) ([]string, error) {
	p, err := jsonpath.Parse(query)
	if err != nil {
		return nil, err
	}
	if err := expr.CheckJSONPathCost(query, payload); err != nil {
		return nil, err
	}
	var out []string
	for _, n := range p.SelectLocated(payload) {
		out = append(out, n.Path.Pointer())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the JSONPath target selects nothing in the payload")
	}
	return out, nil
}

// escapeQueryString percent-encodes the bytes of a whole query string
// that may not appear in a URL's query (spaces, quotes, non-ASCII), and
// keeps the delimiters and existing escapes as written.
func escapeQueryString(s string) string {
	const keep = "-._~!$&'()*+,;=:@/?%"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// requiredDefaults returns, for each required parameter of op that the
// step does not set, a parameter with the value the OpenAPI description
// gives it (its example, its schema's default, example or single enum
// value), as other runners fill them in. Required parameters without such
// a value are left to the server to reject.
func requiredDefaults(op *arazzo.Operation, have []arazzo.Parameter) []arazzo.Parameter {
	set := map[string]bool{}
	for _, p := range have {
		set[p.In+"\x00"+strings.ToLower(p.Name)] = true
	}
	var out []arazzo.Parameter
	var defs openapi3.Parameters
	defs = append(defs, op.PathItem.Parameters...)
	defs = append(defs, op.Op.Parameters...)
	for _, ref := range defs {
		if ref == nil || ref.Value == nil || !ref.Value.Required {
			continue
		}
		d := ref.Value
		key := d.In + "\x00" + strings.ToLower(d.Name)
		if set[key] || headerLike(d.Name) {
			continue
		}
		var v any
		switch {
		case d.Example != nil:
			v = d.Example
		case d.Schema != nil && d.Schema.Value != nil && d.Schema.Value.Default != nil:
			v = d.Schema.Value.Default
		case d.Schema != nil && d.Schema.Value != nil && d.Schema.Value.Example != nil:
			v = d.Schema.Value.Example
		case d.Schema != nil && d.Schema.Value != nil && len(d.Schema.Value.Enum) == 1:
			v = d.Schema.Value.Enum[0]
		default:
			continue
		}
		set[key] = true
		out = append(out, arazzo.Parameter{Name: d.Name, In: d.In, Value: expr.Normalize(v)})
	}
	return out
}

// plan records a dry run's request with its credentials redacted.
func (w *wfRun) plan(step *arazzo.Step, req *http.Request, body []byte, redactQuery, secrets []string) {
	h := map[string][]string{}
	for k, vs := range req.Header {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = redact(v, secrets)
		}
		h[k] = out
	}
	pr := PlannedRequest{WorkflowID: w.wf.WorkflowID, StepID: step.StepID, Method: req.Method,
		URL: strings.NewReplacer("%7B", "{", "%7D", "}").Replace(redactURL(req.URL, redactQuery)), Header: h, Body: redact(string(body), secrets),
		Note: strings.Join(w.dryNote, "; ")}
	w.dryNote = nil
	w.r.planned = append(w.r.planned, pr)
}
