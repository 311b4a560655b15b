package processor

import (
	"context"
	"sync"
	"time"

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

// slotShare keeps the worker slots of one fetch and gives each back once
// the messages not yet settled fit in one slot fewer.
type slotShare struct {
	pool    *pool
	perSlot int

	mu       sync.Mutex
	slots    int
	messages int
}

// newSlotShare takes over slots for n messages about to be fetched and
// gives back at once the slots those messages do not need.
func newSlotShare(p *pool, perSlot, slots, n int) *slotShare {
	s := &slotShare{pool: p, perSlot: perSlot, slots: slots, messages: n}
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
	s.messages -= n
	s.mu.Unlock()
	s.settle()
}

func (s *slotShare) settle() {
	s.mu.Lock()
	free := s.slots - ceilDiv(max(s.messages, 0), s.perSlot)
	s.slots -= free
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

// rowTokens takes the tokens of one batch of rows, no more than room and,
// when the last fetch left rows waiting, no more than those rows. While
// rows wait, it first lets all those tokens come in, so that each POST
// carries a full batch instead of the one row whose token came in last.
func (p *Processor) rowTokens(ctx context.Context, c *consumer, budget *allocator, room int) *grant {
	want := min(room, maxBatchRows)
	if c.backlog > 0 {
		want = min(want, int(min(c.backlog, maxBatchRows)))
	}
	if c.backlog > 0 && want > 1 {
		awaitTokens(ctx, budget, want)
	}
	return budget.acquire(ctx, c.priority, want)
}

// awaitTokens waits until the budget holds n tokens, or for as long as n
// tokens take to come in, whichever is first. It takes none: tokens held
// while others come in would be spent later on top of a refilled budget
// and overrun Clay's own bucket, which has a burst of its own.
func awaitTokens(ctx context.Context, budget *allocator, n int) {
	const recheck = 100 * time.Millisecond
	st := budget.state()
	if st.Limit <= 0 || st.Tokens >= float64(n) {
		return
	}
	deadline := time.Now().Add(time.Duration(float64(n) / st.Limit * float64(time.Second)))
	for ctx.Err() == nil && time.Now().Before(deadline) {
		missing := float64(n) - st.Tokens
		sleep(ctx, min(time.Duration(missing/st.Limit*float64(time.Second)), recheck, time.Until(deadline)))
		if st = budget.state(); st.Limit <= 0 || st.Tokens >= float64(n) {
			return
		}
	}
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
