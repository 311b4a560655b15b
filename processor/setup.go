package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// Retention limits of the streams and buckets. Results, cache entries and
// DLQ entries may hold personal data, so each has a maximum age.
const (
	RequestsMaxAge  = 7 * 24 * time.Hour
	ResultsMaxAge   = 48 * time.Hour
	DLQMaxAge       = 14 * 24 * time.Hour
	CallbacksMaxAge = time.Hour
	LedgerTTL       = 24 * time.Hour
	CacheTTL        = 7 * 24 * time.Hour
	PendingTTL      = 24 * time.Hour
	streamMaxBytes  = 1 << 30
	bucketMaxBytes  = 256 << 20
)

// ErrConfigMismatch is returned when an existing stream or consumer differs
// from what claybridge needs in a way it must not change on its own.
var ErrConfigMismatch = errors.New("existing configuration does not match")

func (p *Processor) streamConfigs() []jetstream.StreamConfig {
	replicas := p.cfg.Replicas
	return []jetstream.StreamConfig{
		{
			Name:        subjects.StreamRequests,
			Description: "Clay requests waiting to be processed",
			Subjects:    subjects.RequestSubjects(),
			Retention:   jetstream.WorkQueuePolicy,
			Discard:     jetstream.DiscardNew,
			MaxAge:      RequestsMaxAge,
			MaxBytes:    streamMaxBytes,
			Duplicates:  p.cfg.DuplicateWindow,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
		},
		{
			Name:        subjects.StreamResults,
			Description: "Results of Clay requests, one per request key",
			Subjects:    []string{subjects.ResultsAll},
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      ResultsMaxAge,
			MaxBytes:    streamMaxBytes,
			Duplicates:  p.cfg.DuplicateWindow,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
		},
		{
			Name:        subjects.StreamDLQ,
			Description: "Dead-lettered Clay requests and claybridge heartbeats",
			Subjects:    []string{subjects.DLQEntries, subjects.HealthAll},
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      DLQMaxAge,
			MaxBytes:    streamMaxBytes,
			Duplicates:  p.cfg.DuplicateWindow,
			AllowMsgTTL: true,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
		},
		{
			Name:        subjects.StreamCallbacks,
			Description: "Callbacks Clay posted for awaited rows",
			Subjects:    []string{subjects.CallbacksAll},
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      CallbacksMaxAge,
			MaxBytes:    streamMaxBytes,
			Duplicates:  min(p.cfg.DuplicateWindow, CallbacksMaxAge),
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
		},
	}
}

func (p *Processor) bucketConfigs() []jetstream.KeyValueConfig {
	replicas := p.cfg.Replicas
	return []jetstream.KeyValueConfig{
		{Bucket: subjects.BucketLedger, Description: "Request key states", History: 1, TTL: LedgerTTL,
			MaxBytes: bucketMaxBytes, Storage: jetstream.FileStorage, Replicas: replicas},
		{Bucket: subjects.BucketCache, Description: "Fallback cache of Clay answers", History: 1, TTL: CacheTTL,
			MaxBytes: bucketMaxBytes, Storage: jetstream.FileStorage, Replicas: replicas},
		{Bucket: subjects.BucketPending, Description: "Awaited callbacks and routine runs", History: 1, TTL: PendingTTL,
			MaxBytes: bucketMaxBytes, Storage: jetstream.FileStorage, Replicas: replicas},
		{Bucket: subjects.BucketControl, Description: "State shared by claybridge replicas", History: 1,
			MaxBytes: bucketMaxBytes, Storage: jetstream.FileStorage, Replicas: replicas},
	}
}

