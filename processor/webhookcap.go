package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// Clay accepts this many submissions per webhook source over its
// lifetime; deleting rows does not reset the count.
const DefaultWebhookCap = 50_000

// DefaultWebhookWarnRatio is the share of the cap at which the heartbeat
// turns degraded.
const DefaultWebhookWarnRatio = 0.9

// submissionCounter counts rows pushed per table and adds them to the
// shared counts in CLAY_CONTROL, so every replica sees how much of each
// webhook source's lifetime cap is spent. Counts are flushed with each
// heartbeat: a crash loses at most one interval's rows.
type submissionCounter struct {
	mu      sync.Mutex
	pending map[string]int64
	totals  map[string]int64
}

func newSubmissionCounter() *submissionCounter {
	return &submissionCounter{pending: map[string]int64{}, totals: map[string]int64{}}
}

func (s *submissionCounter) add(table string, rows int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending[table] += int64(rows)
}

// controlKey is the CLAY_CONTROL key of a table's submission count.
func controlKey(table string) string {
	return "webhook_submissions." + subjects.HashKey(table)[:16]
}

// flush adds the pending counts to CLAY_CONTROL by compare-and-set and
// returns every known table's total.
func (s *submissionCounter) flush(ctx context.Context, kv jetstream.KeyValue) (map[string]int64, error) {
	s.mu.Lock()
	pending := s.pending
	s.pending = map[string]int64{}
	s.mu.Unlock()
	var errs []error
	for table, n := range pending {
		total, err := addCount(ctx, kv, controlKey(table), n)
		if err != nil {
			s.add(table, int(n))
			errs = append(errs, fmt.Errorf("count submissions of table %s: %w", table, err))
			continue
		}
		s.mu.Lock()
		s.totals[table] = total
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	totals := make(map[string]int64, len(s.totals))
	for table, n := range s.totals {
		totals[table] = n
	}
	return totals, errors.Join(errs...)
}

// addCount adds n to a counter key, retrying when another replica wrote
// it first.
func addCount(ctx context.Context, kv jetstream.KeyValue, key string, n int64) (int64, error) {
	for {
		entry, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			if _, err := kv.Create(ctx, key, []byte(strconv.FormatInt(n, 10))); err == nil {
				return n, nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		current, _ := strconv.ParseInt(string(entry.Value()), 10, 64)
		total := current + n
		_, err = kv.Update(ctx, key, []byte(strconv.FormatInt(total, 10)), entry.Revision())
		if err == nil {
			return total, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, err
		}
	}
}
