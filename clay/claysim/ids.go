package claysim

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"hash/fnv"
	"strconv"
	"strings"
)

// errInvalidCursor marks a pagination cursor that the simulator did not
// issue for the run or search at hand.
var errInvalidCursor = errors.New("invalid cursor")

// newID returns a random identifier such as "run_5x3k...".
func newID(prefix string) string {
	return prefix + "_" + strings.ToLower(rand.Text())
}

// encodeCursor returns an opaque cursor for the page of owner that starts
// at offset.
func encodeCursor(owner string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(owner + ":" + strconv.Itoa(offset)))
}

// decodeCursor returns the owner and offset of a cursor from encodeCursor.
func decodeCursor(cursor string) (string, int, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", 0, errInvalidCursor
	}
	owner, offsetText, found := strings.Cut(string(raw), ":")
	if !found {
		return "", 0, errInvalidCursor
	}
	offset, err := strconv.Atoi(offsetText)
	if err != nil || offset < 0 {
		return "", 0, errInvalidCursor
	}
	return owner, offset, nil
}

// hashString returns a stable 64-bit FNV-1a hash of parts.
func hashString(parts ...string) uint64 {
	h := fnv.New64a()
	for _, part := range parts {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// mix derives the i-th pseudo-random value of seed with SplitMix64, so
// that generated records depend only on seed and i.
func mix(seed uint64, i int) uint64 {
	z := seed + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
