package processor

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/eapache/go-resiliency/breaker"

	"github.com/claybridge/claybridge/clay"
)

// Clay surfaces: each has its own breaker, rate budget and holds.
const (
	surfaceWebhook   = clay.SurfaceWebhook
	surfacePublicAPI = clay.SurfacePublicAPI
)

var surfaces = []string{surfaceWebhook, surfacePublicAPI}

// Breaker states as reported in logs, heartbeats and DLQ entries.
const (
	stateClosed   = "closed"
	stateOpen     = "open"
	stateHalfOpen = "half_open"
)

// surfaceBreaker wraps a go-resiliency breaker. The library counts every
// error its function returns and lets every caller through while
// half-open, so it serves only as the state machine: calls run outside
// it, admission lets one probe through while half-open, and only outcomes
// that say Clay is unhealthy are recorded as failures.
type surfaceBreaker struct {
	b *breaker.Breaker

	mu        sync.Mutex
	lastState string
}

func newSurfaceBreaker(failures, successes int, openTimeout time.Duration) *surfaceBreaker {
	return &surfaceBreaker{b: breaker.New(failures, successes, openTimeout), lastState: stateClosed}
}

func (sb *surfaceBreaker) state() string {
	switch sb.b.GetState() {
	case breaker.Open:
		return stateOpen
	case breaker.HalfOpen:
		return stateHalfOpen
	default:
		return stateClosed
	}
}

// record feeds one outcome to the breaker: a failure for an unhealthy
// outcome, a success for nil, nothing for a neutral one. It returns the
// previous and the new state when they differ.
func (sb *surfaceBreaker) record(err error) (from, to string, changed bool) {
	switch {
	case err == nil:
		_ = sb.b.Run(func() error { return nil })
	case unhealthy(err):
		_ = sb.b.Run(func() error { return err })
	}
	return sb.transition()
}

// transition reports a state change since the last call, including the
// library's own move from open to half-open.
func (sb *surfaceBreaker) transition() (from, to string, changed bool) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	now := sb.state()
	if now == sb.lastState {
		return now, now, false
	}
	from, sb.lastState = sb.lastState, now
	return from, now, true
}

// unhealthy reports whether an outcome says Clay itself is failing:
// transport errors, timeouts on Clay's side, 408 and 5xx. Cancellation,
// shutdown, 429 and 4xx about one request are neutral.
func unhealthy(err error) bool {
	if errors.Is(err, errClayTimeout) {
		return true
	}
	var clayErr *clay.Error
	if !errors.As(err, &clayErr) || clayErr.Kind != clay.KindTransient {
		return false
	}
	return clayErr.Status == 0 || clayErr.Status == http.StatusRequestTimeout || clayErr.Status >= 500
}
