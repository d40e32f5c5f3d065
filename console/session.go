package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cookie names.
const (
	SessionCookie = "ohi_session"
	csrfCookie    = "ohi_csrf"
	csrfField     = "csrf"
)

// DefaultSessionTTL is how long a console session lasts.
const DefaultSessionTTL = 8 * time.Hour

// Sessions issues and checks the console's login sessions. A session is a
// cookie holding the access key id, the expiry and a random id, signed with
// HMAC-SHA256 under a key derived from the server's session key and the
// access key's secret: it is valid on every replica that shares the
// database (where the session key lives), until it expires, the user logs
// out (on the replica that served the logout), or the key pair changes.
type Sessions struct {
	// Credentials maps access key ids to secrets (the server's key pairs).
	Credentials map[string]string
	// Key signs sessions and CSRF tokens (at least 32 random bytes).
	Key []byte
	// TTL is how long a session lasts (default DefaultSessionTTL).
	TTL time.Duration
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
	// Rand is the source of session ids (default crypto/rand), for tests.
	Rand io.Reader

	mu      sync.Mutex
	revoked map[string]time.Time // session id -> expiry
	// failures counts failed logins per client address in the current
	// minute (failedAt), to slow down guessing.
	failures map[string]int
	failedAt time.Time
}

// Login attempt bounds: a client address with this many failed logins in a
// minute is refused until the minute ends.
const (
	maxLoginFailures = 10
	maxTrackedAddrs  = 10000
)

// throttled reports whether addr has used up its failed logins; failed
// records one more.
func (s *Sessions) throttled(addr string, failed bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.failures == nil || now.Sub(s.failedAt) >= time.Minute || len(s.failures) > maxTrackedAddrs {
		s.failures, s.failedAt = map[string]int{}, now
	}
	if failed {
		s.failures[addr]++
	}
	return s.failures[addr] >= maxLoginFailures
}

// session is a valid session's content.
type session struct {
	AccessKeyID string
	ID          string
	Expires     time.Time
}

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sessions) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultSessionTTL
}

// Check reports whether ak and secret are one of the server's key pairs.
// It compares in constant time and looks at every key pair, so that its
// time reveals neither which part was wrong nor how much of it matched.
func (s *Sessions) Check(ak, secret string) bool {
	ok := 0
	for k, v := range s.Credentials {
		ka := subtle.ConstantTimeCompare([]byte(k), []byte(ak))
		kb := subtle.ConstantTimeCompare([]byte(v), []byte(secret))
		ok |= ka & kb
	}
	return ok == 1
}

// macKey is the signing key of ak's sessions: it changes with the secret.
func (s *Sessions) macKey(ak string) ([]byte, bool) {
	secret, ok := s.Credentials[ak]
	if !ok {
		return nil, false
	}
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte("ohi-console-session\x00" + ak + "\x00" + secret))
	return m.Sum(nil), true
}

// issue returns a new session cookie value for ak.
func (s *Sessions) issue(ak string) (string, time.Time, error) {
	key, ok := s.macKey(ak)
	if !ok {
		return "", time.Time{}, errors.New("unknown access key")
	}
	var id [16]byte
	if s.Rand != nil {
		if _, err := io.ReadFull(s.Rand, id[:]); err != nil {
			return "", time.Time{}, err
		}
	} else {
		_, _ = rand.Read(id[:])
	}
	exp := s.now().Add(s.ttl()).Truncate(time.Second)
	payload := ak + "|" + strconv.FormatInt(exp.Unix(), 10) + "|" + hex.EncodeToString(id[:])
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), exp, nil
}

// parse returns the session a cookie value holds, if it is valid now.
func (s *Sessions) parse(v string) (*session, bool) {
	if len(v) > 512 {
		return nil, false
	}
	p64, mac64, ok := strings.Cut(v, ".")
	if !ok {
		return nil, false
	}
	payload, err1 := base64.RawURLEncoding.Strict().DecodeString(p64)
	mac, err2 := base64.RawURLEncoding.Strict().DecodeString(mac64)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	parts := strings.Split(string(payload), "|")
	if len(parts) != 3 {
		return nil, false
	}
	key, ok := s.macKey(parts[0])
	if !ok {
		return nil, false
	}
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	if !hmac.Equal(mac, m.Sum(nil)) {
		return nil, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return nil, false
	}
	s.mu.Lock()
	_, gone := s.revoked[parts[2]]
	s.mu.Unlock()
	if gone {
		return nil, false
	}
	return &session{AccessKeyID: parts[0], ID: parts[2], Expires: time.Unix(exp, 0)}, true
}

