// Package fallback is claybridge's fallback cache. It keeps Clay's responses
// so that a request can still be served, with its staleness stated, when Clay
// cannot be reached. Entries live in two tiers, a byte-bounded ristretto
// cache in each process and the JetStream KV bucket CLAY_CACHE shared by all
// replicas, with values too large for a KV entry in a JetStream Object Store.
package fallback

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/subjects"
)

// Defaults of Config.
const (
	DefaultMemoryMaxBytes = 64 << 20
	// DefaultMaxValueBytes stays below the 1 MiB default max_payload of
	// nats-server, so a KV put of that size is accepted.
	DefaultMaxValueBytes = 1<<20 - 1<<10
)

// Errors returned by the package.
var (
	// ErrInvalidInput is wrapped by errors about a key, parameters, data or
	// staleness level passed in.
	ErrInvalidInput = errors.New("invalid input")
	// ErrInvalidConfig is wrapped by errors about a Config.
	ErrInvalidConfig = errors.New("invalid fallback cache config")
)

// Config configures a Cache. Its zero value works.
type Config struct {
	// MemoryMaxBytes bounds the memory tier by the bytes of the entries'
	// data and keys, default 64 MiB.
	MemoryMaxBytes int64
	// MaxValueBytes is the largest KV value stored, default 1 MiB minus
	// 1 KiB, or the bucket's max value size when that is lower. Larger
	// values go to the Object Store. Lower it when the NATS server's
	// max_payload is below 1 MiB.
	MaxValueBytes int
	// FreshMaxAge is the age below which an entry is fresh, default 1 h.
	FreshMaxAge time.Duration
	// StaleMaxAge is the age below which an entry is stale rather than
	// very stale, default 24 h.
	StaleMaxAge time.Duration
	// MaxStaleness maps a priority to the highest staleness that may be
	// served to it. Priorities left out keep their defaults: critical
	// "stale", normal and bulk "very_stale".
	MaxStaleness map[subjects.Priority]string
	// NoWatch turns off the KV watch that drops memory entries which other
	// processes overwrite or delete. Only short-lived caches, such as one
	// that a command builds to call Forget, should set it.
	NoWatch bool
	// Now returns the current time, default time.Now. Ages and staleness
	// are measured with it.
	Now func() time.Time
	// Logger receives the errors the cache handles without returning them,
	// default none.
	Logger zerolog.Logger
	// Registerer, when set, registers the cache's metrics.
	Registerer prometheus.Registerer
}

// Entry is a cached Clay response.
type Entry struct {
	Operation subjects.Operation
	// Data is the response data from Clay. It is shared with the cache, so
	// callers must not modify it.
	Data json.RawMessage
	// ProducedAt is when Clay produced the data.
	ProducedAt time.Time
	// Age is the time from ProducedAt to the lookup, never negative.
	Age time.Duration
	// Staleness is "fresh", "stale" or "very_stale".
	Staleness string
	// Tier is TierMemory or TierKV, the tier that returned the entry.
	Tier string
}

// memoryEntry is a value of the memory tier. It is never modified after it
// is stored.
type memoryEntry struct {
	operation  subjects.Operation
	data       json.RawMessage
	producedAt time.Time
	// revision is the KV revision that stores the same value, or 0 when
	// the value reached memory only.
	revision uint64
}

// memoryEntryOverhead estimates the bytes of a memoryEntry beyond its data
// and key. Ristretto adds the size of its own item on top.
const memoryEntryOverhead = 64

// Cache is a two-tier cache of Clay responses. It is safe for concurrent use.
type Cache struct {
	kv      jetstream.KeyValue
	objects jetstream.ObjectStore
	// objectBucket is the name of the Object Store, for error messages.
	objectBucket string
	memory       *ristretto.Cache[string, *memoryEntry]
	// memoryTTL is the TTL of the KV bucket, so the memory tier keeps no
	// entry longer than KV does. Zero means no expiry.
	memoryTTL     time.Duration
	maxValueBytes int
	freshMaxAge   time.Duration
	staleMaxAge   time.Duration
	maxStaleness  map[subjects.Priority]string
	now           func() time.Time
	log           zerolog.Logger
	stats         counters
	watcher       jetstream.KeyWatcher
	watchDone     chan struct{}
	registerer    prometheus.Registerer
	collector     prometheus.Collector
	closeOnce     sync.Once
}

