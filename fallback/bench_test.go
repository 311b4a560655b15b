package fallback

import (
	"context"
	"testing"

	"github.com/claybridge/claybridge/subjects"
)

// benchmarkData is search response data of about 1 KiB.
var benchmarkData = string(largeJSON(1 << 10))

// BenchmarkGetMemory measures a lookup served by the memory tier.
func BenchmarkGetMemory(b *testing.B) {
	_, kv, objects := testBuckets(b)
	c := newTestCache(b, kv, objects, Config{})
	key := testKey(b, `{"bench":"memory"}`)
	mustPut(b, c, key, benchmarkData, c.now())
	waitMemory(b, c, key)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if e, ok, err := c.Get(ctx, key, subjects.Fresh); err != nil || !ok || e.Tier != TierMemory {
			b.Fatalf("Get = tier %q, found %v, error %v, want a memory hit", e.Tier, ok, err)
		}
	}
}

// BenchmarkGetKV measures a lookup served by KV over a loopback
// connection. The memory tier is too small to hold the entry, so every
// lookup reads KV and its promotion to memory is rejected.
func BenchmarkGetKV(b *testing.B) {
	_, kv, objects := testBuckets(b)
	c := newTestCache(b, kv, objects, Config{MemoryMaxBytes: 1})
	key := testKey(b, `{"bench":"kv"}`)
	mustPut(b, c, key, benchmarkData, c.now())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if e, ok, err := c.Get(ctx, key, subjects.Fresh); err != nil || !ok || e.Tier != TierKV {
			b.Fatalf("Get = tier %q, found %v, error %v, want a KV hit", e.Tier, ok, err)
		}
	}
}
