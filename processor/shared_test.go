package processor_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// replicas starts n processors on one NATS server and simulator.
func replicas(t *testing.T, simCfg claysim.Config, cfg processor.Config, n int) *stack {
	t.Helper()
	_, nc := testenv.NATS(t)
	s := &stack{nc: nc, js: testenv.JetStream(t, nc), sim: testenv.Sim(t, simCfg)}
	for i := range n {
		c := cfg
		c.Instance = fmt.Sprintf("replica-%d", i)
		p := testproc.Start(t, testenv.Connect(t, natsURL(nc)), s.sim.URL(), c)
		if i == 0 {
			s.proc = p
		}
	}
	return s
}

func TestReplicasShareOneWebhookBudget(t *testing.T) {
	s := replicas(t, claysim.Config{}, processor.Config{}, 3)
	reqs := writes("shared-budget", 60)
	for i := range reqs {
		reqs[i].operation = subjects.Row
		reqs[i].body = fmt.Sprintf(`{"table":"leads","row":{"n":%d}}`, i)
	}
	start := time.Now()
	for _, r := range reqs {
		publish(t, s.js, r)
	}
	out := s.await(t, keysOf(reqs), time.Minute)
	noDLQ(t, out)
	limited := s.sim.Stats().ResponsesByStatus[strconv.Itoa(http.StatusTooManyRequests)]
	if limited != 0 {
		t.Errorf("3 replicas got %d answers 429 from a 10 records/s workspace, want 0", limited)
	}
	// 60 rows at 10/s with a burst of 18 take at least 4 s.
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("60 rows took %s across 3 replicas, faster than one workspace budget allows", took)
	}
	assertOnce(t, s.sim, keysOf(reqs))
}

func TestHoldStopsEveryReplica(t *testing.T) {
	cfg := processor.Config{ProbeInterval: 3 * time.Second, HeartbeatInterval: 200 * time.Millisecond}
	s := replicas(t, claysim.Config{}, cfg, 2)
	s.sim.AddFault(claysim.Fault{Status: http.StatusPaymentRequired, Operation: claysim.OpSearch})
	keys := s.searches(t, "credits", subjects.Normal, 1, nil)
	testenv.Eventually(t, 10*time.Second, "both replicas to hold the workspace", func() bool {
		held := 0
		for _, instance := range []string{"replica-0", "replica-1"} {
			for _, h := range s.heartbeatOf(t, instance).Holds {
				if h.Reason == "payment_required" {
					held++
					break
				}
			}
		}
		return held == 2
	})
	s.sim.ClearFaults()
	out := s.await(t, keys, 30*time.Second)
	noDLQ(t, out)
}
