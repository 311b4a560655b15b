package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/internal/scan"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// Found is the kind of record Find found for a key.
type Found int

// What Find can find.
const (
	// NotFound: neither the ledger nor the streams hold the key.
	NotFound Found = iota
	// Pending: the ledger has the key claimed or sent, with no outcome
	// yet.
	Pending
	// FoundResult: the key ended in a result.
	FoundResult
	// FoundDLQ: the key ended in the DLQ.
	FoundDLQ
)

// Lookup is the outcome of a key's lookup.
type Lookup struct {
	Found Found
	// Outcome is the result or DLQ entry. When the ledger has the key
	// dead-lettered but its entry is gone (replayed or purged), Outcome
	// carries only the class, in Clay-Error-Class.
	Outcome Outcome
	// Record is the key's ledger record, nil when it has none.
	Record *ledger.Record
	// Source names where Outcome was read: SourceLedger, an Object Store
	// or a stream.
	Source string
}

// SourceLedger is Lookup.Source for an outcome read from the ledger.
const SourceLedger = "ledger"

// ErrRefNotFound is returned when the object a result's ref names is not
// in the Object Store, because it expired or was erased.
var ErrRefNotFound = errors.New("result data not found in the Object Store")

// Find returns what the ledger holds for key and, when it holds nothing,
// the last result or DLQ entry of key in the streams. Reading the streams
// scans their headers; progress, when set, is called as in scan.Config.
func Find(ctx context.Context, js jetstream.JetStream, key string, progress func(read, left uint64)) (Lookup, error) {
	lk, err := FindInLedger(ctx, js, key)
	if err != nil || lk.Found != NotFound {
		return lk, err
	}
	out, found, err := lastResult(ctx, js, key, progress)
	if err != nil {
		return lk, err
	}
	if found {
		return Lookup{Found: FoundResult, Outcome: out, Source: subjects.StreamResults}, nil
	}
	entries, err := dlq.List(ctx, js, dlq.Filter{Keys: []string{key}}, dlq.ListConfig{Progress: progress})
	if err != nil || len(entries) == 0 {
		return lk, err
	}
	return Lookup{Found: FoundDLQ, Outcome: entryOutcome(&entries[len(entries)-1]), Source: subjects.StreamDLQ}, nil
}

// FindInLedger returns what the ledger holds for key: nothing, a pending
// state, or how the key ended. For a key that ended in the DLQ it reads
// the entry from the DLQ stream. A record of a result without its body
// counts as nothing, so that Find reads the result from its stream.
func FindInLedger(ctx context.Context, js jetstream.JetStream, key string) (Lookup, error) {
	kv, err := js.KeyValue(ctx, subjects.BucketLedger)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return Lookup{}, nil
	}
	if err != nil {
		return Lookup{}, fmt.Errorf("open bucket %s: %w", subjects.BucketLedger, err)
	}
	rec, _, err := ledger.New(kv, ledger.Config{}).Get(ctx, key)
	if err != nil || rec == nil {
		return Lookup{}, err
	}
	lk := Lookup{Found: Pending, Record: rec}
	switch {
	case rec.State != ledger.Done:
		return lk, nil
	case rec.DeadLettered != "":
		return deadLettered(ctx, js, rec)
	case rec.Result != nil:
		lk.Found, lk.Source = FoundResult, SourceLedger
		lk.Outcome = Outcome{Kind: KindResult, Key: key, Subject: subjects.ResultSubject(rec.Priority, rec.Operation),
			Header: nats.Header(rec.ResultHeader), Data: rec.Result}
		return lk, nil
	}
	return Lookup{Record: rec}, nil
}

// deadLettered returns the DLQ entry of a key the ledger has as
// dead-lettered, or the class alone when the entry is gone.
func deadLettered(ctx context.Context, js jetstream.JetStream, rec *ledger.Record) (Lookup, error) {
	lk := Lookup{Found: FoundDLQ, Record: rec}
	filter := dlq.Filter{Priority: rec.Priority, Operation: rec.Operation, Keys: []string{rec.Key}}
	entries, err := dlq.List(ctx, js, filter, dlq.ListConfig{})
	if err != nil {
		return lk, err
	}
	if len(entries) > 0 {
		lk.Outcome, lk.Source = entryOutcome(&entries[len(entries)-1]), subjects.StreamDLQ
		return lk, nil
	}
	lk.Source = SourceLedger
	lk.Outcome = Outcome{Kind: KindDLQ, Key: rec.Key, Subject: subjects.DLQSubject(rec.Priority, rec.Operation),
		Header: nats.Header{subjects.HeaderErrorClass: {string(rec.DeadLettered)}}}
	return lk, nil
}

// ReadRef returns the result data that a result's ref names:
// "<Object Store>/<object name>". It returns ErrRefNotFound when the
// Object Store or the object is gone.
func ReadRef(ctx context.Context, js jetstream.JetStream, ref string) ([]byte, error) {
	bucket, name, ok := strings.Cut(ref, "/")
	if !ok || bucket == "" || name == "" {
		return nil, fmt.Errorf("invalid result ref %q: want <Object Store>/<object name>", ref)
	}
	store, err := js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: no Object Store %s", ErrRefNotFound, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("open Object Store %s: %w", bucket, err)
	}
	data, err := store.GetBytes(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("%w: no object %s in %s", ErrRefNotFound, name, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("read object %s from %s: %w", name, bucket, err)
	}
	return data, nil
}

// lastResult scans CLAY_RESULTS for the last result of key and reads it
// whole.
func lastResult(ctx context.Context, js jetstream.JetStream, key string, progress func(read, left uint64)) (Outcome, bool, error) {
	var seq uint64
	cfg := scan.Config{Stream: subjects.StreamResults, Filters: []string{subjects.ResultsAll}, HeadersOnly: true, Progress: progress}
	err := scan.Stream(ctx, js, cfg, func(msg jetstream.Msg) error {
		if msg.Headers().Get(subjects.HeaderRequestKey) == key {
			meta, err := msg.Metadata()
			if err != nil {
				return err
			}
			seq = meta.Sequence.Stream
		}
		return nil
	})
	if err != nil || seq == 0 {
		return Outcome{}, false, err
	}
	stream, err := scan.OpenStream(ctx, js, subjects.StreamResults)
	if err != nil {
		return Outcome{}, false, err
	}
	raw, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		// Deleted since the scan, as forget does.
		return Outcome{}, false, nil
	}
	if err != nil {
		return Outcome{}, false, fmt.Errorf("read sequence %d of %s: %w", seq, subjects.StreamResults, err)
	}
	return Outcome{Kind: KindResult, Key: key, Subject: raw.Subject, Sequence: raw.Sequence, Header: raw.Header, Data: raw.Data}, true, nil
}

func entryOutcome(e *dlq.Entry) Outcome {
	return Outcome{Kind: KindDLQ, Key: e.Key, Subject: e.Subject, Sequence: e.Sequence, Header: e.Header, Data: e.Data}
}
