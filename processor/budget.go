package processor

import (
	"context"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Unlimited as a rate limit turns a budget off.
const Unlimited = -1

// budget is a token bucket of Clay records. Tokens are reserved before
// fetching, so a fetched message never waits for one past its ack deadline.
type budget struct {
	limiter *rate.Limiter
}

func newBudget(perSecond float64, burst int) *budget {
	if perSecond < 0 {
		return &budget{}
	}
	return &budget{limiter: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// reservation is a set of reserved tokens, one per record.
type reservation struct {
	tokens []*rate.Reservation
}

// reserve waits until at least one token is there and reserves up to want
// tokens that are available now. It returns nil when ctx ends first.
func (b *budget) reserve(ctx context.Context, want int) *reservation {
	if b.limiter == nil {
		return &reservation{tokens: make([]*rate.Reservation, want)}
	}
	now := time.Now()
	n := int(math.Floor(b.limiter.TokensAt(now)))
	n = max(1, min(want, n))
	res := &reservation{tokens: make([]*rate.Reservation, 0, n)}
	var wait time.Duration
	for range n {
		r := b.limiter.ReserveN(now, 1)
		res.tokens = append(res.tokens, r)
		wait = max(wait, r.DelayFrom(now))
	}
	if wait <= 0 {
		return res
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return res
	case <-ctx.Done():
		res.giveBack(len(res.tokens))
		return nil
	}
}

// count returns the number of tokens reserved.
func (r *reservation) count() int { return len(r.tokens) }

// giveBack returns the last n tokens, for records that were not fetched.
func (r *reservation) giveBack(n int) {
	for i := len(r.tokens) - 1; i >= 0 && n > 0; i, n = i-1, n-1 {
		if r.tokens[i] != nil {
			r.tokens[i].Cancel()
		}
		r.tokens = r.tokens[:i]
	}
}

// state returns the limit, burst and tokens available now.
func (b *budget) state() (limit float64, burst int, tokens float64) {
	if b.limiter == nil {
		return 0, 0, 0
	}
	return float64(b.limiter.Limit()), b.limiter.Burst(), b.limiter.Tokens()
}
