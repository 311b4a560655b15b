package processor

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// maxFetch bounds one fetch.
	maxFetch = 64
	// idlePoll is how often an idle consumer looks for messages that no
	// publish announced, such as redeliveries after a delayed nak.
	idlePoll = time.Second
	// wakeRetry is the first wait before fetching again after a publish
	// was announced and the fetch found nothing yet. It doubles while the
	// fetches keep finding nothing, up to idlePoll.
	wakeRetry = 2 * time.Millisecond
	// fetchErrorPause slows a loop whose fetches fail.
	fetchErrorPause = time.Second
)

// consumeLoop hands messages of one consumer to workers. Each round it
// asks the gate (holds, breaker), then takes free worker slots, then rate
// tokens, and only then fetches, so nothing fetched waits for a token or
// a worker past its ack deadline. Parked messages whose hold ended go
// before new fetches. It returns when ctx ends; workers run on work,
// which outlives ctx for the shutdown grace period.
//
// Rows and routine items are sent in batches, so one worker slot covers
// a batch's worth of them (messagesPerSlot): the messages keep the slot
// until they are settled, waiting in their batch included.
func (p *Processor) consumeLoop(ctx, work context.Context, c *consumer) {
	pool := p.pools[c.priority]
	budget := p.budgets[surfaceOf(c.operation)]
	perSlot := messagesPerSlot(c.operation)
	for ctx.Err() == nil {
		t, ok := p.gate.admit(ctx, c)
		if !ok {
			return
		}
		slots := pool.acquire(ctx, ceilDiv(t.limit, perSlot))
		if slots == 0 {
			p.gate.release(t, nil)
			return
		}
		tokens, n := p.fetchTokens(ctx, c, budget, min(slots*perSlot, t.limit))
		if tokens == nil {
			pool.release(slots)
			p.gate.release(t, nil)
			return
		}
		share := newSlotShare(pool, perSlot, slots, n)
		got, err := p.take(work, c, n, t, share)
		share.shrink(n - got)
		giveBackTokens(c.operation, tokens, n, got)
		if got == 0 {
			p.gate.release(t, c)
		} else {
			c.retry = 0
		}
		if err != nil && ctx.Err() == nil {
			p.log.Warn().Err(err).Str("consumer", ConsumerName(c.priority, c.operation)).Msg("fetch failed")
			sleep(ctx, fetchErrorPause)
		}
		if got == 0 && err == nil {
			c.idle(ctx)
		}
	}
}

// idle waits, holding no worker slot, until a publish on the consumer's
// subject or the next poll.
//
// A publish can be announced before JetStream has stored it, so after a
// wake that fetched nothing the next waits are short, and grow.
func (c *consumer) idle(ctx context.Context) {
	wait := idlePoll
	if c.retry > 0 {
		wait = c.retry
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.wake:
		c.retry = wakeRetry
	case <-t.C:
		if c.retry > 0 && c.retry < idlePoll {
			c.retry *= 2
		} else {
			c.retry = 0
		}
	case <-ctx.Done():
	}
}

// take dispatches up to n messages: parked ones whose hold ended first,
// else a fetch.
func (p *Processor) take(work context.Context, c *consumer, n int, t ticket, share *slotShare) (int, error) {
	if parked := p.gate.unpark(c, n, t); len(parked) > 0 {
		for _, pm := range parked {
			p.dispatch(work, c, pm.msg, t, share)
		}
		return len(parked), nil
	}
	return p.fetch(work, c, n, t, share)
}

// fetch takes up to n messages that are waiting now, without waiting for
// more while it holds worker slots. An idle consumer waits in idle.
func (p *Processor) fetch(work context.Context, c *consumer, n int, t ticket, share *slotShare) (int, error) {
	batch, err := c.bind.get().FetchNoWait(n)
	if err != nil {
		return 0, err
	}
	got := p.dispatchBatch(work, c, batch, t, share)
	return got, batch.Error()
}

func (p *Processor) dispatchBatch(work context.Context, c *consumer, batch jetstream.MessageBatch, t ticket, share *slotShare) int {
	got := 0
	for msg := range batch.Messages() {
		got++
		c.bind.touch()
		if meta, err := msg.Metadata(); err == nil {
			c.backlog = meta.NumPending
		}
		p.dispatch(work, c, msg, t, share)
	}
	if got == 0 {
		c.backlog = 0
	}
	return got
}

// dispatch runs one message on a worker that holds its share of the
// consumer's pool and gives it back when done.
func (p *Processor) dispatch(work context.Context, c *consumer, msg jetstream.Msg, t ticket, share *slotShare) {
	p.inflight.Add(1)
	go func() {
		defer p.inflight.Done()
		defer share.done()
		p.process(work, c, msg, t)
	}()
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
