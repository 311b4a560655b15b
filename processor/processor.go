// Package processor turns Clay requests on JetStream into results and DLQ
// entries. It binds one durable pull consumer per priority and operation,
// runs a bounded worker pool per priority, spends Clay's rate budget before
// fetching, and settles every message by ack, delayed nak or dead-lettering
// according to the class of its outcome.
package processor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/fallback"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// Processor consumes Clay requests and publishes their outcomes.
type Processor struct {
	cfg     Config
	log     zerolog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	clay    *clay.Client
	metrics *metrics

	pools     map[subjects.Priority]*pool
	budgets   map[string]*allocator
	gate      *gate
	consumers []*consumer
	hasAPIKey bool
	cache     *fallback.Cache
	ledger    *ledger.Ledger
	history   jetstream.KeyValue
	control   jetstream.KeyValue
	counted   *submissionCounter
	// pending holds awaited callbacks and routine runs.
	pending jetstream.KeyValue
	// rowBatches and runBatches map a table or routine id to its batcher.
	rowBatches sync.Map
	runBatches sync.Map

	resultObjects jetstream.ObjectStore

	ready        atomic.Bool
	lastDLQDepth atomic.Uint64
	inflight     sync.WaitGroup
}

// consumer is one bound durable consumer.
type consumer struct {
	priority   subjects.Priority
	operation  subjects.Operation
	bind       *binding
	maxDeliver int
	// backlog is the number of messages the last fetch left waiting; only
	// the consume loop reads and writes it.
	backlog uint64
	// wake is signaled by a core NATS subscription to the consumer's
	// subject, so an idle consumer learns of a publish at once.
	wake chan struct{}
	sub  *nats.Subscription
	// retry is the next wait after a publish was announced and the fetch
	// found nothing yet. It is zero when the last idle wait did not end on
	// a publish. Only the consumer's own loop reads and writes it.
	retry time.Duration
}

// New returns a processor that talks to NATS through nc and to Clay through
// client.
func New(nc *nats.Conn, client *clay.Client, cfg Config) (*Processor, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	p := &Processor{
		cfg:   cfg,
		log:   cfg.Logger.With().Str("instance", cfg.Instance).Logger(),
		nc:    nc,
		js:    js,
		clay:  client,
		pools: make(map[subjects.Priority]*pool),
		budgets: map[string]*allocator{
			surfaceWebhook:   newAllocator(cfg.RateLimit, jitterMargin(cfg.Burst), cfg.GuaranteedShare),
			surfacePublicAPI: newAllocator(Unlimited, 0, cfg.GuaranteedShare),
		},
		gate:      newGate(&cfg),
		counted:   newSubmissionCounter(),
		hasAPIKey: cfg.HasAPIKey,
	}
	client.ObserveRateLimits(p.observeRateLimit)
	p.metrics, err = newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	for _, prio := range subjects.Priorities {
		p.pools[prio] = newPool(cfg.Workers[prio])
	}
	return p, nil
}

// Instance returns the processor's instance id.
func (p *Processor) Instance() string { return p.cfg.Instance }

// Ready reports whether the consumers are bound and the first heartbeat
// is out.
func (p *Processor) Ready() bool { return p.ready.Load() }

