package processor

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/claybridge/claybridge/subjects"
)

// Unlimited as a rate limit turns a budget off.
const Unlimited = -1

// allocator hands out one Clay surface's rate budget to the priorities.
// Tokens are taken before fetching, so a fetched message never waits for
// one past its ack deadline. Critical is served first, then normal, then
// bulk, but a priority that waits is never passed over for more than
// share-1 tokens in a row, and critical borrows whatever the others leave
// idle.
type allocator struct {
	mu      sync.Mutex
	limiter bucket
	credit  float64 // whole tokens given back, spent before the limiter's
	waiting map[subjects.Priority]int
	since   map[subjects.Priority]int // tokens others took since this one got one
	share   int
	changed chan struct{}
}

// bucket is a token bucket: a *rate.Limiter, or one shared by replicas.
type bucket interface {
	TokensAt(now time.Time) float64
	Tokens() float64
	AllowN(now time.Time, n int) bool
	Limit() rate.Limit
	Burst() int
	SetLimit(rate.Limit)
	SetBurst(int)
}

var (
	_ bucket = (*rate.Limiter)(nil)
	_ bucket = (*sharedBucket)(nil)
)

// shareIn moves a limited budget into CLAY_CONTROL, so that every replica
// spends the same tokens. An unlimited budget stays local.
func (a *allocator) shareIn(kv jetstream.KeyValue, surface string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.limiter == nil {
		return
	}
	a.limiter = newSharedBucket(kv, surface, float64(a.limiter.Limit()), a.limiter.Burst())
}

func newAllocator(perSecond float64, burst, share int) *allocator {
	a := &allocator{
		waiting: map[subjects.Priority]int{},
		since:   map[subjects.Priority]int{},
		share:   share,
		changed: make(chan struct{}),
	}
	if perSecond >= 0 {
		a.limiter = rate.NewLimiter(rate.Limit(perSecond), burst)
	}
	return a
}

// grant is a set of tokens taken from an allocator.
type grant struct {
	a *allocator
	n int
}

// count returns the number of tokens granted.
func (g *grant) count() int { return g.n }

// giveBack returns n unused tokens.
func (g *grant) giveBack(n int) {
	n = min(n, g.n)
	if n <= 0 || g.a.limiter == nil {
		return
	}
	g.n -= n
	a := g.a
	a.mu.Lock()
	if shared, ok := a.limiter.(*sharedBucket); ok {
		// Kept here, the tokens would be spent on top of what the other
		// replicas take from the shared bucket, so they go back into it.
		shared.refund(time.Now(), n)
		a.broadcastLocked()
		a.mu.Unlock()
		return
	}
	// Returned tokens never lift the total over the burst, or a budget
	// that was full when they were taken would overrun Clay's bucket.
	room := math.Floor(float64(a.limiter.Burst()) - a.limiter.TokensAt(time.Now()))
	a.credit = max(0, min(a.credit+float64(n), room))
	a.broadcastLocked()
	a.mu.Unlock()
}

// acquire waits for this priority's turn and at least one token, then
// takes up to want tokens available now. It returns nil when ctx ends.
func (a *allocator) acquire(ctx context.Context, prio subjects.Priority, want int) *grant {
	if a.limiter == nil || want <= 0 {
		return &grant{a: a, n: want}
	}
	a.mu.Lock()
	a.waiting[prio]++
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.waiting[prio]--
		a.broadcastLocked()
		a.mu.Unlock()
	}()
	for {
		a.mu.Lock()
		n, wait := a.takeLocked(prio, want)
		changed := a.changed
		a.mu.Unlock()
		if n > 0 {
			return &grant{a: a, n: n}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// takeLocked takes tokens for prio if it is its turn, or returns how long
// to wait.
func (a *allocator) takeLocked(prio subjects.Priority, want int) (int, time.Duration) {
	const notMyTurn = 50 * time.Millisecond
	if !a.turnLocked(prio) {
		return 0, notMyTurn
	}
	now := time.Now()
	// Only whole tokens count: the credit is whole, and a fraction of the
	// limiter's would be granted without being taken.
	tokens := a.limiter.TokensAt(now)
	available := a.credit + math.Floor(tokens)
	if available < 1 {
		perSecond := float64(a.limiter.Limit())
		if perSecond <= 0 {
			return 0, time.Second
		}
		return 0, time.Duration((1 - tokens) / perSecond * float64(time.Second))
	}
	n := min(want, int(available))
	fromCredit := min(n, int(a.credit))
	a.credit -= float64(fromCredit)
	if rest := n - fromCredit; rest > 0 && !a.limiter.AllowN(now, rest) {
		n = fromCredit
		if n == 0 {
			return 0, 10 * time.Millisecond
		}
	}
	for p, waiting := range a.waiting {
		if p != prio && waiting > 0 {
			a.since[p] += n
		}
	}
	a.since[prio] = 0
	a.broadcastLocked()
	return n, 0
}

// turnLocked reports whether prio is served next: the priority passed
// over longest once it is owed its share, else the most urgent waiting.
func (a *allocator) turnLocked(prio subjects.Priority) bool {
	var owed subjects.Priority
	for _, p := range subjects.Priorities {
		if a.waiting[p] > 0 && a.since[p] >= a.share-1 && (owed == "" || a.since[p] > a.since[owed]) {
			owed = p
		}
	}
	if owed != "" {
		return owed == prio
	}
	for _, p := range subjects.Priorities {
		if a.waiting[p] > 0 {
			return p == prio
		}
	}
	return true
}

func (a *allocator) broadcastLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// setRate changes the refill rate and burst, for a budget adapted from
// Clay's rate-limit headers.
func (a *allocator) setRate(perSecond float64, burst int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.limiter == nil {
		a.limiter = rate.NewLimiter(rate.Limit(perSecond), burst)
	} else {
		a.limiter.SetLimit(rate.Limit(perSecond))
		a.limiter.SetBurst(burst)
	}
	a.broadcastLocked()
}

// state returns the limit, burst and tokens available now; a zero limit
// means unlimited.
func (a *allocator) state() subjects.RateBudget {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.limiter == nil {
		return subjects.RateBudget{}
	}
	return subjects.RateBudget{
		Limit:  float64(a.limiter.Limit()),
		Burst:  a.limiter.Burst(),
		Tokens: a.credit + a.limiter.Tokens(),
	}
}
