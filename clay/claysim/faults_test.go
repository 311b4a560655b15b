package claysim

import (
	"net/http"
	"testing"
	"time"
)

func getMe(t *testing.T, sim *Running) response {
	t.Helper()
	return callPublic(t, sim, http.MethodGet, "/me", nil)
}

func searchStatus(t *testing.T, sim *Running) int {
	t.Helper()
	return callPublic(t, sim, http.MethodPost, "/search/people", searchBody{Limit: 1}).status
}

func TestFaultByDuration(t *testing.T) {
	sim := startSim(t, unlimited())
	sim.AddFault(Fault{Status: http.StatusServiceUnavailable, Operation: OpSearch, Duration: 300 * time.Millisecond})

	if got := searchStatus(t, sim); got != http.StatusServiceUnavailable {
		t.Errorf("search during fault: status = %d, want 503", got)
	}
	wantStatus(t, getMe(t, sim), http.StatusOK)
	waitFor(t, 3*time.Second, "search fault to expire", func() bool {
		return searchStatus(t, sim) == http.StatusOK
	})
}

func TestFaultByCount(t *testing.T) {
	sim := startSim(t, unlimited())
	sim.AddFault(Fault{Status: http.StatusInternalServerError, Count: 2})

	steps := []struct {
		call func() int
		want int
	}{
		{func() int { return getMe(t, sim).status }, http.StatusInternalServerError},
		{func() int { return postRows(t, sim, "s", rowsWithKeys("a"), nil).status }, http.StatusInternalServerError},
		{func() int { return getMe(t, sim).status }, http.StatusOK},
		{func() int { return postRows(t, sim, "s", rowsWithKeys("a"), nil).status }, http.StatusOK},
	}
	for i, step := range steps {
		if got := step.call(); got != step.want {
			t.Errorf("call %d: status = %d, want %d", i, got, step.want)
		}
	}
	listed := do(t, request{method: http.MethodGet, url: sim.URL() + "/_sim/faults"})
	if got := len(decode[struct{ Faults []activeFaultJSON }](t, listed).Faults); got != 0 {
		t.Errorf("active faults after their count ran out = %d, want 0", got)
	}
}

func TestFaultCountOnlyUsedByMatchingOperation(t *testing.T) {
	sim := startSim(t, unlimited())
	sim.AddFault(Fault{Status: http.StatusBadGateway, Operation: OpRow, Count: 1})
	wantStatus(t, getMe(t, sim), http.StatusOK)
	wantStatus(t, postRows(t, sim, "s", rowsWithKeys("a"), nil), http.StatusBadGateway)
	wantStatus(t, postRows(t, sim, "s", rowsWithKeys("a"), nil), http.StatusOK)
}

func TestFaultsStackNewestWins(t *testing.T) {
	sim := startSim(t, unlimited())
	sim.AddFault(Fault{Status: http.StatusInternalServerError})
	sim.AddFault(Fault{Status: http.StatusServiceUnavailable, Count: 1})

	wantStatus(t, getMe(t, sim), http.StatusServiceUnavailable)
	wantStatus(t, getMe(t, sim), http.StatusInternalServerError)
	sim.ClearFaults()
	wantStatus(t, getMe(t, sim), http.StatusOK)
}

func TestFaultResponseBody(t *testing.T) {
	tests := []struct {
		name            string
		body            string
		wantContentType string
	}{
		{"default message", "", "application/json"},
		{"custom JSON", `{"error":"overloaded"}`, "application/json"},
		{"custom HTML", "<html>Bad gateway</html>", "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, unlimited())
			sim.AddFault(Fault{Status: http.StatusBadGateway, Body: tt.body})
			resp := getMe(t, sim)
			wantStatus(t, resp, http.StatusBadGateway)
			if got := resp.header.Get("Content-Type"); got != tt.wantContentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantContentType)
			}
			if tt.body == "" {
				wantMessage(t, resp)
			} else if string(resp.body) != tt.body {
				t.Errorf("body = %q, want %q", resp.body, tt.body)
			}
		})
	}
}

