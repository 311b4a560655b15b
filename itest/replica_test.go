package itest

import (
	"context"
	"testing"
	"time"

	"github.com/claybridge/claybridge/itest/harness"
	"github.com/claybridge/claybridge/itest/suite"
)

// killBridgeArgs and killSimArgs are the settings of the scenarios that
// kill processes: a short ack wait, so that the messages of a killed
// replica come back soon, and Clay latency, so that kills cut calls off in
// flight.
var (
	killBridgeArgs = append([]string{"--ack-wait", "10s", "--routine-poll-interval", "200ms"}, unlimitedBridge...)
	killSimArgs    = append([]string{"--latency", "25ms", "--routine-delay", "300ms"}, unlimitedSim...)
)

// TestReplicaKills kills one claybridge replica with SIGKILL every five
// seconds, in turn, and starts it again at once, while requests flow.
// Calls cut off by a kill must end as outcome_unknown, not be sent again.
func TestReplicaKills(t *testing.T) {
	ctx := capped(t, 6*time.Minute)
	st := harness.Start(ctx, t, harness.Config{
		Nodes: 1, Bridges: 3, BridgeArgs: killBridgeArgs, SimArgs: killSimArgs,
	})
	kills := 0
	suite.Run(ctx, t, st, suite.Workload{
		Name:     "replica-kills",
		Requests: size(5000, 50000),
		Mix:      suite.Mix{Rows: 7, Routines: 1, Searches: 2},
		Rate:     125,
	}, func(ctx context.Context, p *suite.Progress) {
		for i := 0; p.Sleep(ctx, 5*time.Second); i++ {
			b := st.Bridges[i%len(st.Bridges)]
			if err := b.Kill(); err != nil {
				t.Errorf("kill %s: %v", b.Name, err)
				return
			}
			kills++
			t.Logf("%s: killed %s (SIGKILL) with %d of %d requests ended", p.Elapsed().Round(time.Second), b.Name, p.Ended(), p.Total())
			if err := b.Start(ctx); err != nil {
				t.Errorf("restart %s: %v", b.Name, err)
				return
			}
		}
	})
	t.Logf("replica kills: %d", kills)
	if want := 5; kills < want {
		t.Errorf("%d replicas killed during the run, want at least %d", kills, want)
	}
}
