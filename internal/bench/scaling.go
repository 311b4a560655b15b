package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// scalingLatency is the simulator latency of the scaling case.
const scalingLatency = 200 * time.Millisecond

// ScalingDetails are the scaling case's figures: one step per worker
// count, each draining a backlog of keyed searches at normal priority
// with a fresh processor whose normal pool has that many workers.
type ScalingDetails struct {
	Operation string        `json:"operation"`
	LatencyMS float64       `json:"latency_ms"`
	Steps     []ScalingStep `json:"steps"`
}

// ScalingStep is one worker count's drain.
type ScalingStep struct {
	Workers  int `json:"workers"`
	Requests int `json:"requests"`
	// RPS leaves out the first wave of workers results, which includes
	// start-up: (requests − workers) ÷ (last result − workers-th result).
	RPS float64 `json:"rps"`
	// IdealRPS is workers ÷ latency.
	IdealRPS   float64 `json:"ideal_rps"`
	Efficiency float64 `json:"efficiency"`
}

func (b *bench) scaling(ctx context.Context) error {
	env, err := b.startCase(ctx, CaseScaling, simSettings{rateLimit: -1, latency: scalingLatency})
	if err != nil {
		return err
	}
	defer env.stop()

	nc, js, err := b.setupLoad(ctx, env.natsURL, env.sim, processorConfig(nil, false))
	if err != nil {
		return err
	}
	defer nc.Close()

	d := &ScalingDetails{Operation: "search (keyed, limit 1, normal priority), cache-first off",
		LatencyMS: float64(scalingLatency.Milliseconds())}
	for _, workers := range b.cfg.Sizes.ScalingWorkers {
		step, err := b.scalingStep(ctx, env.natsURL, nc, js, env.sim, workers)
		if err != nil {
			return err
		}
		d.Steps = append(d.Steps, step)
	}

	b.report.Details.Scaling = d
	set(&b.report.ScalingEfficiency, d.Steps[len(d.Steps)-1].Efficiency, 3)
	return nil
}

func (b *bench) scalingStep(ctx context.Context, natsURL string, nc *nats.Conn, js jetstream.JetStream,
	sim *simulator, workers int) (ScalingStep, error) {
	ideal := float64(workers) / scalingLatency.Seconds()
	step := ScalingStep{Workers: workers, IdealRPS: ideal,
		Requests: max(3*workers, int(ideal*b.cfg.Sizes.ScalingRun.Seconds()))}

	w, err := watch(nc, subjects.ResultSubject(subjects.Normal, subjects.Search))
	if err != nil {
		return step, err
	}
	defer w.stop()

	variant := fmt.Sprintf("scale%d", workers)
	b.progress("scaling: %d workers, backlog of %d", workers, step.Requests)
	err = publishBacklog(ctx, js, step.Requests, func(i int) *nats.Msg {
		key := b.key(variant, i)
		return requestMsg(subjects.Normal, subjects.Search, key, searchBody(key, 1))
	})
	if err != nil {
		return step, err
	}

	cfg := processorConfig(map[subjects.Priority]int{subjects.Normal: workers}, false)
	proc, err := b.startProcessor(ctx, natsURL, sim, cfg)
	if err != nil {
		return step, err
	}
	defer proc.stop()

	timeout := time.Minute + time.Duration(3*float64(step.Requests)/ideal*float64(time.Second))
	if err := w.waitCount(ctx, step.Requests, timeout); err != nil {
		return step, fmt.Errorf("drain with %d workers: %w", workers, err)
	}

	times := w.arrivals()
	n := step.Requests
	step.RPS = round(float64(n-workers)/times[n-1].Sub(times[workers-1]).Seconds(), 1)
	step.Efficiency = round(step.RPS/ideal, 3)
	b.progress("scaling: %d workers, %.1f requests/s of an ideal %.1f", workers, step.RPS, ideal)
	return step, nil
}
