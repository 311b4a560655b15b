package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/claybridge/claybridge/clay/claysim"
)

// Sim is a standalone claysim process.
type Sim struct {
	// URL is the simulator's base URL, for --clay-url.
	URL  string
	proc *Process
}

// newSim returns a simulator on a free loopback port with extra flags
// args, not yet started.
func newSim(path, dir string, args []string) (*Sim, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := loopbackAddr(port)
	flags := append([]string{"--listen", addr, "--log-level", "warn"}, args...)
	return &Sim{
		URL:  "http://" + addr,
		proc: newProcess("claysim", path, flags, os.Environ(), filepath.Join(dir, "claysim.log")),
	}, nil
}

// Process returns the simulator's process.
func (s *Sim) Process() *Process { return s.proc }

// start starts the simulator and waits until its admin API responds.
func (s *Sim) start(ctx context.Context) error {
	if err := s.proc.Start(); err != nil {
		return err
	}
	err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
		if !s.proc.Running() {
			return false, fmt.Errorf("claysim exited")
		}
		return httpStatus(ctx, s.URL+"/_sim/config") == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("wait for claysim: %w\n%s", err, s.proc.LogTail(20))
	}
	return nil
}

// Stats returns what the simulator received so far (GET /_sim/stats).
func (s *Sim) Stats(ctx context.Context) (claysim.Stats, error) {
	var stats claysim.Stats
	err := getJSON(ctx, s.URL+"/_sim/stats", &stats)
	if err != nil {
		return stats, fmt.Errorf("read simulator stats: %w", err)
	}
	return stats, nil
}

// AddFault adds a fault (POST /_sim/faults).
func (s *Sim) AddFault(ctx context.Context, f claysim.Fault) error {
	return s.post(ctx, "/_sim/faults", f, http.StatusCreated)
}

// Configure changes simulator settings (POST /_sim/config); the keys are
// those of that endpoint, such as "rate_limit" or "latency".
func (s *Sim) Configure(ctx context.Context, settings map[string]any) error {
	return s.post(ctx, "/_sim/config", settings, http.StatusOK)
}

func (s *Sim) post(ctx context.Context, path string, body any, want int) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := monitorClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		text, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("POST %s %s: status %d, want %d: %s", path, data, resp.StatusCode, want, text)
	}
	return nil
}
