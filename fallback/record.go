package fallback

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/claybridge/claybridge/subjects"
)

// recordSchema is the version of the KV value layout.
const recordSchema = 1

// errCorruptRecord is wrapped by every decoding failure of a KV value.
var errCorruptRecord = errors.New("corrupt cache record")

// recordHeader is the first line of a KV value. The data follows the
// newline byte for byte, so it is neither re-encoded nor scanned on reads.
// When the data went to the Object Store, Ref names the object and nothing
// follows the newline.
type recordHeader struct {
	Schema     int                `json:"schema"`
	Operation  subjects.Operation `json:"operation"`
	ProducedAt time.Time          `json:"produced_at"`
	Ref        string             `json:"ref,omitempty"`
	// Size is the length of the object named by Ref, in bytes.
	Size int `json:"size,omitempty"`
	// Digest is the Object Store's SHA-256 digest of that object. Two
	// processes that store the same key at once can leave KV referring to
	// the other one's object, and a digest mismatch detects it.
	Digest string `json:"digest,omitempty"`
}

// encodeHeader returns the first line of a KV value, without the newline.
func encodeHeader(h recordHeader) ([]byte, error) {
	h.Schema = recordSchema
	line, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode cache record header: %w", err)
	}
	return line, nil
}

// recordValue joins a header line and the data into a KV value.
func recordValue(line, data []byte) []byte {
	value := make([]byte, 0, len(line)+1+len(data))
	value = append(value, line...)
	value = append(value, '\n')
	return append(value, data...)
}

// decodeRecord splits a KV value into its header and data. The data shares
// memory with value.
func decodeRecord(value []byte) (recordHeader, []byte, error) {
	var h recordHeader
	line, data, found := bytes.Cut(value, []byte{'\n'})
	if !found {
		return h, nil, fmt.Errorf("%w: no header line", errCorruptRecord)
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", errCorruptRecord, err)
	}
	switch {
	case h.Schema != recordSchema:
		return h, nil, fmt.Errorf("%w: schema %d, this version reads %d", errCorruptRecord, h.Schema, recordSchema)
	case h.Ref == "" && len(data) == 0:
		return h, nil, fmt.Errorf("%w: neither data nor an object reference", errCorruptRecord)
	case h.Ref != "" && len(data) != 0:
		return h, nil, fmt.Errorf("%w: both data and an object reference", errCorruptRecord)
	}
	return h, data, nil
}
