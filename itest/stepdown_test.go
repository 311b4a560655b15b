package itest

import (
	"context"
	"testing"
	"time"

	"github.com/claybridge/claybridge/itest/harness"
	"github.com/claybridge/claybridge/itest/suite"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// TestConsumerStepDown makes the leaders of all nine request consumers
// step down every two seconds while requests flow. The replicas must go
// on consuming from the new leaders without being restarted.
func TestConsumerStepDown(t *testing.T) {
	ctx := capped(t, 5*time.Minute)
	st := harness.Start(ctx, t, harness.Config{
		Nodes: 3, Bridges: 3, BridgeArgs: killBridgeArgs, SimArgs: killSimArgs,
	})
	var consumers []string
	for _, prio := range subjects.Priorities {
		for _, op := range subjects.Operations {
			consumers = append(consumers, processor.ConsumerName(prio, op))
		}
	}
	stepDowns, failures := 0, 0
	suite.Run(ctx, t, st, clusterWorkload("consumer-step-down", size(1500, 20000)), func(ctx context.Context, p *suite.Progress) {
		for round := 0; p.Sleep(ctx, 2*time.Second); round++ {
			for _, name := range consumers {
				if err := st.ConsumerStepDown(ctx, subjects.StreamRequests, name); err != nil {
					failures++
					t.Logf("round %d: %v", round, err)
					continue
				}
				stepDowns++
			}
		}
	})
	t.Logf("consumer leader step-downs: %d done, %d failed", stepDowns, failures)
	if want := 10 * len(consumers); stepDowns < want {
		t.Errorf("%d consumer leaders stepped down during the run, want at least %d", stepDowns, want)
	}
	for _, b := range st.Bridges {
		if !b.Process().Running() || b.Process().Starts() != 1 {
			t.Errorf("%s: running %t after %d starts, want it running since its only start",
				b.Name, b.Process().Running(), b.Process().Starts())
		}
	}
}