// revoke forgets a session on this process.
func (s *Sessions) revoke(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked == nil {
		s.revoked = map[string]time.Time{}
	}
	now := s.now()
	for id, exp := range s.revoked {
		if !now.Before(exp) {
			delete(s.revoked, id)
		}
	}
	s.revoked[ss.ID] = ss.Expires
}

// session returns the request's valid session.
func (s *Sessions) session(r *http.Request) (*session, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, false
	}
	return s.parse(c.Value)
}

// Authenticated reports whether r carries a valid session cookie. The
// server accepts such requests on the console, the viewer and the DICOMweb
// routes, instead of a SigV4 signature.
func (s *Sessions) Authenticated(r *http.Request) bool {
	_, ok := s.session(r)
	return ok
}

// Public reports whether r may be served without a session or a
// signature: the login page, the form it posts, and the console's style
// sheet and script.
func (s *Sessions) Public(r *http.Request) bool {
	p := r.URL.Path
	return p == Prefix+"login" || strings.HasPrefix(p, Prefix+"static/") && !strings.Contains(p, "..")
}

// LoginURL returns the login page that leads back to r's page.
func LoginURL(r *http.Request) string {
	return Prefix + "login?" + url.Values{"next": {r.URL.RequestURI()}}.Encode()
}

// csrfToken returns the CSRF token of the request's browser, setting the
// cookie it derives from on first use. The token is an HMAC of that
// cookie and of the session id, so a token is only good with the cookie
// and session it was made for.
func (c *Console) csrfToken(w http.ResponseWriter, r *http.Request) string {
	nonce := ""
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) == 32 {
		nonce = ck.Value
	} else {
		var b [16]byte
		_, _ = rand.Read(b[:])
		nonce = hex.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: nonce, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)})
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: nonce})
	}
	return c.csrfFor(r, nonce)
}

func (c *Console) csrfFor(r *http.Request, nonce string) string {
	sid := ""
	var key []byte
	if c.cfg.Sessions != nil {
		key = c.cfg.Sessions.Key
		if ss, ok := c.cfg.Sessions.session(r); ok {
			sid = ss.ID
		}
	} else {
		key = c.anonKey
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("ohi-console-csrf\x00" + nonce + "\x00" + sid))
	return hex.EncodeToString(m.Sum(nil))
}

// csrfValid checks the CSRF token of a POST. Requests that carry an
// Authorization header passed the server's signature check (or the server
// verifies none); browsers cannot send one cross-site without CORS, which
// ohi does not grant.
func (c *Console) csrfValid(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	ck, err := r.Cookie(csrfCookie)
	if err != nil || len(ck.Value) != 32 {
		return false
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	got := r.PostFormValue(csrfField)
	want := c.csrfFor(r, ck.Value)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// safeNext returns next if it is a path on this server, else the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return Prefix
	}
	return next
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Sessions == nil {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "login", "Log in", loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

type loginData struct {
	Next, Error, AccessKeyID string
}

// login checks the key pair and issues the session cookie.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	s := c.cfg.Sessions
	if s == nil {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	ak, secret := strings.TrimSpace(r.PostFormValue("accessKeyId")), strings.TrimSpace(r.PostFormValue("secretAccessKey"))
	next := safeNext(r.PostFormValue("next"))
	addr, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		addr = r.RemoteAddr
	}
	if s.throttled(addr, false) {
		w.Header().Set("Retry-After", "60")
		c.render(w, r, http.StatusTooManyRequests, "login", "Log in", loginData{Next: next, AccessKeyID: ak, Error: "Too many failed logins from this address; try again in a minute."})
		return
	}
	if !s.Check(ak, secret) {
		s.throttled(addr, true)
		c.logger.Warn("console: failed login", "accessKeyId", ak, "remote", r.RemoteAddr)
		c.render(w, r, http.StatusUnauthorized, "login", "Log in", loginData{Next: next, AccessKeyID: ak, Error: "The access key id or the secret access key is wrong."})
		return
	}
	v, exp, err := s.issue(ak)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: v, Path: "/", Expires: exp, MaxAge: int(time.Until(exp).Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)})
	c.logger.Info("console: login", "accessKeyId", ak, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if s := c.cfg.Sessions; s != nil {
		if ss, ok := s.session(r); ok {
			s.revoke(ss)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)})
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// secure reports whether the browser reached the server over TLS, directly
// or through a proxy that says so; cookies are then marked Secure. (A
// client that claims https falsely only makes its own cookies stricter.)
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
