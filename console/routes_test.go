package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/console"
	"github.com/openhealthimaging/ohi/dicomweb"
)

// TestEveryRouteNeedsAuth sends a request to every route the server has,
// from the HealthImaging API's OpenAPI description and DICOMweb's route
// table (not a list kept by hand), with neither a session nor a signature:
// each is refused. With a console session, every DICOMweb route gets past
// the check and every API route is still refused.
func TestEveryRouteNeedsAuth(t *testing.T) {
	_, _, srv := startApp(t, map[string]string{testAK: testSecret}, time.Hour, nil)
	id := strings.Repeat("a", 32)
	fill := regexp.MustCompile(`\{[^}]+\}`)
	path := func(p string) string {
		return fill.ReplaceAllStringFunc(p, func(v string) string {
			switch v {
			case "{frameList}":
				return "1"
			case "{StudyInstanceUID}", "{SeriesInstanceUID}", "{SOPInstanceUID}":
				return "1.2.3"
			case "{resourceArn}":
				return url.PathEscape("arn:aws:medical-imaging:us-east-1:123456789012:datastore/" + id)
			}
			return id
		})
	}
	type route struct{ method, path string }
	var apiRoutes, dwRoutes []route
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPIJSON, &doc); err != nil {
		t.Fatal(err)
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" {
				continue
			}
			apiRoutes = append(apiRoutes, route{strings.ToUpper(m), path(p)})
		}
	}
	for _, r := range dicomweb.Routes {
		dwRoutes = append(dwRoutes, route{r.Method, path("/datastore/{datastoreId}" + r.Path)})
	}
	t.Logf("%d API routes, %d DICOMweb routes", len(apiRoutes), len(dwRoutes))
	if len(apiRoutes) < 18 || len(dwRoutes) < 13 {
		t.Fatalf("%d API and %d DICOMweb routes found", len(apiRoutes), len(dwRoutes))
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(r route, cookie string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(r.method, srv.URL+r.path, strings.NewReader("{}"))
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	all := append(append([]route{}, apiRoutes...), dwRoutes...)
	all = append(all, route{"GET", "/viewer"}, route{"GET", "/viewer/app-config.js"}, route{"GET", "/console/"},
		route{"GET", "/console/datastores/" + id + "/imagesets/" + id + "/thumbnail.png"}, route{"POST", "/console/datastores"})
	for _, r := range all {
		if code, body := send(r, ""); code != http.StatusForbidden || !strings.Contains(body, "MissingAuthenticationToken") {
			t.Errorf("%s %s without credentials: %d %.120s", r.method, r.path, code, body)
		}
	}

	// Log in for a session.
	b := newBrowser(t, srv.URL)
	tok := csrfRE.FindStringSubmatch(b.get("/console/login"))[1]
	code, h, _ := b.do("POST", "/console/login", url.Values{"csrf": {tok}, "accessKeyId": {testAK}, "secretAccessKey": {testSecret}})
	var cookie string
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == console.SessionCookie {
			cookie = c.Name + "=" + c.Value
		}
	}
	if code != http.StatusSeeOther || cookie == "" {
		t.Fatalf("login: %d", code)
	}
	for _, r := range apiRoutes {
		if code, body := send(r, cookie); code != http.StatusForbidden {
			t.Errorf("API %s %s with a session: %d %.120s", r.method, r.path, code, body)
		}
	}
	for _, r := range dwRoutes {
		if code, body := send(r, cookie); code == http.StatusForbidden || code == http.StatusUnauthorized {
			t.Errorf("DICOMweb %s %s with a session: %d %.120s", r.method, r.path, code, body)
		}
	}
}
