package fallback

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/gowebpki/jcs"

	"github.com/claybridge/claybridge/subjects"
)

// keyDomain starts every hashed key, so cache keys never equal request keys
// derived from the same parameters, and a future change of the stored format
// can move to new keys by changing it.
const keyDomain = "claybridge-cache-v1"

// keyLength is the length of a key returned by Key: hex SHA-256.
const keyLength = 2 * sha256.Size

// Key returns the cache key of an operation and its JSON parameters: the hex
// SHA-256 of the operation and the parameters in canonical JSON (RFC 8785).
// Parameters that differ only in member order or whitespace get the same
// key. The key is a valid KV key and Object Store name.
func Key(op subjects.Operation, params []byte) (string, error) {
	if _, err := subjects.ParseOperation(string(op)); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	canonical, err := jcs.Transform(params)
	if err != nil {
		return "", fmt.Errorf("%w: %s parameters are not valid JSON: %v", ErrInvalidInput, op, err)
	}
	sum := sha256.New()
	sum.Write([]byte(keyDomain))
	sum.Write([]byte{0})
	sum.Write([]byte(op))
	sum.Write([]byte{0})
	sum.Write(canonical)
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// checkKey rejects a key that Key cannot have returned, such as a request
// key passed by mistake.
func checkKey(key string) error {
	if len(key) != keyLength {
		return fmt.Errorf("%w: cache key %q is not %d hex digits; build it with fallback.Key", ErrInvalidInput, key, keyLength)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: cache key %q is not lowercase hex; build it with fallback.Key", ErrInvalidInput, key)
		}
	}
	return nil
}
