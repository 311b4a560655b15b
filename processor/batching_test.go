package processor_test

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestOversizedRowSplitsRejectedBatch(t *testing.T) {
	registry := prometheus.NewRegistry()
	simCfg := claysim.Config{RateLimit: -1, MaxBodyBytes: 50 << 10}
	cfg := processor.Config{RateLimit: processor.Unlimited, BatchLinger: 300 * time.Millisecond, Registerer: registry}
	s := newStack(t, simCfg, cfg)
	reqs := writes("split", 10)
	large := reqs[4].key
	for i := range reqs {
		note := "small"
		if reqs[i].key == large {
			note = strings.Repeat("x", 60<<10) // over the simulator's 50 KB, under claybridge's 90 KB batch
		}
		reqs[i].priority, reqs[i].operation = subjects.Normal, subjects.Row
		reqs[i].body = fmt.Sprintf(`{"table":"leads","row":{"n":%d,"note":%q}}`, i, note)
	}
	for _, r := range reqs {
		publish(t, s.js, r)
	}
	keys := keysOf(reqs)
	out := s.await(t, keys, 30*time.Second)

	for _, r := range reqs {
		if r.key == large {
			continue
		}
		if len(out.Results[r.key]) != 1 {
			t.Errorf("key %s: %d results, want 1", r.key, len(out.Results[r.key]))
		}
	}
	entries := out.DLQ[large]
	if len(entries) != 1 {
		t.Fatalf("large row: %d DLQ entries, want 1", len(entries))
	}
	if entries[0].Class != subjects.ClassClayRejected || entries[0].Header.Get(subjects.HeaderHTTPStatus) != "413" {
		t.Errorf("large row: DLQ class %s with HTTP status %s, want %s with 413",
			entries[0].Class, entries[0].Header.Get(subjects.HeaderHTTPStatus), subjects.ClassClayRejected)
	}
	stats := s.sim.Stats()
	if stats.RecordsAccepted != 9 {
		t.Errorf("Clay accepted %d rows, want 9", stats.RecordsAccepted)
	}
	first := arrivals(s.sim, claysim.OpRow)
	if len(first) == 0 || first[0].Status != http.StatusRequestEntityTooLarge {
		t.Errorf("first POST %+v, want the whole batch rejected with 413", first)
	}
	if full := histogramCount(t, registry, "claybridge_batch_size", 10) - histogramCount(t, registry, "claybridge_batch_size", 5); full != 1 {
		t.Errorf("%d POSTs of 6 to 10 rows, want 1: the batch of 10 before it was split", full)
	}
}

// A critical row is sent at once: with a linger of a minute, a row that
// waited for it would not end within the test's 20 s.
func TestCriticalRowSkipsLinger(t *testing.T) {
	cfg := processor.Config{RateLimit: processor.Unlimited, BatchLinger: time.Minute}
	s := newStack(t, claysim.Config{RateLimit: -1}, cfg)
	r := request{priority: subjects.Critical, operation: subjects.Row, key: "urgent", body: `{"table":"leads","row":{"n":1}}`}
	publish(t, s.js, r)
	out := s.await(t, []string{r.key}, 20*time.Second)
	noDLQ(t, out)
}

// histogramCount returns the observations of a histogram family at or
// under the bucket bound le.
func histogramCount(t *testing.T, g prometheus.Gatherer, name string, le float64) uint64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var n uint64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, b := range m.GetHistogram().GetBucket() {
				if b.GetUpperBound() == le {
					n += b.GetCumulativeCount()
				}
			}
		}
	}
	return n
}

func TestRoutineRunsPolledAcrossRestart(t *testing.T) {
	_, nc := testenv.NATS(t)
	const routineDelay = 3 * time.Second
	s := &stack{nc: nc, js: testenv.JetStream(t, nc), sim: testenv.Sim(t, claysim.Config{RoutineDelay: routineDelay})}
	cfg := processor.Config{RoutinePollInterval: 100 * time.Millisecond}
	first := cfg
	first.Instance = "starter"
	starter := testproc.Start(t, testenv.Connect(t, natsURL(nc)), s.sim.URL(), first)

	reqs := make([]request, 250)
	for i := range reqs {
		reqs[i] = request{priority: subjects.Priorities[i%3], operation: subjects.Routine, key: fmt.Sprintf("run-%03d", i),
			body: fmt.Sprintf(`{"routine_id":"enrich-company","inputs":{"domain":"co%d.example.org","fail":%t}}`, i, i%10 == 0)}
	}
	published := time.Now()
	for _, r := range reqs {
		publish(t, s.js, r)
	}
	keys := keysOf(reqs)
	testenv.Eventually(t, 10*time.Second, "every item to join a stored run", func() bool {
		return s.pending(t) == 0 && len(arrivalKeys(s.sim, claysim.OpRoutine)) == len(keys)
	})
	testenv.Eventually(t, 5*time.Second, "the first polls answered 202", func() bool {
		return s.sim.Stats().ResponsesByStatus["202"] > len(runSizes(s.sim))
	})
	starter.Stop(t)
	if time.Since(published) >= routineDelay {
		t.Fatalf("the first replica stopped %s after the publishes, after the runs finished", time.Since(published))
	}

	second := cfg
	second.Instance = "poller"
	testproc.Start(t, testenv.Connect(t, natsURL(nc)), s.sim.URL(), second)
	out := s.await(t, keys, 30*time.Second)
	assertOnce(t, s.sim, keys)

	sizes := runSizes(s.sim)
	pages := 0
	for _, n := range sizes {
		if n > 100 {
			t.Errorf("a run of %d items, want at most 100", n)
		}
		pages += int(math.Ceil(float64(n) / claysim.DefaultRoutinePageSize))
	}
	t.Logf("runs of %v items in %s", sizes, time.Since(published).Round(time.Millisecond))
	if got := s.sim.Stats().ResponsesByStatus["200"]; got < pages {
		t.Errorf("%d result pages read, want at least %d", got, pages)
	}
	for i, r := range reqs {
		failed := i%10 == 0
		switch {
		case failed && (len(out.DLQ[r.key]) != 1 || out.DLQ[r.key][0].Class != subjects.ClassClayRejected):
			t.Errorf("key %s: DLQ %+v, want one %s entry", r.key, out.DLQ[r.key], subjects.ClassClayRejected)
		case failed && !strings.Contains(out.DLQ[r.key][0].Header.Get(subjects.HeaderError), "simulated failure"):
			t.Errorf("key %s: DLQ error %q, want the item's error", r.key, out.DLQ[r.key][0].Header.Get(subjects.HeaderError))
		case !failed && (len(out.Results[r.key]) != 1 || !strings.Contains(string(out.Results[r.key][0].Data), `"score"`)):
			t.Errorf("key %s: results %+v, want one with the item's output", r.key, out.Results[r.key])
		}
	}
}

// arrivalKeys returns the keys of op's arrivals.
func arrivalKeys(sim *claysim.Running, op string) []string {
	var keys []string
	for _, a := range arrivals(sim, op) {
		if a.Key != "" {
			keys = append(keys, a.Key)
		}
	}
	return keys
}

// runSizes returns the item count of each routine run: the keyed
// arrivals of one run request share its arrival time.
func runSizes(sim *claysim.Running) []int {
	byStart := map[string]int{}
	for _, a := range arrivals(sim, claysim.OpRoutine) {
		if a.Key != "" {
			byStart[strconv.FormatInt(a.Time.UnixNano(), 10)]++
		}
	}
	sizes := make([]int, 0, len(byStart))
	for _, n := range byStart {
		sizes = append(sizes, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(sizes)))
	return sizes
}
