package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/scan"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// A replayed or resubmitted request never reuses its key, because the
// ledger has that key done and would only acknowledge it. It gets a derived
// key instead: its root key followed by "~r" and a number, such as
// lead-7~r1, then lead-7~r2 for the next one. Replaying lead-7~r1 again
// gives lead-7~r2, so keys do not grow; Clay-Replay-Of names the key that
// was replayed.
const replaySeparator = "~r"

// maxReplays bounds the derived keys tried for one root key.
const maxReplays = 1000

// ErrTooManyReplays is returned when every derived key of a root is used.
var ErrTooManyReplays = errors.New("too many replays of one key")

// RootKey returns key without its replay suffix: "lead-7~r2" gives
// "lead-7". A key without a suffix is its own root.
func RootKey(key string) string {
	i := strings.LastIndex(key, replaySeparator)
	if i <= 0 {
		return key
	}
	n, err := strconv.Atoi(key[i+len(replaySeparator):])
	if err != nil || n < 1 || strconv.Itoa(n) != key[i+len(replaySeparator):] {
		return key
	}
	return key[:i]
}

// ReplayKey returns the n-th derived key of root.
func ReplayKey(root string, n int) string {
	return root + replaySeparator + strconv.Itoa(n)
}

// ReservationKey is the CLAY_LEDGER key that reserves a derived key for
// one replay or resubmission, beside the key's ledger record and attempt
// history. The bucket's maximum age removes it.
func ReservationKey(key string) string { return ledger.KVKey(key) + ".replay" }

// reservation is the value stored under ReservationKey.
type reservation struct {
	// Owner is an opaque id of the replay that reserved the key: the hash
	// of a DLQ entry's identity, or a random id for a resubmission.
	Owner    string    `json:"owner"`
	Reserved time.Time `json:"reserved"`
}

// Reservation is a derived key held by one owner.
type Reservation struct {
	Key string
	// Resumed is true when the owner had reserved Key before: an earlier
	// replay of the same entry stopped after reserving it, before or after
	// publishing it.
	Resumed bool
}

// Lineage finds unused derived keys and reserves them.
type Lineage struct {
	kv     jetstream.KeyValue
	ledger *ledger.Ledger
	// used holds the derived keys of the roots asked for that have a
	// result or DLQ entry stored.
	used map[string]bool
}

// OpenLineage opens the ledger and collects the derived keys of roots that
// have a result or DLQ entry stored now. Reserve skips those keys too,
// because their ledger record may have expired before their result or DLQ
// entry did. Progress, when set, is called as in scan.Config.
func OpenLineage(ctx context.Context, js jetstream.JetStream, roots []string, progress func(read, left uint64)) (*Lineage, error) {
	kv, err := js.KeyValue(ctx, subjects.BucketLedger)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", subjects.BucketLedger, err)
	}
	l := &Lineage{kv: kv, ledger: ledger.New(kv, ledger.Config{}), used: map[string]bool{}}
	rootSet := map[string]bool{}
	for _, root := range roots {
		rootSet[RootKey(root)] = true
	}
	for _, src := range []struct{ stream, filter string }{
		{subjects.StreamResults, subjects.ResultsAll},
		{subjects.StreamDLQ, subjects.DLQEntries},
	} {
		cfg := scan.Config{Stream: src.stream, Filters: []string{src.filter}, HeadersOnly: true, Progress: progress}
		err := scan.Stream(ctx, js, cfg, func(msg jetstream.Msg) error {
			key := msg.Headers().Get(subjects.HeaderRequestKey)
			if root := RootKey(key); root != key && rootSet[root] {
				l.used[key] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Used reports whether key has a ledger record, a result or a DLQ entry.
func (l *Lineage) Used(ctx context.Context, key string) (bool, error) {
	if l.used[key] {
		return true, nil
	}
	rec, _, err := l.ledger.Get(ctx, key)
	if err != nil {
		return false, err
	}
	return rec != nil, nil
}

// markUsed records that key is used although Used did not know it, such
// as a key the request stream already held.
func (l *Lineage) markUsed(key string) { l.used[key] = true }

// Reserve returns the derived key of root that owner holds, or reserves
// the first unused one for owner. Two replays of the same DLQ entry pass
// the same owner and so get the same key, even when they run at once,
// because a reservation is taken by atomic create.
func (l *Lineage) Reserve(ctx context.Context, root, owner string) (Reservation, error) {
	return l.next(ctx, RootKey(root), owner, true)
}

// Peek returns what Reserve would return, without reserving anything.
func (l *Lineage) Peek(ctx context.Context, root, owner string) (Reservation, error) {
	return l.next(ctx, RootKey(root), owner, false)
}

func (l *Lineage) next(ctx context.Context, root, owner string, reserve bool) (Reservation, error) {
	for n := 1; n <= maxReplays; n++ {
		key := ReplayKey(root, n)
		holder, err := l.holder(ctx, key)
		if err != nil {
			return Reservation{}, err
		}
		if holder == owner {
			return Reservation{Key: key, Resumed: true}, nil
		}
		if holder != "" {
			continue
		}
		used, err := l.Used(ctx, key)
		if err != nil {
			return Reservation{}, err
		}
		if used {
			continue
		}
		if !reserve {
			return Reservation{Key: key}, nil
		}
		reservedByOther, err := l.create(ctx, key, owner)
		if err != nil {
			return Reservation{}, err
		}
		if !reservedByOther {
			return Reservation{Key: key}, nil
		}
		// Another replay reserved it first, maybe one of the same entry.
		if holder, err = l.holder(ctx, key); err != nil {
			return Reservation{}, err
		}
		if holder == owner {
			return Reservation{Key: key, Resumed: true}, nil
		}
	}
	return Reservation{}, fmt.Errorf("%w: %s~r1 to %s are all used", ErrTooManyReplays, root, ReplayKey(root, maxReplays))
}

// holder returns the owner of key's reservation, or "" when there is none.
func (l *Lineage) holder(ctx context.Context, key string) (string, error) {
	entry, err := l.kv.Get(ctx, ReservationKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read reservation of %s: %w", key, err)
	}
	var r reservation
	if err := json.Unmarshal(entry.Value(), &r); err != nil || r.Owner == "" {
		// Unreadable: count the key as reserved by someone else.
		return "unknown", nil
	}
	return r.Owner, nil
}

// create reserves key for owner. It returns true when another reservation
// exists.
func (l *Lineage) create(ctx context.Context, key, owner string) (bool, error) {
	data, err := json.Marshal(reservation{Owner: owner, Reserved: time.Now().UTC()})
	if err != nil {
		return false, err
	}
	_, err = l.kv.Create(ctx, ReservationKey(key), data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reserve %s: %w", key, err)
	}
	return false, nil
}

// disownedOwner marks a reservation of a key that turned out to be used
// by a publisher that does not reserve keys.
const disownedOwner = "used-elsewhere"

// disown gives up a reservation because the key turned out to be used, so
// that no replay takes it again.
func (l *Lineage) disown(ctx context.Context, key string) error {
	data, err := json.Marshal(reservation{Owner: disownedOwner, Reserved: time.Now().UTC()})
	if err != nil {
		return err
	}
	if _, err := l.kv.Put(ctx, ReservationKey(key), data); err != nil {
		return fmt.Errorf("give up reservation of %s: %w", key, err)
	}
	l.markUsed(key)
	return nil
}
