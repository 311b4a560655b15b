package fallback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// Put stores data, the response Clay produced at producedAt for operation op,
// under key in both tiers. A zero producedAt means now. Put copies data.
//
// A value too large for a KV entry goes to the Object Store, and the KV
// entry refers to it. Without an Object Store such a value is kept in memory
// only and counted in Stats.SkippedPuts. When the KV or Object Store write
// fails, the entry is still kept in memory and the error is returned.
func (c *Cache) Put(ctx context.Context, key string, op subjects.Operation, data json.RawMessage, producedAt time.Time) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if _, err := subjects.ParseOperation(string(op)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	if !json.Valid(data) {
		return fmt.Errorf("%w: data for cache key %s is not valid JSON", ErrInvalidInput, key)
	}
	if producedAt.IsZero() {
		producedAt = c.now()
	}
	entry := &memoryEntry{operation: op, data: bytes.Clone(data), producedAt: producedAt}
	revision, err := c.writeKV(ctx, key, entry)
	entry.revision = revision
	c.setMemory(key, entry, c.memoryTTL)
	return err
}

// writeKV stores an entry in KV, and its data in the Object Store when the
// KV value would exceed maxValueBytes. It returns the KV revision, or 0 when
// the entry was skipped.
func (c *Cache) writeKV(ctx context.Context, key string, entry *memoryEntry) (uint64, error) {
	header := recordHeader{Operation: entry.operation, ProducedAt: entry.producedAt}
	line, err := encodeHeader(header)
	if err != nil {
		return 0, err
	}
	var value []byte
	if size := len(line) + 1 + len(entry.data); size <= c.maxValueBytes {
		value = recordValue(line, entry.data)
	} else {
		value, err = c.writeObject(ctx, key, header, entry.data, size)
		if value == nil || err != nil {
			return 0, err
		}
	}
	revision, err := c.kv.Put(ctx, key, value)
	if err != nil {
		return 0, fmt.Errorf("put key %s in KV bucket %s: %w", key, c.kv.Bucket(), err)
	}
	return revision, nil
}

// writeObject stores data in the Object Store under key and returns the KV
// value that refers to it. Without an Object Store it returns nil and counts
// the skipped put.
func (c *Cache) writeObject(ctx context.Context, key string, header recordHeader, data []byte, size int) ([]byte, error) {
	if c.objects == nil {
		c.stats.skippedPuts.Add(1)
		c.log.Warn().Str("cache_key", key).Int("bytes", size).Int("max_value_bytes", c.maxValueBytes).
			Msg("fallback cache value too large for KV and no Object Store configured, kept in memory only")
		return nil, nil
	}
	info, err := c.objects.PutBytes(ctx, key, data)
	if err != nil {
		return nil, fmt.Errorf("put object %s in Object Store %s: %w", key, c.objectBucket, err)
	}
	header.Ref, header.Size, header.Digest = key, len(data), info.Digest
	line, err := encodeHeader(header)
	if err != nil {
		return nil, err
	}
	return recordValue(line, nil), nil
}

// Forget deletes the entry stored under key from memory and KV, and its
// object from the Object Store. Other processes drop their memory copy when
// their KV watch receives the purge. Forget returns an error when a delete
// failed, so the caller can try again.
func (c *Cache) Forget(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	c.memory.Del(key)
	var errs []error
	if err := c.kv.Purge(ctx, key); err != nil {
		errs = append(errs, fmt.Errorf("purge key %s from KV bucket %s: %w", key, c.kv.Bucket(), err))
	}
	if c.objects != nil {
		err := c.objects.Delete(ctx, key)
		if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			errs = append(errs, fmt.Errorf("delete object %s from Object Store %s: %w", key, c.objectBucket, err))
		}
	}
	return errors.Join(errs...)
}
