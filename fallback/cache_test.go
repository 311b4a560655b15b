package fallback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/subjects"
)

func TestPutThenGetFromMemory(t *testing.T) {
	_, kv, objects := testBuckets(t)
	clock := newTestClock()
	c := newTestCache(t, kv, objects, Config{Now: clock.Now})
	key := testKey(t, `{"title":"CTO"}`)
	producedAt := clock.Now()
	mustPut(t, c, key, `{"people":[{"name":"Ada"}]}`, producedAt)
	waitMemory(t, c, key)
	clock.Advance(10 * time.Minute)

	e, ok := mustGet(t, c, key, subjects.Fresh)
	if !ok {
		t.Fatal("Get found no entry after Put")
	}
	if e.Tier != TierMemory {
		t.Errorf("Tier = %q, want %q", e.Tier, TierMemory)
	}
	if string(e.Data) != `{"people":[{"name":"Ada"}]}` {
		t.Errorf("Data = %s, want the data put", e.Data)
	}
	if e.Operation != subjects.Search {
		t.Errorf("Operation = %q, want %q", e.Operation, subjects.Search)
	}
	if !e.ProducedAt.Equal(producedAt) {
		t.Errorf("ProducedAt = %s, want %s", e.ProducedAt, producedAt)
	}
	if e.Age != 10*time.Minute {
		t.Errorf("Age = %s, want 10m", e.Age)
	}
	if e.Staleness != subjects.Fresh {
		t.Errorf("Staleness = %q, want %q", e.Staleness, subjects.Fresh)
	}
	s := c.Stats()
	if s.MemoryHits != 1 {
		t.Errorf("MemoryHits = %d, want 1", s.MemoryHits)
	}
	if s.FreshHits != 1 {
		t.Errorf("FreshHits = %d, want 1", s.FreshHits)
	}
}

func TestGetAfterRestartReadsKVThenMemory(t *testing.T) {
	_, kv, objects := testBuckets(t)
	clock := newTestClock()
	first := newTestCache(t, kv, objects, Config{Now: clock.Now})
	key := testKey(t, `{"title":"CFO"}`)
	mustPut(t, first, key, `{"people":[]}`, clock.Now().Add(-2*time.Hour))
	first.Close()

	restarted := newTestCache(t, kv, objects, Config{Now: clock.Now})
	e, ok := mustGet(t, restarted, key, subjects.VeryStale)
	if !ok {
		t.Fatal("Get after restart found no entry")
	}
	if e.Tier != TierKV {
		t.Errorf("first Get Tier = %q, want %q", e.Tier, TierKV)
	}
	if e.Staleness != subjects.Stale {
		t.Errorf("Staleness = %q, want %q", e.Staleness, subjects.Stale)
	}
	if string(e.Data) != `{"people":[]}` {
		t.Errorf("Data = %s, want the data put", e.Data)
	}

	waitMemory(t, restarted, key)
	e, ok = mustGet(t, restarted, key, subjects.VeryStale)
	if !ok {
		t.Fatal("second Get found no entry")
	}
	if e.Tier != TierMemory {
		t.Errorf("second Get Tier = %q, want %q", e.Tier, TierMemory)
	}
	s := restarted.Stats()
	if s.KVHits != 1 {
		t.Errorf("KVHits = %d, want 1", s.KVHits)
	}
	if s.MemoryHits != 1 {
		t.Errorf("MemoryHits = %d, want 1", s.MemoryHits)
	}
}

func TestGetStalenessAsClockAdvances(t *testing.T) {
	_, kv, objects := testBuckets(t)
	clock := newTestClock()
	c := newTestCache(t, kv, objects, Config{Now: clock.Now})
	key := testKey(t, `{"title":"COO"}`)
	mustPut(t, c, key, `{"people":[]}`, clock.Now())

	steps := []struct {
		advance time.Duration
		want    string
	}{
		{59 * time.Minute, subjects.Fresh},
		{time.Minute, subjects.Stale},
		{23 * time.Hour, subjects.VeryStale},
	}
	for _, step := range steps {
		clock.Advance(step.advance)
		e, ok := mustGet(t, c, key, subjects.VeryStale)
		if !ok {
			t.Fatalf("at age %s: Get found no entry", clock.Now().Sub(e.ProducedAt))
		}
		if e.Staleness != step.want {
			t.Errorf("at age %s: Staleness = %q, want %q", e.Age, e.Staleness, step.want)
		}
	}
}

