package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// arrival is a result seen by a watcher.
type arrival struct {
	at     time.Time
	status string
	// clay is the Clay time the result reports, at millisecond resolution.
	clay time.Duration
}

// watcher records the results published on a subject. A plain
// subscription receives each one as the stream stores it, without a
// consumer of its own.
type watcher struct {
	sub *nats.Subscription

	mu      sync.Mutex
	byKey   map[string]arrival
	times   []time.Time
	waiting map[string]chan struct{}
}

// watch subscribes to subject, which carries results keyed by the
// Clay-Request-Key header.
func watch(nc *nats.Conn, subject string) (*watcher, error) {
	w := &watcher{byKey: map[string]arrival{}, waiting: map[string]chan struct{}{}}
	sub, err := nc.Subscribe(subject, w.handle)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	// A slow handler must not drop results: no pending limit.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, err
	}
	w.sub = sub
	return w, nil
}

// resultSummary is the part of a result body the watcher reads.
type resultSummary struct {
	Status        string `json:"status"`
	ClayLatencyMS int64  `json:"clay_latency_ms"`
}

func (w *watcher) handle(msg *nats.Msg) {
	at := time.Now()
	key := msg.Header.Get(subjects.HeaderRequestKey)
	var summary resultSummary
	_ = json.Unmarshal(msg.Data, &summary)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, seen := w.byKey[key]; seen {
		return
	}
	w.byKey[key] = arrival{at: at, status: summary.Status, clay: time.Duration(summary.ClayLatencyMS) * time.Millisecond}
	w.times = append(w.times, at)
	if ch, ok := w.waiting[key]; ok {
		close(ch)
		delete(w.waiting, key)
	}
}

func (w *watcher) stop() { _ = w.sub.Unsubscribe() }

// count returns the number of distinct keys seen.
func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.times)
}

// arrivals returns the arrival times of distinct keys in order.
func (w *watcher) arrivals() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.times)
}

// wait returns the result of key once it arrives.
func (w *watcher) wait(ctx context.Context, key string) (arrival, error) {
	w.mu.Lock()
	if a, ok := w.byKey[key]; ok {
		w.mu.Unlock()
		return a, nil
	}
	ch, ok := w.waiting[key]
	if !ok {
		ch = make(chan struct{})
		w.waiting[key] = ch
	}
	w.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return arrival{}, fmt.Errorf("no result for key %s: %w", key, ctx.Err())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.byKey[key], nil
}

// waitCount waits until n distinct keys have arrived or timeout passes.
// The arrival times, not the moment this returns, are what cases measure.
func (w *watcher) waitCount(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for w.count() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %s with %d of %d results", errTimeout, timeout, w.count(), n)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sleep(ctx, 10*time.Millisecond)
	}
	return nil
}

// drainRate returns the requests per second between the first and the
// n-th result, which leaves the start-up out.
func drainRate(times []time.Time, n int) float64 {
	if n < 2 || len(times) < n {
		return 0
	}
	return float64(n-1) / times[n-1].Sub(times[0]).Seconds()
}

// publishWindow bounds the asynchronous publishes awaiting their ack.
const publishWindow = 512

// publishBacklog publishes n messages built by build and checks every
// acknowledgement.
func publishBacklog(ctx context.Context, js jetstream.JetStream, n int, build func(i int) *nats.Msg) error {
	pending := make([]jetstream.PubAckFuture, 0, publishWindow)
	for i := range n {
		f, err := js.PublishMsgAsync(build(i))
		if err != nil {
			return fmt.Errorf("publish backlog message %d: %w", i, err)
		}
		pending = append(pending, f)
		if len(pending) == publishWindow || i == n-1 {
			if err := awaitAcks(ctx, pending); err != nil {
				return err
			}
			pending = pending[:0]
		}
	}
	return nil
}

func awaitAcks(ctx context.Context, futures []jetstream.PubAckFuture) error {
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish on %s: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// sample is one request's publish-to-result time and the part of it
// spent in Clay.
type sample struct {
	total time.Duration
	clay  time.Duration
	// status is the result's status, "ok" or "fallback".
	status string
}

// sendFunc publishes the i-th measured request and returns its key.
type sendFunc func(ctx context.Context, i int) (string, error)

// measure sends n requests through lanes closed loops, each waiting for
// its request's result before sending the next, and returns each one's
// times. Clay's part comes from clayTime when it has the key, else from
// the result's clay_latency_ms.
func measure(ctx context.Context, w *watcher, lanes, n int, send sendFunc,
	clayTime func(key string) (time.Duration, bool)) ([]sample, error) {
	samples := make([]sample, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	errs := make(chan error, lanes)
	var wg sync.WaitGroup
	for range lanes {
		wg.Go(func() {
			for i := range next {
				s, err := measureOne(ctx, w, i, send, clayTime)
				if err != nil {
					errs <- err
					return
				}
				samples[i] = s
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return samples, nil
}

// resultTimeout bounds the wait for one measured request's result.
const resultTimeout = 60 * time.Second

func measureOne(ctx context.Context, w *watcher, i int, send sendFunc,
	clayTime func(string) (time.Duration, bool)) (sample, error) {
	start := time.Now()
	key, err := send(ctx, i)
	if err != nil {
		return sample{}, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, resultTimeout)
	defer cancel()
	a, err := w.wait(waitCtx, key)
	if err != nil {
		return sample{}, err
	}
	s := sample{total: a.at.Sub(start), clay: a.clay, status: a.status}
	if d, ok := clayTime(key); ok {
		s.clay = d
	}
	return s, nil
}

// percentileMS returns the p-th percentile (nearest rank) of values, in
// milliseconds.
func percentileMS(values []time.Duration, p float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	rank = min(max(rank, 0), len(sorted)-1)
	return float64(sorted[rank]) / float64(time.Millisecond)
}

// outside returns each sample's time outside Clay.
func outside(samples []sample) []time.Duration {
	out := make([]time.Duration, len(samples))
	for i, s := range samples {
		out[i] = max(s.total-s.clay, 0)
	}
	return out
}

// totals returns each sample's publish-to-result time.
func totals(samples []sample) []time.Duration {
	out := make([]time.Duration, len(samples))
	for i, s := range samples {
		out[i] = s.total
	}
	return out
}