// Setup creates the streams and buckets that are missing and binds the
// consumers. Run calls it; tests and tools may call it alone.
func (p *Processor) Setup(ctx context.Context) error {
	if err := p.ensureStreams(ctx); err != nil {
		return err
	}
	history, err := p.js.KeyValue(ctx, subjects.BucketLedger)
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", subjects.BucketLedger, err)
	}
	p.history = history
	if p.control, err = p.js.KeyValue(ctx, subjects.BucketControl); err != nil {
		return fmt.Errorf("open bucket %s: %w", subjects.BucketControl, err)
	}
	if p.pending, err = p.js.KeyValue(ctx, subjects.BucketPending); err != nil {
		return fmt.Errorf("open bucket %s: %w", subjects.BucketPending, err)
	}
	p.budgets[surfaceWebhook].shareIn(p.control, surfaceWebhook)
	p.ledger = ledger.New(history, ledger.Config{Owner: p.cfg.Instance, Lease: p.cfg.Lease})
	if err := p.openResultObjects(ctx); err != nil {
		return err
	}
	if err := p.openCache(ctx); err != nil {
		return fmt.Errorf("open fallback cache: %w", err)
	}
	p.consumers = p.consumers[:0]
	for _, prio := range subjects.Priorities {
		for _, op := range subjects.Operations {
			cons, err := p.ensureConsumer(ctx, prio, op)
			if err != nil {
				return err
			}
			c := &consumer{
				priority: prio, operation: op, bind: &binding{handle: cons, delivered: time.Now()},
				maxDeliver: cons.CachedInfo().Config.MaxDeliver,
				wake:       make(chan struct{}, 1),
			}
			c.sub, err = p.nc.Subscribe(subjects.RequestSubject(prio, op), func(*nats.Msg) {
				select {
				case c.wake <- struct{}{}:
				default:
				}
			})
			if err != nil {
				return fmt.Errorf("subscribe to %s: %w", subjects.RequestSubject(prio, op), err)
			}
			p.consumers = append(p.consumers, c)
			p.log.Info().Str("consumer", ConsumerName(prio, op)).Msg("consumer bound")
			if info := cons.CachedInfo(); info.Paused && info.Config.PauseUntil != nil {
				p.log.Warn().Str("consumer", ConsumerName(prio, op)).Time("until", info.Config.PauseUntil.UTC()).
					Msgf("consumer paused: its requests wait until then, or until claybridge resume %s %s", prio, op)
			}
		}
	}
	return nil
}

// Run processes requests until ctx ends, then stops fetching, lets
// in-flight work finish within grace, and returns. Work still running after
// grace is canceled and negative-acked, so it is delivered again.
func (p *Processor) Run(ctx context.Context, grace time.Duration) error {
	if err := p.Setup(ctx); err != nil {
		return err
	}
	if err := p.publishHeartbeat(ctx); err != nil {
		return fmt.Errorf("publish first heartbeat: %w", err)
	}
	p.ready.Store(true)
	p.log.Info().Int("consumers", len(p.consumers)).Msg("processor started")

	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var loops sync.WaitGroup
	for _, c := range p.consumers {
		loops.Go(func() { p.consumeLoop(ctx, work, c) })
	}
	loops.Go(func() { p.heartbeatLoop(ctx) })
	loops.Go(func() { p.holdLoop(ctx) })
	loops.Go(func() { p.sweepLoop(ctx) })
	loops.Go(func() { p.pendingLoop(ctx) })
	loops.Go(func() { p.callbackLoop(ctx) })
	loops.Go(func() { p.watchHolds(ctx) })
	<-ctx.Done()
	p.ready.Store(false)
	for _, c := range p.consumers {
		_ = c.sub.Unsubscribe()
	}
	p.log.Info().Str("grace", grace.String()).Msg("stopping: no new fetches, waiting for in-flight work")
	loops.Wait()
	p.waitInflight(grace, cancelWork)
	p.releaseParked()
	if err := p.nc.FlushTimeout(settleTimeout); err != nil {
		p.log.Warn().Err(err).Msg("acknowledgements not flushed: their messages may be delivered again")
	}
	if p.cache != nil {
		p.cache.Close()
	}
	p.log.Info().Msg("processor stopped")
	return nil
}

func (p *Processor) waitInflight(grace time.Duration, cancelWork context.CancelFunc) {
	done := make(chan struct{})
	go func() {
		p.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		p.log.Warn().Str("grace", grace.String()).Msg("grace period over: canceling in-flight work")
		cancelWork()
		<-done
	}
}

// errShutdown marks work canceled because the processor is stopping.
var errShutdown = errors.New("processor is shutting down")

// jitterMargin keeps a tenth of the workspace's burst (at least one
// record) in reserve. Tokens are taken here before fetching and calls
// reach Clay a little later, unevenly, so a budget equal to Clay's own
// bucket would now and then arrive one record over it and get a 429.
// The refill rate stays the configured one.
func jitterMargin(burst int) int {
	if burst <= 1 {
		return burst
	}
	return burst - max(1, burst/10)
}
