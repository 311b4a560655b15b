package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/fallback"
	"github.com/claybridge/claybridge/ledger"
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
	// ticket is the admission the message was fetched or unparked under.
	ticket ticket
	// probes are the holds this call tests; its outcome ends or renews them.
	probes []*hold
	// table is a row's table, for table holds.
	table string
	// deadline is the request's Clay-Deadline, zero when absent.
	deadline time.Time
	// cacheKey is the request's fallback cache key, empty when its answers
	// are not cached.
	cacheKey string
	// claim is the job's hold on its key in the ledger; nil for a keyless
	// search or once released.
	claim *ledger.Claim
	// claimMu serializes writes of claim while the job's batch marks it
	// sent and its keep-alive renews it.
	claimMu sync.Mutex
}

// outcome is what a Clay call produced.
type outcome struct {
	data        json.RawMessage
	clayLatency time.Duration
	// pending is set when the request's result comes later, from a
	// callback or a routine run: settle stores it instead of a result.
	pending *pendingRecord
}

// process runs the steps of one delivery: decode, check, call, settle.
func (p *Processor) process(ctx context.Context, c *consumer, msg jetstream.Msg, t ticket) {
	j, err := p.newJob(c, msg, t)
	if err != nil {
		p.log.Error().Err(err).Str("subject", msg.Subject()).Msg("message without JetStream metadata: terminating")
		_ = msg.Term()
		p.gate.release(t, nil)
		return
	}
	j.log.Debug().Msg("request received")
	p.markLastDelivery(ctx, j)
	if !p.claim(ctx, j) {
		p.gate.releaseProbes(j)
		return
	}
	req, err := p.decode(j)
	if err != nil {
		p.settle(ctx, j, nil, err)
		return
	}
	if p.answerFromCache(ctx, j) {
		p.gate.releaseProbes(j)
		return
	}
	if stop := p.check(j); stop != nil {
		if p.answerFallback(ctx, j, stop.reason) {
			p.gate.releaseProbes(j)
			return
		}
		p.park(j, stop)
		return
	}
	if hook := p.cfg.Hooks.BeforeCall; hook != nil {
		hook(j.key)
	}
	out, err := p.call(ctx, j, req)
	p.settle(ctx, j, out, err)
}

// decode validates the body and the request's deadline.
func (p *Processor) decode(j *job) (*subjects.Request, error) {
	req, err := subjects.DecodeParams(j.c.operation, j.msg.Data())
	if err != nil {
		return nil, err
	}
	req.Key, req.Keyless, req.Priority = j.key, j.keyless, j.c.priority
	if req.Row != nil {
		j.table = req.Row.Table
	}
	if j.deadline, err = requestDeadline(j.msg.Headers().Get(subjects.HeaderDeadline)); err != nil {
		return nil, err
	}
	if cacheable(j.c.operation) && p.cache != nil {
		if j.cacheKey, err = fallback.Key(j.c.operation, j.msg.Data()); err != nil {
			return nil, fmt.Errorf("%w: %v", subjects.ErrInvalidRequest, err)
		}
	}
	if !j.deadline.IsZero() && !time.Now().Before(j.deadline) {
		return nil, fmt.Errorf("%w: %s was %s", errRequestDeadline, subjects.HeaderDeadline, j.deadline.Format(time.RFC3339))
	}
	return req, nil
}

// check returns the hold that stops the call now, and records which holds
// the call probes.
func (p *Processor) check(j *job) *hold {
	stop, probes := p.gate.admitCall(j.c.operation, j.table, j.ticket)
	j.probes = append(j.probes, probes...)
	return stop
}

func (p *Processor) newJob(c *consumer, msg jetstream.Msg, t ticket) (*job, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return nil, err
	}
	j := &job{c: c, msg: msg, meta: meta, attempt: int(meta.NumDelivered), ticket: t}
	if t.probe != nil {
		j.probes = []*hold{t.probe}
	}
	j.key, j.keyless = messageKey(c.operation, &jetstream.RawStreamMsg{
		Header: msg.Headers(), Data: msg.Data(), Sequence: meta.Sequence.Stream})
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
	var out *outcome
	var err error
	switch req.Operation {
	case subjects.Row:
		out, err = p.pushRow(ctx, j, req)
	case subjects.Routine:
		out, err = p.runRoutine(ctx, j, req)
	case subjects.Search:
		var data json.RawMessage
		data, err = p.search(ctx, j, req)
		out = &outcome{data: data}
	}
	elapsed := time.Since(start)
	p.metrics.observeCall(req.Operation, err, elapsed)
	if err != nil {
		return nil, err
	}
	out.clayLatency = elapsed
	return out, nil
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
				if p.cfg.Hooks.DisableInProgress {
					continue
				}
				if err := j.msg.InProgress(); err != nil {
					j.log.Warn().Err(err).Msg("in-progress signal failed")
				}
				p.renew(ctx, j)
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

// webhookFor returns the table's webhook source. A table configured
// without a URL, like one not configured at all, maps to the default
// webhook base when there is one.
func (p *Processor) webhookFor(table string) (clay.Webhook, error) {
	t, ok := p.cfg.Tables[table]
	if ok && t.Webhook.URL != "" {
		return t.Webhook, nil
	}
	if p.cfg.DefaultWebhookBase != "" {
		return clay.Webhook{URL: p.cfg.DefaultWebhookBase + clay.WebhookPathPrefix + DefaultWebhookSource(table), Token: t.Webhook.Token}, nil
	}
	return clay.Webhook{}, fmt.Errorf("%w %q: add it under tables in the configuration", errUnknownTable, table)
}

// DefaultWebhookSource is the webhook source name an unconfigured table
// maps to on the simulator or a --clay-url base.
func DefaultWebhookSource(table string) string {
	return "pull-in-data-from-a-webhook-" + table
}
