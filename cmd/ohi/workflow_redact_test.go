package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const redactAPI = `openapi: 3.0.3
info: {title: creds, version: "1", x-aws-signingName: medical-imaging}
servers: [{url: http://127.0.0.1:9}]
paths:
  /sigv4: {get: {operationId: sigv4, security: [{aws: []}], responses: {"200": {description: ok}}}}
  /bearer: {get: {operationId: bearer, security: [{tok: []}], responses: {"200": {description: ok}}}}
  /basic: {get: {operationId: basic, security: [{pw: []}], responses: {"200": {description: ok}}}}
  /oauth: {get: {operationId: oauth, security: [{oauth: []}], responses: {"200": {description: ok}}}}
  /keys: {get: {operationId: keys, security: [{hkey: [], qkey: [], ckey: []}], responses: {"200": {description: ok}}}}
  /own:
    get:
      operationId: own
      parameters:
        - {name: Authorization, in: header, schema: {type: string}}
        - {name: X-Key, in: header, schema: {type: string}}
        - {name: key, in: query, schema: {type: string}}
        - {name: session, in: cookie, schema: {type: string}}
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    aws: {type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: awsSigv4}
    tok: {type: http, scheme: bearer}
    pw: {type: http, scheme: basic}
    oauth: {type: oauth2, flows: {clientCredentials: {tokenUrl: "http://127.0.0.1:9/token", scopes: {}}}}
    hkey: {type: apiKey, name: X-Key, in: header}
    qkey: {type: apiKey, name: key, in: query}
    ckey: {type: apiKey, name: session, in: cookie}
`

const redactFlow = `arazzo: 1.0.1
info: {title: creds, version: "1"}
sourceDescriptions: [{name: api, url: ./api.yaml, type: openapi}]
workflows:
- workflowId: all
  inputs: {type: object, properties: {token: {type: string}}}
  steps:
  - {stepId: sigv4, operationId: sigv4}
  - {stepId: bearer, operationId: bearer}
  - {stepId: basic, operationId: basic}
  - {stepId: oauth, operationId: oauth}
  - {stepId: keys, operationId: keys}
  - stepId: own
    operationId: own
    parameters:
    - {name: Authorization, in: header, value: "Bearer {$inputs.token}"}
    - {name: X-Key, in: header, value: $inputs.token}
    - {name: key, in: query, value: $inputs.token}
    - {name: session, in: cookie, value: $inputs.token}
`

// TestRunDryRunRedactsEveryCredential checks that --dry-run shows no
// credential of any kind: SigV4 (secret key, session token, signature),
// bearer, basic, OAuth 2 token, API keys in a header, the query and a
// cookie, and credentials the workflow puts in parameters itself.
func TestRunDryRunRedactsEveryCredential(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"api.yaml": redactAPI, "flow.yaml": redactFlow} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	secrets := map[string]string{
		"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLEKEYID",
		"AWS_SECRET_ACCESS_KEY": "sigv4-secret-access-key",
		"AWS_SESSION_TOKEN":     "sigv4-session-token",
		"OHI_AUTH_TOK":          "bearer-secret",
		"OHI_AUTH_PW":           "user:basic-password",
		"OHI_AUTH_OAUTH":        "oauth-access-token",
		"OHI_AUTH_HKEY":         "header-api-key",
		"OHI_AUTH_QKEY":         "query-api-key",
		"OHI_AUTH_CKEY":         "cookie-api-key",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, output := range []string{"text", "json"} {
		code, stdout, stderr := runCmd(t, false, "workflow", "run", filepath.Join(dir, "flow.yaml"), "--dry-run",
			"-o", output, "-v", "-i", "token=workflow-own-token")
		if code != 0 {
			t.Fatalf("-o %s: exit %d\n%s\n%s", output, code, stdout, stderr)
		}
		all := stdout + stderr
		for k, v := range secrets {
			if k == "OHI_AUTH_PW" {
				v = "basic-password"
			}
			if strings.Contains(all, v) {
				t.Errorf("-o %s: output shows %s:\n%s", output, k, all)
			}
		}
		for _, leak := range []string{"workflow-own-token", "Signature=", "dXNlcjpiYXNpYy1wYXNzd29yZA"} {
			if strings.Contains(all, leak) {
				t.Errorf("-o %s: output shows %q:\n%s", output, leak, all)
			}
		}
		if n := strings.Count(all, "REDACTED"); n < 10 {
			t.Errorf("-o %s: %d redactions, want every credential redacted:\n%s", output, n, all)
		}
	}
}
