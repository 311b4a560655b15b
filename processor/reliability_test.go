package processor_test

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestShortOutageEndsInResults(t *testing.T) {
	s := newStack(t, claysim.Config{}, processor.Config{BreakerOpenTimeout: time.Second})
	const outage = 3 * time.Second
	s.sim.AddFault(claysim.Fault{Status: http.StatusServiceUnavailable, Duration: outage, Operation: claysim.OpSearch})
	keys := s.searches(t, "outage3", subjects.Normal, 10, nil)
	out := s.await(t, keys, time.Minute)
	noDLQ(t, out)

	// The minimum delays before deliveries 2..MaxDeliver outlast the outage,
	// so a request retried through the broker survives it.
	var sum time.Duration
	for attempt := 1; attempt < processor.DefaultMaxDeliver; attempt++ {
		d := processor.DefaultRetryBase << (attempt - 1)
		sum += max(d/2, processor.DefaultRetryBase)
	}
	if sum <= outage {
		t.Errorf("sum of minimum retry delays %s does not exceed the outage %s", sum, outage)
	}
	// No key is retried sooner than the retry base.
	last := map[string]time.Time{}
	for _, a := range arrivals(s.sim, claysim.OpSearch) {
		if prev, ok := last[a.Key]; ok && a.Time.Sub(prev) < 900*time.Millisecond {
			t.Errorf("key %s retried after %s, want at least 1s", a.Key, a.Time.Sub(prev))
		}
		last[a.Key] = a.Time
	}
}

func TestLongOutageHoldsWithoutSpendingDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("a 60 s outage")
	}
	t.Parallel()
	const openTimeout = 5 * time.Second
	s := newStack(t, claysim.Config{}, processor.Config{BreakerOpenTimeout: openTimeout})
	s.sim.AddFault(claysim.Fault{Status: http.StatusServiceUnavailable, Operation: claysim.OpSearch})
	keys := s.searches(t, "outage60", subjects.Normal, 200, nil)

	testenv.Eventually(t, 30*time.Second, "the breaker to open", func() bool {
		return s.heartbeatBreaker(t) == "open"
	})
	opened := time.Now()
	before := s.delivered(t)
	time.Sleep(60 * time.Second)
	after := s.delivered(t)
	s.sim.ClearFaults()

	// At most one call per half-open window, plus calls in flight when the
	// breaker opened.
	windows := int(60*time.Second/openTimeout) + 1
	calls := 0
	for _, a := range arrivals(s.sim, claysim.OpSearch) {
		if a.Time.After(opened.Add(time.Second)) && a.Time.Before(opened.Add(60*time.Second)) {
			calls++
		}
	}
	if calls > windows {
		t.Errorf("%d calls reached Clay during the outage, want at most %d (one per half-open window)", calls, windows)
	}
	if grown := after - before; grown > 0 {
		t.Errorf("redeliveries grew by %d while the breaker was open, want none", grown)
	}
	out := s.await(t, keys, 2*time.Minute)
	noDLQ(t, out)
}

// delivered returns the redeliveries of the normal search consumer so far.
func (s *stack) delivered(t *testing.T) uint64 {
	t.Helper()
	cons, err := s.js.Consumer(context.Background(), subjects.StreamRequests, processor.ConsumerName(subjects.Normal, subjects.Search))
	if err != nil {
		t.Fatalf("open consumer: %v", err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	return uint64(info.NumRedelivered)
}

func (s *stack) heartbeatBreaker(t *testing.T) string {
	return s.heartbeat(t).Breakers["public_api"]
}

func TestRetryAfterPausesSurface(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name     string
		raw      string
		wantGap  time.Duration
		clampMax time.Duration
	}{
		{name: "seconds", raw: "3", wantGap: 3 * time.Second},
		{name: "zero clamps to minimum", raw: "0", wantGap: time.Second},
		{name: "missing uses default pause", raw: "", wantGap: 2 * time.Second},
		{name: "HTTP date", raw: now.Add(4 * time.Second).UTC().Format(http.TimeFormat), wantGap: 2 * time.Second},
		{name: "one day clamps to maximum", raw: "86400", wantGap: 3 * time.Second, clampMax: 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := processor.Config{RateLimitPause: 2 * time.Second, RetryAfterMax: tc.clampMax, HeartbeatInterval: 500 * time.Millisecond}
			s := newStack(t, claysim.Config{Latency: 20 * time.Millisecond}, cfg)
			s.sim.AddFault(claysim.Fault{Status: http.StatusTooManyRequests, Count: 1, Operation: claysim.OpSearch, RetryAfterRaw: tc.raw})
			keys := s.searches(t, "ra", subjects.Normal, 60, nil)
			out := s.await(t, keys, time.Minute)
			noDLQ(t, out)

			list := arrivals(s.sim, claysim.OpSearch)
			limited := -1
			for i, a := range list {
				if a.Status == http.StatusTooManyRequests {
					limited = i
					break
				}
			}
			if limited < 0 {
				t.Fatal("the simulator answered no 429")
			}
			// Calls sent, or past their hold check, before the 429 came back
			// may still arrive: at most two per normal worker. Without the
			// pause about 50 would arrive in that time.
			const inFlight = 10
			at := list[limited].Time
			early := 0
			for _, a := range list[limited+1:] {
				if a.Time.Sub(at) < tc.wantGap-100*time.Millisecond {
					early++
				}
			}
			if early > inFlight {
				t.Errorf("%d calls arrived within %s after the 429, want at most %d already in flight", early, tc.wantGap, inFlight)
			}
		})
	}
}

