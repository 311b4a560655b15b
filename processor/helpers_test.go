package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/internal/verify"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// stack is an embedded NATS server, a simulator and a processor.
type stack struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	sim  *claysim.Running
	proc *testproc.Processor
}

func newStack(t *testing.T, simCfg claysim.Config, cfg processor.Config) *stack {
	t.Helper()
	_, nc := testenv.NATS(t)
	s := &stack{nc: nc, js: testenv.JetStream(t, nc), sim: testenv.Sim(t, simCfg)}
	if cfg.Instance == "" {
		cfg.Instance = "test-" + t.Name()
		cfg.Instance = processor.SanitizeToken(cfg.Instance)
	}
	s.proc = testproc.Start(t, nc, s.sim.URL(), cfg)
	return s
}

// searches publishes n keyed searches at priority p and returns their keys.
func (s *stack) searches(t *testing.T, prefix string, p subjects.Priority, n int, header nats.Header) []string {
	t.Helper()
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("%s-%04d", prefix, i)
		body := fmt.Sprintf(`{"source_type":"companies","filters":{"name":%q},"limit":3}`, keys[i])
		publish(t, s.js, request{priority: p, operation: subjects.Search, key: keys[i], body: body, header: header})
	}
	return keys
}

// await waits until every key ended and returns the outcomes.
func (s *stack) await(t *testing.T, keys []string, timeout time.Duration) *verify.Outcomes {
	t.Helper()
	var out *verify.Outcomes
	testenv.Eventually(t, timeout, fmt.Sprintf("%d requests to end", len(keys)), func() bool {
		var err error
		out, err = verify.Collect(context.Background(), s.js)
		return err == nil && out.Ended(keys) == len(keys)
	})
	for _, problem := range out.ExactlyOnce(keys) {
		t.Error(problem)
	}
	return out
}

// heartbeat returns the latest heartbeat of the stack's processor.
func (s *stack) heartbeat(t *testing.T) subjects.Heartbeat {
	t.Helper()
	return s.heartbeatOf(t, s.proc.Instance())
}

// heartbeatOf returns the latest heartbeat of an instance.
func (s *stack) heartbeatOf(t *testing.T, instance string) subjects.Heartbeat {
	t.Helper()
	stream, err := s.js.Stream(context.Background(), subjects.StreamDLQ)
	if err != nil {
		t.Fatalf("open DLQ stream: %v", err)
	}
	msg, err := stream.GetLastMsgForSubject(context.Background(), subjects.HealthSubject(instance))
	if err != nil {
		t.Fatalf("read heartbeat: %v", err)
	}
	var hb subjects.Heartbeat
	if err := json.Unmarshal(msg.Data, &hb); err != nil {
		t.Fatalf("decode heartbeat: %v", err)
	}
	return hb
}

// arrivals returns the simulator's arrivals of op, sorted by time.
func arrivals(sim *claysim.Running, op string) []claysim.Arrival {
	var list []claysim.Arrival
	for _, a := range sim.Stats().Arrivals {
		if a.Operation == op {
			list = append(list, a)
		}
	}
	sort.Slice(list, func(i, k int) bool { return list[i].Time.Before(list[k].Time) })
	return list
}

func noDLQ(t *testing.T, out *verify.Outcomes) {
	t.Helper()
	if counts := out.ClassCounts(); len(counts) > 0 {
		t.Errorf("DLQ entries: %s, want none", verify.Summary(counts))
	}
}

func collectKeys(js jetstream.JetStream) ([]string, error) {
	msgs, err := verify.ReadAll(context.Background(), js, subjects.StreamResults, subjects.ResultsAll)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(msgs))
	for _, m := range msgs {
		keys = append(keys, m.Headers().Get(subjects.HeaderRequestKey))
	}
	return keys, nil
}

// kv opens the ledger bucket.
func (s *stack) kv(t *testing.T) jetstream.KeyValue {
	t.Helper()
	kv, err := s.js.KeyValue(context.Background(), subjects.BucketLedger)
	if err != nil {
		t.Fatalf("open ledger bucket: %v", err)
	}
	return kv
}
