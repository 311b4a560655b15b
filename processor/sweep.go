package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// DefaultSweepInterval is the wait between sweeps for messages JetStream
// stopped delivering.
const DefaultSweepInterval = 30 * time.Second

// maxSweptPerConsumer bounds the messages one sweep handles per consumer.
const maxSweptPerConsumer = 1000

// sweepLoop runs sweep every SweepInterval until ctx ends.
func (p *Processor) sweepLoop(ctx context.Context) {
	p.every(ctx, p.cfg.SweepInterval, p.Sweep, "sweep failed: it runs again next interval")
}

// every calls run each interval until ctx ends, and logs failure with
// the error of a run that failed.
func (p *Processor) every(ctx context.Context, interval time.Duration, run func(context.Context) error, failure string) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := run(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn().Err(err).Msg(failure)
			}
		}
	}
}

// Sweep finds messages a consumer stopped delivering after its maximum
// deliveries: in a work-queue stream they stay stored forever. A stored
// message counts as stranded when it is at or below the consumer's ack
// floor, or when its last allowed delivery began more than an ack wait
// ago (nats-server 2.15 leaves the ack floor below a lone max-delivered
// message). A key that is done is just deleted, one with a live lease is
// left alone, and any other is dead-lettered and deleted. JetStream's
// advisories about such messages reach only whoever listens at that
// instant, so the sweep does not rely on them.
func (p *Processor) Sweep(ctx context.Context) error {
	stream, err := p.js.Stream(ctx, subjects.StreamRequests)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range p.consumers {
		if err := p.sweepConsumer(ctx, stream, c); err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: %w", ConsumerName(c.priority, c.operation), err))
		}
	}
	return errors.Join(errs...)
}

func (p *Processor) sweepConsumer(ctx context.Context, stream jetstream.Stream, c *consumer) error {
	info, err := c.bind.get().Info(ctx)
	if err != nil {
		return err
	}
	floor, delivered := info.AckFloor.Stream, info.Delivered.Stream
	filter := subjects.RequestSubject(c.priority, c.operation)
	seq := uint64(1)
	for range maxSweptPerConsumer {
		msg, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if msg.Sequence > delivered {
			return nil
		}
		seq = msg.Sequence + 1
		key, keyless := messageKey(c.operation, msg)
		if msg.Sequence > floor && !p.lastDeliveryOver(ctx, key) {
			continue
		}
		if err := p.sweepMessage(ctx, stream, c, msg, key, keyless); err != nil {
			return err
		}
	}
	return nil
}

// messageKey returns a stored request's key, as newJob derives it.
func messageKey(op subjects.Operation, msg *jetstream.RawStreamMsg) (string, bool) {
	if key := msg.Header.Get(subjects.HeaderMsgID); key != "" {
		return key, false
	}
	if op == subjects.Search {
		return subjects.SequenceKey(msg.Sequence), true
	}
	return subjects.DerivedKey(op, msg.Data), false
}

// finalKey is the ledger bucket key recording when a request's last
// allowed delivery began.
func finalKey(key string) string { return ledger.KVKey(key) + ".final" }

// markLastDelivery records that the request's last allowed delivery
// began, so the sweep can tell a stranded message from one waiting for a
// redelivery.
func (p *Processor) markLastDelivery(ctx context.Context, j *job) {
	if j.attempt < j.c.maxDeliver {
		return
	}
	stamp := []byte(time.Now().UTC().Format(time.RFC3339Nano))
	if _, err := p.history.Put(ctx, finalKey(j.key), stamp); err != nil {
		j.log.Warn().Err(err).Msg("last delivery not recorded: the sweep finds this request only below the ack floor")
	}
}

// lastDeliveryOver reports whether the key's last allowed delivery began
// more than an ack wait ago.
func (p *Processor) lastDeliveryOver(ctx context.Context, key string) bool {
	entry, err := p.history.Get(ctx, finalKey(key))
	if err != nil {
		return false
	}
	began, err := time.Parse(time.RFC3339Nano, string(entry.Value()))
	return err == nil && time.Since(began) > p.cfg.AckWait+time.Second
}

// sweepMessage settles one stranded message, reading the ledger first.
func (p *Processor) sweepMessage(ctx context.Context, stream jetstream.Stream, c *consumer, msg *jetstream.RawStreamMsg, key string, keyless bool) error {
	log := p.log.With().Str("key", key).Str("priority", string(c.priority)).Str("operation", string(c.operation)).
		Uint64("seq", msg.Sequence).Logger()
	class := subjects.ClassMaxDeliverExceeded
	var claim *ledger.Claim
	if !keyless {
		var err error
		claim, err = p.ledger.Claim(ctx, key, c.operation, c.priority, false)
		if err != nil {
			return err
		}
		switch claim.Verdict {
		case ledger.Finished:
			log.Info().Msg("swept a stranded request whose key is done: deleted")
			return stream.DeleteMsg(ctx, msg.Sequence)
		case ledger.HeldByOther:
			return nil
		case ledger.SentAndLost:
			class = subjects.ClassOutcomeUnknown
		}
	}
	f := dlq.Failure{
		Key:          key,
		Class:        class,
		Error:        fmt.Sprintf("JetStream stopped delivering the request after %d deliveries", c.maxDeliver),
		Attempts:     c.maxDeliver,
		FirstAttempt: msg.Time,
		LastAttempt:  time.Now(),
		BreakerState: p.gate.breakers[surfaceOf(c.operation)].state(),
	}
	orig := dlq.Original{Subject: msg.Subject, Sequence: msg.Sequence, Header: msg.Header, Data: msg.Data}
	if err := p.publish(ctx, dlq.NewEntry(orig, c.priority, c.operation, f)); err != nil {
		return fmt.Errorf("store DLQ entry of %s: %w", key, err)
	}
	if claim != nil {
		if err := p.ledger.Finish(ctx, claim, nil, "", nil, class); err != nil {
			log.Warn().Err(err).Msg("ledger not marked done for a swept request")
		}
	}
	p.metrics.countDeadLetter(class)
	log.Warn().Str("class", string(class)).Msg("stranded request dead-lettered and deleted")
	return stream.DeleteMsg(ctx, msg.Sequence)
}
