// Package ledger records, for each request key, whether claybridge has
// claimed it, sent it to Clay or finished it, in JetStream KV. It is what
// keeps a key from reaching Clay twice: a redelivery after a crash, a
// second replica handed the same message, or a caller resending an hour
// later all find the key's record first. Records are taken with an atomic
// create and changed only by compare-and-set.
package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// State is the stage a key has reached.
type State string

// The states of a key, in order.
const (
	// Claimed: an owner is working on the key and has not sent it yet.
	Claimed State = "claimed"
	// Sent: the request may have left for Clay; its answer is not known.
	Sent State = "sent"
	// Done: the key ended in a result or a DLQ entry.
	Done State = "done"
)

// Record is a key's entry in the ledger.
type Record struct {
	Key       string             `json:"key"`
	State     State              `json:"state"`
	Owner     string             `json:"owner"`
	Lease     time.Time          `json:"lease_until"`
	Operation subjects.Operation `json:"operation"`
	Priority  subjects.Priority  `json:"priority"`
	Updated   time.Time          `json:"updated"`
	// Result is the result body, set when the key ended in a result. It is
	// absent when ResultRef names an Object Store object instead.
	Result json.RawMessage `json:"result,omitempty"`
	// ResultRef names the Object Store object holding a large result.
	ResultRef string `json:"result_ref,omitempty"`
	// Published is set once the result is stored in CLAY_RESULTS. A done
	// record without it is published again by the next delivery.
	Published bool `json:"published,omitempty"`
	// ResultHeader holds the result's correlation headers, for a
	// republish.
	ResultHeader map[string][]string `json:"result_header,omitempty"`
	// CacheKey is the key's fallback cache key, when its answers are
	// cached, so erasing the key can erase them too.
	CacheKey string `json:"cache_key,omitempty"`
	// DeadLettered is the error class when the key ended in the DLQ.
	DeadLettered subjects.ErrorClass `json:"dead_lettered,omitempty"`
}

// Live reports whether the record's lease has not expired at now.
func (r *Record) Live(now time.Time) bool { return now.Before(r.Lease) }

// ErrUnavailable wraps every failure to read or write the ledger. While
// it is unavailable, Clay is not called.
var ErrUnavailable = errors.New("ledger unavailable")

// ErrLost means another owner changed the record since it was read.
var ErrLost = errors.New("ledger record changed by another owner")

// Ledger reads and writes records in the CLAY_LEDGER bucket.
type Ledger struct {
	kv    jetstream.KeyValue
	owner string
	lease time.Duration
	now   func() time.Time
}

// Config configures a Ledger.
type Config struct {
	// Owner names this instance in records.
	Owner string
	// Lease is how long a claim lasts unless renewed, default 30 s.
	Lease time.Duration
	// Now is the clock, default time.Now.
	Now func() time.Time
}

// DefaultLease is the default claim lease.
const DefaultLease = 30 * time.Second

// Open returns the ledger in the CLAY_LEDGER bucket.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Ledger, error) {
	kv, err := js.KeyValue(ctx, subjects.BucketLedger)
	if err != nil {
		return nil, fmt.Errorf("%w: open bucket %s: %v", ErrUnavailable, subjects.BucketLedger, err)
	}
	return New(kv, cfg), nil
}

// New returns a ledger on kv.
func New(kv jetstream.KeyValue, cfg Config) *Ledger {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Ledger{kv: kv, owner: cfg.Owner, lease: cfg.Lease, now: cfg.Now}
}

// KVKey is the bucket key of a request key: its hex SHA-256.
func KVKey(key string) string { return subjects.HashKey(key) }

// Get returns a key's record and its revision, or nil when there is none.
func (l *Ledger) Get(ctx context.Context, key string) (*Record, uint64, error) {
	entry, err := l.kv.Get(ctx, KVKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: read %s: %v", ErrUnavailable, key, err)
	}
	var rec Record
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		return nil, 0, fmt.Errorf("%w: record of %s is not JSON: %v", ErrUnavailable, key, err)
	}
	return &rec, entry.Revision(), nil
}

// Forget deletes a key's record and its attempt history.
func (l *Ledger) Forget(ctx context.Context, key string) error {
	for _, k := range []string{KVKey(key), AttemptsKey(key)} {
		if err := l.kv.Purge(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("%w: forget %s: %v", ErrUnavailable, key, err)
		}
	}
	return nil
}

// AttemptsKey is the bucket key of a request's failed attempts.
func AttemptsKey(key string) string { return KVKey(key) + ".attempts" }