func TestGetPriorityLimits(t *testing.T) {
	_, kv, objects := testBuckets(t)
	clock := newTestClock()
	c := newTestCache(t, kv, objects, Config{Now: clock.Now})
	now := clock.Now()
	stale := testKey(t, `{"age":"2h"}`)
	veryStale := testKey(t, `{"age":"25h"}`)
	mustPut(t, c, stale, `{"n":1}`, now.Add(-2*time.Hour))
	mustPut(t, c, veryStale, `{"n":2}`, now.Add(-25*time.Hour))

	cases := []struct {
		name     string
		key      string
		priority subjects.Priority
		want     bool
	}{
		{"critical gets stale", stale, subjects.Critical, true},
		{"critical denied very stale", veryStale, subjects.Critical, false},
		{"normal gets very stale", veryStale, subjects.Normal, true},
		{"bulk gets very stale", veryStale, subjects.Bulk, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := mustGet(t, c, tc.key, c.MaxStalenessFor(tc.priority))
			if ok != tc.want {
				t.Errorf("Get for %s found %v, want %v", tc.priority, ok, tc.want)
			}
		})
	}
	if s := c.Stats(); s.TooStaleMisses != 1 {
		t.Errorf("TooStaleMisses = %d, want 1", s.TooStaleMisses)
	}
}

func TestLargeValueGoesThroughObjectStore(t *testing.T) {
	_, kv, objects := testBuckets(t)
	c := newTestCache(t, kv, objects, Config{})
	key := testKey(t, `{"size":"large"}`)
	data := largeJSON(3 << 19)
	mustPut(t, c, key, string(data), time.Time{})

	stored, err := kv.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("kv.Get: %v", err)
	}
	if n := len(stored.Value()); n > 1024 {
		t.Errorf("KV value has %d bytes, want a small reference", n)
	}
	if !bytes.Contains(stored.Value(), []byte(`"ref":"`+key+`"`)) {
		t.Errorf("KV value %q does not refer to object %s", stored.Value(), key)
	}

	restarted := newTestCache(t, kv, objects, Config{})
	e, ok := mustGet(t, restarted, key, subjects.Fresh)
	if !ok {
		t.Fatal("Get found no entry for the large value")
	}
	if e.Tier != TierKV {
		t.Errorf("Tier = %q, want %q", e.Tier, TierKV)
	}
	if !bytes.Equal(e.Data, data) {
		t.Errorf("Data has %d bytes, differs from the %d bytes put", len(e.Data), len(data))
	}
}

func TestLargeValueWithoutObjectStoreSkipsKV(t *testing.T) {
	_, kv, _ := testBuckets(t)
	c := newTestCache(t, kv, nil, Config{})
	key := testKey(t, `{"size":"large, no store"}`)
	mustPut(t, c, key, string(largeJSON(3<<19)), time.Time{})

	if s := c.Stats(); s.SkippedPuts != 1 {
		t.Errorf("SkippedPuts = %d, want 1", s.SkippedPuts)
	}
	if _, err := kv.Get(context.Background(), key); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("kv.Get error = %v, want ErrKeyNotFound", err)
	}
	waitMemory(t, c, key)
	e, ok := mustGet(t, c, key, subjects.Fresh)
	if !ok {
		t.Fatal("Get found no entry in memory")
	}
	if e.Tier != TierMemory {
		t.Errorf("Tier = %q, want %q", e.Tier, TierMemory)
	}
}

