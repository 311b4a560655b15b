package processor

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/subjects"
)

// Batch limits. Clay takes at most 100 KB per request; the margin leaves
// room for the JSON around the items. A routine run takes 1 to 100 items.
const (
	maxBatchRows  = 10
	maxBatchBytes = 90 << 10
	maxRunItems   = 100
)

// batchItem is one request waiting in a batch. Its worker waits on done
// for the outcome, which arrives exactly once.
type batchItem struct {
	j *job
	// payload is the request's part of the batch: a row or a routine
	// item.
	payload any
	// size is the payload's length in JSON.
	size     int
	done     chan batchResult
	finished bool
}

// batchResult is one item's outcome: the data of its result, the run it
// joined, or the error that ended it.
type batchResult struct {
	data  json.RawMessage
	runID string
	err   error
}

func newBatchItem(j *job, payload any, size int) *batchItem {
	return &batchItem{j: j, payload: payload, size: size, done: make(chan batchResult, 1)}
}

// finish delivers the item's outcome; later calls do nothing. Only the
// goroutine sending the batch calls it.
func (it *batchItem) finish(r batchResult) {
	if it.finished {
		return
	}
	it.finished = true
	it.done <- r
}

// errBatchNotSent marks an item whose batch ended without an outcome for
// it. Only a bug leads here, and the request is then tried again.
var errBatchNotSent = &clay.Error{Op: "batch", Kind: clay.KindTransient, Message: "the batch ended without an outcome for this request"}

// batcher collects the requests for one table (rows) or one routine (run
// items) into batches of at most maxItems and maxBytes. The first request
// of a batch leads it. Its worker waits up to the linger, or until the
// batch is full or a critical request joins it, and then sends the batch, while the other workers wait
// for their outcome. Every worker keeps its message alive with InProgress
// while it waits, and keeps its share of the fetch budget (worker slot
// and rate token), so a request in a batch is counted like one being
// called.
type batcher struct {
	maxItems int
	maxBytes int
	linger   time.Duration
	// send sends one closed batch and finishes each of its items.
	send func(ctx context.Context, items []*batchItem)

	mu   sync.Mutex
	open *openBatch
}

// openBatch is a batch that still takes requests until closed is closed.
type openBatch struct {
	items  []*batchItem
	size   int
	closed chan struct{}
}

// submit adds it to the open batch, or opens one and leads it, and
// returns the item's outcome.
func (b *batcher) submit(ctx context.Context, it *batchItem) batchResult {
	b.mu.Lock()
	if b.open != nil && b.open.size+it.size+1 > b.maxBytes {
		b.closeLocked()
	}
	batch := b.open
	leader := batch == nil
	if leader {
		batch = &openBatch{closed: make(chan struct{})}
		b.open = batch
	}
	batch.items = append(batch.items, it)
	batch.size += it.size + 1
	// A critical request takes the requests already waiting with it, and
	// does not wait for more.
	if len(batch.items) >= b.maxItems || batch.size >= b.maxBytes || it.j.c.priority == subjects.Critical {
		b.closeLocked()
	}
	b.mu.Unlock()
	if leader {
		b.lead(ctx, batch)
	}
	return <-it.done
}

// lead waits for the batch to fill or the linger to pass, then sends it.
func (b *batcher) lead(ctx context.Context, batch *openBatch) {
	timer := time.NewTimer(b.linger)
	select {
	case <-batch.closed:
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	b.mu.Lock()
	if b.open == batch {
		b.closeLocked()
	}
	b.mu.Unlock()
	b.send(ctx, batch.items)
	for _, it := range batch.items {
		it.finish(batchResult{err: errBatchNotSent})
	}
}

func (b *batcher) closeLocked() {
	close(b.open.closed)
	b.open = nil
}

// batcherFor returns the batcher stored under name in set, creating it
// with newBatcher when missing.
func batcherFor(set *sync.Map, name string, newBatcher func() *batcher) *batcher {
	if b, ok := set.Load(name); ok {
		return b.(*batcher)
	}
	b, _ := set.LoadOrStore(name, newBatcher())
	return b.(*batcher)
}

// sendFunc sends a batch as one Clay call and returns what every item of
// it gets on success.
type sendFunc func(ctx context.Context, items []*batchItem) (batchResult, error)

// sendSplitting sends items with send. Clay may reject a batch of several
// items as a request: 400, 404, 413, 422 or another 4xx that is not about
// credentials, credits or the rate. Each half is then sent on its own,
// down to single items, so one bad item cannot sink the others. Each
// resend first takes rate tokens for its items again, since Clay may have
// counted the rejected request against the budget.
func (p *Processor) sendSplitting(ctx context.Context, op subjects.Operation, items []*batchItem, send sendFunc) {
	res, err := send(ctx, items)
	if err == nil {
		for _, it := range items {
			it.finish(res)
		}
		return
	}
	if len(items) == 1 || !errors.Is(err, clay.ErrRejected) {
		for _, it := range items {
			it.finish(batchResult{err: err})
		}
		return
	}
	p.log.Warn().Err(err).Str("operation", string(op)).Int("items", len(items)).
		Msg("Clay rejected a batch: sending each half on its own")
	half := len(items) / 2
	for _, part := range [][]*batchItem{items[:half], items[half:]} {
		if err := p.reserveTokens(ctx, op, part); err != nil {
			for _, it := range part {
				it.finish(batchResult{err: err})
			}
			continue
		}
		p.sendSplitting(ctx, op, part, send)
	}
}

// reserveTokens takes the rate tokens a resend of items costs: one per
// row, one per routine run.
func (p *Processor) reserveTokens(ctx context.Context, op subjects.Operation, items []*batchItem) error {
	want := 1
	if op == subjects.Row {
		want = len(items)
	}
	prio := subjects.Bulk
	for _, it := range items {
		prio = moreUrgent(prio, it.j.c.priority)
	}
	budget := p.budgets[surfaceOf(op)]
	for want > 0 {
		g := budget.acquire(ctx, prio, want)
		if g == nil {
			return &clay.Error{Op: "batch", Kind: clay.KindCanceled, Message: "stopped while waiting for rate tokens", Err: ctx.Err()}
		}
		want -= g.count()
	}
	return nil
}

// moreUrgent returns the more urgent of two priorities.
func moreUrgent(a, b subjects.Priority) subjects.Priority {
	for _, p := range subjects.Priorities {
		if p == a || p == b {
			return p
		}
	}
	return a
}

// markBatchSent records in the ledger, in parallel, that each item is
// about to leave. It drops and finishes at once the items whose request
// deadline passed while they waited and those whose key could not be
// marked, since none of them reached Clay.
func (p *Processor) markBatchSent(ctx context.Context, items []*batchItem) []*batchItem {
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		if !it.j.deadline.IsZero() && !time.Now().Before(it.j.deadline) {
			errs[i] = errRequestDeadline
			continue
		}
		wg.Go(func() { errs[i] = p.markSent(ctx, it.j) })
	}
	wg.Wait()
	var sendable []*batchItem
	for i, it := range items {
		if errs[i] != nil {
			it.finish(batchResult{err: errs[i]})
			continue
		}
		sendable = append(sendable, it)
	}
	return sendable
}
