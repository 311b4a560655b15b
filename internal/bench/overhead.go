package bench

import (
	"context"
	"fmt"
	"runtime/pprof"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// OverheadDetails are the overhead case's figures beyond the headline
// ones. Every variant drains the same backlog of keyed people searches
// (limit 1) at normal priority from a simulator with no added latency and
// no rate limit. claybridge runs with cache-first off, so every request
// calls the simulator.
type OverheadDetails struct {
	Operation string `json:"operation"`
	Requests  int    `json:"requests"`
	Workers   int    `json:"workers"`
	// LedgerOff names how the ledger-off variant skips the ledger.
	LedgerOff string `json:"ledger_off"`
	// LedgerOffRatio is ledger_off_rps ÷ baseline_rps.
	LedgerOffRatio float64 `json:"ledger_off_ratio"`
	// LatencySamples requests are sent by LatencyLanes closed loops per
	// variant after its drain.
	LatencySamples int `json:"latency_samples"`
	LatencyLanes   int `json:"latency_lanes"`
	// ClayTime names where the time spent in Clay comes from.
	ClayTime             string  `json:"clay_time"`
	LedgerOffAddedP50MS  float64 `json:"ledger_off_added_p50_ms"`
	LedgerOffAddedP99MS  float64 `json:"ledger_off_added_p99_ms"`
	BaselineAddedP50MS   float64 `json:"baseline_added_p50_ms"`
	BaselineAddedP99MS   float64 `json:"baseline_added_p99_ms"`
	E2EPublishToResultMS float64 `json:"e2e_publish_to_result_p50_ms"`
	// CPU is the CPU time of the bench process per drained request,
	// embedded NATS server, simulator and load generator included.
	CPU                    string  `json:"cpu"`
	BaselineCPUPerRequest  float64 `json:"baseline_cpu_us_per_request"`
	E2ECPUPerRequest       float64 `json:"e2e_cpu_us_per_request"`
	LedgerOffCPUPerRequest float64 `json:"ledger_off_cpu_us_per_request"`
}

// latencyLanes is the number of closed loops that measure added latency.
const latencyLanes = 4

// drained is one variant's throughput, CPU time per request in
// microseconds, and latency.
type drained struct {
	rps     float64
	cpuUS   float64
	samples []sample
}

// overhead compares claybridge with the bare consumer on one NATS server
// and simulator: JetStream's own consume-and-ack rate first, then the
// bare consumer, claybridge, and claybridge without the ledger.
func (b *bench) overhead(ctx context.Context) error {
	env, err := b.startCase(ctx, CaseOverhead, simSettings{rateLimit: -1})
	if err != nil {
		return err
	}
	defer env.stop()

	nc, js, err := connectJetStream(env.natsURL, "load")
	if err != nil {
		return err
	}
	defer nc.Close()

	n := b.cfg.Sizes.Requests
	b.progress("overhead: JetStream consume and ack of %d messages", n)
	consume, err := consumeRate(ctx, js, n, searchBody(b.key("consume", 0), 1))
	if err != nil {
		return err
	}

	base, err := b.drainBaseline(ctx, env.natsURL, nc, js, env.sim)
	if err != nil {
		return err
	}
	e2e, err := b.drainClaybridge(ctx, env.natsURL, nc, js, env.sim, "e2e", true)
	if err != nil {
		return err
	}
	off, err := b.drainClaybridge(ctx, env.natsURL, nc, js, env.sim, "ledgeroff", false)
	if err != nil {
		return err
	}

	b.recordOverhead(env.sim, consume, base, e2e, off)
	return nil
}

func (b *bench) recordOverhead(sim *simulator, consume float64, base, e2e, off drained) {
	r := b.report
	set(&r.JetStreamConsumeRPS, consume, 0)
	set(&r.BaselineRPS, base.rps, 0)
	set(&r.E2ERPS, e2e.rps, 0)
	set(&r.LedgerOffRPS, off.rps, 0)
	set(&r.OverheadRatio, ratio(e2e.rps, base.rps), 3)
	set(&r.AddedLatencyP50MS, percentileMS(outside(e2e.samples), 50), 3)
	set(&r.AddedLatencyP99MS, percentileMS(outside(e2e.samples), 99), 3)
	clayTime := "time the in-process simulator's handler took per request key"
	if sim.local == nil {
		clayTime = "clay_latency_ms of each result, in whole milliseconds"
	}
	r.Details.Overhead = &OverheadDetails{
		Operation:              "search (keyed, limit 1, normal priority)",
		Requests:               b.cfg.Sizes.Requests,
		Workers:                b.cfg.Workers,
		LedgerOff:              "keyless searches, which the processor does not record in the ledger; it has no setting to turn the ledger off",
		LedgerOffRatio:         round(ratio(off.rps, base.rps), 3),
		LatencySamples:         b.cfg.Sizes.LatencySamples,
		LatencyLanes:           latencyLanes,
		ClayTime:               clayTime,
		LedgerOffAddedP50MS:    round(percentileMS(outside(off.samples), 50), 3),
		LedgerOffAddedP99MS:    round(percentileMS(outside(off.samples), 99), 3),
		BaselineAddedP50MS:     round(percentileMS(outside(base.samples), 50), 3),
		BaselineAddedP99MS:     round(percentileMS(outside(base.samples), 99), 3),
		E2EPublishToResultMS:   round(percentileMS(totals(e2e.samples), 50), 3),
		CPU:                    cpuScope(b.cfg.NATSURL != "", sim.local == nil),
		BaselineCPUPerRequest:  round(base.cpuUS, 1),
		E2ECPUPerRequest:       round(e2e.cpuUS, 1),
		LedgerOffCPUPerRequest: round(off.cpuUS, 1),
	}
}

// cpuScope describes what the CPU figures include.
func cpuScope(remoteNATS, remoteClay bool) string {
	scope := "bench process while draining the backlog: the consumer"
	if !remoteNATS {
		scope += ", the embedded NATS server"
	}
	if !remoteClay {
		scope += ", the simulator"
	}
	return scope + " and the load generator, in microseconds per request"
}

// drainTimeout bounds the drain of n requests generously: at 200 per
// second or slower something is wrong.
func drainTimeout(n int) time.Duration {
	return time.Minute + time.Duration(n)*5*time.Millisecond
}

// drainClaybridge publishes the backlog, runs a processor until every
// request has its result, then measures added latency with the same
// processor. Keyless requests skip the ledger.
func (b *bench) drainClaybridge(ctx context.Context, natsURL string, nc *nats.Conn, js jetstream.JetStream,
	sim *simulator, variant string, keyed bool) (drained, error) {
	n := b.cfg.Sizes.Requests
	cfg := processorConfig(map[subjects.Priority]int{subjects.Normal: b.cfg.Workers}, false)
	if err := b.setupStreams(ctx, natsURL, sim, cfg); err != nil {
		return drained{}, err
	}

	w, err := watch(nc, subjects.ResultSubject(subjects.Normal, subjects.Search))
	if err != nil {
		return drained{}, err
	}
	defer w.stop()

	message := func(i int) *nats.Msg {
		key := ""
		if keyed {
			key = b.key(variant, i)
		}
		return requestMsg(subjects.Normal, subjects.Search, key, searchBody(b.key(variant, i), 1))
	}

	b.progress("overhead: claybridge (%s) backlog of %d", variant, n)
	if err := publishBacklog(ctx, js, n, message); err != nil {
		return drained{}, err
	}

	profiling := keyed && b.cfg.CPUProfile != nil
	if profiling {
		if err := pprof.StartCPUProfile(b.cfg.CPUProfile); err != nil {
			return drained{}, fmt.Errorf("start the CPU profile: %w", err)
		}
	}
	cpu := startCPU()
	proc, err := b.startProcessor(ctx, natsURL, sim, cfg)
	if err == nil {
		defer proc.stop()
		err = w.waitCount(ctx, n, drainTimeout(n))
	}
	cpuUS := cpu.perRequestUS(n)
	if profiling {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return drained{}, fmt.Errorf("drain %s: %w", variant, err)
	}

	out := drained{rps: drainRate(w.arrivals(), n), cpuUS: cpuUS}
	b.progress("overhead: claybridge (%s) %.0f requests/s; measuring latency", variant, out.rps)

	send := func(ctx context.Context, i int) (string, error) {
		return publishRequest(ctx, js, message(n+i))
	}
	out.samples, err = measure(ctx, w, latencyLanes, b.cfg.Sizes.LatencySamples, send, sim.serviceTime)
	return out, err
}

// drainBaseline does for the bare consumer what drainClaybridge does for
// claybridge.
func (b *bench) drainBaseline(ctx context.Context, natsURL string, nc *nats.Conn, js jetstream.JetStream,
	sim *simulator) (drained, error) {
	n := b.cfg.Sizes.Requests
	if err := createBaselineStreams(ctx, js); err != nil {
		return drained{}, err
	}

	w, err := watch(nc, baselineResultSubject)
	if err != nil {
		return drained{}, err
	}
	defer w.stop()

	message := func(i int) *nats.Msg {
		key := b.key("baseline", i)
		msg := nats.NewMsg(baselineRequestSubject)
		msg.Header.Set(subjects.HeaderMsgID, key)
		msg.Data = searchBody(key, 1)
		return msg
	}

	b.progress("overhead: bare consumer backlog of %d", n)
	if err := publishBacklog(ctx, js, n, message); err != nil {
		return drained{}, err
	}

	cpu := startCPU()
	stop, err := b.runBareConsumer(ctx, natsURL, sim)
	if err != nil {
		return drained{}, err
	}
	defer stop()
	if err := w.waitCount(ctx, n, drainTimeout(n)); err != nil {
		return drained{}, fmt.Errorf("drain the bare consumer: %w", err)
	}

	out := drained{rps: drainRate(w.arrivals(), n), cpuUS: cpu.perRequestUS(n)}
	b.progress("overhead: bare consumer %.0f requests/s; measuring latency", out.rps)

	send := func(ctx context.Context, i int) (string, error) {
		return publishRequest(ctx, js, message(n+i))
	}
	out.samples, err = measure(ctx, w, latencyLanes, b.cfg.Sizes.LatencySamples, send, sim.serviceTime)
	return out, err
}

// runBareConsumer starts the bare consumer on its own connection and
// returns the function that stops it.
func (b *bench) runBareConsumer(ctx context.Context, natsURL string, sim *simulator) (func(), error) {
	own, ownJS, err := connectJetStream(natsURL, "bare consumer")
	if err != nil {
		return nil, err
	}
	bound, err := ownJS.Consumer(ctx, baselineRequestStream, baselineConsumer)
	if err != nil {
		own.Close()
		return nil, fmt.Errorf("bind consumer %s: %w", baselineConsumer, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- newBareConsumer(ownJS, sim, b.cfg.APIKey, b.cfg.Workers).run(runCtx, bound) }()
	return func() {
		cancel()
		<-done
		own.Close()
	}, nil
}
