package claysim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"sort"
	"testing"
	"time"
)

func TestStatsCountsAndKeys(t *testing.T) {
	sim := startSim(t, unlimited())
	wantStatus(t, postRows(t, sim, "s", rowsWithKeys("k1", "k2"), nil), http.StatusOK)
	wantStatus(t, postRows(t, sim, "s", rowsWithKeys("k1"), nil), http.StatusOK)
	run := callPublic(t, sim, http.MethodPost, "/routines/r1/run", map[string]any{"items": []runItem{{ID: "k3"}}})
	wantStatus(t, run, http.StatusAccepted)
	search := do(t, request{method: http.MethodPost, url: sim.URL() + "/public/v0/search/people", body: searchBody{Limit: 3},
		header: map[string]string{"clay-api-key": testAPIKey, "X-Claybridge-Key": "k4"}})
	wantStatus(t, search, http.StatusOK)
	wantStatus(t, getMe(t, sim), http.StatusOK)
	wantStatus(t, do(t, request{method: http.MethodGet, url: sim.URL() + "/_sim/faults"}), http.StatusOK)

	stats := sim.Stats()
	if stats.RequestsTotal != 5 {
		t.Errorf("requests total = %d, want 5", stats.RequestsTotal)
	}
	wantByOperation := map[string]int{OpRow: 2, OpRoutine: 1, OpSearch: 1, OpMe: 1}
	if !reflect.DeepEqual(stats.RequestsByOperation, wantByOperation) {
		t.Errorf("requests by operation = %v, want %v", stats.RequestsByOperation, wantByOperation)
	}
	wantByStatus := map[string]int{"200": 4, "202": 1}
	if !reflect.DeepEqual(stats.ResponsesByStatus, wantByStatus) {
		t.Errorf("responses by status = %v, want %v", stats.ResponsesByStatus, wantByStatus)
	}
	wantKeys := map[string]int{"k1": 2, "k2": 1, "k3": 1, "k4": 1}
	if !reflect.DeepEqual(stats.SubmissionsByKey, wantKeys) {
		t.Errorf("submissions by key = %v, want %v", stats.SubmissionsByKey, wantKeys)
	}
	if !reflect.DeepEqual(stats.AcceptedByKey, wantKeys) {
		t.Errorf("accepted by key = %v, want %v", stats.AcceptedByKey, wantKeys)
	}
	if stats.RecordsAccepted != 3 {
		t.Errorf("records accepted = %d, want 3", stats.RecordsAccepted)
	}

	var arrivalKeys []string
	for _, a := range stats.Arrivals {
		arrivalKeys = append(arrivalKeys, a.Operation+":"+a.Key)
		if a.Time.IsZero() {
			t.Errorf("arrival %+v has no time", a)
		}
	}
	wantArrivals := []string{"row:k1", "row:k2", "row:k1", "routine:k3", "search:k4", "me:"}
	if !reflect.DeepEqual(arrivalKeys, wantArrivals) {
		t.Errorf("arrivals = %v, want %v", arrivalKeys, wantArrivals)
	}
}

func TestStatsCountRejectedSubmissions(t *testing.T) {
	sim := startSim(t, Config{RateLimit: 0.001, Burst: 1})
	wantStatus(t, postRows(t, sim, "s", rowsWithKeys("a"), nil), http.StatusOK)
	wantStatus(t, postRows(t, sim, "s", rowsWithKeys("a"), nil), http.StatusTooManyRequests)

	stats := sim.Stats()
	if got := stats.SubmissionsByKey["a"]; got != 2 {
		t.Errorf("submissions of key a = %d, want 2", got)
	}
	if got := stats.AcceptedByKey["a"]; got != 1 {
		t.Errorf("accepted submissions of key a = %d, want 1", got)
	}
	statuses := []int{stats.Arrivals[0].Status, stats.Arrivals[1].Status}
	if !reflect.DeepEqual(statuses, []int{200, 429}) {
		t.Errorf("arrival statuses = %v, want [200 429]", statuses)
	}
}

