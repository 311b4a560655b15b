package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// Verdict is the result of Claim.
type Verdict int

// The verdicts of Claim.
const (
	// Acquired: the caller owns the key now and may call Clay.
	Acquired Verdict = iota + 1
	// Finished: the key is done, and Record holds its outcome.
	Finished
	// HeldByOther: another owner holds a live lease on the key.
	HeldByOther
	// SentAndLost: the key was sent and its owner's lease expired before
	// the answer was recorded, so whether Clay got it is unknown.
	SentAndLost
)

// Claim is the caller's hold on a key, or what stopped it.
type Claim struct {
	Verdict Verdict
	Record  Record
	// Previous is the state of the expired record an Acquired claim took
	// over; it is empty for a new key.
	Previous State
	rev      uint64
}

// Claim takes a key: by atomic create when it is new, or by
// compare-and-set when the last owner's claim expired before sending.
// takeSent also takes a key whose owner died after sending, for requests
// that are safe to send again.
func (l *Ledger) Claim(ctx context.Context, key string, op subjects.Operation, p subjects.Priority, takeSent bool) (*Claim, error) {
	fresh := Record{Key: key, State: Claimed, Operation: op, Priority: p}
	rev, err := l.create(ctx, &fresh)
	if err == nil {
		return &Claim{Verdict: Acquired, Record: fresh, rev: rev}, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("%w: claim %s: %v", ErrUnavailable, key, err)
	}
	rec, rev, err := l.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		// Deleted between create and get: try once more from scratch.
		return l.Claim(ctx, key, op, p, takeSent)
	}
	switch {
	case rec.State == Done:
		return &Claim{Verdict: Finished, Record: *rec, rev: rev}, nil
	case rec.Live(l.now()):
		return &Claim{Verdict: HeldByOther, Record: *rec, rev: rev}, nil
	case rec.State == Sent && !takeSent:
		return &Claim{Verdict: SentAndLost, Record: *rec, rev: rev}, nil
	}
	c := &Claim{Verdict: Acquired, Record: *rec, Previous: rec.State, rev: rev}
	c.Record.State = Claimed
	if err := l.write(ctx, c); err != nil {
		if errors.Is(err, ErrLost) {
			return l.Claim(ctx, key, op, p, takeSent)
		}
		return nil, err
	}
	return c, nil
}

// Renew extends the claim's lease.
func (l *Ledger) Renew(ctx context.Context, c *Claim) error { return l.write(ctx, c) }

// MarkSent records that the request is about to leave for Clay.
func (l *Ledger) MarkSent(ctx context.Context, c *Claim) error {
	return l.change(ctx, c, func(r *Record) { r.State = Sent })
}

// Unsend records that a request marked sent certainly did not reach Clay,
// or that Clay's answer to it is known, so a later delivery may send it.
func (l *Ledger) Unsend(ctx context.Context, c *Claim) error {
	return l.change(ctx, c, func(r *Record) { r.State = Claimed })
}

// Release gives the key up, so the next delivery claims it afresh.
func (l *Ledger) Release(ctx context.Context, c *Claim) error {
	err := l.kv.Delete(ctx, KVKey(c.Record.Key), jetstream.LastRevision(c.rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("%w: %s", ErrLost, c.Record.Key)
	}
	if err != nil {
		return fmt.Errorf("%w: release %s: %v", ErrUnavailable, c.Record.Key, err)
	}
	return nil
}

// Finish records that the key ended: with a result (result or ref set,
// header the result's headers) or in the DLQ (class set).
func (l *Ledger) Finish(ctx context.Context, c *Claim, result json.RawMessage, ref string, header map[string][]string, class subjects.ErrorClass) error {
	return l.change(ctx, c, func(r *Record) {
		r.State = Done
		r.Result, r.ResultRef, r.ResultHeader, r.DeadLettered = result, ref, header, class
	})
}

// MarkPublished records that the result is stored in CLAY_RESULTS.
func (l *Ledger) MarkPublished(ctx context.Context, c *Claim) error {
	return l.change(ctx, c, func(r *Record) { r.Published = true })
}

// change applies edit to the claim's record and writes it; when the write
// fails the claim keeps the record as it was, so a retry starts from what
// is stored.
func (l *Ledger) change(ctx context.Context, c *Claim, edit func(*Record)) error {
	before := c.Record
	edit(&c.Record)
	if err := l.write(ctx, c); err != nil {
		c.Record = before
		return err
	}
	return nil
}

// create writes a new record with a fresh lease.
func (l *Ledger) create(ctx context.Context, rec *Record) (uint64, error) {
	rec.Owner, rec.Updated = l.owner, l.now().UTC()
	rec.Lease = rec.Updated.Add(l.lease)
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	return l.kv.Create(ctx, KVKey(rec.Key), data)
}

// write updates the claim's record by compare-and-set, taking ownership
// and renewing the lease.
func (l *Ledger) write(ctx context.Context, c *Claim) error {
	c.Record.Owner, c.Record.Updated = l.owner, l.now().UTC()
	c.Record.Lease = c.Record.Updated.Add(l.lease)
	data, err := json.Marshal(&c.Record)
	if err != nil {
		return err
	}
	rev, err := l.kv.Update(ctx, KVKey(c.Record.Key), data, c.rev)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("%w: %s", ErrLost, c.Record.Key)
		}
		return fmt.Errorf("%w: write %s: %v", ErrUnavailable, c.Record.Key, err)
	}
	c.rev = rev
	return nil
}

// Complete ends an awaited key regardless of the owner of its lease.
// Once a row's callback or a routine run is awaited, its CLAY_PENDING
// record rather than the lease decides who may end it. The outcome is a
// result (result and header set) or a DLQ class. Complete returns a claim
// with Verdict Acquired when this call ended the key, or Finished with the
// record as another caller left it, so that of two racing outcomes
// exactly one is recorded.
func (l *Ledger) Complete(ctx context.Context, key string, op subjects.Operation, p subjects.Priority,
	result json.RawMessage, header map[string][]string, class subjects.ErrorClass, cacheKey string) (*Claim, error) {
	for {
		rec, rev, err := l.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if rec != nil && rec.State == Done {
			return &Claim{Verdict: Finished, Record: *rec, rev: rev}, nil
		}
		c := &Claim{Verdict: Acquired, Record: Record{Key: key, Operation: op, Priority: p}, rev: rev}
		if rec != nil {
			c.Record, c.Previous = *rec, rec.State
		}
		c.Record.CacheKey = cacheKey
		c.Record.State = Done
		c.Record.Result, c.Record.ResultHeader, c.Record.DeadLettered = result, header, class
		if rec == nil {
			err = l.createDone(ctx, c)
		} else {
			err = l.write(ctx, c)
		}
		if errors.Is(err, ErrLost) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// createDone writes a done record for a key that has none, for an awaited
// key whose record was erased or expired.
func (l *Ledger) createDone(ctx context.Context, c *Claim) error {
	rev, err := l.create(ctx, &c.Record)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("%w: %s", ErrLost, c.Record.Key)
	}
	if err != nil {
		return fmt.Errorf("%w: write %s: %v", ErrUnavailable, c.Record.Key, err)
	}
	c.rev = rev
	return nil
}
