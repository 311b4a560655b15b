package claysim

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// publicLimited returns a config with a Public API rate limit of limit
// requests per window.
func publicLimited(limit int, window time.Duration) Config {
	cfg := unlimited()
	cfg.PublicRateLimit = limit
	cfg.PublicRateWindow = window
	return cfg
}

// wantRateHeaders fails the test unless resp has the X-RateLimit-*
// headers with the given limit and remaining count and a reset of 1 to
// maxReset seconds. It returns the reset value.
func wantRateHeaders(t *testing.T, resp response, limit, remaining, maxReset int) int {
	t.Helper()
	if got := resp.header.Get("X-RateLimit-Limit"); got != strconv.Itoa(limit) {
		t.Errorf("X-RateLimit-Limit = %q, want %d", got, limit)
	}
	if got := resp.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(remaining) {
		t.Errorf("X-RateLimit-Remaining = %q, want %d", got, remaining)
	}
	reset, err := strconv.Atoi(resp.header.Get("X-RateLimit-Reset"))
	if err != nil || reset < 1 || reset > maxReset {
		t.Errorf("X-RateLimit-Reset = %q, want whole seconds from 1 to %d", resp.header.Get("X-RateLimit-Reset"), maxReset)
	}
	return reset
}

func wantNoRateHeaders(t *testing.T, resp response) {
	t.Helper()
	for _, name := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		if values := resp.header.Values(name); len(values) != 0 {
			t.Errorf("%s = %q, want no header", name, values)
		}
	}
}

func TestPublicRateLimitSharedAcrossEndpoints(t *testing.T) {
	sim := startSim(t, publicLimited(3, time.Minute))
	calls := []struct {
		name string
		call func() response
		want int
	}{
		{"me", func() response { return getMe(t, sim) }, http.StatusOK},
		{"search", func() response {
			return callPublic(t, sim, http.MethodPost, "/search/people", searchBody{Limit: 1})
		}, http.StatusOK},
		{"routine run", func() response {
			return callPublic(t, sim, http.MethodPost, "/routines/r1/run", map[string]any{"items": []runItem{{ID: "a"}}})
		}, http.StatusAccepted},
	}
	for i, c := range calls {
		resp := c.call()
		wantStatus(t, resp, c.want)
		wantRateHeaders(t, resp, 3, 2-i, 60)
	}

	over := getMe(t, sim)
	wantStatus(t, over, http.StatusTooManyRequests)
	wantMessage(t, over)
	reset := wantRateHeaders(t, over, 3, 0, 60)
	if got := over.header.Get("Retry-After"); got != strconv.Itoa(reset) {
		t.Errorf("Retry-After = %q, want %d, the X-RateLimit-Reset value", got, reset)
	}

	rows := postRows(t, sim, "s", rowsWithKeys("a"), nil)
	wantStatus(t, rows, http.StatusOK)
	wantNoRateHeaders(t, rows)
}