func TestReplacedObjectIsMiss(t *testing.T) {
	_, kv, objects := testBuckets(t)
	c := newTestCache(t, kv, objects, Config{MemoryMaxBytes: 1})
	key := testKey(t, `{"object":"replaced"}`)
	data := largeJSON(3 << 19)
	mustPut(t, c, key, string(data), time.Time{})
	other := bytes.ReplaceAll(data, []byte("Sales"), []byte("Ventes"))[:len(data)]
	if _, err := objects.PutBytes(context.Background(), key, other); err != nil {
		t.Fatalf("objects.PutBytes: %v", err)
	}

	if _, ok := mustGet(t, c, key, subjects.VeryStale); ok {
		t.Error("Get found an entry whose object was replaced")
	}
	if s := c.Stats(); s.ErrorMisses != 1 {
		t.Errorf("ErrorMisses = %d, want 1", s.ErrorMisses)
	}
}

func TestRejectedMemorySetReadsKV(t *testing.T) {
	_, kv, objects := testBuckets(t)
	c := newTestCache(t, kv, objects, Config{MemoryMaxBytes: 1})
	key := testKey(t, `{"memory":"tiny"}`)
	mustPut(t, c, key, `{"people":[{"name":"Grace"}]}`, time.Time{})
	c.memory.Wait()

	if s := c.Stats(); s.RejectedSets != 1 {
		t.Errorf("RejectedSets = %d, want 1", s.RejectedSets)
	}
	e, ok := mustGet(t, c, key, subjects.Fresh)
	if !ok {
		t.Fatal("Get found no entry after the memory tier rejected it")
	}
	if e.Tier != TierKV {
		t.Errorf("Tier = %q, want %q", e.Tier, TierKV)
	}
	if string(e.Data) != `{"people":[{"name":"Grace"}]}` {
		t.Errorf("Data = %s, want the data put", e.Data)
	}
}

func TestUnappliedMemorySetReadsKV(t *testing.T) {
	_, kv, objects := testBuckets(t)
	c := newTestCache(t, kv, objects, Config{})
	for i := range 50 {
		key := testKey(t, fmt.Sprintf(`{"i":%d}`, i))
		mustPut(t, c, key, `{"i":1}`, time.Time{})
		if _, ok := mustGet(t, c, key, subjects.Fresh); !ok {
			t.Fatalf("Get right after Put of %s found no entry", key)
		}
	}
}

func TestForgetRemovesEveryTier(t *testing.T) {
	_, kv, objects := testBuckets(t)
	c := newTestCache(t, kv, objects, Config{})
	ctx := context.Background()
	cases := []struct {
		name string
		data []byte
	}{
		{"small", []byte(`{"email":"ada@example.com"}`)},
		{"large", largeJSON(3 << 19)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := testKey(t, `{"forget":"`+tc.name+`"}`)
			mustPut(t, c, key, string(tc.data), time.Time{})
			waitMemory(t, c, key)

			if err := c.Forget(ctx, key); err != nil {
				t.Fatalf("Forget: %v", err)
			}
			if _, ok := c.memory.Get(key); ok {
				t.Error("memory tier still contains the entry")
			}
			if _, err := kv.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
				t.Errorf("kv.Get error = %v, want ErrKeyNotFound", err)
			}
			if _, err := objects.GetInfo(ctx, key); !errors.Is(err, jetstream.ErrObjectNotFound) {
				t.Errorf("objects.GetInfo error = %v, want ErrObjectNotFound", err)
			}
			if _, ok := mustGet(t, c, key, subjects.VeryStale); ok {
				t.Error("Get found an entry after Forget")
			}
		})
	}
}

func TestForgetElsewhereDropsMemoryEntry(t *testing.T) {
	_, kv, objects := testBuckets(t)
	serving := newTestCache(t, kv, objects, Config{})
	eraser := newTestCache(t, kv, objects, Config{NoWatch: true})
	key := testKey(t, `{"forget":"elsewhere"}`)
	mustPut(t, serving, key, `{"email":"ada@example.com"}`, time.Time{})
	waitMemory(t, serving, key)

	if err := eraser.Forget(context.Background(), key); err != nil {
		t.Fatalf("Forget: %v", err)
	}
	testenv.Eventually(t, 5*time.Second, "memory entry dropped after Forget elsewhere", func() bool {
		_, ok := serving.memory.Get(key)
		return !ok
	})
	if _, ok := mustGet(t, serving, key, subjects.VeryStale); ok {
		t.Error("Get found an entry after Forget in another process")
	}
}

