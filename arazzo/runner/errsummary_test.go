package runner

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestErrorSummary(t *testing.T) {
	long := strings.Repeat("x", 500)
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    any
		secrets []string
		want    string
	}{
		{"aws header and body", 403, http.Header{"X-Amzn-Errortype": {"InvalidSignatureException:http://internal.amazon.com/x"}},
			map[string]any{"__type": "InvalidSignatureException", "message": "The signature does not match.\nCanonical request:\nPOST /"},
			nil, "InvalidSignatureException: The signature does not match."},
		{"aws json namespace", 400, http.Header{}, map[string]any{"__type": "com.amazonaws#ValidationException", "Message": "bad"},
			nil, "ValidationException: bad"},
		{"problem json", 404, http.Header{}, map[string]any{"type": "about:blank", "title": "Not Found", "detail": "no pet 7"},
			nil, "Not Found: no pet 7"},
		{"nested error", 401, http.Header{}, map[string]any{"error": map[string]any{"code": "Unauthorized", "message": "token expired"}},
			nil, "Unauthorized: token expired"},
		{"oauth", 400, http.Header{}, map[string]any{"error": "invalid_grant", "error_description": "code used"},
			nil, "invalid_grant: code used"},
		{"text", 500, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "\n  boom\x07 here\nmore", nil, "boom here"},
		{"html is not shown", 502, http.Header{"Content-Type": {"text/html"}}, "<html>bad gateway</html>", nil, ""},
		{"success is not an error", 200, http.Header{}, map[string]any{"message": "ok"}, nil, ""},
		{"echoed secret", 401, http.Header{}, map[string]any{"message": "token s3cr3t-token is not valid"},
			[]string{"s3cr3t-token"}, "token REDACTED is not valid"},
		{"truncated", 400, http.Header{}, map[string]any{"message": long}, nil, strings.Repeat("x", maxSummaryRunes) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := &exchange{status: tt.status, respHeader: tt.header, respBody: tt.body, secrets: tt.secrets}
			if got := errorSummary(ex); got != tt.want {
				t.Errorf("errorSummary = %q, want %q", got, tt.want)
			}
		})
	}
	if got := errorSummary(nil); got != "" {
		t.Errorf("errorSummary(nil) = %q", got)
	}
}

func TestCredentialValues(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1/x?api_key=qkey-123&page=2")
	req := &http.Request{URL: u, Header: http.Header{"Accept": {"application/json"}, "Cookie": {"a=keep-me"}}}
	before := req.Header.Clone()
	req.Header.Set("Authorization", "Basic dXNlcjpwYXNzd29yZDE=") // user:password1
	req.Header.Set("X-Api-Key", "hkey-456")
	req.Header.Set("Cookie", "a=keep-me; sid=cookie-789")
	got := credentialValues(req, before, []string{"api_key"})
	for _, want := range []string{"Basic dXNlcjpwYXNzd29yZDE=", "dXNlcjpwYXNzd29yZDE=", "password1", "hkey-456", "cookie-789", "qkey-123"} {
		if !slices.Contains(got, want) {
			t.Errorf("credentialValues = %q, lacks %q", got, want)
		}
	}
	for _, not := range []string{"application/json", "keep-me", "2"} {
		if slices.Contains(got, not) {
			t.Errorf("credentialValues = %q, has %q which authentication did not add", got, not)
		}
	}
}
