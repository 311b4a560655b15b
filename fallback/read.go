package fallback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// Indexes of the tiers in the hit counters.
const (
	tierMemoryIndex = 0
	tierKVIndex     = 1
)

// Get returns the entry stored under key when its staleness is at most
// maxStaleness ("fresh", "stale" or "very_stale"). It reads memory first and
// KV after a memory miss, and copies a KV hit into memory. A memory entry
// that is too stale is checked against KV as well, because another process
// may have stored a newer one.
//
// A failure to read KV or the Object Store is logged, counted and returned
// as a miss. Get returns an error only for invalid input or when ctx ends
// during a KV read.
func (c *Cache) Get(ctx context.Context, key string, maxStaleness string) (Entry, bool, error) {
	limit, ok := stalenessRank(maxStaleness)
	if !ok {
		return Entry{}, false, fmt.Errorf("%w: unknown staleness limit %q, expected %q, %q or %q",
			ErrInvalidInput, maxStaleness, subjects.Fresh, subjects.Stale, subjects.VeryStale)
	}
	if err := checkKey(key); err != nil {
		return Entry{}, false, err
	}

	now := c.now()
	cached, _ := c.memory.Get(key)
	if cached != nil {
		e := c.entry(cached, TierMemory, now)
		if rank, _ := stalenessRank(e.Staleness); rank <= limit {
			c.stats.hit(tierMemoryIndex, e.Staleness)
			return e, true, nil
		}
	}

	return c.getKV(ctx, key, cached, limit, now)
}

// getKV looks key up in KV when memory had no entry (cached is nil) or only
// one staler than limit.
func (c *Cache) getKV(ctx context.Context, key string, cached *memoryEntry, limit int, now time.Time) (Entry, bool, error) {
	stored, err := c.readKV(ctx, key)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Entry{}, false, ctxErr
		}
		c.log.Error().Err(err).Str("cache_key", key).Msg("fallback cache read failed, returning a miss")
		c.stats.misses[missError].Add(1)
		return Entry{}, false, nil
	}
	if stored == nil {
		c.missFromKV(key, cached)
		return Entry{}, false, nil
	}
	if cached == nil || cached.revision != stored.revision {
		c.promote(key, stored)
	}

	e := c.entry(stored.memoryEntry, TierKV, now)
	if rank, _ := stalenessRank(e.Staleness); rank > limit {
		c.stats.misses[missTooStale].Add(1)
		return Entry{}, false, nil
	}
	c.stats.hit(tierKVIndex, e.Staleness)
	return e, true, nil
}

// missFromKV counts a lookup that found no entry in KV. A memory entry that
// KV no longer contains was deleted or has expired there, so it is dropped
// too, unless it never reached KV.
func (c *Cache) missFromKV(key string, cached *memoryEntry) {
	if cached == nil {
		c.stats.misses[missNotFound].Add(1)
		return
	}
	if cached.revision != 0 {
		c.memory.Del(key)
	}
	c.stats.misses[missTooStale].Add(1)
}

// kvEntry is an entry read from KV.
type kvEntry struct {
	*memoryEntry
	// created is when the KV bucket stored the entry.
	created time.Time
}

// readKV returns the entry stored in KV under key, with its data read from
// the Object Store when the KV value refers to an object, or nil when KV
// contains no entry.
func (c *Cache) readKV(ctx context.Context, key string) (*kvEntry, error) {
	stored, err := c.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get key %s from KV bucket %s: %w", key, c.kv.Bucket(), err)
	}
	header, data, err := decodeRecord(stored.Value())
	if err != nil {
		return nil, fmt.Errorf("key %s in KV bucket %s: %w", key, c.kv.Bucket(), err)
	}
	if header.Ref != "" {
		data, err = c.readObject(ctx, header)
		if err != nil {
			return nil, err
		}
	}
	return &kvEntry{
		memoryEntry: &memoryEntry{
			operation:  header.Operation,
			data:       data,
			producedAt: header.ProducedAt,
			revision:   stored.Revision(),
		},
		created: stored.Created(),
	}, nil
}

// readObject returns the data of the object a KV value refers to.
func (c *Cache) readObject(ctx context.Context, header recordHeader) ([]byte, error) {
	if c.objects == nil {
		return nil, fmt.Errorf("cache entry refers to object %s, but the cache has no Object Store", header.Ref)
	}
	object, err := c.objects.Get(ctx, header.Ref)
	if err != nil {
		return nil, fmt.Errorf("get object %s from Object Store %s: %w", header.Ref, c.objectBucket, err)
	}
	defer object.Close()
	info, err := object.Info()
	if err != nil {
		return nil, fmt.Errorf("get object %s from Object Store %s: %w", header.Ref, c.objectBucket, err)
	}
	if info.Digest != header.Digest || info.Size != uint64(header.Size) {
		return nil, fmt.Errorf("%w: object %s has %d bytes with digest %s, the KV entry expects %d bytes with %s",
			errCorruptRecord, header.Ref, info.Size, info.Digest, header.Size, header.Digest)
	}
	data := make([]byte, header.Size)
	if _, err := io.ReadFull(object, data); err != nil {
		return nil, fmt.Errorf("read object %s from Object Store %s: %w", header.Ref, c.objectBucket, err)
	}
	return data, nil
}

// promote copies a KV entry into memory for what is left of its KV TTL.
func (c *Cache) promote(key string, stored *kvEntry) {
	ttl := c.memoryTTL
	if ttl > 0 {
		// KV measures its TTL from the server's clock, not from c.now.
		ttl -= time.Since(stored.created)
		if ttl <= 0 {
			return
		}
	}
	c.setMemory(key, stored.memoryEntry, ttl)
}
