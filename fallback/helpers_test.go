package fallback

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/subjects"
)

// testClock is a clock that tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testBuckets starts an embedded NATS server and opens the cache buckets on
// it.
func testBuckets(t testing.TB) (jetstream.JetStream, jetstream.KeyValue, jetstream.ObjectStore) {
	t.Helper()
	_, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	kv, objects, err := OpenBuckets(context.Background(), js, BucketConfig{})
	if err != nil {
		t.Fatalf("OpenBuckets: %v", err)
	}
	return js, kv, objects
}

// newTestCache returns a cache closed when the test ends.
func newTestCache(t testing.TB, kv jetstream.KeyValue, objects jetstream.ObjectStore, cfg Config) *Cache {
	t.Helper()
	c, err := New(context.Background(), kv, objects, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// testKey returns the cache key of a search with the given filters.
func testKey(t testing.TB, filters string) string {
	t.Helper()
	key, err := Key(subjects.Search, []byte(`{"source_type":"people","limit":10,"filters":`+filters+`}`))
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	return key
}

func mustPut(t testing.TB, c *Cache, key string, data string, producedAt time.Time) {
	t.Helper()
	if err := c.Put(context.Background(), key, subjects.Search, json.RawMessage(data), producedAt); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

// mustGet looks key up and fails the test when Get returns an error.
func mustGet(t testing.TB, c *Cache, key, maxStaleness string) (Entry, bool) {
	t.Helper()
	e, ok, err := c.Get(context.Background(), key, maxStaleness)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", key, maxStaleness, err)
	}
	return e, ok
}

// waitMemory polls until the memory tier contains key, or fails the test.
func waitMemory(t testing.TB, c *Cache, key string) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, "memory tier to contain "+key, func() bool {
		_, ok := c.memory.Get(key)
		return ok
	})
}
