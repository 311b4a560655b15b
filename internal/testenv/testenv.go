// Package testenv starts the real pieces tests run against: an embedded
// nats-server with JetStream and the Clay simulator, each stopped when the
// test ends. Package testproc adds a running processor.
package testenv

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/embedded"
)

// NATS starts an embedded server on a free loopback port and returns a
// connection to it.
func NATS(t testing.TB) (*embedded.Server, *nats.Conn) {
	t.Helper()
	srv, err := embedded.Start(embedded.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded NATS: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv, Connect(t, srv.ClientURL())
}

// Connect opens a connection closed when the test ends.
func Connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to NATS at %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context for nc.
func JetStream(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("open JetStream: %v", err)
	}
	return js
}

// Sim starts the Clay simulator on a free loopback port.
func Sim(t testing.TB, cfg claysim.Config) *claysim.Running {
	t.Helper()
	sim, err := claysim.Start(context.Background(), "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("start Clay simulator: %v", err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// Eventually polls cond every 20 ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreeAddr returns a loopback address with a port free now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
