// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests.
//
// The canonical request, key derivation and HMAC are computed by the AWS
// SDK's own signer (github.com/aws/aws-sdk-go-v2/aws/signer/v4): Verify
// rebuilds the request exactly as the client signed it (only the signed
// headers, the received Host, the escaped path and the query), signs it again
// with the secret that belongs to the access key id, and compares the
// signatures in constant time. Both the Authorization header form and the
// presigned query-string form are accepted. SigV4a, the Date header in place
// of X-Amz-Date and streaming (aws-chunked) payloads are not supported.
package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"
)

const (
	algorithm         = "AWS4-HMAC-SHA256"
	amzDateLayout     = "20060102T150405Z"
	scopeDateLayout   = "20060102"
	scopeTerminator   = "aws4_request"
	unsignedPayload   = "UNSIGNED-PAYLOAD"
	streamingPrefix   = "STREAMING-"
	streamingSigned   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	maxPresignExpires = 7 * 24 * 60 * 60 // seconds, as in AWS

	// DefaultMaxSkew is the clock skew Verifier tolerates when MaxSkew is 0.
	DefaultMaxSkew = 15 * time.Minute
	// DefaultMaxBodyBytes is the body size Verifier reads when MaxBodyBytes is 0.
	DefaultMaxBodyBytes = 64 << 20
)

// Credentials looks up the secret access key for an access key id.
type Credentials interface {
	Secret(accessKeyID string) (secret string, ok bool)
}

// SessionCredentials is implemented by Credentials that accept temporary
// credentials. A request that carries X-Amz-Security-Token is verified with
// SessionSecret; when Credentials does not implement SessionCredentials such
// a request is rejected as UnrecognizedClientException.
type SessionCredentials interface {
	SessionSecret(accessKeyID, sessionToken string) (secret string, ok bool)
}

// StaticCredentials maps access key ids to secret access keys.
type StaticCredentials map[string]string

// Secret returns the secret for accessKeyID.
func (c StaticCredentials) Secret(accessKeyID string) (string, bool) {
	s, ok := c[accessKeyID]
	return s, ok
}

// Verifier checks SigV4 signatures for one service in one region. The zero
// values of MaxSkew, MaxBodyBytes and Now select their defaults.
type Verifier struct {
	Service      string // signing name, e.g. "medical-imaging"
	Region       string // e.g. "us-east-1"
	Credentials  Credentials
	MaxSkew      time.Duration // allowed clock difference; default DefaultMaxSkew
	MaxBodyBytes int64         // largest body read for hashing; default DefaultMaxBodyBytes
	// SpoolDir, when set, holds bodies larger than SpoolThreshold in a
	// temporary file while they are hashed, instead of in memory; the
	// file is removed when the handler returns (Middleware).
	SpoolDir string
	// StreamVerify verifies a request that declares a hex
	// x-amz-content-sha256 with that hash at once, and checks the body
	// against it while the handler reads it: the body's last Read fails
	// with ErrPayloadMismatch (wrapped) instead of io.EOF when it differs,
	// so the handler must read to EOF before acting on the body.
	StreamVerify bool
	Now          func() time.Time // default time.Now
}

// signedRequest is what the request claims about its own signature.
type signedRequest struct {
	auth        authorization
	amzDate     string
	date        time.Time
	token       string        // X-Amz-Security-Token, "" when absent
	claimedHash string        // X-Amz-Content-Sha256, "" when absent
	presigned   bool          // query-string form
	expires     time.Duration // presigned only; 0 without X-Amz-Expires
	eitherHash  bool          // presigned without X-Amz-Content-Sha256
	query       url.Values    // parsed query string
}

// Verify checks r's signature, given either in the Authorization header or
// in the presigned query-string form (X-Amz-Algorithm, X-Amz-Credential,
// X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Signature, and X-Amz-Expires or,
// without it, the clock skew of a header-signed request).
//
// Unless the payload is declared UNSIGNED-PAYLOAD, Verify reads the whole
// body (at most MaxBodyBytes) to hash it and replaces r.Body with an
// equivalent in-memory reader (a temporary file in SpoolDir for a large
// body: the caller must then close r.Body, which removes it; Middleware
// does), so handlers can still read it. With StreamVerify a declared hash
// is checked while the handler reads instead.
//
// On success Verify returns the access key id; on failure it returns an
// *Error.
func (v *Verifier) Verify(r *http.Request) (accessKeyID string, err error) {
	id, e := v.verify(r)
	if e != nil {
		return "", e
	}
	return id, nil
}

