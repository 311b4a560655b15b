package processor

import (
	"context"
	"sync"

	"github.com/claybridge/claybridge/subjects"
)

// messagesPerSlot returns how many messages of op one worker slot covers:
// a batch's worth of rows or routine items, since a batch is one Clay
// call, and one search.
func messagesPerSlot(op subjects.Operation) int {
	switch op {
	case subjects.Row:
		return maxBatchRows
	case subjects.Routine:
		return maxRunItems
	}
	return 1
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// slotShare holds the worker slots of one fetch and gives each back once
// the messages left fit in one slot fewer.
type slotShare struct {
	pool    *pool
	perSlot int

	mu   sync.Mutex
	held int
	left int
}

// newSlotShare takes over held slots for n messages about to be fetched
// and gives back at once the slots those messages do not need.
func newSlotShare(p *pool, perSlot, held, n int) *slotShare {
	s := &slotShare{pool: p, perSlot: perSlot, held: held, left: n}
	s.settle()
	return s
}

// done gives back a message's share once it is settled.
func (s *slotShare) done() { s.shrink(1) }

// shrink takes n messages out of the share: settled ones, or ones the
// fetch did not bring.
func (s *slotShare) shrink(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.left -= n
	s.mu.Unlock()
	s.settle()
}

func (s *slotShare) settle() {
	s.mu.Lock()
	free := s.held - ceilDiv(max(s.left, 0), s.perSlot)
	s.held -= free
	s.mu.Unlock()
	s.pool.release(free)
}

// fetchTokens takes the rate tokens of a fetch of up to room messages and
// returns them with the number of messages they allow, or nil when ctx
// ends. Searches and rows take a token per message; a routine fetch takes
// one, for the run its items join.
func (p *Processor) fetchTokens(ctx context.Context, c *consumer, budget *allocator, room int) (*grant, int) {
	switch c.operation {
	case subjects.Routine:
		g := budget.acquire(ctx, c.priority, 1)
		return g, room
	case subjects.Row:
		g := p.rowTokens(ctx, c, budget, room)
		if g == nil {
			return nil, 0
		}
		return g, g.count()
	}
	g := budget.acquire(ctx, c.priority, room)
	if g == nil {
		return nil, 0
	}
	return g, g.count()
}

// rowTokens takes up to room tokens for rows. While more rows wait than
// the budget lets through, it waits for a full batch's tokens and takes
// whole batches, so each POST carries as many rows as the budget allows
// instead of the one token that comes in at a time.
func (p *Processor) rowTokens(ctx context.Context, c *consumer, budget *allocator, room int) *grant {
	least := 1
	if c.backlog > 0 {
		least = min(room, maxBatchRows, int(min(c.backlog, maxBatchRows)))
	}
	g := budget.acquire(ctx, c.priority, room)
	for g != nil && g.count() < least {
		more := budget.acquire(ctx, c.priority, least-g.count())
		if more == nil {
			g.giveBack(g.count())
			return nil
		}
		g.n += more.n
	}
	if g != nil && c.backlog >= maxBatchRows && g.count() > maxBatchRows {
		g.giveBack(g.count() % maxBatchRows)
	}
	return g
}

// giveBackTokens returns the tokens a fetch did not use: those of the
// messages it did not bring, or a routine fetch's token when it brought
// nothing.
func giveBackTokens(op subjects.Operation, g *grant, n, got int) {
	if op == subjects.Routine {
		if got == 0 {
			g.giveBack(g.count())
		}
		return
	}
	g.giveBack(n - got)
}
