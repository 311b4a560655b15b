package processor_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestLargeAnswerGoesToObjectStore(t *testing.T) {
	s := newStack(t, claysim.Config{}, processor.Config{CacheFirst: map[subjects.Operation]bool{}})
	blob := strings.Repeat("x", 2<<20)
	page, err := json.Marshal(map[string]any{"search_id": "big", "has_more": false,
		"results": []map[string]string{{"name": "Large Corp", "notes": blob}}})
	if err != nil {
		t.Fatal(err)
	}
	s.sim.AddFault(claysim.Fault{Status: http.StatusOK, Body: string(page), Count: 1, Operation: claysim.OpSearch})
	keys := s.searches(t, "large", subjects.Normal, 1, nil)
	out := s.await(t, keys, time.Minute)
	res := out.Results[keys[0]]
	if len(res) != 1 {
		t.Fatalf("%d results, want 1", len(res))
	}
	if res[0].Ref == "" || res[0].Data != nil {
		t.Fatalf("result ref %q with %d bytes of data, want a ref and no data", res[0].Ref, len(res[0].Data))
	}
	bucket, name, _ := strings.Cut(res[0].Ref, "/")
	store, err := s.js.ObjectStore(context.Background(), bucket)
	if err != nil {
		t.Fatalf("open %s: %v", bucket, err)
	}
	obj, err := store.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("get object %s: %v", name, err)
	}
	data, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read object: %v", err)
	}
	if !strings.Contains(string(data), blob) {
		t.Errorf("object holds %d bytes without the 2 MB answer", len(data))
	}
}

func TestMetricsExposeEveryFamily(t *testing.T) {
	registry := prometheus.NewRegistry()
	s := newStack(t, claysim.Config{}, processor.Config{Registerer: registry, HeartbeatInterval: 200 * time.Millisecond})
	s.await(t, s.searches(t, "metrics", subjects.Normal, 3, nil), 30*time.Second)
	s.await(t, s.sameSearch(t, "metrics-cached", subjects.Normal), 30*time.Second)
	publish(t, s.js, request{priority: subjects.Bulk, operation: subjects.Row, key: "metrics-bad", body: `{`})
	s.await(t, []string{"metrics-bad"}, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // one more heartbeat sets the gauges

	srv := httptest.NewServer(promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, family := range []string{
		"claybridge_requests_total", "claybridge_clay_call_seconds", "claybridge_retries_total",
		"claybridge_dlq_entries_total", "claybridge_holds", "claybridge_cache_hits_total",
		"claybridge_consumer_pending", "claybridge_consumer_ack_pending", "claybridge_rate_tokens",
		"claybridge_clay_submissions_total", "claybridge_breaker_state", "claybridge_duplicates_suppressed_total",
		"claybridge_lost_claims_total", "claybridge_unknown_outcomes_total", "claybridge_fallback_answers_total",
	} {
		if !strings.Contains(string(body), "# TYPE "+family+" ") {
			t.Errorf("/metrics lacks %s", family)
		}
	}
}