// New returns a cache over kv, the CLAY_CACHE bucket, and objects, the
// Object Store for values too large for KV. OpenBuckets opens or creates
// both. With objects nil, such values are kept in memory only and counted
// in Stats.SkippedPuts. Call Close when done with the cache.
func New(ctx context.Context, kv jetstream.KeyValue, objects jetstream.ObjectStore, cfg Config) (*Cache, error) {
	if kv == nil {
		return nil, fmt.Errorf("%w: no KV bucket", ErrInvalidConfig)
	}
	c, err := newCache(kv, objects, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.readBucketStatus(ctx); err != nil {
		return nil, err
	}
	c.memory, err = newMemoryTier(cfg.MemoryMaxBytes, &c.stats)
	if err != nil {
		return nil, err
	}
	if err := c.start(ctx, cfg); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// readBucketStatus takes the memory TTL and the KV value limit from the
// buckets, and the Object Store's name.
func (c *Cache) readBucketStatus(ctx context.Context) error {
	status, err := c.kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("read status of KV bucket %s: %w", c.kv.Bucket(), err)
	}
	c.memoryTTL = status.TTL()
	if bucket, ok := status.(*jetstream.KeyValueBucketStatus); ok {
		// A bucket created with a max value size rejects larger puts.
		if limit := int(bucket.StreamInfo().Config.MaxMsgSize); limit > 0 && limit < c.maxValueBytes {
			c.maxValueBytes = limit
		}
	}
	if c.objects != nil {
		objectStatus, err := c.objects.Status(ctx)
		if err != nil {
			return fmt.Errorf("read status of Object Store: %w", err)
		}
		c.objectBucket = objectStatus.Bucket()
	}
	return nil
}

// start starts the KV watch unless cfg.NoWatch is set, and registers the
// metrics when cfg.Registerer is set.
func (c *Cache) start(ctx context.Context, cfg Config) error {
	if !cfg.NoWatch {
		if err := c.startWatch(ctx); err != nil {
			return err
		}
	}
	if cfg.Registerer != nil {
		collector := newCollector(&c.stats)
		if err := cfg.Registerer.Register(collector); err != nil {
			return fmt.Errorf("register fallback cache metrics: %w", err)
		}
		c.registerer, c.collector = cfg.Registerer, collector
	}
	return nil
}

// newCache fills in the defaults of cfg and validates it.
func newCache(kv jetstream.KeyValue, objects jetstream.ObjectStore, cfg Config) (*Cache, error) {
	c := &Cache{
		kv:            kv,
		objects:       objects,
		maxValueBytes: cmp.Or(cfg.MaxValueBytes, DefaultMaxValueBytes),
		freshMaxAge:   cmp.Or(cfg.FreshMaxAge, DefaultFreshMaxAge),
		staleMaxAge:   cmp.Or(cfg.StaleMaxAge, DefaultStaleMaxAge),
		now:           cfg.Now,
		log:           cfg.Logger.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Second}),
	}
	if c.now == nil {
		c.now = time.Now
	}
	switch {
	case cfg.MemoryMaxBytes < 0:
		return nil, fmt.Errorf("%w: MemoryMaxBytes is %d, must not be negative", ErrInvalidConfig, cfg.MemoryMaxBytes)
	case c.maxValueBytes < 0:
		return nil, fmt.Errorf("%w: MaxValueBytes is %d, must not be negative", ErrInvalidConfig, c.maxValueBytes)
	case c.freshMaxAge < 0 || c.staleMaxAge <= c.freshMaxAge:
		return nil, fmt.Errorf("%w: FreshMaxAge %s and StaleMaxAge %s must satisfy 0 <= FreshMaxAge < StaleMaxAge",
			ErrInvalidConfig, c.freshMaxAge, c.staleMaxAge)
	}
	var err error
	c.maxStaleness, err = resolveMaxStaleness(cfg.MaxStaleness)
	return c, err
}

// newMemoryTier builds the ristretto cache. It counts rejected writes in
// stats.
func newMemoryTier(maxBytes int64, stats *counters) (*ristretto.Cache[string, *memoryEntry], error) {
	maxBytes = cmp.Or(maxBytes, DefaultMemoryMaxBytes)
	// Ristretto wants about ten counters per entry it may hold. This
	// assumes entries of 4 KiB on average, an estimate.
	counters := max(maxBytes/(4<<10)*10, 1000)
	memory, err := ristretto.NewCache(&ristretto.Config[string, *memoryEntry]{
		NumCounters: counters,
		MaxCost:     maxBytes,
		BufferItems: 64,
		OnReject:    func(*ristretto.Item[*memoryEntry]) { stats.rejectedSets.Add(1) },
	})
	if err != nil {
		return nil, fmt.Errorf("%w: memory tier: %v", ErrInvalidConfig, err)
	}
	return memory, nil
}

// Close stops the KV watch, unregisters the metrics and releases the memory
// tier. Lookups after Close read KV only.
func (c *Cache) Close() {
	c.closeOnce.Do(c.close)
}

func (c *Cache) close() {
	if c.registerer != nil {
		c.registerer.Unregister(c.collector)
		c.registerer = nil
	}
	if c.watcher != nil {
		if err := c.watcher.Stop(); err != nil {
			c.log.Error().Err(err).Msg("stop fallback cache KV watch")
		}
		<-c.watchDone
		c.watcher = nil
	}
	c.memory.Close()
}

// Stats returns a snapshot of the cache's counters.
func (c *Cache) Stats() Stats {
	return c.stats.snapshot()
}

// HitRatio returns hits over lookups since New, 0 to 1.
func (c *Cache) HitRatio() float64 {
	return c.stats.snapshot().HitRatio()
}

// setMemory writes an entry to the memory tier. Ristretto applies writes
// asynchronously, so a lookup right after it may still miss memory and read
// KV.
func (c *Cache) setMemory(key string, e *memoryEntry, ttl time.Duration) {
	cost := int64(len(e.data) + len(key) + memoryEntryOverhead)
	if !c.memory.SetWithTTL(key, e, cost, ttl) {
		c.stats.rejectedSets.Add(1)
	}
}

// entry returns the Entry of a memory entry looked up at now.
func (c *Cache) entry(m *memoryEntry, tier string, now time.Time) Entry {
	age := max(now.Sub(m.producedAt), 0)
	return Entry{
		Operation:  m.operation,
		Data:       m.data,
		ProducedAt: m.producedAt,
		Age:        age,
		Staleness:  c.Staleness(age),
		Tier:       tier,
	}
}
