// Package callback receives the rows that Clay's HTTP API column posts back
// for tables configured to call back. Each row carries a token, the
// HMAC-SHA256 of its request key; the handler checks it, stores the
// callback in CLAY_CALLBACKS and answers 200, and any claybridge replica
// then turns the stored callback into the request's result.
package callback

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"

	"github.com/claybridge/claybridge/subjects"
)

// MinSecretBytes is the shortest secret accepted for signing tokens.
const MinSecretBytes = 16

// Token returns the callback token of a request key: the hex HMAC-SHA256
// of the key under secret.
func Token(secret []byte, key string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(key))
	return hex.EncodeToString(mac.Sum(nil))
}

// ValidToken reports, in constant time, whether token is the key's token
// under secret.
func ValidToken(secret []byte, key, token string) bool {
	got, err := hex.DecodeString(token)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(key))
	return hmac.Equal(got, mac.Sum(nil))
}

// URL returns the callback URL of a request key under the listener's
// public base URL.
func URL(publicURL, key string) string {
	return strings.TrimRight(publicURL, "/") + subjects.CallbackPath + url.PathEscape(key)
}

// NewSecret returns a random 32-byte secret, for a simulator run that was
// given none. Tokens signed with it are valid only while it lives.
func NewSecret() []byte {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return secret
}
