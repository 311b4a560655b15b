package processor

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// difference is one setting that differs from what claybridge would
// create.
type difference struct {
	field      string
	have, want any
}

func (d difference) String() string { return fmt.Sprintf("%s %v, want %v", d.field, d.have, d.want) }

func describe(diffs []difference) string {
	parts := make([]string, len(diffs))
	for i, d := range diffs {
		parts[i] = d.String()
	}
	return strings.Join(parts, "; ")
}

func compare[T comparable](diffs []difference, field string, have, want T) []difference {
	if have != want {
		diffs = append(diffs, difference{field: field, have: have, want: want})
	}
	return diffs
}

// streamDrift lists the limits of an existing stream that differ from
// claybridge's.
func streamDrift(have, want jetstream.StreamConfig) []difference {
	var d []difference
	d = compare(d, "max age", have.MaxAge, want.MaxAge)
	d = compare(d, "max bytes", have.MaxBytes, want.MaxBytes)
	d = compare(d, "duplicate window", have.Duplicates, want.Duplicates)
	d = compare(d, "replicas", have.Replicas, want.Replicas)
	d = compare(d, "discard policy", have.Discard, want.Discard)
	return d
}

// consumerDrift lists the settings of an existing consumer that differ.
func consumerDrift(have, want jetstream.ConsumerConfig) []difference {
	var d []difference
	d = compare(d, "ack wait", have.AckWait, want.AckWait)
	d = compare(d, "max deliveries", have.MaxDeliver, want.MaxDeliver)
	d = compare(d, "max ack pending", have.MaxAckPending, want.MaxAckPending)
	d = compare(d, "replicas", have.Replicas, want.Replicas)
	return d
}

// bucketDrift lists the settings of an existing bucket that differ.
func bucketDrift(have jetstream.KeyValueStatus, want jetstream.KeyValueConfig) []difference {
	var d []difference
	d = compare(d, "TTL", have.TTL(), want.TTL)
	d = compare(d, "history", have.History(), int64(want.History))
	if bs, ok := have.(*jetstream.KeyValueBucketStatus); ok {
		cfg := bs.StreamInfo().Config
		d = compare(d, "max bytes", cfg.MaxBytes, want.MaxBytes)
		d = compare(d, "replicas", cfg.Replicas, want.Replicas)
	}
	return d
}

// reconcileStream reports drift of an existing stream, and applies it
// with Migrate.
func (p *Processor) reconcileStream(ctx context.Context, have, want jetstream.StreamConfig) error {
	diffs := streamDrift(have, want)
	if len(diffs) == 0 {
		return nil
	}
	if !p.cfg.Migrate {
		p.log.Warn().Str("stream", want.Name).Str("drift", describe(diffs)).
			Msg("stream differs from claybridge's settings: left as it is; run with --migrate to apply")
		return nil
	}
	updated := have
	updated.MaxAge, updated.MaxBytes, updated.Duplicates = want.MaxAge, want.MaxBytes, want.Duplicates
	updated.Replicas, updated.Discard = want.Replicas, want.Discard
	if _, err := p.js.UpdateStream(ctx, updated); err != nil {
		return fmt.Errorf("migrate stream %s (%s): %w", want.Name, describe(diffs), err)
	}
	p.log.Info().Str("stream", want.Name).Str("applied", describe(diffs)).Msg("stream migrated")
	return nil
}

// reconcileConsumer reports drift of an existing consumer, and applies it
// with Migrate, keeping a pause: a paused consumer stays paused.
func (p *Processor) reconcileConsumer(ctx context.Context, have *jetstream.ConsumerInfo, want jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	diffs := consumerDrift(have.Config, want)
	if len(diffs) == 0 {
		return nil, nil
	}
	if !p.cfg.Migrate {
		p.log.Warn().Str("consumer", want.Durable).Str("drift", describe(diffs)).
			Msg("consumer differs from claybridge's settings: left as it is; run with --migrate to apply")
		return nil, nil
	}
	updated := have.Config
	updated.AckWait, updated.MaxDeliver, updated.MaxAckPending, updated.Replicas = want.AckWait, want.MaxDeliver, want.MaxAckPending, want.Replicas
	if have.Paused && have.Config.PauseUntil != nil {
		until := *have.Config.PauseUntil
		updated.PauseUntil = &until
	}
	cons, err := p.js.UpdateConsumer(ctx, subjects.StreamRequests, updated)
	if err != nil {
		return nil, fmt.Errorf("migrate consumer %s (%s): %w", want.Durable, describe(diffs), err)
	}
	p.log.Info().Str("consumer", want.Durable).Str("applied", describe(diffs)).Bool("paused", have.Paused).Msg("consumer migrated")
	return cons, nil
}

// reconcileBucket reports drift of an existing bucket, and applies it with
// Migrate.
func (p *Processor) reconcileBucket(ctx context.Context, kv jetstream.KeyValue, want jetstream.KeyValueConfig) error {
	status, err := kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("read bucket %s: %w", want.Bucket, err)
	}
	diffs := bucketDrift(status, want)
	if len(diffs) == 0 {
		return nil
	}
	if !p.cfg.Migrate {
		p.log.Warn().Str("bucket", want.Bucket).Str("drift", describe(diffs)).
			Msg("bucket differs from claybridge's settings: left as it is; run with --migrate to apply")
		return nil
	}
	if _, err := p.js.UpdateKeyValue(ctx, want); err != nil {
		return fmt.Errorf("migrate bucket %s (%s): %w", want.Bucket, describe(diffs), err)
	}
	p.log.Info().Str("bucket", want.Bucket).Str("applied", describe(diffs)).Msg("bucket migrated")
	return nil
}
