package processor

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

const (
	// maxFetch bounds one fetch.
	maxFetch = 64
	// idleWait is how long an idle consumer waits for one message while
	// holding one worker slot.
	idleWait = time.Second
	// fetchErrorPause slows a loop whose fetches fail.
	fetchErrorPause = time.Second
)

// consumeLoop fetches no more messages than there are free workers (and,
// for rows, reserved record tokens) and hands each to a worker. It returns
// when ctx ends; the workers run on work, which outlives ctx for the grace
// period.
func (p *Processor) consumeLoop(ctx, work context.Context, c *consumer) {
	pool := p.pools[c.priority]
	for ctx.Err() == nil {
		slots := pool.acquire(ctx, maxFetch)
		if slots == 0 {
			return
		}
		var tokens *reservation
		if c.operation == subjects.Row {
			if tokens = p.budget.reserve(ctx, slots); tokens == nil {
				pool.release(slots)
				return
			}
			pool.release(slots - tokens.count())
			slots = tokens.count()
		}
		got, err := p.fetch(ctx, work, c, slots, pool)
		pool.release(slots - got)
		if tokens != nil {
			tokens.giveBack(slots - got)
		}
		if err != nil && ctx.Err() == nil {
			p.log.Warn().Err(err).Str("consumer", ConsumerName(c.priority, c.operation)).Msg("fetch failed")
			sleep(ctx, fetchErrorPause)
		}
	}
}

// fetch takes up to n messages that are waiting; when none is, it waits for
// one. Each message is dispatched to a worker that releases its slot.
func (p *Processor) fetch(ctx, work context.Context, c *consumer, n int, pool *pool) (int, error) {
	batch, err := c.js.FetchNoWait(n)
	if err != nil {
		return 0, err
	}
	got := p.dispatch(work, c, batch, pool)
	if got > 0 || batch.Error() != nil {
		return got, batch.Error()
	}
	if ctx.Err() != nil {
		return 0, nil
	}
	batch, err = c.js.Fetch(1, jetstream.FetchMaxWait(idleWait))
	if err != nil {
		return 0, err
	}
	return p.dispatch(work, c, batch, pool), batch.Error()
}

func (p *Processor) dispatch(work context.Context, c *consumer, batch jetstream.MessageBatch, pool *pool) int {
	got := 0
	for msg := range batch.Messages() {
		got++
		p.inflight.Add(1)
		go func() {
			defer p.inflight.Done()
			defer pool.release(1)
			p.process(work, c, msg)
		}()
	}
	return got
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
