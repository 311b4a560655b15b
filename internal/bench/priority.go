package bench

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// The priority case's simulator latency and closed loops. With no Clay
// latency the bulk workers would only compete for CPU, which shows
// nothing about how claybridge orders work.
const (
	priorityLatency = 50 * time.Millisecond
	priorityLanes   = 2
	priorityWarmup  = 5
)

// PriorityDetails are the priority case's figures: the publish-to-result
// times of critical rows sent by closed loops, first with nothing else
// queued, then with a bulk backlog of rows, on one processor with the
// default worker pools and no rate limit.
type PriorityDetails struct {
	Operation     string  `json:"operation"`
	ClayLatencyMS float64 `json:"clay_latency_ms"`
	BulkBacklog   int     `json:"bulk_backlog"`
	Samples       int     `json:"samples"`
	Lanes         int     `json:"lanes"`
	IdleP50MS     float64 `json:"idle_p50_ms"`
	IdleP99MS     float64 `json:"idle_p99_ms"`
	BacklogP50MS  float64 `json:"backlog_p50_ms"`
	BacklogP99MS  float64 `json:"backlog_p99_ms"`
	// BulkResults counts bulk results published while the critical rows
	// were measured with the backlog, which shows the bulk pool was busy.
	BulkResults int `json:"bulk_results"`
}

func (b *bench) priority(ctx context.Context) error {
	env, err := b.startCase(ctx, CasePriority, simSettings{rateLimit: -1, latency: priorityLatency})
	if err != nil {
		return err
	}
	defer env.stop()

	cfg := processorConfig(nil, true)
	nc, js, err := b.setupLoad(ctx, env.natsURL, env.sim, cfg)
	if err != nil {
		return err
	}
	defer nc.Close()

	critical, err := watch(nc, subjects.ResultSubject(subjects.Critical, subjects.Row))
	if err != nil {
		return err
	}
	defer critical.stop()
	bulk, err := watch(nc, subjects.ResultSubject(subjects.Bulk, subjects.Row))
	if err != nil {
		return err
	}
	defer bulk.stop()

	proc, err := b.startProcessor(ctx, env.natsURL, env.sim, cfg)
	if err != nil {
		return err
	}
	defer proc.stop()
	return b.measurePriority(ctx, js, critical, bulk)
}

func (b *bench) measurePriority(ctx context.Context, js jetstream.JetStream, critical, bulk *watcher) error {
	s := b.cfg.Sizes
	// Both phases and the warm-up send through the same counter, so every
	// critical row has a key of its own.
	var sent atomic.Int64
	send := func(ctx context.Context, _ int) (string, error) {
		key := b.key("critical", int(sent.Add(1)))
		return publishRequest(ctx, js, requestMsg(subjects.Critical, subjects.Row, key, rowBody("bench-critical", key)))
	}

	noClay := func(string) (time.Duration, bool) { return 0, true }
	b.progress("priority: %d critical rows without a backlog", s.CriticalSamples)
	if _, err := measure(ctx, critical, 1, priorityWarmup, send, noClay); err != nil {
		return err
	}
	idle, err := measure(ctx, critical, priorityLanes, s.CriticalSamples, send, noClay)
	if err != nil {
		return err
	}

	b.progress("priority: bulk backlog of %d rows", s.BulkBacklog)
	err = publishBacklog(ctx, js, s.BulkBacklog, func(i int) *nats.Msg {
		key := b.key("bulk", i)
		return requestMsg(subjects.Bulk, subjects.Row, key, rowBody("bench-bulk", key))
	})
	if err != nil {
		return err
	}
	if err := bulk.waitCount(ctx, 1, time.Minute); err != nil {
		return err
	}

	before := bulk.count()
	b.progress("priority: %d critical rows with the backlog", s.CriticalSamples)
	loaded, err := measure(ctx, critical, priorityLanes, s.CriticalSamples, send, noClay)
	if err != nil {
		return err
	}

	d := &PriorityDetails{
		Operation:     "row",
		ClayLatencyMS: float64(priorityLatency.Milliseconds()),
		BulkBacklog:   s.BulkBacklog,
		Samples:       s.CriticalSamples,
		Lanes:         priorityLanes,
		IdleP50MS:     round(percentileMS(totals(idle), 50), 3),
		IdleP99MS:     round(percentileMS(totals(idle), 99), 3),
		BacklogP50MS:  round(percentileMS(totals(loaded), 50), 3),
		BacklogP99MS:  round(percentileMS(totals(loaded), 99), 3),
		BulkResults:   bulk.count() - before,
	}
	b.report.Details.Priority = d
	set(&b.report.CriticalP99Ratio, ratio(d.BacklogP99MS, d.IdleP99MS), 3)
	return nil
}
