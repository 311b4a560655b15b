package bench

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// searchBody returns a people search whose filters make it distinct per
// tag, so the simulator and the cache see a new search for each tag.
func searchBody(tag string, limit int) []byte {
	return fmt.Appendf(nil, `{"source_type":"people","filters":{"bench_tag":%q},"limit":%d}`, tag, limit)
}

// rowBody returns a row for table.
func rowBody(table, tag string) []byte {
	return fmt.Appendf(nil, `{"table":%q,"row":{"bench_tag":%q}}`, table, tag)
}

// requestMsg returns a request message; an empty key publishes it
// keyless.
func requestMsg(prio subjects.Priority, op subjects.Operation, key string, body []byte) *nats.Msg {
	msg := nats.NewMsg(subjects.RequestSubject(prio, op))
	msg.Data = body
	if key != "" {
		msg.Header.Set(subjects.HeaderMsgID, key)
	}
	return msg
}

// publishRequest publishes one request and returns the key the processor
// gives it: its own key, or for a keyless search its stream sequence's.
func publishRequest(ctx context.Context, js jetstream.JetStream, msg *nats.Msg) (string, error) {
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return "", fmt.Errorf("publish on %s: %w", msg.Subject, err)
	}
	if key := msg.Header.Get(subjects.HeaderMsgID); key != "" {
		return key, nil
	}
	return subjects.SequenceKey(ack.Sequence), nil
}
