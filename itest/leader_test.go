package itest

import (
	"context"
	"testing"
	"time"

	"github.com/claybridge/claybridge/itest/harness"
	"github.com/claybridge/claybridge/itest/suite"
	"github.com/claybridge/claybridge/subjects"
)

// clusterWorkload is the workload of the scenarios that disturb a NATS
// cluster: n requests at 40 per second, which gives their faults time to
// act while requests flow.
func clusterWorkload(name string, n int) suite.Workload {
	return suite.Workload{
		Name:     name,
		Requests: n,
		Mix:      suite.Mix{Rows: 6, Routines: 2, Searches: 2},
		Rate:     40,
	}
}

// TestLeaderKills kills the JetStream meta leader with SIGKILL, then the
// leader of the request stream, each mid-run, and restarts each node once
// a new leader is elected.
func TestLeaderKills(t *testing.T) {
	ctx := capped(t, 5*time.Minute)
	st := harness.Start(ctx, t, harness.Config{
		Nodes: 3, Bridges: 3, BridgeArgs: killBridgeArgs, SimArgs: killSimArgs,
	})
	steps := 0
	suite.Run(ctx, t, st, clusterWorkload("leader-kills", size(2000, 20000)), func(ctx context.Context, p *suite.Progress) {
		if !p.WaitEnded(ctx, 0.15) {
			t.Error("the traffic ended before the meta leader was killed")
			return
		}
		meta, err := st.NATS.MetaLeader(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		if killLeader(ctx, t, st, p, meta, "meta leader", func() (*harness.NATSNode, error) {
			return st.NATS.OtherMetaLeader(ctx, meta)
		}) {
			steps++
		}
		if !p.WaitEnded(ctx, 0.5) {
			t.Error("the traffic ended before the stream leader was killed")
			return
		}
		leader, err := st.StreamLeader(ctx, subjects.StreamRequests)
		if err != nil {
			t.Error(err)
			return
		}
		if killLeader(ctx, t, st, p, leader, "leader of stream "+subjects.StreamRequests, func() (*harness.NATSNode, error) {
			return st.WaitStreamLeader(ctx, subjects.StreamRequests, leader)
		}) {
			steps++
		}
	})
	if steps != 2 {
		t.Errorf("%d of 2 leaders killed and restarted mid-run", steps)
	}
}

// killLeader kills node, the leader that role describes, and waits until
// newLeader returns its successor. Then it restarts node and waits until
// the cluster is healthy. It reports whether all of that happened before
// the traffic ended.
func killLeader(ctx context.Context, t *testing.T, st *harness.Stack, p *suite.Progress, node *harness.NATSNode,
	role string, newLeader func() (*harness.NATSNode, error)) bool {
	if err := node.Kill(); err != nil {
		t.Errorf("kill %s: %v", node.Name, err)
		return false
	}
	killed := time.Now()
	t.Logf("%s: killed %s, the %s (SIGKILL), with %d of %d requests ended",
		p.Elapsed().Round(time.Second), node.Name, role, p.Ended(), p.Total())
	successor, err := newLeader()
	if err != nil {
		t.Errorf("after killing the %s: %v", role, err)
		return false
	}
	t.Logf("%s: %s is the new %s after %s", p.Elapsed().Round(time.Second), successor.Name, role,
		time.Since(killed).Round(10*time.Millisecond))
	if !p.Sleep(ctx, 3*time.Second) {
		t.Errorf("the traffic ended while %s was down", node.Name)
	}
	if err := node.Start(ctx); err != nil {
		t.Errorf("restart %s: %v", node.Name, err)
		return false
	}
	if err := st.NATS.WaitHealthy(ctx); err != nil {
		t.Errorf("after restarting %s: %v", node.Name, err)
		return false
	}
	t.Logf("%s: %s restarted and the cluster is healthy, with %d of %d requests ended",
		p.Elapsed().Round(time.Second), node.Name, p.Ended(), p.Total())
	return !p.Finished()
}
