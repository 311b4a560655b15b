package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// Kinds of pending records, also the kind label of claybridge_awaited_total.
const (
	pendingCallback = "callback"
	pendingRoutine  = "routine"
)

// Outcomes of awaited requests in claybridge_awaited_total.
const (
	awaitedResult       = "result"
	awaitedDeadLettered = "dead_lettered"
	awaitedDuplicate    = "duplicate"
	awaitedUnmatched    = "unmatched"
)

// pendingRecord is a request whose message was acknowledged while its
// outcome is awaited: a row's callback, or its item's outcome in a
// routine run. It is stored in CLAY_PENDING under subjects.PendingKey(key)
// and contains what the result or the DLQ entry needs, so any replica can
// end the request.
type pendingRecord struct {
	Kind      string             `json:"kind"`
	Key       string             `json:"key"`
	Priority  subjects.Priority  `json:"priority"`
	Operation subjects.Operation `json:"operation"`
	// ResultSubject is the subject of the result.
	ResultSubject string `json:"result_subject"`
	// Subject, Sequence, Header and Body are the request message as
	// stored, for a DLQ entry; Header also gives the result's correlation
	// headers.
	Subject  string      `json:"subject"`
	Sequence uint64      `json:"sequence"`
	Header   nats.Header `json:"header,omitempty"`
	Body     []byte      `json:"body"`
	// Attempts counts the deliveries of the request, the last included.
	Attempts     int       `json:"attempts"`
	FirstAttempt time.Time `json:"first_attempt"`
	// Sent is when the request left for Clay.
	Sent time.Time `json:"sent"`
	// Deadline ends the wait: a callback not stored by then is
	// dead-lettered as callback_timeout.
	Deadline time.Time `json:"deadline"`
	CacheKey string    `json:"cache_key,omitempty"`
	// RunID is the routine run the item is part of.
	RunID string `json:"run_id,omitempty"`
	// LostBy names the owner that sent the row and stopped before storing
	// this record. Whether Clay got the row is unknown, so a wait without
	// a callback ends as outcome_unknown instead of callback_timeout.
	LostBy string `json:"lost_by,omitempty"`
}

// newPending returns the pending record of a request just sent.
func (p *Processor) newPending(j *job, kind string) *pendingRecord {
	return &pendingRecord{
		Kind:          kind,
		Key:           j.key,
		Priority:      j.c.priority,
		Operation:     j.c.operation,
		ResultSubject: subjects.ResultSubject(j.c.priority, j.c.operation),
		Subject:       j.msg.Subject(),
		Sequence:      j.meta.Sequence.Stream,
		Header:        j.msg.Headers(),
		Body:          j.msg.Data(),
		Attempts:      j.attempt,
		Sent:          time.Now().UTC(),
		CacheKey:      j.cacheKey,
	}
}

// awaitPending stores the request's pending record and acknowledges its
// message: from here on the record carries the request. When the record
// cannot be stored, the message is given back with its key still marked
// sent, so its next delivery ends as outcome_unknown instead of sending it
// to Clay again.
func (p *Processor) awaitPending(ctx context.Context, j *job, rec *pendingRecord) {
	rec.Deadline = time.Now().Add(p.cfg.LongPollTimeout).UTC()
	rec.FirstAttempt = rec.Sent
	if history := p.attempts(ctx, j); len(history) > 0 {
		rec.FirstAttempt = history[0].Time
	}
	if err := p.putPending(ctx, rec); err != nil {
		j.log.Error().Err(err).Msg("pending record not stored: the request will be delivered again and end as outcome_unknown")
		p.requeue(j, err)
		return
	}
	p.ack(j)
	p.metrics.countRequest(j, outcomeAwaiting)
	j.log.Debug().Str("kind", rec.Kind).Str("run_id", rec.RunID).Time("deadline", rec.Deadline).Msg("request awaited: message acknowledged")
}

// putPending stores rec, retrying a few times.
func (p *Processor) putPending(ctx context.Context, rec *pendingRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	for attempt := 1; attempt <= publishAttempts; attempt++ {
		if _, err = p.pending.Put(ctx, subjects.PendingKey(rec.Key), data); err == nil || ctx.Err() != nil {
			break
		}
		sleep(ctx, time.Duration(attempt)*200*time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("store pending record in %s: %w", subjects.BucketPending, err)
	}
	return nil
}

// getPending returns the pending record stored under a pending key, or
// nil when there is none.
func (p *Processor) getPending(ctx context.Context, pendingKey string) (*pendingRecord, error) {
	entry, err := p.pending.Get(ctx, pendingKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", subjects.BucketPending, err)
	}
	var rec pendingRecord
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		return nil, fmt.Errorf("pending record %s is not JSON: %w", pendingKey, err)
	}
	return &rec, nil
}

