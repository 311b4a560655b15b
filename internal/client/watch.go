package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// Kind distinguishes a result from a DLQ entry.
type Kind int

// The kinds of outcome.
const (
	KindResult Kind = iota + 1
	KindDLQ
)

// Outcome is a result or a DLQ entry as read from its stream.
type Outcome struct {
	Kind Kind
	// Key is the Clay-Request-Key header.
	Key      string
	Subject  string
	Sequence uint64
	Header   nats.Header
	Data     []byte
}

// Result decodes the body of a result.
func (o Outcome) Result() (subjects.Result, error) {
	var res subjects.Result
	if o.Kind != KindResult {
		return res, fmt.Errorf("outcome of key %s is not a result", o.Key)
	}
	if err := json.Unmarshal(o.Data, &res); err != nil {
		return res, fmt.Errorf("result of key %s is not JSON: %w", o.Key, err)
	}
	return res, nil
}

// Failure is the reason a request was dead-lettered, read from a DLQ
// entry's headers.
type Failure struct {
	Class subjects.ErrorClass `json:"class"`
	Error string              `json:"error"`
	// HTTPStatus is Clay's last status, or 0 when there was none.
	HTTPStatus int `json:"http_status"`
	Attempts   int `json:"attempts"`
}

// Failure reads the failure of a DLQ entry.
func (o Outcome) Failure() Failure {
	status, _ := strconv.Atoi(o.Header.Get(subjects.HeaderHTTPStatus))
	attempts, _ := strconv.Atoi(o.Header.Get(subjects.HeaderAttempts))
	return Failure{
		Class:      subjects.ErrorClass(o.Header.Get(subjects.HeaderErrorClass)),
		Error:      o.Header.Get(subjects.HeaderError),
		HTTPStatus: status,
		Attempts:   attempts,
	}
}

// WatchConfig selects the outcomes Watch delivers.
type WatchConfig struct {
	// Operation limits the outcomes to one operation; empty means all.
	Operation subjects.Operation
	// SkipStored skips outcomes stored before Watch was called. By
	// default Watch starts at the beginning of both streams, because a
	// request may have ended before anyone watched.
	SkipStored bool
}

// Watch delivers results and DLQ entries, in stream order per stream,
// until ctx ends. Heartbeats are not delivered. The channel is never
// closed; readers stop when ctx ends.
func Watch(ctx context.Context, js jetstream.JetStream, cfg WatchConfig) (<-chan Outcome, error) {
	resultFilter, dlqFilter := subjects.ResultsAll, subjects.DLQEntries
	if cfg.Operation != "" {
		resultFilter = subjects.ResultPrefix + ".*." + string(cfg.Operation)
		dlqFilter = subjects.DLQPrefix + ".*." + string(cfg.Operation)
	}
	out := make(chan Outcome, 256)
	var running []jetstream.ConsumeContext
	stopAll := func() {
		for _, cc := range running {
			cc.Stop()
		}
	}
	for _, src := range []struct {
		stream, filter string
		kind           Kind
	}{
		{subjects.StreamResults, resultFilter, KindResult},
		{subjects.StreamDLQ, dlqFilter, KindDLQ},
	} {
		cc, err := consume(ctx, js, src.stream, src.filter, src.kind, cfg.SkipStored, out)
		if err != nil {
			stopAll()
			return nil, err
		}
		running = append(running, cc)
	}
	go func() {
		<-ctx.Done()
		stopAll()
	}()
	return out, nil
}

// consume starts an ordered consumer of stream on filter that sends each
// message to out as an Outcome of kind.
func consume(ctx context.Context, js jetstream.JetStream, stream, filter string, kind Kind, skipStored bool,
	out chan<- Outcome) (jetstream.ConsumeContext, error) {
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: stream %s not found; start claybridge (make run) first", ErrNoStream, stream)
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", stream, err)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}}
	if skipStored {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = s.CachedInfo().State.LastSeq + 1
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		o := Outcome{Kind: kind, Key: msg.Headers().Get(subjects.HeaderRequestKey), Subject: msg.Subject(),
			Header: msg.Headers(), Data: msg.Data()}
		if meta, err := msg.Metadata(); err == nil {
			o.Sequence = meta.Sequence.Stream
		}
		select {
		case out <- o:
		case <-ctx.Done():
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return cc, nil
}

// Await returns the first result or DLQ entry of key for operation op,
// stored before or after the call. It returns ctx's error when ctx ends
// first.
func Await(ctx context.Context, js jetstream.JetStream, op subjects.Operation, key string) (Outcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	outcomes, err := Watch(ctx, js, WatchConfig{Operation: op})
	if err != nil {
		return Outcome{}, err
	}
	for {
		select {
		case o := <-outcomes:
			if o.Key == key {
				return o, nil
			}
		case <-ctx.Done():
			return Outcome{}, ctx.Err()
		}
	}
}
