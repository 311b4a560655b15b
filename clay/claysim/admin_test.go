package claysim

import (
	"net/http"
	"testing"
	"time"
)

func postConfig(t *testing.T, sim *Running, body string) response {
	t.Helper()
	return do(t, request{method: http.MethodPost, url: sim.URL() + "/_sim/config", body: body})
}

func TestConfigUpdateChangesBehaviour(t *testing.T) {
	sim := startSim(t, Config{APIKey: testAPIKey})
	resp := postConfig(t, sim, `{"webhook_ack":"html200","rate_limit":0,"webhook_token":"t1","latency_by_operation":{"search":"5ms"}}`)
	wantStatus(t, resp, http.StatusOK)
	view := decode[settingsView](t, resp)
	if view.WebhookAck != AckHTML200 || view.RateLimit != 0 || !view.WebhookTokenSet || view.LatencyByOperation["search"] != "5ms" {
		t.Errorf("settings = %+v, want html200 ack, no rate limit, a token and 5ms search latency", view)
	}

	wantStatus(t, postRows(t, sim, "s", rowsWithKeys("a"), nil), http.StatusUnauthorized)
	resp = postRows(t, sim, "s", rowsWithKeys(make([]string, 30)...), map[string]string{"x-clay-webhook-auth": "t1"})
	wantStatus(t, resp, http.StatusOK)
	if got := resp.header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html", got)
	}

	resp = postConfig(t, sim, `{"rate_limit":0.001,"burst":1,"no_retry_after":true}`)
	wantStatus(t, resp, http.StatusOK)
	header := map[string]string{"x-clay-webhook-auth": "t1"}
	wantStatus(t, postRows(t, sim, "s", rowsWithKeys("a"), header), http.StatusOK)
	throttled := postRows(t, sim, "s", rowsWithKeys("b"), header)
	wantStatus(t, throttled, http.StatusTooManyRequests)
	if values := throttled.header.Values("Retry-After"); len(values) != 0 {
		t.Errorf("Retry-After = %q, want no header", values)
	}
}

func TestConfigUpdateRoutineDelayAndLatency(t *testing.T) {
	sim := startSim(t, Config{APIKey: testAPIKey})
	wantStatus(t, postConfig(t, sim, `{"routine_delay":"0s","latency":"50ms"}`), http.StatusOK)

	start := time.Now()
	run := callPublic(t, sim, http.MethodPost, "/routines/r1/run", map[string]any{"items": []runItem{{ID: "a"}}})
	wantStatus(t, run, http.StatusAccepted)
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Errorf("run request took %v, want at least the 50ms latency", elapsed)
	}
	results := callPublic(t, sim, http.MethodGet, "/routines/run/"+decode[runStatus](t, run).RunID+"/results", nil)
	wantStatus(t, results, http.StatusOK)
}

func TestConfigUpdateRejectsInvalidSettings(t *testing.T) {
	sim := startSim(t, Config{APIKey: testAPIKey})
	tests := []struct {
		name string
		body string
	}{
		{"unknown ack", `{"webhook_ack":"json201"}`},
		{"empty ack", `{"webhook_ack":""}`},
		{"zero burst", `{"burst":0}`},
		{"negative latency", `{"latency":"-1s"}`},
		{"bad routine delay", `{"routine_delay":"soon"}`},
		{"unknown operation", `{"latency_by_operation":{"enrich":"1s"}}`},
		{"unknown field", `{"ratelimit":5}`},
		{"valid then invalid", `{"webhook_ack":"empty200","burst":-3}`},
		{"cap status 200", `{"cap_status":200}`},
		{"cap status 600", `{"cap_status":600}`},
		{"zero public window", `{"public_rate_window":"0s"}`},
		{"negative public window", `{"public_rate_window":"-1s"}`},
		{"unknown Retry-After mode", `{"public_retry_after_mode":"never"}`},
		{"unknown callback mode", `{"callback_mode":"twice"}`},
		{"empty callback mode", `{"callback_mode":""}`},
		{"negative callback retries", `{"callback_retries":-1}`},
		{"bad callback delay", `{"callback_delay":"soon"}`},
		{"negative callback backoff", `{"callback_retry_backoff":"-5ms"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := postConfig(t, sim, tt.body)
			wantStatus(t, resp, http.StatusBadRequest)
			wantMessage(t, resp)
		})
	}

	view := decode[settingsView](t, do(t, request{method: http.MethodGet, url: sim.URL() + "/_sim/config"}))
	if view.WebhookAck != AckJSON200 || view.Burst != DefaultBurst || view.RateLimit != DefaultRateLimit {
		t.Errorf("settings after rejected updates = %+v, want the defaults", view)
	}
	if view.CapStatus != DefaultCapStatus || view.PublicRateLimit != 0 || view.CallbackMode != CallbackNormal {
		t.Errorf("settings after rejected updates = %+v, want cap status 403, no public limit and normal callbacks", view)
	}
}
