package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// ledgerRetryDelay is the wait before a message is tried again when the
// ledger was unavailable.
const ledgerRetryDelay = 5 * time.Second

// claim takes the request key in the ledger. It returns false when the
// message was settled instead: the key is done (its result is published
// again), another owner holds it (the message is delayed), or it was sent
// by an owner who died (the outcome is unknown).
func (p *Processor) claim(ctx context.Context, j *job) bool {
	if j.keyless {
		return true
	}
	takeSent := j.c.operation == subjects.Search || p.resendUnknown(j)
	c, err := p.ledger.Claim(ctx, j.key, j.c.operation, j.c.priority, takeSent)
	if err != nil {
		j.log.Warn().Err(err).Dur("delay", ledgerRetryDelay).Msg("ledger unavailable: Clay is not called")
		p.nakWithDelay(j, ledgerRetryDelay)
		return false
	}
	if (c.Verdict == ledger.SentAndLost || c.Previous == ledger.Sent) && p.awaitedElsewhere(ctx, j) {
		return false
	}
	switch c.Verdict {
	case ledger.Acquired:
		j.claim = c
		return true
	case ledger.Finished:
		p.finished(ctx, j, c)
	case ledger.HeldByOther:
		delay := max(time.Until(c.Record.Lease), p.cfg.RetryBase)
		j.log.Debug().Str("owner", c.Record.Owner).Dur("delay", delay).Msg("key held by another owner: delayed")
		p.metrics.lostClaims.Inc()
		p.nakWithDelay(j, delay)
	case ledger.SentAndLost:
		j.claim = c
		if p.awaitLostCallback(ctx, j) {
			return false
		}
		p.metrics.unknownOutcomes.Inc()
		p.deadLetter(ctx, j, subjects.ClassOutcomeUnknown,
			errors.New("the request was sent to Clay by "+c.Record.Owner+", which stopped before recording the answer"))
	}
	return false
}

// resendUnknown reports whether the request's table opts into sending a
// request again when its outcome is unknown.
func (p *Processor) resendUnknown(j *job) bool {
	t, ok := p.rowTable(j)
	return ok && t.ResendUnknown
}

// rowTable returns the configured table of a row request.
func (p *Processor) rowTable(j *job) (Table, bool) {
	if j.c.operation != subjects.Row {
		return Table{}, false
	}
	var params subjects.RowParams
	if json.Unmarshal(j.msg.Data(), &params) != nil {
		return Table{}, false
	}
	t, ok := p.cfg.Tables[params.Table]
	return t, ok
}

// awaitLostCallback settles a row of a table that calls back, sent by an
// owner that stopped before storing its pending record. If Clay got the
// row, its callback is on the way, so the row is awaited like one just
// sent. It returns false for any other request.
func (p *Processor) awaitLostCallback(ctx context.Context, j *job) bool {
	t, ok := p.rowTable(j)
	if !ok || !t.Callback {
		return false
	}
	rec := p.newPending(j, pendingCallback)
	rec.Sent, rec.LostBy = j.claim.Record.Updated, j.claim.Record.Owner
	j.log.Warn().Str("owner", rec.LostBy).Dur("wait", p.cfg.LongPollTimeout).
		Msg("row sent by an owner that stopped before recording it: awaiting its callback")
	p.awaitPending(ctx, j, rec)
	return true
}

// finished settles a delivery of a key that already ended. A result not
// known to be published is stored once (storeOnce), and a DLQ'd key is
// only acknowledged.
func (p *Processor) finished(ctx context.Context, j *job, c *ledger.Claim) {
	rec := &c.Record
	p.metrics.duplicates.WithLabelValues("ledger").Inc()
	j.log.Debug().Str("state", string(rec.State)).Msg("key already done: not sent again")
	if rec.DeadLettered == "" && rec.Result != nil && !rec.Published {
		msg := resultMessage(subjects.ResultSubject(j.c.priority, j.c.operation), j.key, rec.ResultHeader, rec.Result)
		if err := p.storeOnce(ctx, rec, msg); err != nil {
			j.log.Error().Err(err).Dur("delay", ledgerRetryDelay).Msg("result not published again: the request will be delivered again")
			p.nakWithDelay(j, ledgerRetryDelay)
			return
		}
		if err := p.ledger.MarkPublished(ctx, c); err != nil {
			j.log.Warn().Err(err).Msg("ledger not marked published: a later duplicate looks for the result again")
		}
	}
	p.ack(j)
}

// published records that the key's result is stored, so later duplicates
// are acknowledged without publishing it again. A failure only risks a
// second copy of the result, so it is logged.
func (p *Processor) published(ctx context.Context, j *job) {
	if j.claim == nil || j.claim.Record.State != ledger.Done || j.claim.Record.Published {
		return
	}
	if err := p.ledger.MarkPublished(ctx, j.claim); err != nil {
		j.log.Warn().Err(err).Msg("ledger not marked published: a later duplicate looks for the result before publishing it")
	}
}

// markSent records in the ledger that a request that creates something
// in Clay is about to leave.
func (p *Processor) markSent(ctx context.Context, j *job) error {
	p.metrics.submissions.Inc()
	j.claimMu.Lock()
	defer j.claimMu.Unlock()
	if j.claim == nil {
		return nil
	}
	return p.ledger.MarkSent(ctx, j.claim)
}

// release gives the key up so that the next delivery may claim it: the
// request is retried, parked or given back.
func (p *Processor) release(ctx context.Context, j *job) {
	if j.claim == nil || j.claim.Record.State == ledger.Done {
		// A done key stays done: its next delivery republishes the result.
		return
	}
	if err := p.ledger.Release(ctx, j.claim); err != nil {
		j.log.Warn().Err(err).Msg("ledger claim not released: the next delivery waits for its lease")
	}
	j.claim = nil
}

// ledgerEnd is the end of a key that finish records: a result with its
// headers, or a DLQ class.
type ledgerEnd struct {
	result []byte
	header nats.Header
	class  subjects.ErrorClass
}

// finish records the key's end in the ledger. It is retried, because a
// result published without it could later be taken for an unknown
// outcome.
func (p *Processor) finish(ctx context.Context, j *job, end ledgerEnd) error {
	if j.claim == nil || j.claim.Record.State == ledger.Done {
		return nil
	}
	j.claim.Record.CacheKey = j.cacheKey
	var err error
	for attempt := 1; attempt <= publishAttempts; attempt++ {
		err = p.ledger.Finish(ctx, j.claim, end.result, "", end.header, end.class)
		if err == nil || errors.Is(err, ledger.ErrLost) {
			break
		}
		sleep(ctx, time.Duration(attempt)*200*time.Millisecond)
	}
	if err != nil && !errors.Is(err, ledger.ErrLost) {
		return fmt.Errorf("mark key done in the ledger: %w", err)
	}
	return nil
}

// renew extends the claim's lease, with each InProgress.
func (p *Processor) renew(ctx context.Context, j *job) {
	j.claimMu.Lock()
	defer j.claimMu.Unlock()
	if j.claim == nil {
		return
	}
	if err := p.ledger.Renew(ctx, j.claim); err != nil {
		j.log.Warn().Err(err).Msg("ledger lease not renewed")
	}
}
