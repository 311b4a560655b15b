package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// shutdownGrace is how long a stopping processor waits for in-flight work.
const shutdownGrace = 10 * time.Second

// runningProcessor is a processor running in this process on its own
// NATS connection.
type runningProcessor struct {
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
}

// processorConfig returns the settings cases share: no rate limit unless
// a case sets one, and the given cache-first choice for searches.
func processorConfig(workers map[subjects.Priority]int, cacheFirst bool) processor.Config {
	cfg := processor.Config{Workers: workers, RateLimit: processor.Unlimited}
	if !cacheFirst {
		// A non-nil empty map turns cache-first off for every operation.
		cfg.CacheFirst = map[subjects.Operation]bool{}
	}
	return cfg
}

// startProcessor runs a processor against natsURL and the simulator and
// returns once it is ready.
func (b *bench) startProcessor(ctx context.Context, natsURL string, sim *simulator, cfg processor.Config) (*runningProcessor, error) {
	nc, err := connect(natsURL, "processor")
	if err != nil {
		return nil, err
	}
	proc, err := b.newProcessor(nc, sim, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &runningProcessor{nc: nc, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- proc.Run(runCtx, shutdownGrace) }()
	deadline := time.Now().Add(30 * time.Second)
	for !proc.Ready() {
		select {
		case err := <-r.done:
			cancel()
			nc.Close()
			return nil, fmt.Errorf("processor stopped before it was ready: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("processor not ready after 30s: %w", errTimeout)
		}
	}
	return r, nil
}

func (b *bench) newProcessor(nc *nats.Conn, sim *simulator, cfg processor.Config) (*processor.Processor, error) {
	cfg.Logger = zerolog.New(b.cfg.Log).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	cfg.DefaultWebhookBase = sim.url
	cfg.HasAPIKey = true
	client := clay.New(clay.Config{BaseURL: sim.url, APIKey: b.cfg.APIKey})
	return processor.New(nc, client, cfg)
}

// stop stops the processor and waits for it.
func (r *runningProcessor) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(shutdownGrace + 20*time.Second):
	}
	r.nc.Close()
}

// stopAll stops processors in parallel.
func stopAll(procs []*runningProcessor) {
	done := make(chan struct{}, len(procs))
	for _, p := range procs {
		go func() {
			p.stop()
			done <- struct{}{}
		}()
	}
	for range procs {
		<-done
	}
}

// setupLoad creates claybridge's streams with cfg's settings, then
// connects the load generator.
func (b *bench) setupLoad(ctx context.Context, natsURL string, sim *simulator, cfg processor.Config) (*nats.Conn, jetstream.JetStream, error) {
	if err := b.setupStreams(ctx, natsURL, sim, cfg); err != nil {
		return nil, nil, err
	}
	return connectJetStream(natsURL, "load")
}

// setupStreams creates claybridge's streams, buckets and consumers with
// cfg's settings, so a backlog can be published before any processor
// runs. The processor that does it never runs and its connection closes.
func (b *bench) setupStreams(ctx context.Context, natsURL string, sim *simulator, cfg processor.Config) error {
	nc, err := connect(natsURL, "setup")
	if err != nil {
		return err
	}
	defer nc.Close()
	// The cache is not opened, so no memory tier is left behind.
	cfg.CacheDisabled = true
	proc, err := b.newProcessor(nc, sim, cfg)
	if err != nil {
		return err
	}
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := proc.Setup(setupCtx); err != nil {
		return fmt.Errorf("set up claybridge streams: %w", err)
	}
	return nil
}
