package processor

import (
	"context"
	"time"

	"github.com/claybridge/claybridge/fallback"
	"github.com/claybridge/claybridge/subjects"
)

// cacheable reports whether results of op may be served from the fallback
// cache. Rows are writes, so their results never are.
func cacheable(op subjects.Operation) bool { return op != subjects.Row }

// openCache opens the fallback cache's buckets and its memory tier.
func (p *Processor) openCache(ctx context.Context) error {
	if p.cfg.CacheDisabled {
		return nil
	}
	kv, objects, err := fallback.OpenBuckets(ctx, p.js, fallback.BucketConfig{Replicas: p.cfg.Replicas})
	if err != nil {
		return err
	}
	cfg := p.cfg.Cache
	cfg.Registerer, cfg.Logger = p.cfg.Registerer, p.log.With().Str("component", "fallback").Logger()
	p.cache, err = fallback.New(ctx, kv, objects, cfg)
	return err
}

// answerFromCache publishes a fresh cache entry as the request's result
// when its operation is cache-first, without calling Clay.
func (p *Processor) answerFromCache(work context.Context, j *job) bool {
	if j.cacheKey == "" || !p.cfg.CacheFirst[j.c.operation] {
		return false
	}
	entry, ok := p.cacheGet(work, j, subjects.Fresh)
	if !ok {
		return false
	}
	return p.publishCached(work, j, entry, subjects.StatusOK, "")
}

// answerFallback answers a request Clay cannot serve now with the best
// cache entry the priority may be served, labelled as a fallback.
func (p *Processor) answerFallback(work context.Context, j *job, reason string) bool {
	if j.cacheKey == "" {
		return false
	}
	entry, ok := p.cacheGet(work, j, p.cache.MaxStalenessFor(j.c.priority))
	if !ok {
		return false
	}
	return p.publishCached(work, j, entry, subjects.StatusFallback, reason)
}

func (p *Processor) cacheGet(ctx context.Context, j *job, maxStaleness string) (fallback.Entry, bool) {
	entry, ok, err := p.cache.Get(ctx, j.cacheKey, maxStaleness)
	if err != nil {
		j.log.Warn().Err(err).Msg("fallback cache lookup failed")
		return fallback.Entry{}, false
	}
	return entry, ok
}

func (p *Processor) publishCached(work context.Context, j *job, entry fallback.Entry, status, reason string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(work), settleTimeout)
	defer cancel()
	res := subjects.Result{
		Schema:    subjects.ResultSchema,
		Key:       j.key,
		Operation: j.c.operation,
		Priority:  j.c.priority,
		Status:    status,
		Source:    subjects.SourceCache,
		Staleness: entry.Staleness,
		AgeMS:     entry.Age.Milliseconds(),
		Attempts:  j.attempt,
		Data:      entry.Data,
		Reason:    reason,
	}
	if err := p.publishResult(ctx, j, &res); err != nil {
		j.log.Error().Err(err).Msg("cached result not published: the request takes its normal path")
		return false
	}
	p.ackStoredResult(j)
	outcome := outcomeCache
	if status == subjects.StatusFallback {
		outcome = outcomeFallback
		p.metrics.fallbacks.WithLabelValues(reason).Inc()
		j.log.Warn().Str("reason", reason).Str("staleness", entry.Staleness).Msg("answered from the fallback cache")
	}
	p.metrics.countRequest(j, outcome)
	return true
}

// remember stores a Clay answer in both cache tiers.
func (p *Processor) remember(ctx context.Context, j *job, out *outcome) {
	if j.cacheKey == "" {
		return
	}
	if err := p.cache.Put(ctx, j.cacheKey, j.c.operation, out.data, time.Now()); err != nil {
		j.log.Warn().Err(err).Msg("Clay response not stored in the fallback cache")
	}
}