// awaitedElsewhere settles a delivery whose key was sent earlier and is
// awaited now. The key's pending record carries the request, so the
// message is acknowledged without calling Clay. It returns false when the
// key has no pending record.
func (p *Processor) awaitedElsewhere(ctx context.Context, j *job) bool {
	rec, err := p.getPending(ctx, subjects.PendingKey(j.key))
	if err != nil {
		j.log.Warn().Err(err).Dur("delay", ledgerRetryDelay).Msg("pending records unavailable: Clay is not called")
		p.nakWithDelay(j, ledgerRetryDelay)
		return true
	}
	if rec == nil {
		return false
	}
	p.metrics.duplicates.WithLabelValues("ledger").Inc()
	j.log.Debug().Str("kind", rec.Kind).Msg("key awaits its callback or routine run: not sent again")
	p.ack(j)
	return true
}

// pendingEnd is the end of an awaited request: result data, or a DLQ
// class with its error text and Clay's HTTP status.
type pendingEnd struct {
	data   json.RawMessage
	class  subjects.ErrorClass
	err    string
	status int
}

// endPending ends an awaited request once, whichever replica or path gets
// there first. The ledger decides between racing ends, such as a callback
// and its timeout, and the winner's outcome is published. The pending
// record is deleted last, so a crash in between ends in a republish. A
// request that another path already ended is only cleaned up.
func (p *Processor) endPending(ctx context.Context, rec *pendingRecord, end pendingEnd) error {
	log := p.log.With().Str("key", rec.Key).Str("priority", string(rec.Priority)).
		Str("operation", string(rec.Operation)).Int("attempt", rec.Attempts).Logger()
	var result []byte
	var header nats.Header
	if end.class == "" {
		var err error
		if result, err = p.awaitedResult(ctx, rec, end.data, log); err != nil {
			return err
		}
		header = correlationHeader(rec.Header)
	}
	claim, err := p.ledger.Complete(ctx, rec.Key, rec.Operation, rec.Priority, result, header, end.class, rec.CacheKey)
	if err != nil {
		return err
	}
	won := claim.Verdict == ledger.Acquired
	if err := p.publishEnd(ctx, rec, claim, end, won, log); err != nil {
		return err
	}
	if won && end.class == "" {
		p.rememberAwaited(ctx, rec, end.data, log)
	}
	if err := p.pending.Delete(ctx, subjects.PendingKey(rec.Key)); err != nil {
		log.Warn().Err(err).Msg("pending record not deleted: the next check ends it again, which publishes nothing new")
	}
	return nil
}

// publishEnd publishes what the ledger recorded for the key: its result
// when not yet published, or its DLQ entry when this end recorded it.
func (p *Processor) publishEnd(ctx context.Context, rec *pendingRecord, claim *ledger.Claim, end pendingEnd, won bool, log zerolog.Logger) error {
	recorded := claim.Record
	switch {
	case recorded.DeadLettered != "" && (won || recorded.DeadLettered == end.class):
		if err := p.publish(ctx, p.awaitedDLQEntry(rec, recorded.DeadLettered, end)); err != nil {
			return fmt.Errorf("store DLQ entry: %w", err)
		}
		log.Warn().Str("class", string(recorded.DeadLettered)).Str("error", end.err).Msg("awaited request dead-lettered")
		p.metrics.countDeadLetter(recorded.DeadLettered)
		p.metrics.awaited.WithLabelValues(rec.Kind, awaitedDeadLettered).Inc()
	case recorded.Result != nil && !recorded.Published:
		msg := resultMessage(rec.ResultSubject, rec.Key, recorded.ResultHeader, recorded.Result)
		if err := p.storeOnce(ctx, &recorded, msg); err != nil {
			return fmt.Errorf("publish result: %w", err)
		}
		if err := p.ledger.MarkPublished(ctx, claim); err != nil {
			log.Warn().Err(err).Msg("ledger not marked published: a later duplicate may publish the result again")
		}
		log.Debug().Str("kind", rec.Kind).Msg("awaited result published")
		p.metrics.awaited.WithLabelValues(rec.Kind, awaitedResult).Inc()
	case !won:
		log.Debug().Str("kind", rec.Kind).Msg("awaited request already ended: nothing published")
		p.metrics.awaited.WithLabelValues(rec.Kind, awaitedDuplicate).Inc()
	}
	return nil
}

// awaitedResult returns the result body of an awaited request, its data
// moved to the Object Store when too large for one message.
func (p *Processor) awaitedResult(ctx context.Context, rec *pendingRecord, data json.RawMessage, log zerolog.Logger) ([]byte, error) {
	res := subjects.Result{
		Schema:        subjects.ResultSchema,
		Key:           rec.Key,
		Operation:     rec.Operation,
		Priority:      rec.Priority,
		Status:        subjects.StatusOK,
		Source:        subjects.SourceClay,
		Staleness:     subjects.Fresh,
		Attempts:      rec.Attempts,
		ClayLatencyMS: time.Since(rec.Sent).Milliseconds(),
		Data:          data,
	}
	if err := p.offloadResult(ctx, rec.Key, log, &res); err != nil {
		return nil, err
	}
	return json.Marshal(&res)
}

