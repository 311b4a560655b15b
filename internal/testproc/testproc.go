// Package testproc runs a processor in the background for tests, against
// the pieces package testenv starts.
package testproc

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/processor"
)

// Processor is a processor running in the background.
type Processor struct {
	*processor.Processor
	// Client is the processor's Clay client.
	Client *clay.Client
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Stop stops the processor and waits for it, giving in-flight work grace.
func (p *Processor) Stop(t testing.TB) {
	t.Helper()
	p.once.Do(func() {
		p.cancel()
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("processor returned an error: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("processor did not stop within a minute")
		}
	})
}

// Abandon stops the processor without waiting for it, as a crash would.
func (p *Processor) Abandon() {
	p.once.Do(p.cancel)
}

// Start runs a processor against nc and Clay at clayURL, with
// unconfigured tables mapped to that base URL, until the test ends. It
// returns once the processor is ready.
func Start(t testing.TB, nc *nats.Conn, clayURL string, cfg processor.Config) *Processor {
	t.Helper()
	if cfg.DefaultWebhookBase == "" && cfg.Tables == nil {
		cfg.DefaultWebhookBase = clayURL
	}
	if os.Getenv("CLAYBRIDGE_TEST_LOG") != "" {
		cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	client := clay.New(clay.Config{BaseURL: clayURL, APIKey: "test-key"})
	proc, err := processor.New(nc, client, cfg)
	if err != nil {
		t.Fatalf("new processor: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Processor{Processor: proc, Client: client, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- proc.Run(ctx, 10*time.Second) }()
	t.Cleanup(func() { p.Stop(t) })
	testenv.Eventually(t, 30*time.Second, "processor ready", proc.Ready)
	return p
}
