package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/subjects"
)

// job is one delivery of one request message.
type job struct {
	c       *consumer
	msg     jetstream.Msg
	meta    *jetstream.MsgMetadata
	key     string
	keyless bool
	attempt int
	log     zerolog.Logger
}

// outcome is what a Clay call produced.
type outcome struct {
	data        json.RawMessage
	clayLatency time.Duration
}

// process runs the steps of one delivery: decode, call, settle.
func (p *Processor) process(ctx context.Context, c *consumer, msg jetstream.Msg) {
	j, err := p.newJob(c, msg)
	if err != nil {
		p.log.Error().Err(err).Str("subject", msg.Subject()).Msg("message without JetStream metadata: terminating")
		_ = msg.Term()
		return
	}
	j.log.Debug().Msg("request received")
	req, err := subjects.DecodeParams(c.operation, msg.Data())
	if err != nil {
		p.settle(ctx, j, nil, err)
		return
	}
	req.Key, req.Keyless, req.Priority = j.key, j.keyless, c.priority
	out, err := p.call(ctx, j, req)
	p.settle(ctx, j, out, err)
}

func (p *Processor) newJob(c *consumer, msg jetstream.Msg) (*job, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return nil, err
	}
	j := &job{c: c, msg: msg, meta: meta, attempt: int(meta.NumDelivered)}
	j.key = msg.Headers().Get(subjects.HeaderMsgID)
	switch {
	case j.key != "":
	case c.operation == subjects.Search:
		j.key, j.keyless = subjects.SequenceKey(meta.Sequence.Stream), true
	default:
		j.key = subjects.DerivedKey(c.operation, msg.Data())
	}
	j.log = p.log.With().
		Str("key", j.key).
		Str("priority", string(c.priority)).
		Str("operation", string(c.operation)).
		Int("attempt", j.attempt).
		Logger()
	return j, nil
}

// errUnknownTable marks a row for a table that is not configured.
var errUnknownTable = errors.New("unknown table")

// call sends the request to Clay, keeping the message alive meanwhile.
func (p *Processor) call(ctx context.Context, j *job, req *subjects.Request) (*outcome, error) {
	stop := p.keepAlive(ctx, j)
	defer stop()
	start := time.Now()
	var data json.RawMessage
	var err error
	switch req.Operation {
	case subjects.Row:
		data, err = p.pushRow(ctx, req)
	case subjects.Routine:
		data, err = p.runRoutine(ctx, req)
	case subjects.Search:
		data, err = p.search(ctx, req)
	}
	elapsed := time.Since(start)
	p.metrics.observeCall(req.Operation, err, elapsed)
	if err != nil {
		return nil, err
	}
	return &outcome{data: data, clayLatency: elapsed}, nil
}

// keepAlive sends InProgress every third of the ack wait until stop is
// called, so a long call does not lead to a redelivery.
func (p *Processor) keepAlive(ctx context.Context, j *job) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(p.cfg.AckWait / 3)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				if err := j.msg.InProgress(); err != nil {
					j.log.Warn().Err(err).Msg("in-progress signal failed")
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// withTimeout runs fn with a context that ends after d.
func withTimeout[T any](ctx context.Context, d time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return fn(ctx)
}

func (p *Processor) webhookFor(table string) (clay.Webhook, error) {
	if t, ok := p.cfg.Tables[table]; ok {
		return t.Webhook, nil
	}
	if p.cfg.DefaultWebhookBase != "" {
		return clay.Webhook{URL: p.cfg.DefaultWebhookBase + clay.WebhookPathPrefix + DefaultWebhookSource(table)}, nil
	}
	return clay.Webhook{}, fmt.Errorf("%w %q: add it under tables in the configuration", errUnknownTable, table)
}

// DefaultWebhookSource is the webhook source name an unconfigured table
// maps to on the simulator or a --clay-url base.
func DefaultWebhookSource(table string) string {
	return "pull-in-data-from-a-webhook-" + table
}
