package processor

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
)

// NewInstanceID returns "<hostname>-<pid>-<random>", with every character
// that is not a letter, digit, '-' or '_' replaced, so it can be a subject
// token.
func NewInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	random := make([]byte, 4)
	_, _ = rand.Read(random)
	return SanitizeToken(host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(random))
}

// SanitizeToken replaces every character that may not appear in a NATS
// subject token or consumer name with '_'.
func SanitizeToken(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		default:
			return '_'
		}
	}, s)
}
