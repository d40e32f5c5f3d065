package ohi

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns a new random identifier of 32 lowercase hexadecimal
// characters, the form HealthImaging uses for data stores, image sets, jobs
// and image frames.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b[:])
}

// IsID reports whether s has the form of an identifier made by NewID
// (pattern [0-9a-z]{32}).
func IsID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
