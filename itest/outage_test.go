package itest

import (
	"context"
	"testing"
	"time"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/itest/harness"
	"github.com/claybridge/claybridge/itest/suite"
)

// TestClayOutage makes every Clay endpoint return 503 for 30 seconds
// mid-run. Requests must wait out the outage and end in results once
// Clay is back. A 503 means Clay took nothing, so nothing may be lost,
// sent twice or dead-lettered.
func TestClayOutage(t *testing.T) {
	ctx := capped(t, 5*time.Minute)
	st := harness.Start(ctx, t, harness.Config{
		Nodes:      1,
		Bridges:    2,
		BridgeArgs: append([]string{"--routine-poll-interval", "200ms"}, unlimitedBridge...),
		SimArgs:    append([]string{"--routine-delay", "300ms"}, unlimitedSim...),
	})
	outage := 30 * time.Second
	if *soak {
		outage = 5 * time.Minute
	}
	var started time.Time
	report := suite.Run(ctx, t, st, suite.Workload{
		Name:     "clay-outage",
		Requests: size(1500, 15000),
		// Repeated search bodies let the fallback cache serve searches
		// during the outage.
		Mix:  suite.Mix{Rows: 6, Routines: 2, Searches: 2, SearchBodies: 20},
		Rate: 30,
	}, func(ctx context.Context, p *suite.Progress) {
		if !p.WaitEnded(ctx, 0.1) {
			t.Error("the traffic ended before the outage")
			return
		}
		if err := st.Sim.AddFault(ctx, claysim.Fault{Status: 503, Duration: outage}); err != nil {
			t.Error(err)
			return
		}
		started = time.Now()
		t.Logf("%s: Clay answers 503 for %s, with %d of %d requests ended", p.Elapsed().Round(time.Second), outage,
			p.Ended(), p.Total())
		if !p.Sleep(ctx, outage) {
			t.Error("the traffic ended during the outage")
			return
		}
		t.Logf("%s: Clay is back, with %d of %d requests ended", p.Elapsed().Round(time.Second), p.Ended(), p.Total())
	})
	if started.IsZero() {
		return
	}
	if n := report.Stats.ResponsesByStatus["503"]; n == 0 {
		t.Error("the simulator answered no 503: the outage reached no call")
	}
	for class, n := range report.DLQ {
		t.Errorf("%d DLQ entries of class %s, want none: every request should end in a result once Clay is back", n, class)
	}
}