func TestPutElsewhereReplacesMemoryEntry(t *testing.T) {
	_, kv, objects := testBuckets(t)
	serving := newTestCache(t, kv, objects, Config{})
	other := newTestCache(t, kv, objects, Config{})
	key := testKey(t, `{"put":"elsewhere"}`)
	mustPut(t, serving, key, `{"v":1}`, time.Time{})
	waitMemory(t, serving, key)
	mustPut(t, other, key, `{"v":2}`, time.Time{})

	testenv.Eventually(t, 5*time.Second, "newer value from the other process", func() bool {
		e, ok := mustGet(t, serving, key, subjects.Fresh)
		return ok && string(e.Data) == `{"v":2}`
	})
}

func TestTooStaleMemoryEntryChecksKV(t *testing.T) {
	_, kv, objects := testBuckets(t)
	clock := newTestClock()
	serving := newTestCache(t, kv, objects, Config{Now: clock.Now, NoWatch: true})
	other := newTestCache(t, kv, objects, Config{Now: clock.Now})
	key := testKey(t, `{"stale":"in memory"}`)
	mustPut(t, serving, key, `{"v":"old"}`, clock.Now().Add(-3*time.Hour))
	waitMemory(t, serving, key)
	mustPut(t, other, key, `{"v":"new"}`, clock.Now())

	e, ok := mustGet(t, serving, key, subjects.Fresh)
	if !ok {
		t.Fatal("Get found no fresh entry although KV contains one")
	}
	if e.Tier != TierKV {
		t.Errorf("Tier = %q, want %q", e.Tier, TierKV)
	}
	if string(e.Data) != `{"v":"new"}` {
		t.Errorf("Data = %s, want {\"v\":\"new\"}", e.Data)
	}
}

func TestKVReadFailureIsLoggedMiss(t *testing.T) {
	js, kv, objects := testBuckets(t)
	var logs bytes.Buffer
	c := newTestCache(t, kv, objects, Config{Logger: zerolog.New(&logs), NoWatch: true})
	key := testKey(t, `{"kv":"gone"}`)
	if err := js.DeleteKeyValue(context.Background(), subjects.BucketCache); err != nil {
		t.Fatalf("DeleteKeyValue: %v", err)
	}

	e, ok, err := c.Get(context.Background(), key, subjects.VeryStale)
	if err != nil {
		t.Fatalf("Get error = %v, want a miss without error", err)
	}
	if ok {
		t.Errorf("Get = %+v, want a miss", e)
	}
	s := c.Stats()
	if s.ErrorMisses != 1 {
		t.Errorf("ErrorMisses = %d, want 1", s.ErrorMisses)
	}
	if s.Misses != 1 {
		t.Errorf("Misses = %d, want 1", s.Misses)
	}
	if !strings.Contains(logs.String(), "fallback cache read failed") {
		t.Errorf("log = %q, want the read failure logged", logs.String())
	}
}

func TestCorruptKVValueIsMiss(t *testing.T) {
	_, kv, objects := testBuckets(t)
	c := newTestCache(t, kv, objects, Config{NoWatch: true})
	key := testKey(t, `{"kv":"corrupt"}`)
	if _, err := kv.Put(context.Background(), key, []byte("not a record")); err != nil {
		t.Fatalf("kv.Put: %v", err)
	}
	if _, ok := mustGet(t, c, key, subjects.VeryStale); ok {
		t.Error("Get found an entry in a corrupt value")
	}
	if s := c.Stats(); s.ErrorMisses != 1 {
		t.Errorf("ErrorMisses = %d, want 1", s.ErrorMisses)
	}
}

func TestGetCanceledContextReturnsError(t *testing.T) {
	_, kv, objects := testBuckets(t)
	c := newTestCache(t, kv, objects, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := c.Get(ctx, testKey(t, `{"ctx":"canceled"}`), subjects.Fresh)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Get error = %v, want context.Canceled", err)
	}
	if s := c.Stats(); s.Misses != 0 {
		t.Errorf("Misses = %d, want a canceled lookup not counted", s.Misses)
	}
}

