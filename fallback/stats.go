package fallback

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claybridge/claybridge/subjects"
)

// Tiers of the cache, as reported in Entry.Tier and in metrics.
const (
	TierMemory = "memory"
	TierKV     = "kv"
)

// Reasons for a miss, as reported in the misses metric.
const (
	missNotFound = iota
	missTooStale
	missError
	missReasons
)

var (
	tierNames       = [...]string{TierMemory, TierKV}
	stalenessNames  = [...]string{subjects.Fresh, subjects.Stale, subjects.VeryStale}
	missReasonNames = [missReasons]string{"not_found", "too_stale", "error"}
)

// Stats is a snapshot of a cache's counters since New.
type Stats struct {
	// MemoryHits and KVHits count lookups served by each tier.
	MemoryHits uint64
	KVHits     uint64
	// FreshHits, StaleHits and VeryStaleHits count hits by staleness.
	FreshHits     uint64
	StaleHits     uint64
	VeryStaleHits uint64
	// Misses counts lookups that returned no entry, including
	// TooStaleMisses and ErrorMisses.
	Misses uint64
	// TooStaleMisses counts lookups that found only entries staler than
	// the caller accepts.
	TooStaleMisses uint64
	// ErrorMisses counts lookups that failed to read KV or the Object
	// Store and so returned a miss.
	ErrorMisses uint64
	// RejectedSets counts memory writes that ristretto dropped or its
	// admission policy rejected. Those entries are still read from KV.
	RejectedSets uint64
	// SkippedPuts counts values too large for a KV entry that were kept in
	// memory only, because the cache has no Object Store.
	SkippedPuts uint64
}

// HitRatio returns hits over lookups, 0 to 1, or 0 before any lookup.
func (s Stats) HitRatio() float64 {
	hits := s.MemoryHits + s.KVHits
	if hits+s.Misses == 0 {
		return 0
	}
	return float64(hits) / float64(hits+s.Misses)
}

// counters are the cache's statistics, updated without locks.
type counters struct {
	hits         [len(tierNames)][len(stalenessNames)]atomic.Uint64
	misses       [missReasons]atomic.Uint64
	rejectedSets atomic.Uint64
	skippedPuts  atomic.Uint64
}

func (c *counters) hit(tier int, staleness string) {
	rank, _ := stalenessRank(staleness)
	c.hits[tier][rank].Add(1)
}

func (c *counters) snapshot() Stats {
	var s Stats
	for rank := range stalenessNames {
		memory := c.hits[0][rank].Load()
		kv := c.hits[1][rank].Load()
		s.MemoryHits += memory
		s.KVHits += kv
		switch rank {
		case 0:
			s.FreshHits = memory + kv
		case 1:
			s.StaleHits = memory + kv
		default:
			s.VeryStaleHits = memory + kv
		}
	}
	for reason := range c.misses {
		s.Misses += c.misses[reason].Load()
	}
	s.TooStaleMisses = c.misses[missTooStale].Load()
	s.ErrorMisses = c.misses[missError].Load()
	s.RejectedSets = c.rejectedSets.Load()
	s.SkippedPuts = c.skippedPuts.Load()
	return s
}

// collector exports the counters as Prometheus metrics.
type collector struct {
	counters     *counters
	hits         *prometheus.Desc
	misses       *prometheus.Desc
	rejectedSets *prometheus.Desc
	skippedPuts  *prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(c *counters) *collector {
	return &collector{
		counters: c,
		hits: prometheus.NewDesc("claybridge_cache_hits_total",
			"Fallback cache lookups that returned an entry, by tier and staleness.",
			[]string{"tier", "staleness"}, nil),
		misses: prometheus.NewDesc("claybridge_cache_misses_total",
			"Fallback cache lookups that returned no entry, by reason: not_found, too_stale or error.",
			[]string{"reason"}, nil),
		rejectedSets: prometheus.NewDesc("claybridge_cache_rejected_sets_total",
			"Writes to the fallback cache's memory tier that were dropped or rejected.",
			nil, nil),
		skippedPuts: prometheus.NewDesc("claybridge_cache_skipped_puts_total",
			"Values too large for a KV entry that were kept in memory only, for lack of an Object Store.",
			nil, nil),
	}
}

// Describe sends the descriptors of the cache's metrics.
func (m *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.hits
	ch <- m.misses
	ch <- m.rejectedSets
	ch <- m.skippedPuts
}

// Collect sends the current values of the cache's metrics.
func (m *collector) Collect(ch chan<- prometheus.Metric) {
	for tier, tierName := range tierNames {
		for rank, stalenessName := range stalenessNames {
			ch <- prometheus.MustNewConstMetric(m.hits, prometheus.CounterValue,
				float64(m.counters.hits[tier][rank].Load()), tierName, stalenessName)
		}
	}
	for reason, reasonName := range missReasonNames {
		ch <- prometheus.MustNewConstMetric(m.misses, prometheus.CounterValue,
			float64(m.counters.misses[reason].Load()), reasonName)
	}
	ch <- prometheus.MustNewConstMetric(m.rejectedSets, prometheus.CounterValue,
		float64(m.counters.rejectedSets.Load()))
	ch <- prometheus.MustNewConstMetric(m.skippedPuts, prometheus.CounterValue,
		float64(m.counters.skippedPuts.Load()))
}