func TestPublicRateLimitRetryAfterModes(t *testing.T) {
	tests := []struct {
		name string
		mode string
		// check inspects the Retry-After values of the 429.
		check func(t *testing.T, values []string, reset int)
	}{
		{"default", "", wantRetryAfterSeconds},
		{"seconds", RetryAfterSeconds, wantRetryAfterSeconds},
		{"HTTP date", RetryAfterHTTPDate, func(t *testing.T, values []string, reset int) {
			if len(values) != 1 {
				t.Fatalf("Retry-After = %q, want one HTTP date", values)
			}
			at, err := http.ParseTime(values[0])
			if err != nil {
				t.Fatalf("Retry-After %q is not an HTTP date: %v", values[0], err)
			}
			if wait := time.Until(at); wait <= 0 || wait > 61*time.Second {
				t.Errorf("Retry-After %q is %v from now, want within the 1m window", values[0], wait)
			}
		}},
		{"zero", RetryAfterZero, func(t *testing.T, values []string, reset int) {
			if len(values) != 1 || values[0] != "0" {
				t.Errorf("Retry-After = %q, want \"0\"", values)
			}
		}},
		{"missing", RetryAfterMissing, func(t *testing.T, values []string, reset int) {
			if len(values) != 0 {
				t.Errorf("Retry-After = %q, want no header", values)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := publicLimited(1, time.Minute)
			cfg.PublicRetryAfterMode = tt.mode
			sim := startSim(t, cfg)
			wantStatus(t, getMe(t, sim), http.StatusOK)

			over := getMe(t, sim)
			wantStatus(t, over, http.StatusTooManyRequests)
			wantMessage(t, over)
			reset := wantRateHeaders(t, over, 1, 0, 60)
			tt.check(t, over.header.Values("Retry-After"), reset)
		})
	}
}

func wantRetryAfterSeconds(t *testing.T, values []string, reset int) {
	t.Helper()
	if len(values) != 1 || values[0] != strconv.Itoa(reset) {
		t.Errorf("Retry-After = %q, want %d, the X-RateLimit-Reset value", values, reset)
	}
}

func TestPublicRateLimitWindowResets(t *testing.T) {
	sim := startSim(t, publicLimited(1, 50*time.Millisecond))
	first := getMe(t, sim)
	wantStatus(t, first, http.StatusOK)
	wantRateHeaders(t, first, 1, 0, 1)
	wantStatus(t, getMe(t, sim), http.StatusTooManyRequests)
	waitFor(t, 3*time.Second, "a new rate limit window", func() bool {
		return getMe(t, sim).status == http.StatusOK
	})
}

func TestPublicRateLimitOffByDefault(t *testing.T) {
	sim := startSim(t, unlimited())
	for range 5 {
		resp := getMe(t, sim)
		wantStatus(t, resp, http.StatusOK)
		wantNoRateHeaders(t, resp)
	}
}

func TestPublicRateLimitHeadersOnErrorResponses(t *testing.T) {
	sim := startSim(t, publicLimited(5, time.Minute))
	unauthorized := do(t, request{method: http.MethodGet, url: sim.URL() + "/public/v0/me",
		header: map[string]string{"clay-api-key": "wrong"}})
	wantStatus(t, unauthorized, http.StatusUnauthorized)
	wantRateHeaders(t, unauthorized, 5, 4, 60)

	sim.AddFault(Fault{Status: http.StatusServiceUnavailable, Count: 1})
	faulted := getMe(t, sim)
	wantStatus(t, faulted, http.StatusServiceUnavailable)
	wantRateHeaders(t, faulted, 5, 3, 60)
}

func TestPublicRateLimitRejectionUsesNoFaultCount(t *testing.T) {
	sim := startSim(t, publicLimited(1, time.Minute))
	wantStatus(t, getMe(t, sim), http.StatusOK)
	sim.AddFault(Fault{Status: http.StatusInternalServerError, Count: 1})
	wantStatus(t, getMe(t, sim), http.StatusTooManyRequests)

	listed := decode[struct{ Faults []activeFaultJSON }](t, do(t, request{method: http.MethodGet, url: sim.URL() + "/_sim/faults"}))
	if len(listed.Faults) != 1 {
		t.Fatalf("active faults = %d, want 1", len(listed.Faults))
	}
	if remaining := listed.Faults[0].Remaining; remaining == nil || *remaining != 1 {
		t.Errorf("fault remaining = %v, want 1", remaining)
	}
}

func TestPublicRateLimitConfigUpdate(t *testing.T) {
	sim := startSim(t, unlimited())
	resp := postConfig(t, sim, `{"public_rate_limit":1,"public_rate_window":"1m","public_retry_after_mode":"zero"}`)
	wantStatus(t, resp, http.StatusOK)
	view := decode[settingsView](t, resp)
	if view.PublicRateLimit != 1 || view.PublicRateWindow != "1m0s" || view.PublicRetryAfterMode != RetryAfterZero {
		t.Errorf("settings = %+v, want 1 request per 1m0s and Retry-After zero", view)
	}

	wantStatus(t, getMe(t, sim), http.StatusOK)
	over := getMe(t, sim)
	wantStatus(t, over, http.StatusTooManyRequests)
	if got := over.header.Get("Retry-After"); got != "0" {
		t.Errorf("Retry-After = %q, want \"0\"", got)
	}

	wantStatus(t, postConfig(t, sim, `{"public_rate_limit":0}`), http.StatusOK)
	resp = getMe(t, sim)
	wantStatus(t, resp, http.StatusOK)
	wantNoRateHeaders(t, resp)
}

func TestPublicWindowRoundsResetUp(t *testing.T) {
	start := time.Date(2030, 1, 2, 10, 0, 0, 200*int(time.Millisecond), time.UTC)
	tests := []struct {
		name          string
		window        time.Duration
		elapsed       time.Duration
		wantSeconds   int64
		wantRetryDate string
	}{
		{"short window", 500 * time.Millisecond, 0, 1, "Wed, 02 Jan 2030 10:00:01 GMT"},
		{"partial second", 1500 * time.Millisecond, 0, 2, "Wed, 02 Jan 2030 10:00:02 GMT"},
		{"late in the window", time.Minute, 59 * time.Second, 1, "Wed, 02 Jan 2030 10:01:01 GMT"},
		{"whole seconds", 3 * time.Second, 200 * time.Millisecond, 3, "Wed, 02 Jan 2030 10:00:04 GMT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pw publicWindow
			pw.admit(start, 1, tt.window)
			over := pw.admit(start.Add(tt.elapsed), 1, tt.window)
			if over.allowed {
				t.Fatal("second request in the window allowed, want rejected")
			}
			if got := over.resetSeconds(); got != tt.wantSeconds {
				t.Errorf("reset seconds = %d, want %d", got, tt.wantSeconds)
			}
			rep := over.rejectReply(RetryAfterHTTPDate, tt.window)
			if got := rep.header.Get("Retry-After"); got != tt.wantRetryDate {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetryDate)
			}
		})
	}
}
