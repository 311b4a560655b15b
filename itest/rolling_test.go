package itest

import (
	"context"
	"testing"
	"time"

	"github.com/claybridge/claybridge/itest/harness"
	"github.com/claybridge/claybridge/itest/suite"
)

// TestRollingRestart restarts every NATS node of the cluster, one at a
// time, while requests flow: each node gets SIGTERM (a clean shutdown),
// and the next one goes five seconds after the restarted node is healthy
// again.
func TestRollingRestart(t *testing.T) {
	ctx := capped(t, 5*time.Minute)
	st := harness.Start(ctx, t, harness.Config{
		Nodes: 3, Bridges: 3, BridgeArgs: killBridgeArgs, SimArgs: killSimArgs,
	})
	restarted := 0
	suite.Run(ctx, t, st, clusterWorkload("rolling-restart", size(1500, 20000)), func(ctx context.Context, p *suite.Progress) {
		if !p.WaitEnded(ctx, 0.1) {
			t.Error("the traffic ended before the first restart")
			return
		}
		for i, node := range st.NATS.Nodes {
			if i > 0 && !p.Sleep(ctx, 5*time.Second) {
				t.Errorf("the traffic ended before %s was restarted", node.Name)
				return
			}
			if err := node.Stop(); err != nil {
				t.Errorf("stop %s: %v", node.Name, err)
				return
			}
			t.Logf("%s: stopped %s (SIGTERM) with %d of %d requests ended", p.Elapsed().Round(time.Second), node.Name,
				p.Ended(), p.Total())
			if err := node.Start(ctx); err != nil {
				t.Errorf("restart %s: %v", node.Name, err)
				return
			}
			if err := st.NATS.WaitHealthy(ctx); err != nil {
				t.Errorf("after restarting %s: %v", node.Name, err)
				return
			}
			t.Logf("%s: %s restarted and the cluster is healthy", p.Elapsed().Round(time.Second), node.Name)
			if p.Finished() {
				t.Errorf("the traffic ended before %s was back", node.Name)
				return
			}
			restarted++
		}
	})
	if restarted != len(st.NATS.Nodes) {
		t.Errorf("%d of %d nodes restarted while requests flowed", restarted, len(st.NATS.Nodes))
	}
}
