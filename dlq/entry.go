// Package dlq builds, reads and replays dead letter queue entries. An entry
// keeps the original request byte for byte, with JetStream's own headers
// renamed so the server does not re-check them, and adds why and when the
// request failed.
package dlq

import (
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/claybridge/claybridge/subjects"
)

// Failure describes why a request is dead-lettered.
type Failure struct {
	Key   string
	Class subjects.ErrorClass
	// HTTPStatus is Clay's last status, or 0 when there was none.
	HTTPStatus int
	// Error is the last error's text. It never holds a secret.
	Error        string
	Attempts     int
	FirstAttempt time.Time
	LastAttempt  time.Time
	// BreakerState is the state of the breaker of the request's Clay
	// surface when it failed.
	BreakerState string
}

// Original is the request message as it was stored.
type Original struct {
	Subject  string
	Sequence uint64
	Header   nats.Header
	Data     []byte
}

// NewEntry returns the DLQ message for a failed request.
func NewEntry(orig Original, p subjects.Priority, op subjects.Operation, f Failure) *nats.Msg {
	msg := nats.NewMsg(subjects.DLQSubject(p, op))
	msg.Data = orig.Data
	for name, values := range orig.Header {
		if subjects.IsNatsHeader(name) {
			name = subjects.HeaderOrigPrefix + name
		}
		msg.Header[name] = append([]string(nil), values...)
	}
	set := msg.Header.Set
	set(subjects.HeaderMsgID, EntryID(f.Key, orig.Sequence))
	set(subjects.HeaderRequestKey, f.Key)
	set(subjects.HeaderOrigSubject, orig.Subject)
	set(subjects.HeaderOrigSeq, strconv.FormatUint(orig.Sequence, 10))
	set(subjects.HeaderErrorClass, string(f.Class))
	set(subjects.HeaderHTTPStatus, strconv.Itoa(f.HTTPStatus))
	set(subjects.HeaderError, f.Error)
	set(subjects.HeaderAttempts, strconv.Itoa(f.Attempts))
	set(subjects.HeaderFirstAttempt, formatTime(f.FirstAttempt))
	set(subjects.HeaderLastAttempt, formatTime(f.LastAttempt))
	set(subjects.HeaderBreakerState, f.BreakerState)
	return msg
}

// EntryID is the Nats-Msg-Id of a DLQ entry, so a retried publish of the
// same entry is dropped by the stream.
func EntryID(key string, seq uint64) string {
	return "dlq:" + strconv.FormatUint(seq, 10) + ":" + key
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