func TestInvalidInputRejected(t *testing.T) {
	_, kv, objects := testBuckets(t)
	c := newTestCache(t, kv, objects, Config{})
	ctx := context.Background()
	key := testKey(t, `{"input":"invalid"}`)
	cases := []struct {
		name string
		call func() error
	}{
		{"Get unknown staleness", func() error { _, _, err := c.Get(ctx, key, "old"); return err }},
		{"Get request key", func() error { _, _, err := c.Get(ctx, "req-1", subjects.Fresh); return err }},
		{"Put invalid JSON", func() error { return c.Put(ctx, key, subjects.Search, json.RawMessage(`{`), time.Time{}) }},
		{"Put empty data", func() error { return c.Put(ctx, key, subjects.Search, nil, time.Time{}) }},
		{"Put unknown operation", func() error { return c.Put(ctx, key, "lookup", json.RawMessage(`{}`), time.Time{}) }},
		{"Put uppercase key", func() error {
			return c.Put(ctx, strings.ToUpper(key), subjects.Search, json.RawMessage(`{}`), time.Time{})
		}},
		{"Forget request key", func() error { return c.Forget(ctx, "req-1") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("error = %v, want ErrInvalidInput", err)
			}
		})
	}
}

func TestMetricsAndHitRatio(t *testing.T) {
	_, kv, objects := testBuckets(t)
	registry := prometheus.NewRegistry()
	clock := newTestClock()
	c := newTestCache(t, kv, objects, Config{Now: clock.Now, Registerer: registry})
	key := testKey(t, `{"metrics":1}`)
	mustPut(t, c, key, `{"n":1}`, clock.Now().Add(-2*time.Hour))
	waitMemory(t, c, key)
	mustGet(t, c, key, subjects.Stale)
	mustGet(t, c, key, subjects.Fresh)
	mustGet(t, c, testKey(t, `{"metrics":"absent"}`), subjects.Fresh)

	cases := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"claybridge_cache_hits_total", map[string]string{"tier": "memory", "staleness": "stale"}, 1},
		{"claybridge_cache_hits_total", map[string]string{"tier": "kv", "staleness": "fresh"}, 0},
		{"claybridge_cache_misses_total", map[string]string{"reason": "too_stale"}, 1},
		{"claybridge_cache_misses_total", map[string]string{"reason": "not_found"}, 1},
		{"claybridge_cache_rejected_sets_total", nil, 0},
	}
	for _, tc := range cases {
		if got := counterValue(t, registry, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if got := c.HitRatio(); got != 1.0/3 {
		t.Errorf("HitRatio = %v, want 1/3", got)
	}
	c.Close()
	if _, err := New(context.Background(), kv, objects, Config{Registerer: registry, NoWatch: true}); err != nil {
		t.Errorf("New with the registry of a closed cache: %v", err)
	}
}

func TestConcurrentPutGetForget(t *testing.T) {
	_, kv, objects := testBuckets(t)
	c := newTestCache(t, kv, objects, Config{})
	ctx := context.Background()
	keys := make([]string, 8)
	for i := range keys {
		keys[i] = testKey(t, fmt.Sprintf(`{"concurrent":%d}`, i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Go(func() {
			for i := range 40 {
				key := keys[(w+i)%len(keys)]
				var err error
				switch i % 5 {
				case 0:
					err = c.Forget(ctx, key)
				case 1, 2:
					err = c.Put(ctx, key, subjects.Search, json.RawMessage(`{"w":1}`), time.Time{})
				default:
					_, _, err = c.Get(ctx, key, subjects.VeryStale)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: %v", err)
	}
}

// largeJSON returns a JSON array of about size bytes.
func largeJSON(size int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"person %d","title":"Head of Sales"}`, i, i)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// counterValue returns the value of the counter name with labels, or fails
// the test when the registry has no such series.
func counterValue(t *testing.T, registry *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := registry.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, family := range families {
		if family.GetName() != name {
			continue
		}
		for _, metric := range family.GetMetric() {
			matched := 0
			for _, pair := range metric.GetLabel() {
				if labels[pair.GetName()] == pair.GetValue() {
					matched++
				}
			}
			if matched == len(labels) && len(metric.GetLabel()) == len(labels) {
				return metric.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v in the registry", name, labels)
	return 0
}
