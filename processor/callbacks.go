package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// CallbackConsumer is the durable consumer through which every replica
// turns stored callbacks into results.
const CallbackConsumer = "claybridge-callbacks"

const (
	// callbackRetryDelay is the wait before a stored callback is tried
	// again: its pending record was not written yet, or NATS failed.
	callbackRetryDelay = 500 * time.Millisecond
	// minCallbackPatience is the shortest time a callback whose key was
	// sent but has no pending record is kept for that record.
	minCallbackPatience = time.Minute
)

// callbackPatience is how long a stored callback waits for its key's
// pending record. When the sender dies before storing it, the request's
// next delivery stores it once the sender's lease and the ack wait have
// passed, so the wait covers both twice over.
func (p *Processor) callbackPatience() time.Duration {
	return max(minCallbackPatience, 2*(p.cfg.AckWait+p.cfg.Lease))
}

// ensureCallbackConsumer binds to the callbacks consumer, creating it
// when missing.
func (p *Processor) ensureCallbackConsumer(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := p.js.Consumer(ctx, subjects.StreamCallbacks, CallbackConsumer)
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		if err != nil {
			return nil, fmt.Errorf("look up consumer %s: %w", CallbackConsumer, err)
		}
		return cons, nil
	}
	cons, err = p.js.CreateConsumer(ctx, subjects.StreamCallbacks, jetstream.ConsumerConfig{
		Durable:       CallbackConsumer,
		Description:   "claybridge replicas turning Clay callbacks into results",
		FilterSubject: subjects.CallbacksAll,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       p.cfg.AckWait,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      p.cfg.Replicas,
	})
	if err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
		return nil, fmt.Errorf("create consumer %s: %w", CallbackConsumer, err)
	}
	if err != nil {
		return p.js.Consumer(ctx, subjects.StreamCallbacks, CallbackConsumer)
	}
	p.log.Info().Str("consumer", CallbackConsumer).Msg("consumer created")
	return cons, nil
}

// callbackLoop ends awaited rows with the callbacks stored in
// CLAY_CALLBACKS, whichever replica's listener received them, until ctx
// ends.
func (p *Processor) callbackLoop(ctx context.Context) {
	var cons jetstream.Consumer
	for cons == nil {
		var err error
		if cons, err = p.ensureCallbackConsumer(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Warn().Err(err).Msg("callback consumer not bound: trying again")
			sleep(ctx, fetchErrorPause)
		}
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) { p.handleCallback(ctx, msg) },
		jetstream.PullMaxMessages(64),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if ctx.Err() == nil {
				p.log.Debug().Err(err).Msg("callback consumer")
			}
		}))
	if err != nil {
		p.log.Error().Err(err).Msg("callbacks not consumed: awaited rows end only by their deadline on this replica")
		return
	}
	p.log.Info().Str("consumer", CallbackConsumer).Msg("consumer bound")
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
}

// handleCallback ends the awaited row that a stored callback belongs to.
// A callback for a key that already ended changes nothing.
func (p *Processor) handleCallback(loopCtx context.Context, msg jetstream.Msg) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(loopCtx), settleTimeout)
	defer cancel()
	key := msg.Headers().Get(subjects.HeaderRequestKey)
	log := p.log.With().Str("key", key).Str("subject", msg.Subject()).Logger()
	if key == "" {
		log.Warn().Msg("stored callback without " + subjects.HeaderRequestKey + ": dropped")
		_ = msg.Term()
		return
	}
	rec, err := p.getPending(ctx, subjects.PendingKey(key))
	if err == nil && rec != nil && rec.Kind == pendingCallback {
		err = p.endPending(ctx, rec, pendingEnd{data: msg.Data()})
	} else if err == nil {
		err = p.unmatchedCallback(ctx, key, msg)
	}
	if err != nil {
		level := log.Warn()
		if errors.Is(err, errCallbackEarly) {
			level = log.Debug()
		}
		level.Err(err).Dur("delay", callbackRetryDelay).Msg("callback not handled: trying again")
		_ = msg.NakWithDelay(callbackRetryDelay)
		return
	}
	if err := msg.DoubleAck(ctx); err != nil {
		log.Warn().Err(err).Msg("callback ack not confirmed: it may be handled again, which publishes nothing new")
	}
}

// errCallbackEarly marks a callback that arrived before its row's pending
// record was stored.
var errCallbackEarly = errors.New("the row was sent and its pending record is not stored yet")

// unmatchedCallback handles a callback whose key has no pending record:
// the key already ended (a duplicate callback), its record is about to be
// stored (the callback came early, or its sender died and the request's
// next delivery stores it), or nothing awaits it.
func (p *Processor) unmatchedCallback(ctx context.Context, key string, msg jetstream.Msg) error {
	rec, _, err := p.ledger.Get(ctx, key)
	if err != nil {
		return err
	}
	if rec != nil && rec.State == ledger.Done {
		p.metrics.awaited.WithLabelValues(pendingCallback, awaitedDuplicate).Inc()
		p.log.Debug().Str("key", key).Msg("callback for a key that already ended: nothing published")
		return nil
	}
	meta, metaErr := msg.Metadata()
	if rec != nil && metaErr == nil && time.Since(meta.Timestamp) < p.callbackPatience() {
		return errCallbackEarly
	}
	p.metrics.awaited.WithLabelValues(pendingCallback, awaitedUnmatched).Inc()
	p.log.Warn().Str("key", key).Msg("callback that no request awaits: dropped")
	return nil
}
