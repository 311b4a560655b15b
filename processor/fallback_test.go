package processor_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/fallback"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// sameSearch publishes the same search parameters under a new key.
func (s *stack) sameSearch(t *testing.T, key string, p subjects.Priority) []string {
	t.Helper()
	body := `{"source_type":"people","filters":{"title":"VP Sales","region":"EMEA"},"limit":5}`
	publish(t, s.js, request{priority: p, operation: subjects.Search, key: key, body: body})
	return []string{key}
}

func TestOpenBreakerAnswersFromCache(t *testing.T) {
	cfg := processor.Config{CacheFirst: map[subjects.Operation]bool{}, BreakerOpenTimeout: time.Minute, HeartbeatInterval: 200 * time.Millisecond}
	s := newStack(t, claysim.Config{}, cfg)
	out := s.await(t, s.sameSearch(t, "first", subjects.Normal), 30*time.Second)
	if res := out.Results["first"]; len(res) != 1 || res[0].Source != subjects.SourceClay {
		t.Fatalf("first search: results %+v, want one from clay", res)
	}

	s.sim.AddFault(claysim.Fault{Status: http.StatusServiceUnavailable, Operation: claysim.OpSearch})
	// These fail until the breaker opens; they stay parked while it is.
	s.searches(t, "trip", subjects.Normal, 6, nil)
	testenv.Eventually(t, 10*time.Second, "the breaker to open", func() bool {
		return s.heartbeatBreaker(t) == "open"
	})
	out = s.await(t, s.sameSearch(t, "second", subjects.Normal), 30*time.Second)
	res := out.Results["second"]
	if len(res) != 1 {
		t.Fatalf("second search: %d results and %d DLQ entries, want one result", len(res), len(out.DLQ["second"]))
	}
	if res[0].Status != subjects.StatusFallback || res[0].Source != subjects.SourceCache || res[0].Staleness != subjects.Fresh {
		t.Errorf("second search: status %s source %s staleness %s, want fallback from cache, fresh", res[0].Status, res[0].Source, res[0].Staleness)
	}
	if res[0].Reason == "" {
		t.Error("fallback result carries no reason")
	}
	if state := s.heartbeatBreaker(t); state != "open" {
		t.Errorf("breaker %s when the fallback was served, want open", state)
	}
}

func TestCacheSurvivesRestart(t *testing.T) {
	_, nc := testenv.NATS(t)
	sim := testenv.Sim(t, claysim.Config{})
	first := testproc.Start(t, nc, sim.URL(), processor.Config{Instance: "first"})
	s := &stack{nc: nc, js: testenv.JetStream(t, nc), sim: sim, proc: first}
	s.await(t, s.sameSearch(t, "before-restart", subjects.Normal), 30*time.Second)
	first.Stop(t)

	registry := prometheus.NewRegistry()
	s.proc = testproc.Start(t, nc, sim.URL(), processor.Config{Instance: "second", Registerer: registry})
	calls := sim.Stats().RequestsByOperation[claysim.OpSearch]
	out := s.await(t, s.sameSearch(t, "after-restart", subjects.Normal), 30*time.Second)
	if res := out.Results["after-restart"]; len(res) != 1 || res[0].Source != subjects.SourceCache {
		t.Fatalf("after restart: results %+v, want one from the cache", res)
	}
	if got := sim.Stats().RequestsByOperation[claysim.OpSearch]; got != calls {
		t.Errorf("Clay saw %d more searches after the restart, want 0", got-calls)
	}
	if hits := counterValue(t, registry, "claybridge_cache_hits_total", "tier", fallback.TierKV); hits < 1 {
		t.Errorf("KV tier hits = %v after the restart, want at least 1", hits)
	}
}

func TestCacheFirstRepeatCostsNoCall(t *testing.T) {
	s := newStack(t, claysim.Config{}, processor.Config{})
	s.await(t, s.sameSearch(t, "one", subjects.Critical), 30*time.Second)
	calls := s.sim.Stats().RequestsByOperation[claysim.OpSearch]
	out := s.await(t, s.sameSearch(t, "two", subjects.Critical), 30*time.Second)
	res := out.Results["two"]
	if len(res) != 1 || res[0].Status != subjects.StatusOK || res[0].Source != subjects.SourceCache || res[0].Staleness != subjects.Fresh {
		t.Fatalf("repeat: results %+v, want one ok, fresh, from the cache", res)
	}
	if got := s.sim.Stats().RequestsByOperation[claysim.OpSearch]; got != calls {
		t.Errorf("the repeated search cost %d Clay calls, want 0", got-calls)
	}
}

func TestStaleEntriesServedWithinPriorityLimit(t *testing.T) {
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	cfg := processor.Config{MaxDeliver: 1, CacheFirst: map[subjects.Operation]bool{}, Cache: fallback.Config{Now: clock}}
	s := newStack(t, claysim.Config{}, cfg)
	s.await(t, s.sameSearch(t, "warm", subjects.Normal), 30*time.Second)
	s.sim.AddFault(claysim.Fault{Status: http.StatusServiceUnavailable, Operation: claysim.OpSearch})

	cases := []struct {
		key       string
		priority  subjects.Priority
		age       time.Duration
		staleness string // empty: no fallback may be served
	}{
		{key: "critical-2h", priority: subjects.Critical, age: 2 * time.Hour, staleness: subjects.Stale},
		{key: "critical-25h", priority: subjects.Critical, age: 25 * time.Hour},
		{key: "bulk-25h", priority: subjects.Bulk, age: 25 * time.Hour, staleness: subjects.VeryStale},
	}
	for _, tc := range cases {
		offset.Store(int64(tc.age))
		out := s.await(t, s.sameSearch(t, tc.key, tc.priority), 30*time.Second)
		if tc.staleness == "" {
			if got := out.DLQ[tc.key]; len(got) != 1 || got[0].Class != subjects.ClassRetriesExhausted {
				t.Errorf("%s: want one %s DLQ entry, got results %+v", tc.key, subjects.ClassRetriesExhausted, out.Results[tc.key])
			}
			continue
		}
		res := out.Results[tc.key]
		if len(res) != 1 || res[0].Status != subjects.StatusFallback || res[0].Staleness != tc.staleness {
			t.Errorf("%s: results %+v, want one fallback that is %s", tc.key, res, tc.staleness)
		}
	}
}

// counterValue sums a counter family's series whose label has value, or
// all its series when label is empty.
func counterValue(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label == "" {
				sum += m.GetCounter().GetValue()
				continue
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == label && strings.EqualFold(l.GetValue(), value) {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
