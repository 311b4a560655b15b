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
	r := &registrar{reg: reg}
	m := &metrics{
		requests: r.counterVec("claybridge_requests_total",
			"Request deliveries settled, by priority, operation and outcome (ok, retried, dead_lettered, requeued, parked, cache, fallback, awaiting).",
			"priority", "operation", "outcome"),
		clayCalls: r.histogramVec("claybridge_clay_call_seconds",
			"Duration of Clay calls by operation and result (ok or error), in seconds.",
			[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
			"operation", "result"),
		dlqEntries: r.counterVec("claybridge_dlq_entries_total",
			"DLQ entries written, by error class.",
			"class"),
		duplicates: r.counterVec("claybridge_duplicates_suppressed_total",
			"Duplicates suppressed, by layer: stream (a publish inside the duplicate window) or ledger (a key already done).",
			"layer"),
		submissions: r.counter("claybridge_clay_submissions_total",
			"Requests sent to Clay that create something there: webhook rows and routine runs."),
		lostClaims: r.counter("claybridge_lost_claims_total",
			"Deliveries delayed because another owner held a live claim on the key."),
		unknownOutcomes: r.counter("claybridge_unknown_outcomes_total",
			"Requests that may have reached Clay without their answer being seen."),
		retries: r.counter("claybridge_retries_total",
			"Requests negative-acked with a delay to be tried again."),
		breakerState: r.gaugeVec("claybridge_breaker_state",
			"Breaker state per Clay surface: 0 closed, 1 half-open, 2 open.",
			"surface"),
		holds: r.gaugeVec("claybridge_holds",
			"Active holds by scope (surface, table or workspace) and reason.",
			"surface", "reason"),
		rateTokens: r.gaugeVec("claybridge_rate_tokens",
			"Rate budget tokens available per Clay surface.",
			"surface"),
		fallbacks: r.counterVec("claybridge_fallback_answers_total",
			"Requests answered from the fallback cache because Clay could not, by reason.",
			"reason"),
		batchSize: r.histogramVec("claybridge_batch_size",
			"Requests per Clay call by operation: rows per webhook POST, items per routine run.",
			[]float64{1, 2, 5, 10, 25, 50, 100},
			"operation"),
		awaited: r.counterVec("claybridge_awaited_total",
			"Awaited requests ended, by kind (callback or routine) and outcome (result, dead_lettered, duplicate, unmatched).",
			"kind", "outcome"),
		consumerPending: r.gaugeVec("claybridge_consumer_pending",
			"Requests not yet delivered, per consumer, as of the last heartbeat.",
			"priority", "operation"),
		consumerAckPending: r.gaugeVec("claybridge_consumer_ack_pending",
			"Requests delivered and not yet acknowledged, per consumer, as of the last heartbeat.",
			"priority", "operation"),
	}
	if r.err != nil {
		return nil, r.err
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
	return m, nil
}

// registrar creates collectors and registers each with reg. After the
// first registration error it registers nothing more and keeps that error
// in err.
type registrar struct {
	reg prometheus.Registerer
	err error
}

func (r *registrar) register(c prometheus.Collector) {
	if r.err != nil {
		return
	}
	if err := r.reg.Register(c); err != nil {
		r.err = fmt.Errorf("register metrics: %w", err)
	}
}

func (r *registrar) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	r.register(c)
	return c
}

func (r *registrar) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.register(c)
	return c
}

func (r *registrar) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	r.register(g)
	return g
}

func (r *registrar) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	r.register(h)
	return h
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
