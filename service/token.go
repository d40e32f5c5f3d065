package service

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/openhealthimaging/ohi"
)

// tokenCodec makes opaque, tamper-proof pagination tokens: the position and
// a fingerprint of the request it belongs to, as JSON, followed by an
// HMAC-SHA256 with a per-server key. A token from another request, edited,
// or from another server is rejected with a ValidationException.
type tokenCodec struct {
	key []byte
}

func newTokenCodec(hexKey string) (*tokenCodec, error) {
	k, err := hex.DecodeString(hexKey)
	if err != nil || len(k) < 16 {
		return nil, fmt.Errorf("invalid pagination token key")
	}
	return &tokenCodec{key: k}, nil
}

type pageToken struct {
	Scope string `json:"s"` // fingerprint of the request
	Key   any    `json:"k,omitempty"`
	ID    string `json:"i"`
}

func (c *tokenCodec) mac(b []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(b)
	return m.Sum(nil)
}

func (c *tokenCodec) encode(t pageToken) *string {
	b, _ := json.Marshal(t)
	s := base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(c.mac(b))
	return &s
}

// decode returns the token's position. A nil token decodes to nil.
func (c *tokenCodec) decode(tok *string, scope string) (*pageToken, error) {
	if tok == nil {
		return nil, nil
	}
	bad := &ohi.ValidationError{Field: "nextToken", Reason: "Invalid pagination token: it was not issued for this request or was modified"}
	body, sig, ok := strings.Cut(*tok, ".")
	if !ok {
		return nil, bad
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, c.mac(b)) {
		return nil, bad
	}
	var t pageToken
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&t); err != nil || t.Scope != scope {
		return nil, bad
	}
	return &t, nil
}

// fingerprint returns a short stable digest of v for token scopes and
// idempotency checks.
func fingerprint(parts ...any) string {
	b, _ := json.Marshal(parts)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

// page is the position of a list request whose token carries an id.
type page struct {
	scope string
	after string // id to list after, "" for the first page
	limit int
}

// startPage decodes the token of a list request identified by parts.
func (s *Service) startPage(tok *string, maxResults *int32, parts ...any) (page, error) {
	pg := page{scope: fingerprint(parts...), limit: limitOf(maxResults, 50)}
	t, err := s.tokens.decode(tok, pg.scope)
	if err != nil {
		return pg, err
	}
	if t != nil {
		pg.after = t.ID
	}
	return pg, nil
}

// endPage cuts list (fetched with pg.limit+1 rows) to the page and returns
// the token of the next page, if any.
func endPage[T any](s *Service, pg page, list []T, id func(T) string) ([]T, *string) {
	if len(list) <= pg.limit {
		return list, nil
	}
	list = list[:pg.limit]
	return list, s.tokens.encode(pageToken{Scope: pg.scope, ID: id(list[len(list)-1])})
}
