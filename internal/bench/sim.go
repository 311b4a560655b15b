package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/clay/claysim"
)

// simSettings are the simulator settings a case needs.
type simSettings struct {
	// rateLimit is the webhook records per second; negative means none.
	rateLimit float64
	burst     int
	latency   time.Duration
}

// simulator is the Clay simulator of one case: one started in this
// process, or the running one of Config.ClayURL driven through its admin
// API.
type simulator struct {
	url    string
	client *http.Client
	// local is nil for a running simulator elsewhere.
	local *localSim
}

// localSim is a simulator served in this process behind a handler that
// times each request.
type localSim struct {
	server *claysim.Server
	http   *http.Server
	mu     sync.Mutex
	// service is the time the simulator spent on each request key.
	service map[string]time.Duration
}

// startSim starts or configures the case's simulator.
func (b *bench) startSim(ctx context.Context, s simSettings) (*simulator, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	if b.cfg.ClayURL != "" {
		sim := &simulator{url: b.cfg.ClayURL, client: client}
		return sim, sim.configure(ctx, s)
	}
	cfg := claysim.Config{
		APIKey:           b.cfg.APIKey,
		RateLimit:        s.rateLimit,
		Burst:            s.burst,
		Latency:          s.latency,
		MaxRowsPerSource: -1,
		CallbackMode:     claysim.CallbackNone,
		Logger:           zerolog.New(b.cfg.Log).Level(zerolog.WarnLevel).With().Str("component", "claysim").Logger(),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the Clay simulator: %w", err)
	}
	local := &localSim{server: claysim.New(cfg), service: map[string]time.Duration{}}
	local.http = &http.Server{Handler: local, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = local.http.Serve(ln) }()
	return &simulator{url: "http://" + ln.Addr().String(), client: client, local: local}, nil
}

// ServeHTTP serves the simulator and adds the time it took to its request
// key's service time.
func (l *localSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	l.server.ServeHTTP(w, r)
	elapsed := time.Since(start)
	if key := r.Header.Get(clay.HeaderRequestKey); key != "" {
		l.mu.Lock()
		l.service[key] += elapsed
		l.mu.Unlock()
	}
}

// serviceTime returns the time the simulator spent on a key's requests,
// when it runs in this process.
func (s *simulator) serviceTime(key string) (time.Duration, bool) {
	if s.local == nil {
		return 0, false
	}
	s.local.mu.Lock()
	defer s.local.mu.Unlock()
	d, ok := s.local.service[key]
	return d, ok
}

// close stops a local simulator, or clears the faults of a running one.
func (s *simulator) close() {
	if s.local == nil {
		_ = s.send(context.Background(), http.MethodDelete, "/_sim/faults", nil, http.StatusNoContent)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.local.http.Shutdown(ctx); err != nil {
		_ = s.local.http.Close()
	}
	_ = s.local.server.Close()
}

// configure applies s to a running simulator and clears its faults and
// statistics. A new rate limit starts with a full bucket after the wait.
func (s *simulator) configure(ctx context.Context, settings simSettings) error {
	update := map[string]any{
		"rate_limit":           max(settings.rateLimit, 0),
		"latency":              settings.latency.String(),
		"latency_by_operation": map[string]string{},
		"max_rows_per_source":  0,
		"public_rate_limit":    0,
		"callback_mode":        claysim.CallbackNone,
	}
	if settings.burst > 0 {
		update["burst"] = settings.burst
	}
	if err := s.send(ctx, http.MethodPost, "/_sim/config", update, http.StatusOK); err != nil {
		return err
	}
	if err := s.send(ctx, http.MethodDelete, "/_sim/faults", nil, http.StatusNoContent); err != nil {
		return err
	}
	if settings.rateLimit > 0 {
		// The bucket may be empty from an earlier run; waiting burst ÷
		// rate seconds fills it.
		sleep(ctx, time.Duration(float64(settings.burst)/settings.rateLimit*float64(time.Second))+time.Second)
	}
	return s.send(ctx, http.MethodDelete, "/_sim/stats", nil, http.StatusNoContent)
}

// stats returns what the simulator received.
func (s *simulator) stats(ctx context.Context) (claysim.Stats, error) {
	if s.local != nil {
		return s.local.server.Stats(), nil
	}
	var stats claysim.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/_sim/stats", nil)
	if err != nil {
		return stats, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return stats, fmt.Errorf("read simulator stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return stats, fmt.Errorf("read simulator stats: GET /_sim/stats returned %s", resp.Status)
	}
	return stats, json.NewDecoder(resp.Body).Decode(&stats)
}

// addFault adds a fault to the simulator.
func (s *simulator) addFault(ctx context.Context, f claysim.Fault) error {
	if s.local != nil {
		s.local.server.AddFault(f)
		return nil
	}
	return s.send(ctx, http.MethodPost, "/_sim/faults", f, http.StatusCreated)
}

// clearFaults removes the simulator's faults.
func (s *simulator) clearFaults(ctx context.Context) error {
	if s.local != nil {
		s.local.server.ClearFaults()
		return nil
	}
	return s.send(ctx, http.MethodDelete, "/_sim/faults", nil, http.StatusNoContent)
}

// send calls the admin API and checks the status.
func (s *simulator) send(ctx context.Context, method, path string, body any, want int) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, reader)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("simulator admin API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("simulator admin API %s %s returned %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
