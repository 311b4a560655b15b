// Package client is the publisher's side of the wire contract. It opens
// NATS connections with the configured credentials and TLS, publishes Clay
// requests, computes the request key the processor gives each one, and
// reads back results and DLQ entries by that key. Every claybridge command
// and the demo share it.
package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// ErrNoStream is returned when no stream stores a subject: claybridge has
// not created its streams on this NATS server yet.
var ErrNoStream = errors.New("no claybridge stream on this NATS server")

// Request is one Clay request to publish.
type Request struct {
	Priority  subjects.Priority
	Operation subjects.Operation
	// ID is the request key, sent as Nats-Msg-Id. Empty publishes a
	// keyless request, which the processor keys by its body or, for a
	// search, by its stream sequence.
	ID string
	// Body is published byte for byte.
	Body []byte
	// Header holds extra headers, such as traceparent.
	Header nats.Header
}

// Published is a request the request stream acknowledged.
type Published struct {
	// Key is the request key that its result or DLQ entry carries.
	Key    string `json:"key"`
	Stream string `json:"stream"`
	// Sequence is the request's stream sequence; for a duplicate, the
	// sequence of the message stored first.
	Sequence uint64 `json:"sequence"`
	// Duplicate is true when the stream already held a message with
	// this Nats-Msg-Id within its duplicate window and stored nothing.
	Duplicate bool `json:"duplicate"`
}

// Publish publishes req on its request subject and checks the stream's
// acknowledgement.
func Publish(ctx context.Context, js jetstream.JetStream, req Request) (Published, error) {
	subject := subjects.RequestSubject(req.Priority, req.Operation)
	msg := nats.NewMsg(subject)
	msg.Data = req.Body
	for name, values := range req.Header {
		msg.Header[name] = append([]string(nil), values...)
	}
	if req.ID != "" {
		msg.Header.Set(subjects.HeaderMsgID, req.ID)
	}
	ack, err := js.PublishMsg(ctx, msg)
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		return Published{}, fmt.Errorf("%w: nothing stores %s; start claybridge (make run) first", ErrNoStream, subject)
	}
	if err != nil {
		return Published{}, fmt.Errorf("publish on %s: %w", subject, err)
	}
	if ack.Stream != subjects.StreamRequests {
		return Published{}, fmt.Errorf("publish on %s: stored by stream %s, want %s", subject, ack.Stream, subjects.StreamRequests)
	}
	return Published{
		Key:       Key(req.Operation, req.ID, req.Body, ack.Sequence),
		Stream:    ack.Stream,
		Sequence:  ack.Sequence,
		Duplicate: ack.Duplicate,
	}, nil
}

// Key returns the request key the processor gives a request: its
// Nats-Msg-Id, else the derived key of a row or routine, else the stream
// sequence key of a search.
func Key(op subjects.Operation, id string, body []byte, seq uint64) string {
	switch {
	case id != "":
		return id
	case op == subjects.Search:
		return subjects.SequenceKey(seq)
	default:
		return subjects.DerivedKey(op, body)
	}
}