func TestBreakerIgnoresCancelsAndRequestErrors(t *testing.T) {
	s := newStack(t, claysim.Config{}, processor.Config{HeartbeatInterval: 200 * time.Millisecond})
	// Ten calls cut off by their own Clay-Deadline while Clay is slow.
	s.sim.AddFault(claysim.Fault{Latency: 2 * time.Second, Count: 10, Operation: claysim.OpSearch})
	deadline := nats.Header{subjects.HeaderDeadline: {time.Now().Add(500 * time.Millisecond).Format(time.RFC3339Nano)}}
	canceled := s.searches(t, "canceled", subjects.Critical, 10, deadline)
	out := s.await(t, canceled, time.Minute)
	for _, k := range canceled {
		if len(out.DLQ[k]) != 1 || out.DLQ[k][0].Class != subjects.ClassDeadlineExceeded {
			t.Errorf("key %s: want one %s DLQ entry, got %+v", k, subjects.ClassDeadlineExceeded, out.DLQ[k])
		}
	}
	s.sim.ClearFaults()

	for i, status := range []int{400, 404, 422, 400, 404, 422, 400, 404, 422, 400} {
		s.sim.AddFault(claysim.Fault{Status: status, Count: 1, Operation: claysim.OpSearch})
		key := s.searches(t, "rejected-"+strconv.Itoa(i), subjects.Normal, 1, nil)
		out := s.await(t, key, 30*time.Second)
		if got := out.DLQ[key[0]]; len(got) != 1 || got[0].Class != subjects.ClassClayRejected {
			t.Errorf("status %d: want one %s DLQ entry, got %+v", status, subjects.ClassClayRejected, got)
		}
	}
	s.sim.AddFault(claysim.Fault{Status: http.StatusForbidden, Count: 1, Operation: claysim.OpSearch})
	forbidden := s.searches(t, "forbidden", subjects.Normal, 1, nil)
	out = s.await(t, forbidden, 30*time.Second)
	if got := out.DLQ[forbidden[0]]; len(got) != 1 || got[0].Class != subjects.ClassForbidden {
		t.Errorf("403: want one %s DLQ entry, got %+v", subjects.ClassForbidden, got)
	}
	testenv.Eventually(t, 5*time.Second, "a fresh heartbeat", func() bool {
		return time.Since(s.heartbeat(t).Time) < time.Second
	})
	if state := s.heartbeatBreaker(t); state != "closed" {
		t.Errorf("Public API breaker is %s after cancellations and 4xx, want closed", state)
	}
}

func TestDeadlineCancelsCall(t *testing.T) {
	s := newStack(t, claysim.Config{}, processor.Config{})
	base := callGoroutines()
	s.sim.AddFault(claysim.Fault{Latency: 10 * time.Second, Operation: claysim.OpSearch})
	deadline := nats.Header{subjects.HeaderDeadline: {time.Now().Add(2 * time.Second).Format(time.RFC3339Nano)}}
	keys := s.searches(t, "deadline", subjects.Critical, 1, deadline)
	out := s.await(t, keys, 30*time.Second)
	if n := len(out.Results[keys[0]]); n != 0 {
		t.Errorf("%d results published for a call past its deadline, want 0", n)
	}
	if got := out.DLQ[keys[0]]; len(got) != 1 || got[0].Class != subjects.ClassDeadlineExceeded {
		t.Errorf("want one %s DLQ entry, got %+v", subjects.ClassDeadlineExceeded, got)
	}
	testenv.Eventually(t, 5*time.Second, "the simulator to see the client disconnect", func() bool {
		return s.sim.Stats().ClientDisconnects >= 1
	})
	testenv.Eventually(t, 10*time.Second, "call goroutines to return to their baseline", func() bool {
		s.proc.Client.CloseIdleConnections()
		return callGoroutines() <= base
	})
}

func TestBulkBacklogDoesNotDelayCritical(t *testing.T) {
	s := newStack(t, claysim.Config{Latency: 5 * time.Millisecond}, processor.Config{})
	bulk := s.searches(t, "bulk", subjects.Bulk, 2000, nil)
	critical := s.searches(t, "critical", subjects.Critical, 50, nil)
	s.await(t, critical, time.Minute)

	results, err := readResults(s.js)
	if err != nil {
		t.Fatal(err)
	}
	bulkDone := 0
	for _, key := range results {
		if len(key) > 4 && key[:4] == "bulk" {
			bulkDone++
		}
	}
	if bulkDone > len(bulk)/2 {
		t.Errorf("%d of %d bulk requests finished before the last critical one, want most still pending", bulkDone, len(bulk))
	}
	out := s.await(t, bulk, 3*time.Minute)
	noDLQ(t, out)
}

