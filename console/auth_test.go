package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/openhealthimaging/ohi/api"
	"github.com/openhealthimaging/ohi/console"
	"github.com/openhealthimaging/ohi/internal/app"
	"github.com/openhealthimaging/ohi/server"
	"github.com/openhealthimaging/ohi/sigv4"
)

// sign signs req with SigV4 the way the AWS SDKs do.
func sign(t *testing.T, req *http.Request, body string) {
	t.Helper()
	sum := sha256.Sum256([]byte(body))
	h := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", h)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret}, req, h, api.SigningName, "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
}

type route struct{ method, path string }

// TestAuthRoutes checks that with signature verification on, nothing but
// the login page, its assets and /healthz is reachable without a session
// or a signature; that the console, the viewer and the DICOMweb routes
// accept a session and a signature; that the HealthImaging API accepts
// only a signature; that sessions expire and end at logout; that a wrong
// key pair gets no session; and that every form needs its CSRF token.
func TestAuthRoutes(t *testing.T) {
	var skew atomic.Int64 // added to the sessions' clock
	_, a, srv := startApp(t, map[string]string{testAK: testSecret}, time.Hour, func(a *app.App) {
		a.Sessions.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	// The same server with stand-ins for the viewer and the DICOMweb
	// routes, which other packages serve, behind the same middleware.
	reached := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached "+name) })
	}
	full := httptest.NewServer(server.New(server.Config{Service: a.Service, Sessions: a.Sessions, Console: a.Console,
		Viewer: reached("viewer"), DICOMweb: reached("dicomweb"), Logger: testLogger(),
		Verifier: &sigv4.Verifier{Service: api.SigningName, Region: "us-east-1", Credentials: sigv4.StaticCredentials(map[string]string{testAK: testSecret})}}))
	t.Cleanup(full.Close)
	_ = srv

	ds := strings.Repeat("a", 32)
	browserRoutes := []route{
		{"GET", "/console/"}, {"GET", "/console"}, {"GET", "/console/datastores/" + ds}, {"GET", "/console/datastores/" + ds + "/jobs/" + ds},
		{"GET", "/console/datastores/" + ds + "/jobs/" + ds + "/progress"}, {"GET", "/console/datastores/" + ds + "/imagesets"},
		{"GET", "/console/datastores/" + ds + "/imagesets/" + ds}, {"GET", "/console/datastores/" + ds + "/imagesets/" + ds + "/thumbnail.png"},
		{"GET", "/console/datastores/" + ds + "/imagesets/" + ds + "/frames/" + ds + "/image.png"},
		{"GET", "/console/nothing-here"},
		{"POST", "/console/datastores"}, {"POST", "/console/datastores/" + ds + "/delete"}, {"POST", "/console/datastores/" + ds + "/imports"},
		{"GET", "/viewer"}, {"GET", "/viewer/"}, {"GET", "/viewer/app-config.js"}, {"GET", "/viewer/assets/x.js"},
		{"GET", "/datastore/" + ds + "/studies"}, {"GET", "/datastore/" + ds + "/studies/1.2.3"}, {"GET", "/datastore/" + ds + "/studies/1.2.3/series/4.5/metadata"},
		{"GET", "/datastore/" + ds + "/studies/1.2.3/series/4.5/instances/6.7/frames/1"},
		{"GET", "/datastore/" + ds + "/series"}, {"GET", "/datastore/" + ds + "/instances"}, {"GET", "/datastore/" + ds + "/series/1.2"},
	}
	apiRoutes := []route{
		{"GET", "/datastore"}, {"POST", "/datastore"}, {"GET", "/datastore/" + ds}, {"DELETE", "/datastore/" + ds},
		{"POST", "/startdicomimportjob/datastore/" + ds}, {"GET", "/listDICOMImportJobs/datastore/" + ds},
		{"POST", "/datastore/" + ds + "/searchImageSets"}, {"POST", "/datastore/" + ds + "/imageSet/" + ds + "/getImageSet"},
		{"POST", "/datastore/" + ds + "/imageSet/" + ds + "/getImageFrame"}, {"GET", "/tags/arn"}, {"GET", "/nothing-here"},
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(base string, r route, cookie string, accept string, signed bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(r.method, base+r.path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		if signed {
			sign(t, req, "")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	refused := func(code int, body string) bool {
		return (code == http.StatusForbidden || code == http.StatusSeeOther) && !strings.Contains(body, "reached") && !strings.Contains(body, "<table")
	}

	// Without a session or a signature: nothing.
	for _, r := range append(browserRoutes, apiRoutes...) {
		for _, accept := range []string{"", "text/html", "application/dicom+json"} {
			if code, body := send(full.URL, r, "", accept, false); !refused(code, body) {
				t.Errorf("%s %s (Accept %q) without a session or a signature: %d %.200s", r.method, r.path, accept, code, body)
			}
		}
	}
	// A browser asking for a page is sent to the login page, back to it after.
	req, _ := http.NewRequest("GET", full.URL+"/console/datastores/"+ds, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/console/login?next=%2Fconsole%2Fdatastores%2F"+ds {
		t.Errorf("page without a session: %d to %q", resp.StatusCode, loc)
	}
	// Public: the login page and its assets, /healthz.
	for _, p := range []string{"/console/login", "/console/static/console.css", "/console/static/console.js", "/healthz"} {
		if code, _ := send(full.URL, route{"GET", p}, "", "", false); code != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", p, code)
		}
	}
	if code, _ := send(full.URL, route{"GET", "/console/static/../datastores"}, "", "", false); code == http.StatusOK {
		t.Error("a dot-dot path under static/ is served")
	}

	// A wrong key pair gets no session.
	b := newBrowser(t, full.URL)
	for _, pair := range [][2]string{{testAK, "wrong"}, {"AKIDOTHER", testSecret}, {testAK, ""}, {testAK, testSecret + "x"}} {
		tok := csrfRE.FindStringSubmatch(b.get("/console/login"))[1]
		code, h, body := b.do("POST", "/console/login", url.Values{"csrf": {tok}, "accessKeyId": {pair[0]}, "secretAccessKey": {pair[1]}})
		if code != http.StatusUnauthorized || h.Get("Set-Cookie") != "" && strings.Contains(h.Get("Set-Cookie"), console.SessionCookie) || !strings.Contains(body, "wrong") {
			t.Errorf("login with %q/%q: %d %v", pair[0], pair[1], code, h["Set-Cookie"])
		}
	}
	// Guessing is slowed down: after ten failures a minute, even the right
	// key pair is refused from that address until the minute is over.
	for i := 0; i < 10; i++ {
		tok := csrfRE.FindStringSubmatch(b.get("/console/login"))[1]
		b.do("POST", "/console/login", url.Values{"csrf": {tok}, "accessKeyId": {testAK}, "secretAccessKey": {"guess"}})
	}
	tok := csrfRE.FindStringSubmatch(b.get("/console/login"))[1]
	if code, _, _ := b.do("POST", "/console/login", url.Values{"csrf": {tok}, "accessKeyId": {testAK}, "secretAccessKey": {testSecret}}); code != http.StatusTooManyRequests {
		t.Errorf("login after ten failures: %d, want 429", code)
	}
	skew.Store(int64(time.Minute))
	// The login form needs its CSRF token too.
	if code, _, _ := b.do("POST", "/console/login", url.Values{"accessKeyId": {testAK}, "secretAccessKey": {testSecret}}); code != http.StatusForbidden {
		t.Errorf("login without a CSRF token: %d", code)
	}
	// The right key pair: an HttpOnly, SameSite=Strict session cookie.
	tok = csrfRE.FindStringSubmatch(b.get("/console/login"))[1]
	code, h, _ := b.do("POST", "/console/login", url.Values{"csrf": {tok}, "accessKeyId": {testAK}, "secretAccessKey": {testSecret}, "next": {"/console/datastores/" + ds}})
	if code != http.StatusSeeOther || h.Get("Location") != "/console/datastores/"+ds {
		t.Fatalf("login: %d to %q", code, h.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == console.SessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" || session.MaxAge <= 0 {
		t.Fatalf("session cookie %+v", session)
	}
	if session.Secure {
		t.Error("session cookie over plain HTTP is marked Secure")
	}
	cookie := session.Name + "=" + session.Value
	// Behind a TLS proxy the cookie is Secure (another browser, so that
	// this one keeps its session).
	tls := newBrowser(t, full.URL)
	tok = csrfRE.FindStringSubmatch(tls.get("/console/login"))[1]
	req, _ = http.NewRequest("POST", full.URL+"/console/login", strings.NewReader(url.Values{"csrf": {tok}, "accessKeyId": {testAK}, "secretAccessKey": {testSecret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err = tls.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == console.SessionCookie && !c.Secure {
			t.Error("session cookie behind a TLS proxy is not Secure")
		}
	}

	// With the session: the console, the viewer and DICOMweb; not the API.
	for _, r := range browserRoutes {
		if r.method != "GET" || r.path == "/console/nothing-here" {
			continue
		}
		code, body := send(full.URL, r, cookie, "", false)
		if code == http.StatusForbidden || code == http.StatusSeeOther || code == http.StatusUnauthorized {
			t.Errorf("%s %s with a session: %d %.200s", r.method, r.path, code, body)
		}
	}
	if code, body := send(full.URL, route{"GET", "/console/"}, cookie, "", false); code != http.StatusOK || !strings.Contains(body, "Log out") {
		t.Errorf("console with a session: %d", code)
	}
	for _, r := range apiRoutes {
		if code, body := send(full.URL, r, cookie, "", false); code != http.StatusForbidden || !strings.Contains(body, "Exception") {
			t.Errorf("API %s %s with only a session: %d %.200s", r.method, r.path, code, body)
		}
	}
	// A session-authenticated request that changes something (a STOW-RS)
	// from another origin is refused; from the same origin it is served.
	for site, want := range map[string]int{"cross-site": http.StatusForbidden, "same-origin": http.StatusOK} {
		req, _ := http.NewRequest("POST", full.URL+"/datastore/"+ds+"/studies", strings.NewReader("x"))
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Sec-Fetch-Site", site)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == http.StatusForbidden) == strings.Contains(string(b), "reached") {
			t.Errorf("%s STOW-RS with a session: %d %q, want %d", site, resp.StatusCode, b, want)
		}
	}
	// With a signature: the console, the viewer, DICOMweb and the API.
	for _, r := range []route{{"GET", "/console/"}, {"GET", "/viewer"}, {"GET", "/datastore/" + ds + "/studies"}, {"GET", "/datastore"}} {
		if code, body := send(full.URL, r, "", "", true); code != http.StatusOK {
			t.Errorf("%s %s signed: %d %.200s", r.method, r.path, code, body)
		}
	}
	// A forged or altered session is refused.
	for _, c := range []string{session.Name + "=" + session.Value + "x", session.Name + "=" + strings.Replace(session.Value, ".", "A.", 1), session.Name + "=abc.def"} {
		if code, body := send(full.URL, route{"GET", "/datastore/" + ds + "/studies"}, c, "", false); !refused(code, body) {
			t.Errorf("altered session %q: %d", c, code)
		}
	}

	// CSRF: a POST without the token, with another browser's token, or
	// from another origin is refused, even with a valid session.
	page := b.get("/console/")
	mine := csrfRE.FindStringSubmatch(page)[1]
	other := newBrowser(t, full.URL)
	theirs := csrfRE.FindStringSubmatch(other.get("/console/login"))[1]
	for name, form := range map[string]url.Values{"no token": {"name": {"x"}}, "another browser's token": {"name": {"x"}, "csrf": {theirs}}, "a wrong token": {"name": {"x"}, "csrf": {strings.Repeat("0", 64)}}} {
		if code, _, body := b.do("POST", "/console/datastores", form); code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("POST with %s: %d", name, code)
		}
	}
	req, _ = http.NewRequest("POST", full.URL+"/console/datastores", strings.NewReader(url.Values{"name": {"x"}, "csrf": {mine}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", resp.StatusCode)
	}
	list, _ := a.Service.ListDatastores(context.Background(), &api.ListDatastoresRequest{})
	if len(list.DatastoreSummaries) != 0 {
		t.Fatalf("a refused POST created %d data stores", len(list.DatastoreSummaries))
	}
	// With the token the same form works.
	if loc := b.post("/console/", "/console/datastores", url.Values{"name": {"made-with-session"}}); !strings.Contains(loc, "done=created") {
		t.Errorf("create with session and token redirected to %q", loc)
	}

	// Sessions expire.
	skew.Store(int64(time.Hour + 2*time.Minute))
	if code, body := send(full.URL, route{"GET", "/datastore/" + ds + "/studies"}, cookie, "", false); !refused(code, body) {
		t.Errorf("expired session accepted: %d", code)
	}
	if code, _ := send(full.URL, route{"GET", "/console/"}, cookie, "text/html", false); code != http.StatusSeeOther {
		t.Errorf("console with an expired session: %d", code)
	}
	skew.Store(int64(time.Minute))
	if code, _ := send(full.URL, route{"GET", "/console/"}, cookie, "", false); code != http.StatusOK {
		t.Fatalf("session refused before its expiry: %d", code)
	}
	// Logout ends it.
	tok = csrfRE.FindStringSubmatch(b.get("/console/"))[1]
	if code, _, _ := b.do("POST", "/console/logout", url.Values{"csrf": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}
	if code, body := send(full.URL, route{"GET", "/viewer"}, cookie, "", false); !refused(code, body) {
		t.Errorf("session accepted after logout: %d", code)
	}
}

// TestNoAuthConsole checks that with --no-auth the console needs no login
// (and shows none) while its forms still need their CSRF tokens.
func TestNoAuthConsole(t *testing.T) {
	_, a, srv := startApp(t, nil, 0, nil)
	if a.Sessions != nil {
		t.Fatal("sessions without credentials")
	}
	b := newBrowser(t, srv.URL)
	if page := b.get("/console/"); strings.Contains(page, "Log out") {
		t.Error("--no-auth console shows a logout button")
	}
	if code, h, _ := b.do("GET", "/console/login", nil); code != http.StatusSeeOther || h.Get("Location") != "/console/" {
		t.Errorf("login page with --no-auth: %d %q", code, h.Get("Location"))
	}
	if code, _, _ := b.do("POST", "/console/datastores", url.Values{"name": {"x"}}); code != http.StatusForbidden {
		t.Errorf("POST without CSRF token under --no-auth: %d", code)
	}
	if loc := b.post("/console/", "/console/datastores", url.Values{"name": {"y"}}); !strings.Contains(loc, "done=created") {
		t.Errorf("create redirected to %q", loc)
	}
}
