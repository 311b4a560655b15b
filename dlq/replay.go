package dlq

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/claybridge/claybridge/internal/scan"
	"github.com/claybridge/claybridge/subjects"
)

// Replaying an entry republishes its original body and headers to its
// original subject under a derived key (see RootKey), then deletes the
// entry. It is safe to run again after it stopped anywhere:
//
//  1. The derived key is reserved for the entry in CLAY_LEDGER by atomic
//     create, so a second run for the same entry gets the same key, and a
//     replay of another entry of the same key gets the next one.
//  2. The republish carries the derived key as Nats-Msg-Id. When the
//     second run finds its reservation, it first looks for the key in the
//     ledger, the results, the DLQ and the request stream, and publishes
//     only when none has it. Within the request stream's duplicate window
//     the stream drops a repeat publish on its own.
//  3. The entry is deleted only after the request stream acknowledged the
//     republish, or after the second run found it published. A run that
//     stops before the delete leaves the entry, and the next run finds the
//     key reserved by the same entry and only deletes the entry.
//
// NOTE: a reservation lasts as long as CLAY_LEDGER keeps keys (24 hours
// by default). A second run started later than that, after the first one
// stopped between its publish and its delete, republishes under the next
// derived key if the first key's request has left every stream by then.

// ReplayConfig configures Replay. Its zero value replays every entry as
// fast as the server acknowledges.
type ReplayConfig struct {
	// Rate bounds the republishes per second; 0 means no bound.
	Rate float64
	// DryRun finds each entry's derived key and changes nothing.
	DryRun bool
	// Progress, when set, is called after each entry with the number of
	// entries done and their total.
	Progress func(done, total int)
	// beforeDelete is called after a republish and before the entry is
	// deleted; an error stops the replay of that entry there. Tests use it
	// to stop a replay as a crash would.
	beforeDelete func(Replayed) error
}

// Replayed is the outcome of one entry's replay.
type Replayed struct {
	Entry Entry
	// Key is the derived key the request was republished under.
	Key string
	// Subject is the request subject it was republished on.
	Subject string
	// Sequence is the republished request's sequence in CLAY_REQUESTS, or
	// 0 when this run published nothing.
	Sequence uint64
	// Resumed is true when an earlier replay of the same entry had
	// reserved Key.
	Resumed bool
	// Published is true when this run published the request. A resumed
	// replay that found the request already published leaves it false.
	Published bool
	// Duplicate is true when the request stream dropped this run's
	// publish because an earlier run of the same replay had stored it.
	Duplicate bool
	// Removed is true when the entry was deleted from the DLQ.
	Removed bool
	// Err is the reason the entry was not replayed. The entry then stays in
	// the DLQ.
	Err error
}

// ErrNotReplayable marks an entry that lacks what a replay needs.
var ErrNotReplayable = errors.New("DLQ entry cannot be replayed")

// Replay replays entries in order. Entries may be read with headers only,
// because each one is read again with its body just before its replay. An
// entry deleted since it was listed fails with ErrNotFound. The returned
// error is for failures that stop the whole replay, such as ctx ending,
// and each entry's own failure is in its Replayed.Err.
func Replay(ctx context.Context, js jetstream.JetStream, entries []Entry, cfg ReplayConfig) ([]Replayed, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	stream, err := scan.OpenStream(ctx, js, subjects.StreamDLQ)
	if err != nil {
		return nil, err
	}
	roots := make([]string, len(entries))
	for i, e := range entries {
		roots[i] = e.Key
	}
	lineage, err := OpenLineage(ctx, js, roots, nil)
	if err != nil {
		return nil, err
	}

	r := &replayer{js: js, dlq: stream, lineage: lineage, cfg: cfg, limiter: rate.NewLimiter(rate.Inf, 1)}
	if cfg.Rate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}

	done := make([]Replayed, 0, len(entries))
	for i := range entries {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		done = append(done, r.replay(ctx, entries[i]))
		if cfg.Progress != nil {
			cfg.Progress(i+1, len(entries))
		}
	}
	return done, nil
}

type replayer struct {
	js      jetstream.JetStream
	dlq     jetstream.Stream
	lineage *Lineage
	cfg     ReplayConfig
	limiter *rate.Limiter
}

// replay replays one entry.
func (r *replayer) replay(ctx context.Context, listed Entry) Replayed {
	out := Replayed{Entry: listed, Subject: listed.OrigSubject}
	e, err := get(ctx, r.dlq, listed.Sequence)
	if err != nil {
		out.Err = err
		return out
	}
	out.Entry = *e
	if err := replayable(e); err != nil {
		out.Err = err
		return out
	}
	owner := replayOwner(e)
	if r.cfg.DryRun {
		res, err := r.lineage.Peek(ctx, e.Key, owner)
		out.Key, out.Resumed, out.Err = res.Key, res.Resumed, err
		return out
	}
	if out.Err = r.republish(ctx, e, owner, &out); out.Err != nil {
		return out
	}
	if r.cfg.beforeDelete != nil {
		if out.Err = r.cfg.beforeDelete(out); out.Err != nil {
			return out
		}
	}
	out.Err = r.remove(ctx, e.Sequence)
	out.Removed = out.Err == nil
	return out
}

