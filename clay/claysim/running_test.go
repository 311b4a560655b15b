package claysim

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStartServesAndCloses(t *testing.T) {
	sim, err := Start(t.Context(), "127.0.0.1:0", unlimited())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !strings.HasPrefix(sim.URL(), "http://127.0.0.1:") {
		t.Errorf("URL = %q, want http://127.0.0.1:port", sim.URL())
	}
	if sim.URL() != "http://"+sim.Addr() {
		t.Errorf("URL = %q, want http:// + Addr %q", sim.URL(), sim.Addr())
	}
	wantStatus(t, getMe(t, sim), http.StatusOK)

	if err := sim.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-sim.Done():
	default:
		t.Error("Done is open after Close returned")
	}
	if _, err := doContext(context.Background(), request{method: http.MethodGet, url: sim.URL() + "/_sim/stats"}); err == nil {
		t.Error("request after Close succeeded, want a connection error")
	}
	if err := sim.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStartStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	sim, err := Start(ctx, "127.0.0.1:0", Config{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	cancel()
	select {
	case <-sim.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("simulator still serving 3s after its context ended")
	}
}

func TestStartRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"unknown webhook ack", Config{WebhookAck: "json201"}},
		{"negative burst", Config{Burst: -1}},
		{"unknown latency operation", Config{LatencyByOperation: map[string]time.Duration{"enrich": time.Second}}},
		{"cap status 200", Config{CapStatus: http.StatusOK}},
		{"negative public rate window", Config{PublicRateWindow: -time.Second}},
		{"unknown Retry-After mode", Config{PublicRetryAfterMode: "never"}},
		{"unknown callback mode", Config{CallbackMode: "twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, err := Start(t.Context(), "127.0.0.1:0", tt.cfg)
			if err == nil {
				sim.Close()
				t.Fatal("Start succeeded, want an error")
			}
		})
	}
}

func TestCloseAnswersWaitingRequestsWithoutDisconnect(t *testing.T) {
	sim, err := Start(t.Context(), "127.0.0.1:0", Config{APIKey: testAPIKey, Latency: 10 * time.Second})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	statuses := make(chan int, 1)
	go func() {
		resp, err := doContext(context.Background(), request{method: http.MethodGet, url: sim.URL() + "/public/v0/me",
			header: map[string]string{"clay-api-key": testAPIKey}})
		if err != nil {
			statuses <- 0
			return
		}
		statuses <- resp.status
	}()
	waitFor(t, 2*time.Second, "the request to arrive", func() bool { return sim.Stats().RequestsTotal == 1 })

	if err := sim.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := <-statuses; got != http.StatusServiceUnavailable {
		t.Errorf("status of the waiting request = %d, want 503", got)
	}
	if got := sim.Stats().ClientDisconnects; got != 0 {
		t.Errorf("client disconnects = %d, want 0", got)
	}
}