// readResults returns the keys of the results stored now, in order.
func readResults(js jetstream.JetStream) ([]string, error) {
	out, err := collectKeys(js)
	return out, err
}

func TestUnauthorizedAndPaymentRequiredHold(t *testing.T) {
	cases := []struct {
		name   string
		status int
		op     string
		reason string
	}{
		{name: "401 on the API key", status: http.StatusUnauthorized, op: "", reason: "unauthorized"},
		{name: "402 credits exhausted", status: http.StatusPaymentRequired, op: claysim.OpSearch, reason: "payment_required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := processor.Config{ProbeInterval: time.Second, HeartbeatInterval: 200 * time.Millisecond, HasAPIKey: true}
			s := newStack(t, claysim.Config{}, cfg)
			s.sim.AddFault(claysim.Fault{Status: tc.status, Operation: tc.op})
			keys := s.searches(t, "held", subjects.Normal, 30, nil)
			testenv.Eventually(t, 10*time.Second, "the heartbeat to show the hold", func() bool {
				for _, h := range s.heartbeat(t).Holds {
					if h.Reason == tc.reason {
						return true
					}
				}
				return false
			})
			if hb := s.heartbeat(t); hb.State != subjects.Degraded {
				t.Errorf("heartbeat state %s during a hold, want %s", hb.State, subjects.Degraded)
			}
			heldAt := len(arrivals(s.sim, claysim.OpSearch))
			time.Sleep(3 * time.Second)
			// While held, only probes reach Clay: about one per probe interval.
			if calls := len(arrivals(s.sim, claysim.OpSearch)) - heldAt; calls > 5 {
				t.Errorf("%d searches reached Clay during the hold, want only probes", calls)
			}
			s.sim.ClearFaults()
			out := s.await(t, keys, time.Minute)
			noDLQ(t, out)
		})
	}
}

// callGoroutines counts goroutines serving Clay calls: the HTTP client's
// and server's connections, deadlines and calls in the processor.
func callGoroutines() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "net/http.") || strings.Contains(g, "go-resiliency") || strings.Contains(g, "processor.(*Processor).call") {
			n++
		}
	}
	return n
}

func TestPublicAPIBudgetFollowsRateLimitHeaders(t *testing.T) {
	sim := claysim.Config{PublicRateLimit: 10, PublicRateWindow: time.Second}
	s := newStack(t, sim, processor.Config{CacheFirst: map[subjects.Operation]bool{}})
	keys := s.searches(t, "budget", subjects.Critical, 50, nil)
	out := s.await(t, keys, time.Minute)
	noDLQ(t, out)
	limited := s.sim.Stats().ResponsesByStatus[strconv.Itoa(http.StatusTooManyRequests)]
	// Before the first answer the limit is unknown, so the first window
	// may overrun once; after that the budget follows the headers.
	if limited > 3 {
		t.Errorf("%d searches got 429, want at most 3 once the X-RateLimit-* headers are known", limited)
	}
	t.Logf("50 searches at 10/s: %d answered 429", limited)
}

func TestRetriesExhaustedCarriesErrorHistory(t *testing.T) {
	s := newStack(t, claysim.Config{}, processor.Config{MaxDeliver: 3, BreakerFailures: 100, CacheFirst: map[subjects.Operation]bool{}})
	s.sim.AddFault(claysim.Fault{Status: http.StatusBadGateway, Operation: claysim.OpSearch})
	keys := s.searches(t, "exhausted", subjects.Critical, 1, nil)
	out := s.await(t, keys, time.Minute)
	entries := out.DLQ[keys[0]]
	if len(entries) != 1 || entries[0].Class != subjects.ClassRetriesExhausted {
		t.Fatalf("want one %s DLQ entry, got %+v", subjects.ClassRetriesExhausted, entries)
	}
	h := entries[0].Header
	if got := strings.Count(h.Get(subjects.HeaderError), "HTTP 502"); got != 3 {
		t.Errorf("Clay-Error names 502 %d times, want all 3 attempts: %q", got, h.Get(subjects.HeaderError))
	}
	if h.Get(subjects.HeaderAttempts) != "3" {
		t.Errorf("Clay-Attempts = %q, want 3", h.Get(subjects.HeaderAttempts))
	}
	first, err1 := time.Parse(time.RFC3339Nano, h.Get(subjects.HeaderFirstAttempt))
	last, err2 := time.Parse(time.RFC3339Nano, h.Get(subjects.HeaderLastAttempt))
	if err1 != nil || err2 != nil || last.Sub(first) < 2*time.Second {
		t.Errorf("first attempt %s, last %s: want at least the two retry delays (2s) apart", first, last)
	}
}
