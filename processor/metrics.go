package processor

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claybridge/claybridge/subjects"
)

// metrics are the processor's Prometheus collectors.
type metrics struct {
	requests           *prometheus.CounterVec
	clayCalls          *prometheus.HistogramVec
	dlqEntries         *prometheus.CounterVec
	duplicatePublishes prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claybridge_requests_total",
			Help: "Request deliveries settled, by priority, operation and outcome (ok, retried, dead_lettered, requeued).",
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
		duplicatePublishes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claybridge_duplicate_publishes_total",
			Help: "Publishes the stream dropped as duplicates of a stored message.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.clayCalls, m.dlqEntries, m.duplicatePublishes} {
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