// rememberAwaited stores the data of an awaited result in the fallback
// cache.
func (p *Processor) rememberAwaited(ctx context.Context, rec *pendingRecord, data json.RawMessage, log zerolog.Logger) {
	if rec.CacheKey == "" || p.cache == nil {
		return
	}
	if err := p.cache.Put(ctx, rec.CacheKey, rec.Operation, data, time.Now()); err != nil {
		log.Warn().Err(err).Msg("result data not stored in the fallback cache")
	}
}

// awaitedDLQEntry returns the DLQ entry of an awaited request.
func (p *Processor) awaitedDLQEntry(rec *pendingRecord, class subjects.ErrorClass, end pendingEnd) *nats.Msg {
	f := dlq.Failure{
		Key:          rec.Key,
		Class:        class,
		HTTPStatus:   end.status,
		Error:        end.err,
		Attempts:     rec.Attempts,
		FirstAttempt: rec.FirstAttempt,
		LastAttempt:  time.Now(),
		BreakerState: p.gate.breakers[surfaceOf(rec.Operation)].state(),
	}
	orig := dlq.Original{Subject: rec.Subject, Sequence: rec.Sequence, Header: rec.Header, Data: rec.Body}
	return dlq.NewEntry(orig, rec.Priority, rec.Operation, f)
}

// correlationHeader returns the request headers a result carries: every
// header except JetStream's own.
func correlationHeader(h nats.Header) nats.Header {
	out := nats.Header{}
	for name, values := range h {
		if !subjects.IsNatsHeader(name) {
			out[name] = values
		}
	}
	return out
}

// resultMessage returns a result message with the key in Nats-Msg-Id and
// Clay-Request-Key, so a repeat publish is dropped by the stream.
func resultMessage(subject, key string, header map[string][]string, data []byte) *nats.Msg {
	msg := nats.NewMsg(subject)
	for name, values := range header {
		msg.Header[name] = values
	}
	msg.Header.Set(subjects.HeaderMsgID, key)
	msg.Header.Set(subjects.HeaderRequestKey, key)
	msg.Data = data
	return msg
}

// expirePending ends every awaited callback past its deadline as
// callback_timeout, and every routine item that outlived its run's
// deadline by routineGrace, which only happens when its run record was
// lost. Every replica checks; the ledger lets one end each request.
func (p *Processor) expirePending(ctx context.Context) error {
	records, err := p.pendingRecords(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	var errs []error
	for _, rec := range records {
		var end pendingEnd
		switch {
		case rec.Kind == pendingCallback && now.After(rec.Deadline) && rec.LostBy != "":
			p.metrics.unknownOutcomes.Inc()
			end = pendingEnd{class: subjects.ClassOutcomeUnknown,
				err: fmt.Sprintf("the row was sent to Clay by %s, which stopped before recording it, and no callback came within %s",
					rec.LostBy, p.cfg.LongPollTimeout)}
		case rec.Kind == pendingCallback && now.After(rec.Deadline):
			end = pendingEnd{class: subjects.ClassCallbackTimeout,
				err: fmt.Sprintf("no callback from Clay within %s of the row's submission", p.cfg.LongPollTimeout)}
		case rec.Kind == pendingRoutine && now.After(rec.Deadline.Add(p.routineGrace())):
			end = pendingEnd{class: subjects.ClassDeadlineExceeded,
				err: fmt.Sprintf("routine run %s was not followed to its end within %s", rec.RunID, p.cfg.LongPollTimeout)}
		default:
			continue
		}
		if err := p.endPending(ctx, rec, end); err != nil {
			errs = append(errs, fmt.Errorf("end pending request %s: %w", rec.Key, err))
		}
	}
	return errors.Join(errs...)
}

// pendingRecords returns every request record in CLAY_PENDING. Their keys
// are one token; run records, under "run.", are left out.
func (p *Processor) pendingRecords(ctx context.Context) ([]*pendingRecord, error) {
	w, err := p.pending.WatchFiltered(ctx, []string{"*"}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", subjects.BucketPending, err)
	}
	defer func() { _ = w.Stop() }()
	var records []*pendingRecord
	for entry := range w.Updates() {
		if entry == nil {
			return records, nil
		}
		var rec pendingRecord
		if err := json.Unmarshal(entry.Value(), &rec); err != nil {
			p.log.Warn().Err(err).Str("pending_key", entry.Key()).Msg("pending record is not JSON: skipped")
			continue
		}
		records = append(records, &rec)
	}
	return records, ctx.Err()
}

// pendingLoop ends awaited callbacks past their deadline every
// PendingCheckInterval and polls routine runs every RoutinePollInterval.
func (p *Processor) pendingLoop(ctx context.Context) {
	expire := time.NewTicker(p.cfg.PendingCheckInterval)
	defer expire.Stop()
	poll := time.NewTicker(p.cfg.RoutinePollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expire.C:
			if err := p.expirePending(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn().Err(err).Msg("check of awaited callbacks failed: it runs again next interval")
			}
		case <-poll.C:
			if err := p.pollRuns(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn().Err(err).Msg("poll of routine runs failed: it runs again next interval")
			}
		}
	}
}