func (v *Verifier) verify(r *http.Request) (string, *Error) {
	sr, err := parseRequest(r)
	if err != nil {
		return "", err
	}
	if err := v.checkScope(sr); err != nil {
		return "", err
	}
	if err := v.checkTime(sr); err != nil {
		return "", err
	}
	secret, ok := v.secret(sr.auth.Credential.AccessKeyID, sr.token)
	if !ok {
		return "", errUnrecognized()
	}
	if sr.eitherHash {
		// UNSIGNED-PAYLOAD first: such a URL (S3's convention) leaves
		// the body unread, as it always has been.
		want, _, _, err := v.recompute(r, sr, secret, unsignedPayload)
		if err != nil {
			return "", err
		}
		if hmac.Equal([]byte(want), []byte(sr.auth.Signature)) {
			return sr.auth.Credential.AccessKeyID, nil
		}
	}
	payloadHash, err := v.payloadHash(r, sr)
	if err != nil {
		return "", err
	}
	want, canonical, toSign, err := v.recompute(r, sr, secret, payloadHash)
	if err != nil {
		return "", err
	}
	if !hmac.Equal([]byte(want), []byte(sr.auth.Signature)) {
		return "", errInvalid("The request signature we calculated does not match the signature you provided. "+
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n"+
			"The Canonical String for this request should have been\n'%s'\n\n"+
			"The String-to-Sign should have been\n'%s'\n", canonical, toSign)
	}
	return sr.auth.Credential.AccessKeyID, nil
}

