package processor

import "context"

// pool bounds the messages of one priority being worked on at once.
type pool struct {
	slots chan struct{}
}

func newPool(size int) *pool {
	return &pool{slots: make(chan struct{}, size)}
}

// acquire waits for one free slot, then takes up to max-1 more without
// waiting. It returns the number taken, or 0 when ctx ends first.
func (p *pool) acquire(ctx context.Context, max int) int {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < max {
		select {
		case p.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (p *pool) release(n int) {
	for range n {
		<-p.slots
	}
}
