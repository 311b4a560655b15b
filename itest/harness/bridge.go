package harness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Bridge is one "claybridge run" process.
type Bridge struct {
	// Name is the bridge's name in its stack, such as "bridge-1".
	Name string
	// HTTPAddr serves /healthz, /readyz and /metrics.
	HTTPAddr string
	proc     *Process
}

// bridgeEnv returns the environment of a bridge: the test binary's
// without any NATS or claybridge setting, plus an API key, which the
// standalone simulator accepts whatever its value.
func bridgeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CLAYBRIDGE_") || strings.HasPrefix(kv, "NATS_URL=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "CLAYBRIDGE_CLAY_API_KEY=itest")
}

func newBridge(name, path, dir, natsURLs, clayURL string, replicas int, extra []string) (*Bridge, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	b := &Bridge{Name: name, HTTPAddr: loopbackAddr(port)}
	args := []string{"run",
		"--nats-url", natsURLs,
		"--clay-url", clayURL,
		"--http-listen", b.HTTPAddr,
		"--replicas", fmt.Sprint(replicas),
		"--log-format", "json",
	}
	args = append(args, extra...)
	b.proc = newProcess(name, path, args, bridgeEnv(), filepath.Join(dir, name+".log"))
	return b, nil
}

// Process returns the bridge's process.
func (b *Bridge) Process() *Process { return b.proc }

// Start starts the bridge and waits until /readyz returns 200.
func (b *Bridge) Start(ctx context.Context) error {
	if err := b.proc.Start(); err != nil {
		return err
	}
	return b.WaitReady(ctx)
}

// WaitReady polls /readyz until it returns 200: the consumers are bound,
// the first heartbeat is out and the NATS connection is up.
func (b *Bridge) WaitReady(ctx context.Context) error {
	url := "http://" + b.HTTPAddr + "/readyz"
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if !b.proc.Running() {
			return false, fmt.Errorf("%s exited", b.Name)
		}
		return httpStatus(ctx, url) == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s to be ready: %w\n%s", b.Name, err, b.proc.LogTail(20))
	}
	return nil
}

// Stop stops the bridge with SIGTERM, which lets in-flight work finish
// within the bridge's shutdown grace, and waits up to timeout.
func (b *Bridge) Stop(timeout time.Duration) error { return b.proc.Stop(timeout) }

// Kill kills the bridge with SIGKILL.
func (b *Bridge) Kill() error { return b.proc.Kill() }

// Restart kills the bridge if it runs, starts it again and waits until
// it is ready.
func (b *Bridge) Restart(ctx context.Context) error {
	if b.proc.Running() {
		if err := b.Kill(); err != nil {
			return err
		}
	}
	return b.Start(ctx)
}
