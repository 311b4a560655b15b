package fallback

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/subjects"
)

func TestOpenBucketsCreatesWithLimits(t *testing.T) {
	_, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	ctx := context.Background()
	kv, objects, err := OpenBuckets(ctx, js, BucketConfig{})
	if err != nil {
		t.Fatalf("OpenBuckets: %v", err)
	}

	status, err := kv.Status(ctx)
	if err != nil {
		t.Fatalf("kv.Status: %v", err)
	}
	config := status.(*jetstream.KeyValueBucketStatus).StreamInfo().Config
	if got := status.Bucket(); got != subjects.BucketCache {
		t.Errorf("KV bucket = %q, want %q", got, subjects.BucketCache)
	}
	if got := status.History(); got != 1 {
		t.Errorf("KV history = %d, want 1", got)
	}
	if got := status.TTL(); got != DefaultTTL {
		t.Errorf("KV TTL = %s, want %s", got, DefaultTTL)
	}
	if config.MaxBytes != DefaultMaxBytes {
		t.Errorf("KV max bytes = %d, want %d", config.MaxBytes, DefaultMaxBytes)
	}
	if config.Storage != jetstream.FileStorage {
		t.Errorf("KV storage = %s, want file", config.Storage)
	}

	objectStatus, err := objects.Status(ctx)
	if err != nil {
		t.Fatalf("objects.Status: %v", err)
	}
	if got := objectStatus.Bucket(); got != ObjectBucket {
		t.Errorf("Object Store = %q, want %q", got, ObjectBucket)
	}
	if got := objectStatus.TTL(); got != DefaultTTL {
		t.Errorf("Object Store TTL = %s, want %s", got, DefaultTTL)
	}
	if got := objectStatus.Storage(); got != jetstream.FileStorage {
		t.Errorf("Object Store storage = %s, want file", got)
	}
}

func TestOpenBucketsKeepsExistingBuckets(t *testing.T) {
	_, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	ctx := context.Background()
	if _, _, err := OpenBuckets(ctx, js, BucketConfig{TTL: time.Hour}); err != nil {
		t.Fatalf("first OpenBuckets: %v", err)
	}
	kv, objects, err := OpenBuckets(ctx, js, BucketConfig{TTL: 48 * time.Hour})
	if err != nil {
		t.Fatalf("second OpenBuckets: %v", err)
	}
	status, err := kv.Status(ctx)
	if err != nil {
		t.Fatalf("kv.Status: %v", err)
	}
	if got := status.TTL(); got != time.Hour {
		t.Errorf("KV TTL = %s, want the existing 1h", got)
	}
	objectStatus, err := objects.Status(ctx)
	if err != nil {
		t.Fatalf("objects.Status: %v", err)
	}
	if got := objectStatus.TTL(); got != time.Hour {
		t.Errorf("Object Store TTL = %s, want the existing 1h", got)
	}
}

func TestBucketMaxValueSizeLowersLimit(t *testing.T) {
	_, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	ctx := context.Background()
	_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: subjects.BucketCache, History: 1, MaxValueSize: 4096, Storage: jetstream.MemoryStorage,
	})
	if err != nil {
		t.Fatalf("CreateKeyValue: %v", err)
	}
	kv, objects, err := OpenBuckets(ctx, js, BucketConfig{})
	if err != nil {
		t.Fatalf("OpenBuckets: %v", err)
	}

	c := newTestCache(t, kv, objects, Config{})
	key := testKey(t, `{"bucket":"small values"}`)
	data := largeJSON(8 << 10)
	if err := c.Put(ctx, key, subjects.Search, data, time.Time{}); err != nil {
		t.Fatalf("Put of %d bytes into a bucket limited to 4096: %v", len(data), err)
	}
	if _, err := objects.GetInfo(ctx, key); err != nil {
		t.Errorf("objects.GetInfo: %v, want the value in the Object Store", err)
	}
	restarted := newTestCache(t, kv, objects, Config{})
	e, ok := mustGet(t, restarted, key, subjects.Fresh)
	if !ok {
		t.Fatal("Get found no entry for the value in the Object Store")
	}
	if !bytes.Equal(e.Data, data) {
		t.Errorf("Data has %d bytes, differs from the %d bytes put", len(e.Data), len(data))
	}
}