// parseRequest extracts the signature parameters from the header or the
// query string.
func parseRequest(r *http.Request) (signedRequest, *Error) {
	var sr signedRequest
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	if qerr != nil {
		return sr, errIncomplete("The query string is malformed: %s", echo(qerr.Error()))
	}
	sr.query = q
	authz := r.Header.Values("Authorization")
	sr.presigned = q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Signature")
	switch {
	case len(authz) == 0 && !sr.presigned:
		return sr, errMissing()
	case len(authz) > 0 && sr.presigned:
		return sr, errIncomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
	case len(authz) > 1:
		return sr, errIncomplete("The request has more than one Authorization header.")
	}

	var err *Error
	if sr.presigned {
		err = parsePresigned(&sr)
	} else {
		err = parseHeaderForm(r, authz[0], &sr)
	}
	if err != nil {
		return sr, err
	}
	if !slices.Contains(sr.auth.SignedHeaders, "host") {
		return sr, errIncomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	t, perr := time.Parse(amzDateLayout, sr.amzDate)
	if perr != nil || t.Format(amzDateLayout) != sr.amzDate {
		return sr, errIncomplete("X-Amz-Date must be in the ISO-8601 basic format yyyymmddThhmmssZ, got '%s'.", echo(sr.amzDate))
	}
	sr.date = t
	return sr, nil
}

func parseHeaderForm(r *http.Request, authz string, sr *signedRequest) *Error {
	var err *Error
	if sr.auth, err = parseAuthorization(authz); err != nil {
		return err
	}
	switch dates := r.Header.Values("X-Amz-Date"); {
	case len(dates) == 1:
		sr.amzDate = dates[0]
	case len(dates) > 1:
		return errIncomplete("The request has more than one X-Amz-Date header.")
	case r.Header.Get("Date") != "":
		return errIncomplete("Signing with the 'Date' header is not supported; sign with an 'X-Amz-Date' header.")
	default:
		return errIncomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", echo(authz))
	}
	if tokens := r.Header.Values("X-Amz-Security-Token"); len(tokens) > 0 {
		if len(tokens) > 1 {
			return errIncomplete("The request has more than one X-Amz-Security-Token header.")
		}
		if !slices.Contains(sr.auth.SignedHeaders, "x-amz-security-token") {
			return errIncomplete("'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.")
		}
		sr.token = tokens[0]
	}
	if hashes := r.Header.Values("X-Amz-Content-Sha256"); len(hashes) > 0 {
		if len(hashes) > 1 {
			return errIncomplete("The request has more than one X-Amz-Content-Sha256 header.")
		}
		sr.claimedHash = hashes[0]
	}
	return nil
}

func parsePresigned(sr *signedRequest) *Error {
	q := sr.query
	required := []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders"}
	for _, k := range required {
		if len(q[k]) != 1 {
			return errIncomplete("AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date' and 'X-Amz-SignedHeaders', each exactly once, and 'X-Amz-Expires' at most once. Re-examine the query-string parameters.")
		}
	}
	if len(q["X-Amz-Expires"]) > 1 {
		return errIncomplete("The query string has more than one X-Amz-Expires parameter.")
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != algorithm {
		return errIncomplete("Unsupported signature algorithm '%s': only %s is supported.", echo(alg), algorithm)
	}
	var err *Error
	if sr.auth, err = parseParts(q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature")); err != nil {
		return err
	}
	sr.amzDate = q.Get("X-Amz-Date")
	// Without X-Amz-Expires (Amplify's signUrl, which AWS's HealthImaging
	// viewer sample uses, leaves it out) the URL is valid within the clock
	// skew of its X-Amz-Date, like a request signed in its headers.
	if q.Has("X-Amz-Expires") {
		exp, perr := strconv.Atoi(q.Get("X-Amz-Expires"))
		if perr != nil || exp < 1 || exp > maxPresignExpires {
			return errIncomplete("X-Amz-Expires must be a whole number of seconds between 1 and %d (one week), got '%s'.", maxPresignExpires, echo(q.Get("X-Amz-Expires")))
		}
		sr.expires = time.Duration(exp) * time.Second
	}
	if tokens := q["X-Amz-Security-Token"]; len(tokens) > 0 {
		if len(tokens) > 1 {
			return errIncomplete("The query string has more than one X-Amz-Security-Token parameter.")
		}
		sr.token = tokens[0]
	}
	// Without X-Amz-Content-Sha256 the payload is signed by its hash (what
	// botocore and Amplify sign into presigned URLs of services other than
	// S3), or as UNSIGNED-PAYLOAD (S3's convention); verify tries both.
	sr.eitherHash = true
	if hashes := q["X-Amz-Content-Sha256"]; len(hashes) > 0 {
		sr.eitherHash = false
		if len(hashes) > 1 {
			return errIncomplete("The query string has more than one X-Amz-Content-Sha256 parameter.")
		}
		sr.claimedHash = hashes[0]
	}
	return nil
}

func (v *Verifier) checkScope(sr signedRequest) *Error {
	c := sr.auth.Credential
	if c.Terminator != scopeTerminator {
		return errInvalid("Credential should be scoped with a valid terminator: '%s', not '%s'.", scopeTerminator, echo(c.Terminator))
	}
	if d := sr.date.Format(scopeDateLayout); c.Date != d {
		return errInvalid("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from 'X-Amz-Date'.", echo(c.Date), d)
	}
	if c.Region != v.Region {
		return errInvalid("Credential should be scoped to a valid region, not '%s'.", echo(c.Region))
	}
	if c.Service != v.Service {
		return errInvalid("Credential should be scoped to correct service: '%s'.", v.Service)
	}
	return nil
}

func (v *Verifier) checkTime(sr signedRequest) *Error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	t := now().UTC()
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if sr.presigned && sr.expires > 0 {
		if sr.date.After(t.Add(skew)) {
			return errInvalid("Request is not yet valid: X-Amz-Date %s is later than %s (%s + %s).",
				sr.amzDate, t.Add(skew).Format(amzDateLayout), t.Format(amzDateLayout), fmtSkew(skew))
		}
		if end := sr.date.Add(sr.expires); t.After(end) {
			return errInvalid("Request has expired: it was valid until %s (X-Amz-Date %s + X-Amz-Expires %d) and it is now %s.",
				end.Format(amzDateLayout), sr.amzDate, int(sr.expires/time.Second), t.Format(amzDateLayout))
		}
		return nil
	}
	if lo := t.Add(-skew); sr.date.Before(lo) {
		return errInvalid("Signature expired: %s is now earlier than %s (%s - %s.)",
			sr.amzDate, lo.Format(amzDateLayout), t.Format(amzDateLayout), fmtSkew(skew))
	}
	if hi := t.Add(skew); sr.date.After(hi) {
		return errInvalid("Signature not yet current: %s is still later than %s (%s + %s.)",
			sr.amzDate, hi.Format(amzDateLayout), t.Format(amzDateLayout), fmtSkew(skew))
	}
	return nil
}

// fmtSkew formats d the way AWS does in its skew messages ("15 min").
func fmtSkew(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int64(d/time.Minute))
	}
	return fmt.Sprintf("%d sec", int64(d/time.Second))
}

