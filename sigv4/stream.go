package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"os"
	"sync"
)

// SpoolThreshold is the body size above which a Verifier with a SpoolDir
// hashes the body into a temporary file rather than memory.
const SpoolThreshold = 8 << 20

// ErrPayloadMismatch is returned (wrapped) by the last Read of a body that
// StreamVerify checks when the body does not match its declared hash.
var ErrPayloadMismatch = errors.New("the request body does not match x-amz-content-sha256")

// ErrBodyTooLarge is returned by a StreamVerify body that exceeds
// MaxBodyBytes.
var ErrBodyTooLarge = errors.New("the request body is larger than the limit")

func errTooLarge(limit int64) *Error {
	return newError(CodeRequestEntityTooLarge, http.StatusRequestEntityTooLarge,
		"The request body is larger than the limit of %d bytes.", limit)
}

// maxBody is MaxBodyBytes or its default.
func (v *Verifier) maxBody() int64 {
	if v.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return v.MaxBodyBytes
}

// verifyingBody hashes a body as it is read and fails its end when the
// hash is not the declared one.
type verifyingBody struct {
	r     io.ReadCloser
	h     hash.Hash
	want  string
	n     int64
	limit int64
	err   error
}

func (b *verifyingBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	if b.n > b.limit {
		b.err = ErrBodyTooLarge
		return n, b.err
	}
	if errors.Is(err, io.EOF) {
		if hex.EncodeToString(b.h.Sum(nil)) != b.want {
			b.err = ErrPayloadMismatch
			return n, b.err
		}
	}
	return n, err
}

func (b *verifyingBody) Close() error { return b.r.Close() }

// spooledBody is a request body kept in a temporary file. Closing it
// removes the file; Middleware closes it when the handler returns, and a
// caller of Verify must close r.Body itself.
type spooledBody struct {
	*os.File
	once sync.Once
}

// Close closes and removes the temporary file; it may be called again.
func (b *spooledBody) Close() error {
	b.once.Do(func() {
		b.File.Close()
		os.Remove(b.Name())
	})
	return nil
}

// spoolBody hashes the body into a temporary file in SpoolDir and makes
// that file the body.
func (v *Verifier) spoolBody(r *http.Request, limit int64, tooLarge *Error) (string, *Error) {
	f, err := os.CreateTemp(v.SpoolDir, "ohi-body-*")
	if err != nil {
		return "", newError("InternalFailure", http.StatusInternalServerError, "cannot spool the request body: %v", err)
	}
	sp := &spooledBody{File: f}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r.Body, limit+1))
	r.Body.Close()
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	r.Body = sp
	if err != nil {
		return "", newError(CodeIncompleteBody, http.StatusBadRequest, "The request body could not be read: %v", err)
	}
	if n > limit {
		return "", tooLarge
	}
	if r.ContentLength < 0 {
		r.ContentLength = n
	}
	r.GetBody = nil
	return hex.EncodeToString(h.Sum(nil)), nil
}