func TestFaultRetryAfterValues(t *testing.T) {
	const httpDate = "Wed, 21 Oct 2037 07:28:00 GMT"
	tests := []struct {
		name      string
		fault     string
		want      string
		wantSetIt bool
	}{
		{"raw zero", `{"status":429,"retry_after_raw":"0"}`, "0", true},
		{"raw HTTP date", `{"status":429,"retry_after_raw":"` + httpDate + `"}`, httpDate, true},
		{"duration rounded up", `{"status":429,"retry_after":"1500ms"}`, "2", true},
		{"whole seconds", `{"status":503,"retry_after":"3s"}`, "3", true},
		{"raw wins over duration", `{"status":429,"retry_after":"5s","retry_after_raw":"7"}`, "7", true},
		{"omitted", `{"status":429}`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, unlimited())
			added := do(t, request{method: http.MethodPost, url: sim.URL() + "/_sim/faults", body: tt.fault})
			wantStatus(t, added, http.StatusCreated)

			resp := getMe(t, sim)
			values := resp.header.Values("Retry-After")
			if !tt.wantSetIt {
				if len(values) != 0 {
					t.Errorf("Retry-After = %q, want no header", values)
				}
				return
			}
			if len(values) != 1 || values[0] != tt.want {
				t.Errorf("Retry-After = %q, want %q", values, tt.want)
			}
		})
	}
}

func TestFaultLatencyOnly(t *testing.T) {
	sim := startSim(t, unlimited())
	const delay = 200 * time.Millisecond
	sim.AddFault(Fault{Latency: delay, Operation: OpMe, Count: 1})

	start := time.Now()
	wantStatus(t, getMe(t, sim), http.StatusOK)
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("delayed call took %v, want at least %v", elapsed, delay)
	}
	listed := do(t, request{method: http.MethodGet, url: sim.URL() + "/_sim/faults"})
	if got := len(decode[struct{ Faults []activeFaultJSON }](t, listed).Faults); got != 0 {
		t.Errorf("active faults after one delayed call = %d, want 0", got)
	}
}

func TestFaultsAdminAPI(t *testing.T) {
	sim := startSim(t, unlimited())
	added := do(t, request{method: http.MethodPost, url: sim.URL() + "/_sim/faults",
		body: `{"status":503,"operation":"routine","duration":"1m","count":3,"latency":"10ms"}`})
	wantStatus(t, added, http.StatusCreated)

	listed := decode[struct{ Faults []activeFaultJSON }](t, do(t, request{method: http.MethodGet, url: sim.URL() + "/_sim/faults"}))
	if len(listed.Faults) != 1 {
		t.Fatalf("listed %d faults, want 1", len(listed.Faults))
	}
	f := listed.Faults[0]
	if f.Status != 503 || f.Operation != OpRoutine || f.Duration != "1m0s" || f.Latency != "10ms" {
		t.Errorf("listed fault = %+v, want status 503, operation routine, duration 1m0s, latency 10ms", f)
	}
	if f.ExpiresAt == nil || f.Remaining == nil || *f.Remaining != 3 {
		t.Errorf("listed fault expires_at = %v, remaining = %v, want both set and 3 remaining", f.ExpiresAt, f.Remaining)
	}

	cleared := do(t, request{method: http.MethodDelete, url: sim.URL() + "/_sim/faults"})
	wantStatus(t, cleared, http.StatusNoContent)
	listed = decode[struct{ Faults []activeFaultJSON }](t, do(t, request{method: http.MethodGet, url: sim.URL() + "/_sim/faults"}))
	if len(listed.Faults) != 0 {
		t.Errorf("listed %d faults after DELETE, want 0", len(listed.Faults))
	}
}

func TestFaultsAdminAPIRejectsInvalidFault(t *testing.T) {
	sim := startSim(t, unlimited())
	tests := []struct {
		name string
		body string
	}{
		{"empty body", ""},
		{"no status or latency", `{"operation":"row"}`},
		{"status out of range", `{"status":99}`},
		{"unknown operation", `{"status":500,"operation":"enrich"}`},
		{"invalid duration", `{"status":500,"duration":"ten seconds"}`},
		{"negative count", `{"status":500,"count":-1}`},
		{"unknown field", `{"status":500,"retry":"1s"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, request{method: http.MethodPost, url: sim.URL() + "/_sim/faults", body: tt.body})
			wantStatus(t, resp, http.StatusBadRequest)
			wantMessage(t, resp)
		})
	}
	wantStatus(t, getMe(t, sim), http.StatusOK)
}

func TestFaultJSONRoundTrip(t *testing.T) {
	want := Fault{Status: 429, Operation: OpRow, Duration: 10 * time.Second, Count: 2,
		RetryAfter: 1500 * time.Millisecond, RetryAfterRaw: "0", Latency: 3 * time.Second, Body: "busy"}
	encoded, err := want.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON: %v", err)
	}
	var got Fault
	if err := got.UnmarshalJSON(encoded); err != nil {
		t.Fatalf("UnmarshalJSON(%s): %v", encoded, err)
	}
	if got != want {
		t.Errorf("round trip of %s = %+v, want %+v", encoded, got, want)
	}
}