// republish reserves the entry's derived key and publishes the request
// under it, unless an earlier run of the same replay did.
func (r *replayer) republish(ctx context.Context, e *Entry, owner string, out *Replayed) error {
	for range maxReplays {
		res, err := r.lineage.Reserve(ctx, e.Key, owner)
		if err != nil {
			return err
		}
		out.Key, out.Resumed = res.Key, res.Resumed
		if res.Resumed {
			published, err := r.published(ctx, e, res.Key)
			if err != nil || published {
				return err
			}
		}
		if err := r.limiter.Wait(ctx); err != nil {
			return err
		}
		ack, err := r.js.PublishMsg(ctx, replayMsg(e, res.Key), jetstream.WithExpectStream(subjects.StreamRequests))
		if err != nil {
			return fmt.Errorf("republish %s as %s on %s: %w", e.Key, res.Key, e.OrigSubject, err)
		}
		if !ack.Duplicate || res.Resumed {
			// A duplicate of a resumed replay is the earlier run's publish:
			// the reservation lets no one else publish under this key.
			out.Sequence, out.Published, out.Duplicate = ack.Sequence, !ack.Duplicate, ack.Duplicate
			return nil
		}
		// A publisher that does not reserve keys used this one: give it up
		// and take the next.
		if err := r.lineage.disown(ctx, res.Key); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %s", ErrTooManyReplays, e.Key)
}

// published reports whether key was already published: it has a ledger
// record, a result or a DLQ entry, or waits in the request stream.
func (r *replayer) published(ctx context.Context, e *Entry, key string) (bool, error) {
	used, err := r.lineage.Used(ctx, key)
	if err != nil || used {
		return used, err
	}
	found := errors.New("found")
	err = scan.ByGet(ctx, r.js, subjects.StreamRequests, e.OrigSubject, func(msg *jetstream.RawStreamMsg) error {
		if msg.Header.Get(subjects.HeaderMsgID) == key {
			return found
		}
		return nil
	})
	if errors.Is(err, found) {
		return true, nil
	}
	return false, err
}

// remove deletes the entry at seq. An entry already deleted, by another
// replay or a purge, counts as removed.
func (r *replayer) remove(ctx context.Context, seq uint64) error {
	if err := deleteEntry(ctx, r.dlq, seq, false); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// replayable checks that the entry names a request subject to replay to.
func replayable(e *Entry) error {
	if e.Key == "" {
		return fmt.Errorf("%w: sequence %d has no %s header", ErrNotReplayable, e.Sequence, subjects.HeaderRequestKey)
	}
	if _, _, err := subjects.ParseRequestSubject(e.OrigSubject); err != nil {
		return fmt.Errorf("%w: sequence %d: %s %q is not a request subject", ErrNotReplayable, e.Sequence, subjects.HeaderOrigSubject, e.OrigSubject)
	}
	return nil
}

// replayOwner identifies one DLQ entry in reservations: its stream
// sequence and its own Nats-Msg-Id, hashed so no request key is stored.
func replayOwner(e *Entry) string {
	return subjects.HashKey(fmt.Sprintf("%s:%d:%s", subjects.StreamDLQ, e.Sequence, e.Header.Get(subjects.HeaderMsgID)))
}

// replayMsg builds the republished request: the original body and the
// original's own headers, keyed by key, with Clay-Replay-Of naming the
// entry's key. JetStream headers stay out (the entry keeps them renamed
// Clay-Orig-Nats-*), because the server would check Nats-Expected-* again
// and reject the publish.
func replayMsg(e *Entry, key string) *nats.Msg {
	msg := nats.NewMsg(e.OrigSubject)
	msg.Data = e.Data
	for name, values := range OriginalHeader(e.Header) {
		msg.Header[name] = values
	}
	msg.Header.Set(subjects.HeaderMsgID, key)
	msg.Header.Set(subjects.HeaderReplayOf, e.Key)
	return msg
}

// entryHeaders are the headers NewEntry adds to the original's.
var entryHeaders = []string{
	subjects.HeaderRequestKey, subjects.HeaderErrorClass, subjects.HeaderHTTPStatus, subjects.HeaderError,
	subjects.HeaderAttempts, subjects.HeaderFirstAttempt, subjects.HeaderLastAttempt, subjects.HeaderBreakerState,
	subjects.HeaderReplayOf,
}

// OriginalHeader returns the headers of an entry that the original
// request carried itself, leaving out JetStream's own headers, their
// Clay-Orig-* copies, the entry's failure headers and Clay-Replay-Of.
func OriginalHeader(h nats.Header) nats.Header {
	out := nats.Header{}
	for name, values := range h {
		if subjects.IsNatsHeader(name) || hasPrefixFold(name, subjects.HeaderOrigPrefix) || isEntryHeader(name) {
			continue
		}
		out[name] = append([]string(nil), values...)
	}
	return out
}

func isEntryHeader(name string) bool {
	for _, h := range entryHeaders {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
