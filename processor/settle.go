package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// Request outcomes counted in claybridge_requests_total.
const (
	outcomeOK           = "ok"
	outcomeRetried      = "retried"
	outcomeDeadLettered = "dead_lettered"
	outcomeRequeued     = "requeued"
	outcomeParked       = "parked"
	outcomeCache        = "cache"
	outcomeFallback     = "fallback"
	outcomeAwaiting     = "awaiting"
)

// settle decides, from the class of err, whether the message is answered,
// retried later or dead-lettered, and does it.
//
// The work context may already be canceled by a shutdown; what settle
// publishes still goes out, bounded by settleTimeout.
func (p *Processor) settle(work context.Context, j *job, out *outcome, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(work), settleTimeout)
	defer cancel()
	p.observe(j, err)
	if err == nil && out.pending != nil {
		if hook := p.cfg.Hooks.BeforeAwait; hook != nil {
			hook(j.key)
		}
		p.awaitPending(ctx, j, out.pending)
		return
	}
	if err == nil {
		p.succeed(ctx, j, out)
		return
	}
	var clayErr *clay.Error
	errors.As(err, &clayErr)
	switch {
	case clayErr != nil && clayErr.OutcomeUnknown() && j.c.operation != subjects.Search:
		p.metrics.unknownOutcomes.Inc()
		if work.Err() != nil {
			err = fmt.Errorf("%w, which canceled the call after the shutdown grace: %w", errShutdown, err)
		}
		p.deadLetter(ctx, j, subjects.ClassOutcomeUnknown, err)
	case work.Err() != nil:
		if clayErr != nil && !clayErr.MayHaveReached {
			p.release(ctx, j) // known not to have reached Clay
		}
		p.requeue(j, errShutdown)
	case errors.Is(err, errRequestDeadline):
		p.deadLetter(ctx, j, subjects.ClassDeadlineExceeded, err)
	case errors.Is(err, subjects.ErrInvalidRequest), errors.Is(err, errUnknownTable), errors.Is(err, clay.ErrTooLarge):
		p.deadLetter(ctx, j, subjects.ClassInvalidRequest, err)
	case errors.Is(err, clay.ErrRejected):
		p.deadLetter(ctx, j, subjects.ClassClayRejected, err)
	case errors.Is(err, clay.ErrForbidden):
		p.deadLetter(ctx, j, subjects.ClassForbidden, err)
	default:
		if stop := p.heldBy(j, err); stop != nil {
			if !p.answerFallback(work, j, stop.reason) {
				p.park(j, stop)
			}
			return
		}
		p.retry(ctx, j, err)
	}
}

// heldBy returns the hold a failed call belongs to, so its message is
// parked instead of spending a delivery: the call met a 429, 401 or 402,
// or its surface is held or its breaker open now.
func (p *Processor) heldBy(j *job, err error) *hold {
	if h := p.gate.blocked(j.c.operation, j.table); h != nil {
		return h
	}
	if p.gate.breakers[surfaceOf(j.c.operation)].state() != stateClosed && unhealthy(err) {
		return &hold{scope: surfaceOf(j.c.operation), reason: reasonBreakerOpen}
	}
	return nil
}

func (p *Processor) succeed(ctx context.Context, j *job, out *outcome) {
	res := subjects.Result{
		Schema:        subjects.ResultSchema,
		Key:           j.key,
		Operation:     j.c.operation,
		Priority:      j.c.priority,
		Status:        subjects.StatusOK,
		Source:        subjects.SourceClay,
		Staleness:     subjects.Fresh,
		Attempts:      j.attempt,
		ClayLatencyMS: out.clayLatency.Milliseconds(),
		Data:          out.data,
	}
	// The cache write is independent of the result's, so they overlap.
	var cached sync.WaitGroup
	if j.cacheKey != "" {
		cached.Go(func() { p.remember(ctx, j, out) })
	}
	defer cached.Wait()
	if err := p.persistResult(j, &res); err != nil {
		j.log.Error().Err(err).Msg("result not stored: the request will be delivered again")
		p.requeue(j, err)
		return
	}
	if hook := p.cfg.Hooks.AfterPublish; hook != nil {
		hook(j.key)
	}
	p.ackStoredResult(j)
	p.metrics.countRequest(j, outcomeOK)
	j.log.Debug().Msg("result published")
}