func TestStatsAdminAPI(t *testing.T) {
	sim := startSim(t, unlimited())
	wantStatus(t, postRows(t, sim, "s", rowsWithKeys("k1"), nil), http.StatusOK)

	resp := do(t, request{method: http.MethodGet, url: sim.URL() + "/_sim/stats"})
	wantStatus(t, resp, http.StatusOK)
	fields := decode[map[string]json.RawMessage](t, resp)
	var names []string
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	wantNames := []string{"accepted_by_key", "arrivals", "arrivals_dropped",
		"callbacks_by_key", "callbacks_failed", "callbacks_refused", "callbacks_sent",
		"client_disconnects", "records_accepted",
		"requests_by_operation", "requests_total", "responses_by_status", "submissions_by_key"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("stats fields = %v, want %v", names, wantNames)
	}
	var arrivals []map[string]any
	if err := json.Unmarshal(fields["arrivals"], &arrivals); err != nil || len(arrivals) != 1 {
		t.Fatalf("arrivals = %s, want one entry", fields["arrivals"])
	}
	if _, err := time.Parse(time.RFC3339Nano, arrivals[0]["time"].(string)); err != nil {
		t.Errorf("arrival time %v is not RFC 3339: %v", arrivals[0]["time"], err)
	}

	wantStatus(t, do(t, request{method: http.MethodDelete, url: sim.URL() + "/_sim/stats"}), http.StatusNoContent)
	stats := sim.Stats()
	if stats.RequestsTotal != 0 || len(stats.Arrivals) != 0 || len(stats.SubmissionsByKey) != 0 || stats.RecordsAccepted != 0 {
		t.Errorf("stats after DELETE = %+v, want all zero", stats)
	}
}

func TestClientDisconnectDuringLatency(t *testing.T) {
	tests := []struct {
		name    string
		latency Config
		fault   *Fault
		req     func(sim *Running) request
		wantKey string
	}{
		{
			name:    "configured latency",
			latency: Config{LatencyByOperation: map[string]time.Duration{OpMe: 10 * time.Second}},
			req: func(sim *Running) request {
				return request{method: http.MethodGet, url: sim.URL() + "/public/v0/me",
					header: map[string]string{"clay-api-key": testAPIKey}}
			},
		},
		{
			name:  "fault latency",
			fault: &Fault{Latency: 10 * time.Second, Operation: OpRow},
			req: func(sim *Running) request {
				return request{method: http.MethodPost, url: sim.URL() + "/v3/sources/webhook/s", body: rowsWithKeys("slow")}
			},
			wantKey: "slow",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.latency
			cfg.RateLimit = -1
			cfg.APIKey = testAPIKey
			sim := startSim(t, cfg)
			if tt.fault != nil {
				sim.AddFault(*tt.fault)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if _, err := doContext(ctx, tt.req(sim)); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("request error = %v, want the client deadline", err)
			}
			// The latency is 10 s, so a count within 2 s shows the handler
			// stopped waiting when the client went away.
			waitFor(t, 2*time.Second, "a counted client disconnect", func() bool {
				return sim.Stats().ClientDisconnects == 1
			})

			stats := sim.Stats()
			if len(stats.ResponsesByStatus) != 0 {
				t.Errorf("responses by status = %v, want none", stats.ResponsesByStatus)
			}
			if len(stats.Arrivals) != 1 {
				t.Fatalf("arrivals = %+v, want one", stats.Arrivals)
			}
			arrival := stats.Arrivals[0]
			if arrival.Status != StatusClientClosedRequest || arrival.Key != tt.wantKey {
				t.Errorf("arrival = %+v, want status %d and key %q", arrival, StatusClientClosedRequest, tt.wantKey)
			}
			if stats.RecordsAccepted != 0 {
				t.Errorf("records accepted = %d, want 0", stats.RecordsAccepted)
			}
		})
	}
}