// ensureStreams creates missing streams and buckets and checks the ones
// that exist. It never changes an existing one.
func (p *Processor) ensureStreams(ctx context.Context) error {
	for _, cfg := range p.streamConfigs() {
		if err := p.ensureStream(ctx, cfg); err != nil {
			return err
		}
	}
	for _, cfg := range p.bucketConfigs() {
		if kv, err := p.js.KeyValue(ctx, cfg.Bucket); err == nil {
			if err := p.reconcileBucket(ctx, kv, cfg); err != nil {
				return err
			}
			continue
		} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
			return fmt.Errorf("look up bucket %s: %w", cfg.Bucket, err)
		}
		if _, err := p.js.CreateKeyValue(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
		}
		p.log.Info().Str("bucket", cfg.Bucket).Msg("bucket created")
	}
	return nil
}

func (p *Processor) ensureStream(ctx context.Context, want jetstream.StreamConfig) error {
	stream, err := p.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := p.js.CreateStream(ctx, want); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", want.Name, err)
		}
		p.log.Info().Str("stream", want.Name).Msg("stream created")
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", want.Name, err)
	}
	have := stream.CachedInfo().Config
	if have.Retention != want.Retention {
		return fmt.Errorf("%w: stream %s has retention %s, claybridge needs %s; delete or migrate the stream",
			ErrConfigMismatch, want.Name, have.Retention, want.Retention)
	}
	if want.Name == subjects.StreamRequests && !sameSubjects(have.Subjects, want.Subjects) {
		return fmt.Errorf("%w: stream %s has subjects %v, claybridge needs exactly %v",
			ErrConfigMismatch, want.Name, have.Subjects, want.Subjects)
	}
	if want.AllowMsgTTL && !have.AllowMsgTTL {
		return fmt.Errorf("%w: stream %s does not allow per-message TTLs, which heartbeats need",
			ErrConfigMismatch, want.Name)
	}
	return p.reconcileStream(ctx, have, want)
}

func sameSubjects(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// ConsumerName returns the durable name of the consumer for a priority and
// operation.
func ConsumerName(p subjects.Priority, op subjects.Operation) string {
	return "claybridge-" + string(p) + "-" + string(op)
}

func (p *Processor) consumerConfig(prio subjects.Priority, op subjects.Operation) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(prio, op),
		Description:   "claybridge " + string(prio) + " " + string(op) + " requests",
		FilterSubject: subjects.RequestSubject(prio, op),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       p.cfg.AckWait,
		MaxDeliver:    p.cfg.MaxDeliver,
		MaxAckPending: 1000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      p.cfg.Replicas,
	}
}

// ensureConsumer binds to a durable consumer, creating it when missing. A
// consumer with a BackOff is refused: retry delays come from NakWithDelay,
// which a BackOff would stretch.
func (p *Processor) ensureConsumer(ctx context.Context, prio subjects.Priority, op subjects.Operation) (jetstream.Consumer, error) {
	want := p.consumerConfig(prio, op)
	cons, err := p.js.Consumer(ctx, subjects.StreamRequests, want.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = p.js.CreateConsumer(ctx, subjects.StreamRequests, want)
		if err != nil {
			return nil, fmt.Errorf("create consumer %s: %w", want.Durable, err)
		}
		p.log.Info().Str("consumer", want.Durable).Msg("consumer created")
		return cons, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up consumer %s: %w", want.Durable, err)
	}
	have := cons.CachedInfo().Config
	if len(have.BackOff) > 0 {
		return nil, fmt.Errorf("%w: consumer %s on stream %s has a BackOff %v; claybridge sets retry delays itself, so remove the BackOff or delete the consumer",
			ErrConfigMismatch, want.Durable, subjects.StreamRequests, have.BackOff)
	}
	if have.FilterSubject != want.FilterSubject || have.AckPolicy != want.AckPolicy {
		return nil, fmt.Errorf("%w: consumer %s filters %q with ack policy %s, claybridge needs %q with %s",
			ErrConfigMismatch, want.Durable, have.FilterSubject, have.AckPolicy, want.FilterSubject, want.AckPolicy)
	}
	if updated, err := p.reconcileConsumer(ctx, cons.CachedInfo(), want); err != nil {
		return nil, err
	} else if updated != nil {
		return updated, nil
	}
	return cons, nil
}
