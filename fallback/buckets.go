package fallback

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// ObjectBucket is the Object Store bucket that stores values too large for a
// KV entry of subjects.BucketCache.
//
// TODO: move to package subjects beside BucketCache, where the other bucket
// names live.
const ObjectBucket = "CLAY_CACHE_OBJECTS"

// Defaults of BucketConfig.
const (
	// DefaultTTL is the maximum age of a cache entry in KV and of an object.
	DefaultTTL            = 7 * 24 * time.Hour
	DefaultMaxBytes       = 256 << 20
	DefaultObjectMaxBytes = 1 << 30
)

// BucketConfig sets the limits of the buckets OpenBuckets creates. Its zero
// value works. Buckets that exist are used as they are.
type BucketConfig struct {
	// Replicas is the number of replicas of each bucket, default 1.
	Replicas int
	// TTL is the maximum age of KV entries and objects, default 7 days.
	TTL time.Duration
	// MaxBytes bounds the KV bucket, default 256 MiB.
	MaxBytes int64
	// ObjectMaxBytes bounds the Object Store, default 1 GiB.
	ObjectMaxBytes int64
}

// OpenBuckets opens the KV bucket subjects.BucketCache and the Object Store
// ObjectBucket, creating each one that is missing with file storage, the
// limits in cfg and, for KV, a history of 1. It never changes a bucket that
// exists.
func OpenBuckets(ctx context.Context, js jetstream.JetStream, cfg BucketConfig) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	replicas := cmp.Or(cfg.Replicas, 1)
	ttl := cmp.Or(cfg.TTL, DefaultTTL)
	kv, err := openKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:      subjects.BucketCache,
		Description: "Fallback cache of Clay answers",
		History:     1,
		TTL:         ttl,
		MaxBytes:    cmp.Or(cfg.MaxBytes, DefaultMaxBytes),
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, nil, err
	}
	objects, err := openObjectStore(ctx, js, jetstream.ObjectStoreConfig{
		Bucket:      ObjectBucket,
		Description: "Fallback cache values too large for a KV entry",
		TTL:         ttl,
		MaxBytes:    cmp.Or(cfg.ObjectMaxBytes, DefaultObjectMaxBytes),
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, nil, err
	}
	return kv, objects, nil
}

func openKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("look up KV bucket %s: %w", cfg.Bucket, err)
	}
	kv, err = js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		// Another process created it first.
		kv, err = js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("create KV bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

func openObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	objects, err := js.ObjectStore(ctx, cfg.Bucket)
	if err == nil {
		return objects, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("look up Object Store %s: %w", cfg.Bucket, err)
	}
	objects, err = js.CreateObjectStore(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		// Another process created it first.
		objects, err = js.ObjectStore(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("create Object Store %s: %w", cfg.Bucket, err)
	}
	return objects, nil
}
