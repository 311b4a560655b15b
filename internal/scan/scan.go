// Package scan reads JetStream streams through ordered consumers: every
// message stored when the read begins, optionally headers only, with
// progress. claybridge's operator commands use it to find results, DLQ
// entries and heartbeats by header.
package scan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config selects the messages Stream reads.
type Config struct {
	Stream string
	// Filters are subject filters; empty reads every subject of the
	// stream.
	Filters []string
	// Since, when set, skips messages stored before it.
	Since time.Time
	// HeadersOnly reads headers without bodies. The header Nats-Msg-Size
	// then holds each body's size.
	HeadersOnly bool
	// Progress, when set, is called after each batch with the number of
	// messages read so far and the number still to read.
	Progress func(read, left uint64)
}

// batchSize is the number of messages one fetch requests.
const batchSize = 1000

// Stream calls visit with each message of a stream that matches cfg and was
// stored before the call, in stream order, through an ordered consumer.
// It stops at the first error visit returns and returns that error.
func Stream(ctx context.Context, js jetstream.JetStream, cfg Config, visit func(jetstream.Msg) error) error {
	stream, err := OpenStream(ctx, js, cfg.Stream)
	if err != nil {
		return err
	}
	last := stream.CachedInfo().State.LastSeq
	if last == 0 {
		return nil
	}
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: cfg.Filters, HeadersOnly: cfg.HeadersOnly}
	if !cfg.Since.IsZero() {
		since := cfg.Since
		occ.DeliverPolicy, occ.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := stream.OrderedConsumer(ctx, occ)
	if err != nil {
		return fmt.Errorf("read %s: %w", cfg.Stream, err)
	}
	var read uint64
	for {
		batch, err := cons.FetchNoWait(batchSize)
		if err != nil {
			return fmt.Errorf("read %s: %w", cfg.Stream, err)
		}
		n, left, done, err := visitBatch(batch, last, visit)
		read += n
		if err != nil {
			return err
		}
		if cfg.Progress != nil {
			cfg.Progress(read, left)
		}
		if n == 0 || done {
			return nil
		}
	}
}

// visitBatch visits the messages of one batch up to stream sequence
// last. It returns the number visited, the number the server still had
// after them, and whether the scan is complete.
func visitBatch(batch jetstream.MessageBatch, last uint64, visit func(jetstream.Msg) error) (n, left uint64, done bool, err error) {
	for msg := range batch.Messages() {
		meta, err := msg.Metadata()
		if err != nil {
			return n, 0, true, fmt.Errorf("read message metadata: %w", err)
		}
		if meta.Sequence.Stream > last {
			// Stored after the scan began.
			return n, 0, true, nil
		}
		n++
		if err := visit(msg); err != nil {
			return n, 0, true, err
		}
		left = meta.NumPending
		if left == 0 {
			done = true
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		return n, left, true, fmt.Errorf("read stream: %w", err)
	}
	return n, left, done, nil
}

// OpenStream returns the stream named name. When it does not exist, the
// error wraps jetstream.ErrStreamNotFound, and its message asks to start
// claybridge, which creates its streams.
func OpenStream(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, error) {
	stream, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, &noStreamError{name: name, err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", name, err)
	}
	return stream, nil
}

// ByGet calls visit with each message of a stream on filter stored before
// the call, in stream order, with one get request per message. It is for
// work-queue streams such as CLAY_REQUESTS, where the server rejects a
// consumer whose filter overlaps another consumer's filter. It stops at
// the first error visit returns and returns that error.
func ByGet(ctx context.Context, js jetstream.JetStream, streamName, filter string, visit func(*jetstream.RawStreamMsg) error) error {
	stream, err := OpenStream(ctx, js, streamName)
	if err != nil {
		return err
	}
	state := stream.CachedInfo().State
	if state.Msgs == 0 {
		return nil
	}
	for seq := state.FirstSeq; seq <= state.LastSeq; {
		msg, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s from sequence %d: %w", streamName, seq, err)
		}
		if msg.Sequence > state.LastSeq {
			return nil
		}
		if err := visit(msg); err != nil {
			return err
		}
		seq = msg.Sequence + 1
	}
	return nil
}

// noStreamError is a missing stream, with the hint to start claybridge.
type noStreamError struct {
	name string
	err  error
}

func (e *noStreamError) Error() string {
	return "stream " + e.name + " not found; start claybridge (make run) first"
}

func (e *noStreamError) Unwrap() error { return e.err }
