package sigv4

import (
	"strings"
)

// authorization holds the parts of an "AWS4-HMAC-SHA256 Credential=…,
// SignedHeaders=…, Signature=…" Authorization header (or their presigned
// query-string equivalents).
type authorization struct {
	Credential    credential
	SignedHeaders []string // lower-case header names, in the order given
	Signature     string   // 64 lower-case hex digits
}

// credential is the parsed Credential value: AKID/yyyymmdd/region/service/aws4_request.
type credential struct {
	AccessKeyID string
	Date        string
	Region      string
	Service     string
	Terminator  string
}

func (c credential) scope() string {
	return c.Date + "/" + c.Region + "/" + c.Service + "/" + c.Terminator
}

// maxEchoLen bounds how much of a malformed header is echoed back in an
// error message.
const maxEchoLen = 512

func echo(s string) string {
	if len(s) > maxEchoLen {
		return s[:maxEchoLen] + "…"
	}
	return s
}

// parseAuthorization parses an Authorization header value. Whitespace around
// the comma-separated parameters is optional, as in the AWS SDKs' output
// ("…, SignedHeaders=…") and in hand-written headers ("…,SignedHeaders=…").
func parseAuthorization(h string) (authorization, *Error) {
	var a authorization
	alg, params, _ := strings.Cut(h, " ")
	if alg != algorithm {
		return a, errIncomplete("Unsupported signature algorithm '%s': only %s is supported. Authorization=%s", echo(alg), algorithm, echo(h))
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for part := range strings.SplitSeq(params, ",") {
		part = strings.Trim(part, " \t")
		if part == "" {
			return a, errIncomplete("Authorization header has an empty parameter. Authorization=%s", echo(h))
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return a, errIncomplete("Authorization header parameter '%s' has no '='. Authorization=%s", echo(part), echo(h))
		}
		var seen *bool
		switch k {
		case "Credential":
			cred, seen = val, &haveCred
		case "SignedHeaders":
			signed, seen = val, &haveSigned
		case "Signature":
			sig, seen = val, &haveSig
		default:
			return a, errIncomplete("Authorization header has an unknown parameter '%s'. Authorization=%s", echo(k), echo(h))
		}
		if *seen {
			return a, errIncomplete("Authorization header has the '%s' parameter more than once. Authorization=%s", k, echo(h))
		}
		*seen = true
	}
	var missing strings.Builder
	for _, m := range []struct {
		name string
		ok   bool
	}{{"Credential", haveCred}, {"Signature", haveSig}, {"SignedHeaders", haveSigned}} {
		if !m.ok {
			missing.WriteString("Authorization header requires '" + m.name + "' parameter. ")
		}
	}
	if missing.Len() > 0 {
		return a, errIncomplete("%sAuthorization=%s", missing.String(), echo(h))
	}
	return parseParts(cred, signed, sig)
}

// parseParts validates the three signature parameters common to the header
// and the presigned query form.
func parseParts(cred, signed, sig string) (authorization, *Error) {
	var a authorization
	var err *Error
	if a.Credential, err = parseCredential(cred); err != nil {
		return a, err
	}
	if a.SignedHeaders, err = parseSignedHeaders(signed); err != nil {
		return a, err
	}
	if !isLowerHex(sig, 64) {
		return a, errIncomplete("Signature must be 64 lower-case hexadecimal digits, got '%s'.", echo(sig))
	}
	a.Signature = sig
	return a, nil
}

func parseCredential(s string) (credential, *Error) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 || strings.Contains(s, "//") || parts[0] == "" || parts[4] == "" {
		return credential{}, errIncomplete("Credential must have the form <access key id>/<yyyymmdd>/<region>/<service>/aws4_request, got '%s'.", echo(s))
	}
	return credential{
		AccessKeyID: parts[0],
		Date:        parts[1],
		Region:      parts[2],
		Service:     parts[3],
		Terminator:  parts[4],
	}, nil
}

// maxSignedHeaders bounds the SignedHeaders list; real clients sign fewer
// than ten headers.
const maxSignedHeaders = 64

func parseSignedHeaders(s string) ([]string, *Error) {
	if s == "" {
		return nil, errIncomplete("SignedHeaders must not be empty.")
	}
	if strings.Count(s, ";") >= maxSignedHeaders {
		return nil, errIncomplete("SignedHeaders lists more than %d headers.", maxSignedHeaders)
	}
	names := strings.Split(s, ";")
	for _, n := range names {
		if !isHeaderName(n) {
			return nil, errIncomplete("SignedHeaders must be a ';'-separated list of lower-case header names, got '%s'.", echo(s))
		}
	}
	return names, nil
}

// isHeaderName reports whether s is a non-empty lower-case RFC 9110 token.
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
