package processor

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/claybridge/claybridge/subjects"
)

// sharedBucket is a token bucket kept in CLAY_CONTROL, so every replica
// spends one workspace's budget. Each take is a compare-and-set of the
// bucket's tokens and the time they were counted; refills are computed
// from that time, so a replica that dies leaves nothing behind. It has
// the methods of *rate.Limiter that the allocator uses.
type sharedBucket struct {
	kv    jetstream.KeyValue
	key   string
	mu    sync.Mutex
	limit rate.Limit
	burst int
}

type bucketState struct {
	Tokens float64   `json:"tokens"`
	At     time.Time `json:"at"`
}

// kvTimeout bounds one read or write of shared state.
const kvTimeout = 2 * time.Second

func newSharedBucket(kv jetstream.KeyValue, surface string, perSecond float64, burst int) *sharedBucket {
	return &sharedBucket{kv: kv, key: "budget." + surface, limit: rate.Limit(perSecond), burst: burst}
}

func (b *sharedBucket) Limit() rate.Limit {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.limit
}

func (b *sharedBucket) Burst() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.burst
}

func (b *sharedBucket) SetLimit(l rate.Limit) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limit = l
}

func (b *sharedBucket) SetBurst(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.burst = n
}

func (b *sharedBucket) Tokens() float64 { return b.TokensAt(time.Now()) }

// TokensAt returns the tokens available at now, or 0 when the shared
// state cannot be read, so an unreachable bucket spends nothing.
func (b *sharedBucket) TokensAt(now time.Time) float64 {
	st, _, err := b.read()
	if err != nil {
		return 0
	}
	return b.refill(st, now)
}

// AllowN takes n tokens if they are there.
func (b *sharedBucket) AllowN(now time.Time, n int) bool {
	for range 8 {
		st, rev, err := b.read()
		if err != nil {
			return false
		}
		tokens := b.refill(st, now)
		if tokens < float64(n) {
			return false
		}
		data, _ := json.Marshal(bucketState{Tokens: tokens - float64(n), At: now.UTC()})
		ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
		if rev == 0 {
			_, err = b.kv.Create(ctx, b.key, data)
		} else {
			_, err = b.kv.Update(ctx, b.key, data, rev)
		}
		cancel()
		if err == nil {
			return true
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
			return false
		}
	}
	return false
}

// refund puts back n tokens that were taken and not spent, never lifting
// the bucket over its burst. A failed write loses them, which spends less
// than the budget, never more.
func (b *sharedBucket) refund(now time.Time, n int) {
	for range 8 {
		st, rev, err := b.read()
		if err != nil {
			return
		}
		tokens := math.Min(float64(b.Burst()), b.refill(st, now)+float64(n))
		data, _ := json.Marshal(bucketState{Tokens: tokens, At: now.UTC()})
		ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
		if rev == 0 {
			_, err = b.kv.Create(ctx, b.key, data)
		} else {
			_, err = b.kv.Update(ctx, b.key, data, rev)
		}
		cancel()
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
			return
		}
	}
}

// read returns the stored state; a missing one is a full bucket.
func (b *sharedBucket) read() (bucketState, uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	entry, err := b.kv.Get(ctx, b.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return bucketState{Tokens: float64(b.Burst()), At: time.Now()}, 0, nil
	}
	if err != nil {
		return bucketState{}, 0, err
	}
	var st bucketState
	if err := json.Unmarshal(entry.Value(), &st); err != nil {
		return bucketState{Tokens: 0, At: time.Now()}, entry.Revision(), nil
	}
	return st, entry.Revision(), nil
}

func (b *sharedBucket) refill(st bucketState, now time.Time) float64 {
	elapsed := max(now.Sub(st.At).Seconds(), 0)
	return math.Min(float64(b.Burst()), st.Tokens+elapsed*float64(b.Limit()))
}

// sharedHold is a hold as stored in CLAY_CONTROL for the other replicas.
type sharedHold struct {
	Scope  string    `json:"scope"`
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"`
	Owner  string    `json:"owner"`
}

// holdKey is the CLAY_CONTROL key of a hold's scope.
func holdKey(scope string) string { return "hold." + subjects.HashKey(scope)[:16] }

// shareHold publishes a hold this replica started to the other replicas.
func (p *Processor) shareHold(scope, reason string, until time.Time) {
	data, _ := json.Marshal(sharedHold{Scope: scope, Reason: reason, Until: until.UTC(), Owner: p.cfg.Instance})
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	if _, err := p.control.Put(ctx, holdKey(scope), data); err != nil {
		p.log.Warn().Err(err).Str("scope", scope).Msg("hold not shared with other replicas")
	}
}

// unshareHold publishes the end of a hold to the other replicas.
func (p *Processor) unshareHold(scope string) {
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	if err := p.control.Delete(ctx, holdKey(scope)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		p.log.Warn().Err(err).Str("scope", scope).Msg("end of hold not shared with other replicas")
	}
}

// watchHolds applies the holds other replicas share: a hold another
// replica started stops calls here too until its time is up, when this
// replica probes for itself.
func (p *Processor) watchHolds(ctx context.Context) {
	watcher, err := p.control.Watch(ctx, "hold.*")
	if err != nil {
		p.log.Warn().Err(err).Msg("shared holds not watched: this replica sees only its own")
		return
	}
	defer watcher.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case entry, ok := <-watcher.Updates():
			if !ok {
				return
			}
			if entry != nil {
				p.applySharedHold(entry)
			}
		}
	}
}

func (p *Processor) applySharedHold(entry jetstream.KeyValueEntry) {
	if entry.Operation() != jetstream.KeyValuePut {
		p.gate.endRemoteHold(entry.Key())
		return
	}
	var h sharedHold
	if json.Unmarshal(entry.Value(), &h) != nil || h.Owner == p.cfg.Instance || !time.Now().Before(h.Until) {
		return
	}
	if p.gate.startRemoteHold(h.Scope, h.Reason, h.Until, entry.Key()) {
		p.log.Warn().Str("scope", h.Scope).Str("reason", h.Reason).Str("owner", h.Owner).Time("until", h.Until).
			Msg("hold started by another replica applies here too")
		p.metrics.setHolds(p.gate.holdList())
	}
}
