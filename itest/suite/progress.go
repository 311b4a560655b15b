package suite

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Progress is the state of a running workload. Faults use it to act
// mid-run and to stop when the traffic has ended.
type Progress struct {
	total int
	start time.Time
	ended atomic.Int64
	once  sync.Once
	done  chan struct{}
}

func newProgress(total int) *Progress {
	return &Progress{total: total, start: time.Now(), done: make(chan struct{})}
}

// Total returns the number of requests of the workload.
func (p *Progress) Total() int { return p.total }

// Ended returns the number of requests with a result or a DLQ entry
// that a watch of both streams has delivered so far.
func (p *Progress) Ended() int { return int(p.ended.Load()) }

// Elapsed returns the time since the first publish.
func (p *Progress) Elapsed() time.Duration { return time.Since(p.start) }

// Done returns a channel closed when every request has ended and the
// request stream is empty.
func (p *Progress) Done() <-chan struct{} { return p.done }

// Finished reports whether Done is closed.
func (p *Progress) Finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitEnded waits until at least fraction of the requests have ended. It
// returns false when the traffic finished or ctx ended first, which
// means a fault meant for mid-run would come too late.
func (p *Progress) WaitEnded(ctx context.Context, fraction float64) bool {
	want := int(fraction * float64(p.total))
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for p.Ended() < want {
		select {
		case <-ctx.Done():
			return false
		case <-p.done:
			return false
		case <-ticker.C:
		}
	}
	return !p.Finished()
}

// Sleep waits for d. It returns false when the traffic finished or ctx
// ended first.
func (p *Progress) Sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-p.done:
		return false
	case <-timer.C:
		return true
	}
}

func (p *Progress) finish() { p.once.Do(func() { close(p.done) }) }
