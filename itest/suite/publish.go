package suite

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

const (
	// publishers is the number of goroutines publishing at once.
	publishers = 4
	// publishTimeout bounds one publish attempt.
	publishTimeout = 5 * time.Second
	// publishAttempts bounds the attempts of one request. A retry sends
	// the same Nats-Msg-Id, so a first attempt that was stored after all
	// is dropped by the stream as a duplicate.
	publishAttempts = 20
)

// publishStats counts what publishing did.
type publishStats struct {
	mu         sync.Mutex
	retries    int
	duplicates int
	failed     []string
}

// publishAll publishes reqs in order, at rate per second when rate is
// positive, and returns when each was acknowledged or gave up, or ctx
// ended.
func publishAll(ctx context.Context, js jetstream.JetStream, reqs []Request, rate float64) *publishStats {
	stats := &publishStats{}
	queue := make(chan Request)
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for r := range queue {
				publishOne(ctx, js, r, stats)
			}
		})
	}
	var tick <-chan time.Time
	if rate > 0 {
		ticker := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer ticker.Stop()
		tick = ticker.C
	}
feed:
	for _, r := range reqs {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case queue <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	return stats
}

func publishOne(ctx context.Context, js jetstream.JetStream, r Request, stats *publishStats) {
	msg := nats.NewMsg(subjects.RequestSubject(r.Priority, r.Operation))
	msg.Data = r.Body
	msg.Header.Set(subjects.HeaderMsgID, r.Key)
	var lastErr error
	for attempt := range publishAttempts {
		if attempt > 0 {
			stats.count(func() { stats.retries++ })
			select {
			case <-time.After(250 * time.Millisecond):
			case <-ctx.Done():
				stats.fail(r.Key, ctx.Err())
				return
			}
		}
		attemptCtx, cancel := context.WithTimeout(ctx, publishTimeout)
		ack, err := js.PublishMsg(attemptCtx, msg)
		cancel()
		if err == nil {
			if ack.Duplicate {
				stats.count(func() { stats.duplicates++ })
			}
			return
		}
		lastErr = err
	}
	stats.fail(r.Key, lastErr)
}

func (s *publishStats) count(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *publishStats) fail(key string, err error) {
	s.count(func() { s.failed = append(s.failed, fmt.Sprintf("%s: %v", key, err)) })
}
