package processor

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claybridge/claybridge/subjects"
)

// metrics are the processor's Prometheus collectors.
type metrics struct {
	requests        *prometheus.CounterVec
	clayCalls       *prometheus.HistogramVec
	dlqEntries      *prometheus.CounterVec
	duplicates      *prometheus.CounterVec
	submissions     prometheus.Counter
	lostClaims      prometheus.Counter
	unknownOutcomes prometheus.Counter
	retries         prometheus.Counter
	breakerState    *prometheus.GaugeVec
	holds           *prometheus.GaugeVec
	rateTokens      *prometheus.GaugeVec
	fallbacks       *prometheus.CounterVec
	batchSize       *prometheus.HistogramVec
	awaited         *prometheus.CounterVec

	consumerPending    *prometheus.GaugeVec
	consumerAckPending *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claybridge_requests_total",
			Help: "Request deliveries settled, by priority, operation and outcome (ok, retried, dead_lettered, requeued, parked, cache, fallback, awaiting).",
		}, []string{"priority", "operation", "outcome"}),
		clayCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claybridge_clay_call_seconds",
			Help:    "Duration of Clay calls by operation and result (ok or error), in seconds.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"operation", "result"}),
		dlqEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claybridge_dlq_entries_total",
			Help: "DLQ entries written, by error class.",
		}, []string{"class"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claybridge_duplicates_suppressed_total",
			Help: "Duplicates suppressed, by layer: stream (a publish inside the duplicate window) or ledger (a key already done).",
		}, []string{"layer"}),
		submissions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claybridge_clay_submissions_total",
			Help: "Requests sent to Clay that create something there: webhook rows and routine runs.",
		}),
		lostClaims: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claybridge_lost_claims_total",
			Help: "Deliveries delayed because another owner held a live claim on the key.",
		}),
		unknownOutcomes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claybridge_unknown_outcomes_total",
			Help: "Requests that may have reached Clay without their answer being seen.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claybridge_retries_total",
			Help: "Requests negative-acked with a delay to be tried again.",
		}),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claybridge_breaker_state",
			Help: "Breaker state per Clay surface: 0 closed, 1 half-open, 2 open.",
		}, []string{"surface"}),
		holds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claybridge_holds",
			Help: "Active holds by scope (surface, table or workspace) and reason.",
		}, []string{"surface", "reason"}),
		rateTokens: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claybridge_rate_tokens",
			Help: "Rate budget tokens available per Clay surface.",
		}, []string{"surface"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claybridge_fallback_answers_total",
			Help: "Requests answered from the fallback cache because Clay could not, by reason.",
		}, []string{"reason"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claybridge_batch_size",
			Help:    "Requests per Clay call by operation: rows per webhook POST, items per routine run.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100},
		}, []string{"operation"}),
		awaited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claybridge_awaited_total",
			Help: "Awaited requests ended, by kind (callback or routine) and outcome (result, dead_lettered, duplicate, unmatched).",
		}, []string{"kind", "outcome"}),
		consumerPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claybridge_consumer_pending",
			Help: "Requests not yet delivered, per consumer, as of the last heartbeat.",
		}, []string{"priority", "operation"}),
		consumerAckPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claybridge_consumer_ack_pending",
			Help: "Requests delivered and not yet acknowledged, per consumer, as of the last heartbeat.",
		}, []string{"priority", "operation"}),
	}
	for _, s := range surfaces {
		m.breakerState.WithLabelValues(s).Set(0)
		m.rateTokens.WithLabelValues(s).Set(0)
	}
	m.retries.Add(0)
	for _, layer := range []string{"stream", "ledger"} {
		m.duplicates.WithLabelValues(layer).Add(0)
	}
	for _, reason := range holdReasons {
		m.fallbacks.WithLabelValues(reason).Add(0)
	}
	m.fallbacks.WithLabelValues(string(subjects.ClassRetriesExhausted)).Add(0)
	m.setHolds(nil)
	for _, c := range []prometheus.Collector{m.requests, m.clayCalls, m.dlqEntries, m.duplicates, m.submissions, m.lostClaims, m.unknownOutcomes,
		m.retries, m.breakerState, m.holds, m.rateTokens, m.fallbacks, m.batchSize, m.awaited, m.consumerPending, m.consumerAckPending} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) countRequest(j *job, outcome string) {
	m.requests.WithLabelValues(string(j.c.priority), string(j.c.operation), outcome).Inc()
}

func (m *metrics) observeCall(op subjects.Operation, err error, elapsed time.Duration) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.clayCalls.WithLabelValues(string(op), result).Observe(elapsed.Seconds())
}

func (m *metrics) countDeadLetter(class subjects.ErrorClass) {
	m.dlqEntries.WithLabelValues(string(class)).Inc()
}

var breakerGaugeValues = map[string]float64{stateClosed: 0, stateHalfOpen: 1, stateOpen: 2}

func (m *metrics) setBreaker(surface, state string) {
	m.breakerState.WithLabelValues(surface).Set(breakerGaugeValues[state])
}

// holdReasons lists every reason a hold can have.
var holdReasons = []string{reasonBreakerOpen, reasonUnauthorized, reasonPaymentRequired, reasonRetryAfter}

// setHolds replaces the holds gauge with the active holds; the surfaces
// and the workspace always have a series, at 0 when not held.
func (m *metrics) setHolds(holds []subjects.Hold) {
	m.holds.Reset()
	for _, scope := range append(surfaces[:len(surfaces):len(surfaces)], scopeWorkspace) {
		for _, reason := range holdReasons {
			m.holds.WithLabelValues(scope, reason).Set(0)
		}
	}
	for _, h := range holds {
		m.holds.WithLabelValues(h.Scope, h.Reason).Inc()
	}
}