func (v *Verifier) secret(accessKeyID, token string) (string, bool) {
	if v.Credentials == nil {
		return "", false
	}
	if token != "" {
		sc, ok := v.Credentials.(SessionCredentials)
		if !ok {
			return "", false
		}
		return sc.SessionSecret(accessKeyID, token)
	}
	return v.Credentials.Secret(accessKeyID)
}

// payloadHash returns the payload hash to sign with. Unless the payload is
// declared unsigned it reads and hashes the body and checks the declared
// hash, if any.
func (v *Verifier) payloadHash(r *http.Request, sr signedRequest) (string, *Error) {
	claimed := sr.claimedHash
	switch {
	case v.StreamVerify && claimed == streamingSigned && !strings.Contains(strings.ToLower(r.Header.Get("Content-Encoding")), "aws-chunked"):
		// AWS HealthImaging's DICOMweb examples (curl --aws-sigv4) declare
		// a streaming payload but send the body as is: the signature covers
		// the headers and that declaration, as for UNSIGNED-PAYLOAD.
		if d := r.Header.Get("X-Amz-Decoded-Content-Length"); d != "" && r.ContentLength >= 0 && d != strconv.FormatInt(r.ContentLength, 10) {
			return "", newError(CodeIncompleteBody, http.StatusBadRequest,
				"x-amz-decoded-content-length %s does not match the body's %d bytes.", echo(d), r.ContentLength)
		}
		return claimed, nil
	case strings.HasPrefix(claimed, streamingPrefix):
		return "", newError(CodeNotImplemented, http.StatusNotImplemented,
			"Streaming payloads (x-amz-content-sha256: %s) are not supported by this service.", echo(claimed))
	case claimed == unsignedPayload:
		return unsignedPayload, nil
	case claimed != "" && !isLowerHex(claimed, 64):
		return "", newError(CodeContentSHA256Mismatch, http.StatusBadRequest,
			"x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a lower-case hex SHA-256 value, got '%s'.", echo(claimed))
	}
	if v.StreamVerify && claimed != "" {
		if r.ContentLength > v.maxBody() {
			return "", errTooLarge(v.maxBody())
		}
		if r.Body == nil {
			r.Body = http.NoBody
		}
		r.Body = &verifyingBody{r: r.Body, h: sha256.New(), want: claimed, limit: v.maxBody()}
		return claimed, nil
	}
	sum, err := v.hashBody(r)
	if err != nil {
		return "", err
	}
	if claimed != "" && claimed != sum {
		return "", newError(CodeContentSHA256Mismatch, http.StatusBadRequest,
			"The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return sum, nil
}

// hashBody reads r.Body (bounded by MaxBodyBytes), returns its hex SHA-256
// and replaces r.Body with an in-memory copy.
func (v *Verifier) hashBody(r *http.Request) (string, *Error) {
	limit := v.maxBody()
	if r.Body == nil || r.Body == http.NoBody {
		r.Body = http.NoBody
		return hex.EncodeToString(sha256.New().Sum(nil)), nil
	}
	tooLarge := errTooLarge(limit)
	if r.ContentLength > limit {
		return "", tooLarge
	}
	if v.SpoolDir != "" && (r.ContentLength < 0 || r.ContentLength > SpoolThreshold) {
		return v.spoolBody(r, limit, tooLarge)
	}
	// The body is read straight into buf (room for the final read that
	// sees EOF included, so a body of the announced length is never
	// copied) and hashed once read.
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	r.Body.Close()
	if err != nil {
		return "", newError(CodeIncompleteBody, http.StatusBadRequest, "The request body could not be read: %v", err)
	}
	if n > limit {
		return "", tooLarge
	}
	body := buf.Bytes()
	h := sha256.New()
	h.Write(body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	if r.ContentLength < 0 {
		r.ContentLength = n
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// recompute signs a reconstruction of r with secret and returns the
// signature together with the canonical request and string to sign.
func (v *Verifier) recompute(r *http.Request, sr signedRequest, secret, payloadHash string) (sig, canonical, toSign string, e *Error) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	rawQuery := r.URL.RawQuery
	if sr.presigned {
		q := make(url.Values, len(sr.query))
		for k, vs := range sr.query {
			if k != "X-Amz-Signature" {
				q[k] = vs
			}
		}
		rawQuery = q.Encode()
	}
	fresh := &http.Request{
		Method: r.Method,
		// The signer takes the canonical URI from Opaque verbatim, so the
		// path is signed exactly as the client sent it (then escaped once
		// more, as every service but S3 requires).
		URL:    &url.URL{Scheme: scheme, Host: r.Host, Opaque: "//" + r.Host + path, RawQuery: rawQuery},
		Host:   r.Host,
		Header: make(http.Header, len(sr.auth.SignedHeaders)),
	}
	for _, name := range sr.auth.SignedHeaders {
		switch name {
		case "host":
		case "content-length":
			// The signer adds content-length itself when ContentLength > 0
			// and never otherwise, so ContentLength must be 0 unless signed.
			n := r.ContentLength
			if h := r.Header.Get("Content-Length"); h != "" {
				var err error
				if n, err = strconv.ParseInt(h, 10, 64); err != nil {
					return "", "", "", errIncomplete("Content-Length is malformed: '%s'.", echo(h))
				}
			}
			if n > 0 {
				fresh.ContentLength = n
			}
		default:
			key := textproto.CanonicalMIMEHeaderKey(name)
			if vals := r.Header.Values(key); len(vals) > 0 {
				fresh.Header[key] = vals
			}
		}
	}
	var capture signingLog
	signer := v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = v.Service == "s3"
		o.DisableHeaderHoisting = true
		o.Logger = &capture
		o.LogSigning = true
	})
	creds := aws.Credentials{AccessKeyID: sr.auth.Credential.AccessKeyID, SecretAccessKey: secret, SessionToken: sr.token}
	ctx := context.Background()
	if sr.presigned {
		signed, _, err := signer.PresignHTTP(ctx, creds, fresh, payloadHash, v.Service, v.Region, sr.date)
		if err != nil {
			return "", "", "", errInvalid("The request could not be signed for verification: %v", err)
		}
		u, err := url.Parse(signed)
		if err != nil {
			return "", "", "", errInvalid("The request could not be signed for verification: %v", err)
		}
		sig = u.Query().Get("X-Amz-Signature")
	} else {
		if err := signer.SignHTTP(ctx, creds, fresh, payloadHash, v.Service, v.Region, sr.date); err != nil {
			return "", "", "", errInvalid("The request could not be signed for verification: %v", err)
		}
		a, err := parseAuthorization(fresh.Header.Get("Authorization"))
		if err != nil {
			return "", "", "", errInvalid("The request could not be signed for verification: %s", err.Message)
		}
		sig = a.Signature
	}
	return sig, capture.canonical, capture.stringToSign, nil
}

// signingLog captures the canonical request and string to sign that the SDK
// signer reports through its logger when LogSigning is set. Neither contains
// the secret.
type signingLog struct {
	canonical, stringToSign string
}

func (l *signingLog) Logf(_ logging.Classification, _ string, v ...any) {
	if len(v) >= 2 {
		l.canonical, _ = v[0].(string)
		l.stringToSign, _ = v[1].(string)
	}
}

type ctxKey struct{}

// WithAccessKeyID returns a copy of ctx that carries the verified access key id.
func WithAccessKeyID(ctx context.Context, accessKeyID string) context.Context {
	return context.WithValue(ctx, ctxKey{}, accessKeyID)
}

// AccessKeyID returns the access key id that Middleware verified for the
// request whose context is ctx.
func AccessKeyID(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(ctxKey{}).(string)
	return id, ok
}

// Middleware verifies every request before passing it to next, with the
// verified access key id in its context (see AccessKeyID). A request that
// fails verification goes to onError instead; a nil onError selects
// WriteError.
func (v *Verifier) Middleware(next http.Handler, onError func(w http.ResponseWriter, r *http.Request, err *Error)) http.Handler {
	if onError == nil {
		onError = WriteError
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := v.verify(r)
		if sp, ok := r.Body.(*spooledBody); ok {
			defer sp.Close()
		}
		if err != nil {
			onError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithAccessKeyID(r.Context(), id)))
	})
}

// WriteError writes err as an AWS rest-json error: the X-Amzn-ErrorType
// header and a {"__type": …, "message": …} body.
func WriteError(w http.ResponseWriter, _ *http.Request, err *Error) {
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{err.Code, err.Message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", err.Code)
	w.WriteHeader(err.Status)
	w.Write(body)
}