// retry negative-acks with a delay, or dead-letters on the last delivery.
func (p *Processor) retry(ctx context.Context, j *job, err error) {
	if j.attempt >= j.c.maxDeliver {
		if !p.answerFallback(ctx, j, string(subjects.ClassRetriesExhausted)) {
			p.deadLetter(ctx, j, subjects.ClassRetriesExhausted, err)
		}
		return
	}
	delay := p.retryDelay(j.attempt, err)
	p.recordAttempt(ctx, j, err)
	p.metrics.retries.Inc()
	j.log.Warn().Err(err).Dur("delay", delay).Msg("Clay call failed: retrying later")
	p.release(ctx, j)
	p.nakWithDelay(j, delay)
	p.metrics.countRequest(j, outcomeRetried)
}

// retryDelay is exponential in the attempt with equal jitter: a value in
// [d/2, d] where d = base·2^(attempt-1) capped at max, and never under the
// base nor under Clay's Retry-After.
func (p *Processor) retryDelay(attempt int, err error) time.Duration {
	d := p.cfg.RetryBase << min(attempt-1, 30)
	if d > p.cfg.RetryMax || d <= 0 {
		d = p.cfg.RetryMax
	}
	d = d/2 + rand.N(d/2+1)
	var clayErr *clay.Error
	if errors.As(err, &clayErr) && clayErr.HasRetryAfter {
		d = max(d, clayErr.RetryAfter)
	}
	return max(d, p.cfg.RetryBase)
}

// requeue gives a message back at once, for work stopped by shutdown or a
// failed publish.
func (p *Processor) requeue(j *job, reason error) {
	j.log.Info().Err(reason).Msg("request given back for redelivery")
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	// A key already sent stays claimed: Clay may have it, so the next
	// delivery must not send it again.
	if j.claim != nil && j.claim.Record.State == ledger.Claimed {
		p.release(ctx, j)
	}
	if err := j.msg.Nak(); err != nil {
		j.log.Error().Err(err).Msg("nak failed: JetStream redelivers after the ack wait")
	}
	p.metrics.countRequest(j, outcomeRequeued)
}

// deadLetter stores the DLQ entry, then terminates the original. A failed
// DLQ publish is retried; if it keeps failing the original is given back.
func (p *Processor) deadLetter(ctx context.Context, j *job, class subjects.ErrorClass, cause error) {
	history := p.attempts(ctx, j)
	f := dlq.Failure{
		Key:          j.key,
		Class:        class,
		Error:        errorHistory(history, cause),
		Attempts:     j.attempt,
		FirstAttempt: time.Now(),
		LastAttempt:  time.Now(),
		BreakerState: p.gate.breakers[surfaceOf(j.c.operation)].state(),
	}
	if len(history) > 0 {
		f.FirstAttempt = history[0].Time
	}
	var clayErr *clay.Error
	if errors.As(cause, &clayErr) {
		f.HTTPStatus = clayErr.Status
	}
	orig := dlq.Original{Subject: j.msg.Subject(), Sequence: j.meta.Sequence.Stream, Header: j.msg.Headers(), Data: j.msg.Data()}
	entry := dlq.NewEntry(orig, j.c.priority, j.c.operation, f)
	if err := p.publish(ctx, entry); err != nil {
		j.log.Error().Err(err).Str("class", string(class)).Msg("DLQ entry not stored: the request will be delivered again")
		p.requeue(j, err)
		return
	}
	j.log.Warn().Err(cause).Str("class", string(class)).Msg("request dead-lettered")
	if err := p.finish(ctx, j, ledgerEnd{class: class}); err != nil {
		j.log.Error().Err(err).Msg("ledger not marked done after dead-lettering: a repeat of this key may be dead-lettered again")
	}
	if err := j.msg.TermWithReason(string(class)); err != nil {
		j.log.Error().Err(err).Msg("terminate failed after the DLQ entry was stored")
	}
	p.metrics.countRequest(j, outcomeDeadLettered)
	p.metrics.countDeadLetter(class)
}

