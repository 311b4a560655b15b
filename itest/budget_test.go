package itest

import (
	"testing"
	"time"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/itest/harness"
	"github.com/claybridge/claybridge/itest/suite"
)

// Clay's documented webhook limit for a workspace, which the simulator
// enforces by default.
const (
	clayRowsPerSecond = 10
	clayRowBurst      = 20
)

// TestSharedBudget runs three replicas against Clay's real limit of 10
// records per second with a burst of 20, with a backlog of rows that
// takes 30 seconds at that rate. Together the replicas must keep to the
// one workspace budget: replaying the arrival times through a token
// bucket of the same limit must reject none.
func TestSharedBudget(t *testing.T) {
	ctx := capped(t, 4*time.Minute)
	st := harness.Start(ctx, t, harness.Config{Nodes: 1, Bridges: 3})
	seconds := size(30, 300)
	report := suite.Run(ctx, t, st, suite.Workload{
		Name:     "shared-budget",
		Requests: clayRowBurst + clayRowsPerSecond*seconds,
		Mix:      suite.Mix{Rows: 1},
	}, nil)

	goodput, accepted := suite.Goodput(report.Stats.Arrivals, claysim.OpRow)
	conf := suite.CheckConformance(report.Stats.Arrivals, claysim.OpRow, clayRowsPerSecond, clayRowBurst)
	t.Logf("shared budget: %d rows accepted, goodput %.2f rows/s (limit %d/s), %d 429s, %d of %d arrivals rejected by a %d/s burst %d replay",
		accepted, goodput, clayRowsPerSecond, report.Status429, conf.Rejected, conf.Arrivals, clayRowsPerSecond, clayRowBurst)
	if conf.Rejected > 0 {
		t.Errorf("%d of %d row arrivals broke the workspace limit of %d/s with burst %d, want 0: the replicas do not share one budget",
			conf.Rejected, conf.Arrivals, clayRowsPerSecond, clayRowBurst)
	}
}
