package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// The fallback case's sizes: the searches that warm the cache, and the
// closed loops that measure fallback results.
const (
	fallbackMaxWarm = 100
	fallbackLanes   = 2
)

// FallbackDetails are the fallback case's figures: publish-to-result
// times of searches served from a warm cache while every search gets
// 503, measured once the failures opened the breaker.
type FallbackDetails struct {
	Operation   string `json:"operation"`
	WarmEntries int    `json:"warm_entries"`
	Samples     int    `json:"samples"`
	Lanes       int    `json:"lanes"`
	// Tripping requests run into the 503s first, until the breaker opens.
	// TripSeconds is how long their results took in all.
	Tripping    int     `json:"tripping"`
	TripSeconds float64 `json:"trip_seconds"`
	// NotFallback counts measured results whose status was not
	// "fallback". Any other value than 0 means the case measured
	// something else than fallback results.
	NotFallback int `json:"not_fallback"`
}

func (b *bench) fallback(ctx context.Context) error {
	env, err := b.startCase(ctx, CaseFallback, simSettings{rateLimit: -1})
	if err != nil {
		return err
	}
	defer env.stop()

	cfg := processorConfig(nil, false)
	nc, js, err := b.setupLoad(ctx, env.natsURL, env.sim, cfg)
	if err != nil {
		return err
	}
	defer nc.Close()

	w, err := watch(nc, subjects.ResultSubject(subjects.Normal, subjects.Search))
	if err != nil {
		return err
	}
	defer w.stop()

	proc, err := b.startProcessor(ctx, env.natsURL, env.sim, cfg)
	if err != nil {
		return err
	}
	defer proc.stop()
	return b.measureFallback(ctx, js, w, env.sim)
}

func (b *bench) measureFallback(ctx context.Context, js jetstream.JetStream, w *watcher, sim *simulator) error {
	d := &FallbackDetails{
		Operation:   "search (keyed, limit 1, normal priority), cache-first off",
		WarmEntries: min(b.cfg.Sizes.FallbackSamples, fallbackMaxWarm),
		Samples:     b.cfg.Sizes.FallbackSamples,
		Lanes:       fallbackLanes,
		Tripping:    2 * processor.DefaultBreakerFailures,
	}

	search := func(variant string, i int) *nats.Msg {
		body := searchBody(b.key("warm", i%d.WarmEntries), 1)
		return requestMsg(subjects.Normal, subjects.Search, b.key(variant, i), body)
	}

	b.progress("fallback: warming the cache with %d searches", d.WarmEntries)
	if err := publishBacklog(ctx, js, d.WarmEntries, func(i int) *nats.Msg { return search("warm", i) }); err != nil {
		return err
	}
	if err := w.waitCount(ctx, d.WarmEntries, time.Minute); err != nil {
		return fmt.Errorf("warm the cache: %w", err)
	}

	if err := sim.addFault(ctx, claysim.Fault{Status: http.StatusServiceUnavailable, Operation: claysim.OpSearch}); err != nil {
		return err
	}
	defer func() { _ = sim.clearFaults(context.WithoutCancel(ctx)) }()

	tripStart := time.Now()
	if err := publishBacklog(ctx, js, d.Tripping, func(i int) *nats.Msg { return search("trip", i) }); err != nil {
		return err
	}
	if err := w.waitCount(ctx, d.WarmEntries+d.Tripping, 2*time.Minute); err != nil {
		return fmt.Errorf("open the breaker: %w", err)
	}
	d.TripSeconds = round(time.Since(tripStart).Seconds(), 2)

	b.progress("fallback: %d fallback results while Clay returns 503", d.Samples)
	send := func(ctx context.Context, i int) (string, error) {
		return publishRequest(ctx, js, search("fallback", i))
	}
	noClay := func(string) (time.Duration, bool) { return 0, true }
	samples, err := measure(ctx, w, fallbackLanes, d.Samples, send, noClay)
	if err != nil {
		return err
	}

	for _, s := range samples {
		if s.status != subjects.StatusFallback {
			d.NotFallback++
		}
	}

	b.report.Details.Fallback = d
	set(&b.report.FallbackP50MS, percentileMS(totals(samples), 50), 3)
	set(&b.report.FallbackP99MS, percentileMS(totals(samples), 99), 3)
	return nil
}