// ack acknowledges a settled message without waiting for the server to
// confirm it, and the processor flushes its connection before it stops. A
// lost ack leads to a redelivery. A keyed request's redelivery finds its
// key done in the ledger, so Clay is not called again. A keyless search is
// sent again, and the stream drops its second result, which has the same
// Nats-Msg-Id, within the duplicate window.
func (p *Processor) ack(j *job) {
	if err := j.msg.Ack(); err != nil {
		j.log.Error().Err(err).Msg("ack not sent: the request will be delivered again")
	}
}

// ackStoredResult acknowledges a message whose result is stored. It then
// records in the ledger, off the request's path, that the result is
// published. Until then a repeat of the key looks for the result before
// publishing it again.
func (p *Processor) ackStoredResult(j *job) {
	p.ack(j)
	p.inflight.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		defer cancel()
		p.published(ctx, j)
	})
}

// persistTimeout bounds how long a Clay answer in hand is retried into
// the ledger and the result stream, through a NATS leader election say,
// before the message is given back. Giving it back loses the answer: the
// key was sent, so its next delivery can only report an unknown outcome.
const persistTimeout = 2 * time.Minute

// persistResult stores a result, retrying while JetStream is
// unavailable and keeping the message alive meanwhile.
func (p *Processor) persistResult(j *job, res *subjects.Result) error {
	ctx, cancel := context.WithTimeout(context.Background(), persistTimeout)
	defer cancel()
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, settleTimeout)
		err := p.publishResult(attemptCtx, j, res)
		cancelAttempt()
		if err == nil || ctx.Err() != nil {
			return err
		}
		j.log.Warn().Err(err).Msg("result not stored yet: retrying")
		_ = j.msg.InProgress()
		sleep(ctx, time.Second)
	}
}

// nakWithDelay gives the message back to be delivered after delay.
func (p *Processor) nakWithDelay(j *job, delay time.Duration) {
	if err := j.msg.NakWithDelay(delay); err != nil {
		j.log.Error().Err(err).Msg("nak failed: JetStream redelivers after the ack wait")
	}
}

// publishResult records the result in the ledger, then publishes it with
// the request's correlation headers. Writing the ledger first means a
// crash in between ends in a republish, never in a false unknown outcome
// or a second call.
func (p *Processor) publishResult(ctx context.Context, j *job, res *subjects.Result) error {
	msg := nats.NewMsg(subjects.ResultSubject(j.c.priority, j.c.operation))
	for name, values := range j.msg.Headers() {
		if !subjects.IsNatsHeader(name) {
			msg.Header[name] = values
		}
	}
	msg.Header.Set(subjects.HeaderMsgID, j.key)
	msg.Header.Set(subjects.HeaderRequestKey, j.key)
	if err := p.offload(ctx, j, res); err != nil {
		return err
	}
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	msg.Data = data
	if err := p.finish(ctx, j, ledgerEnd{result: data, header: msg.Header}); err != nil {
		return err
	}
	return p.publish(ctx, msg)
}

// settleTimeout bounds the publishes and acks that settle one message.
const settleTimeout = 15 * time.Second

// publishAttempts bounds the tries of one publish.
const publishAttempts = 5

// publish stores msg and checks the stream's acknowledgement, retrying a
// few times. A duplicate is counted, not treated as new.
func (p *Processor) publish(ctx context.Context, msg *nats.Msg) error {
	var err error
	for attempt := 1; attempt <= publishAttempts; attempt++ {
		var ack *jetstream.PubAck
		ack, err = p.js.PublishMsg(ctx, msg)
		if err == nil {
			if ack.Duplicate {
				p.metrics.duplicates.WithLabelValues("stream").Inc()
				p.log.Debug().Str("subject", msg.Subject).Str("msg_id", msg.Header.Get(subjects.HeaderMsgID)).
					Msg("publish was a duplicate: the stream already has it")
			}
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		sleep(ctx, time.Duration(attempt)*200*time.Millisecond)
	}
	return err
}
