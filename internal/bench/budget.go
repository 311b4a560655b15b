package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// Clay's documented webhook limit, which the budget case gives both the
// simulator and the processors.
const (
	budgetLimit = 10.0
	budgetBurst = 20
)

// BudgetDetails are the budget case's figures. Each run drains a backlog
// of rows at normal priority that outlasts the window, with Clay's
// documented webhook limit on the simulator and the same budget, shared
// through CLAY_CONTROL, on every processor.
type BudgetDetails struct {
	Limit         float64     `json:"limit_per_second"`
	Burst         int         `json:"burst"`
	WindowSeconds float64     `json:"window_seconds"`
	Runs          []BudgetRun `json:"runs"`
}

// BudgetRun is one run of the budget case.
type BudgetRun struct {
	Replicas int `json:"replicas"`
	// Accepted counts the rows the simulator accepted from the first
	// accepted row to the last one accepted within the window, and
	// Seconds is the time between those two.
	Accepted int     `json:"accepted"`
	Seconds  float64 `json:"seconds"`
	// Use is (accepted − burst) ÷ (limit × seconds). Ending at the last
	// accepted row, not at the window's end, keeps tokens that a batch
	// still waits for from counting as unused.
	Use float64 `json:"use"`
	// WindowUse is (rows accepted in the whole window − burst) ÷ (limit ×
	// window seconds), which counts those tokens as unused.
	WindowUse float64 `json:"window_use"`
	// RateLimited counts 429 responses over the whole run.
	RateLimited int `json:"rate_limited_429s"`
	// Posts counts webhook requests over the whole run. Rows are batched,
	// so one request may carry several.
	Posts int `json:"posts"`
	// PerSecond counts the rows accepted in each second of the window.
	PerSecond []int `json:"accepted_per_second"`
}

func (b *bench) budget(ctx context.Context) error {
	d := &BudgetDetails{Limit: budgetLimit, Burst: budgetBurst, WindowSeconds: b.cfg.Sizes.BudgetWindow.Seconds()}
	for _, replicas := range []int{1, 3} {
		run, err := b.budgetRun(ctx, replicas)
		if err != nil {
			return err
		}
		d.Runs = append(d.Runs, run)
	}
	r := b.report
	set(&r.BudgetUse1, d.Runs[0].Use, 4)
	set(&r.BudgetUse3, d.Runs[1].Use, 4)
	set(&r.RateLimited429s, float64(d.Runs[0].RateLimited+d.Runs[1].RateLimited), 0)
	r.Details.Budget = d
	return nil
}

func (b *bench) budgetRun(ctx context.Context, replicas int) (BudgetRun, error) {
	run := BudgetRun{Replicas: replicas}
	env, err := b.startCase(ctx, fmt.Sprintf("%s-%d", CaseBudget, replicas),
		simSettings{rateLimit: budgetLimit, burst: budgetBurst})
	if err != nil {
		return run, err
	}
	defer env.stop()

	cfg := processor.Config{RateLimit: budgetLimit, Burst: budgetBurst}
	if err := b.setupStreams(ctx, env.natsURL, env.sim, cfg); err != nil {
		return run, err
	}

	window := b.cfg.Sizes.BudgetWindow
	// The backlog outlasts the window by a third, so no processor idles.
	backlog := int(budgetLimit*window.Seconds()*4/3) + budgetBurst + 50
	b.progress("budget: %d replica(s), backlog of %d rows, %s window", replicas, backlog, window)
	if err := b.publishRows(ctx, env.natsURL, fmt.Sprintf("budget%d", replicas), backlog); err != nil {
		return run, err
	}

	procs := make([]*runningProcessor, 0, replicas)
	defer func() { stopAll(procs) }()
	for range replicas {
		p, err := b.startProcessor(ctx, env.natsURL, env.sim, cfg)
		if err != nil {
			return run, err
		}
		procs = append(procs, p)
	}

	stats, err := b.awaitWindow(ctx, env.sim, window)
	if err != nil {
		return run, err
	}

	span := acceptedSpan(stats, window)
	run.Accepted, run.Seconds = span.rows, round(span.last.Sub(span.first).Seconds(), 3)
	run.Use = round(ratio(float64(span.rows)-budgetBurst, budgetLimit*span.last.Sub(span.first).Seconds()), 4)
	run.WindowUse = round((float64(span.rows)-budgetBurst)/(budgetLimit*window.Seconds()), 4)
	run.RateLimited = stats.ResponsesByStatus["429"]
	run.Posts = stats.RequestsByOperation[claysim.OpRow]
	run.PerSecond = acceptedPerSecond(stats, window)
	b.progress("budget: %d replica(s) used %.4f of the budget with %d 429s", replicas, run.Use, run.RateLimited)
	return run, nil
}

// publishRows publishes n keyed rows for one table at normal priority.
func (b *bench) publishRows(ctx context.Context, natsURL, variant string, n int) error {
	nc, js, err := connectJetStream(natsURL, "load")
	if err != nil {
		return err
	}
	defer nc.Close()
	return publishBacklog(ctx, js, n, func(i int) *nats.Msg {
		key := b.key(variant, i)
		return requestMsg(subjects.Normal, subjects.Row, key, rowBody("bench", key))
	})
}

// awaitWindow waits until the simulator accepted its first row and the
// window after it has passed, and returns the simulator's statistics.
func (b *bench) awaitWindow(ctx context.Context, sim *simulator, window time.Duration) (claysim.Stats, error) {
	deadline := time.Now().Add(window + time.Minute)
	for {
		stats, err := sim.stats(ctx)
		if err != nil {
			return stats, err
		}
		if first, ok := firstAccepted(stats); ok && time.Since(first) > window+500*time.Millisecond {
			return stats, nil
		}
		if time.Now().After(deadline) {
			return stats, fmt.Errorf("budget window did not end: %w after %s with %d rows accepted",
				errTimeout, window+time.Minute, stats.RecordsAccepted)
		}
		sleep(ctx, 250*time.Millisecond)
		if ctx.Err() != nil {
			return stats, ctx.Err()
		}
	}
}

func accepted(a claysim.Arrival) bool {
	return a.Operation == claysim.OpRow && a.Status >= 200 && a.Status < 300
}

// firstAccepted returns the earliest accepted row's arrival. The log is
// in the order responses ended, which may differ from arrival order.
func firstAccepted(stats claysim.Stats) (time.Time, bool) {
	var first time.Time
	for _, a := range stats.Arrivals {
		if accepted(a) && (first.IsZero() || a.Time.Before(first)) {
			first = a.Time
		}
	}
	return first, !first.IsZero()
}

// span is the rows accepted from the first accepted row to the last one
// within a window.
type span struct {
	rows        int
	first, last time.Time
}

func acceptedSpan(stats claysim.Stats, window time.Duration) span {
	first, ok := firstAccepted(stats)
	if !ok {
		return span{}
	}
	sp := span{first: first, last: first}
	for _, a := range stats.Arrivals {
		if accepted(a) && a.Time.Sub(first) < window {
			sp.rows++
			if a.Time.After(sp.last) {
				sp.last = a.Time
			}
		}
	}
	return sp
}

// acceptedPerSecond counts the rows accepted in each second of the window.
func acceptedPerSecond(stats claysim.Stats, window time.Duration) []int {
	first, ok := firstAccepted(stats)
	if !ok {
		return nil
	}
	counts := make([]int, int(math.Ceil(window.Seconds())))
	for _, a := range stats.Arrivals {
		if offset := a.Time.Sub(first); accepted(a) && offset < window {
			counts[int(offset/time.Second)]++
		}
	}
	return counts
}
