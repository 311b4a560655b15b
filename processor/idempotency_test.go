package processor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// minWindow is the smallest duplicate window JetStream accepts, so the
// ledger rather than the stream has to stop repeats.
const minWindow = 100 * time.Millisecond

// writes returns n keyed row and routine requests.
func writes(prefix string, n int) []request {
	reqs := make([]request, n)
	for i := range reqs {
		key := fmt.Sprintf("%s-%03d", prefix, i)
		reqs[i] = request{priority: subjects.Priorities[i%3], operation: subjects.Row, key: key,
			body: fmt.Sprintf(`{"table":"leads","row":{"email":"lead%d@example.com"}}`, i)}
		if i%2 == 1 {
			reqs[i].operation = subjects.Routine
			reqs[i].body = fmt.Sprintf(`{"routine_id":"enrich","inputs":{"domain":"co%d.example.org"}}`, i)
		}
	}
	return reqs
}

func keysOf(reqs []request) []string {
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		keys[i] = r.key
	}
	return keys
}

// assertOnce checks that no key reached the simulator twice.
func assertOnce(t *testing.T, sim *claysim.Running, keys []string) {
	t.Helper()
	stats := sim.Stats()
	for _, k := range keys {
		if n := stats.SubmissionsByKey[k]; n != 1 {
			t.Errorf("key %s reached Clay %d times, want 1", k, n)
		}
	}
}

func TestRepeatedPublishesReachClayOnce(t *testing.T) {
	simCfg := claysim.Config{RateLimit: -1, RoutineDelay: 300 * time.Millisecond, Latency: 50 * time.Millisecond}
	cfg := processor.Config{DuplicateWindow: minWindow, RateLimit: processor.Unlimited, RoutinePollInterval: 100 * time.Millisecond}
	s := newStack(t, simCfg, cfg)
	reqs := writes("repeat", 200)
	for _, r := range reqs {
		publish(t, s.js, r)
	}
	time.Sleep(2 * minWindow) // past the stream's window: repeats are stored as new messages
	for _, r := range reqs {
		publish(t, s.js, r) // many still in flight
	}
	keys := keysOf(reqs)
	s.await(t, keys, 2*time.Minute)
	for _, r := range reqs {
		publish(t, s.js, r) // after the first completed
	}
	testenv.Eventually(t, time.Minute, "every repeat to be consumed", func() bool {
		return s.pending(t) == 0
	})
	out := s.await(t, keys, time.Minute)
	noDLQ(t, out)
	assertOnce(t, s.sim, keys)
}

// pending returns the messages left in the request stream.
func (s *stack) pending(t *testing.T) uint64 {
	t.Helper()
	stream, err := s.js.Stream(context.Background(), subjects.StreamRequests)
	if err != nil {
		t.Fatalf("open request stream: %v", err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatalf("request stream info: %v", err)
	}
	return info.State.Msgs
}

func TestRedeliveryMidCallDoesNotResend(t *testing.T) {
	_, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	sim := testenv.Sim(t, claysim.Config{RateLimit: -1, LatencyByOperation: map[string]time.Duration{claysim.OpRow: 3 * time.Second}})
	cfg := processor.Config{AckWait: time.Second, MaxDeliver: 10, Hooks: processor.Hooks{DisableInProgress: true}}
	var registries []*prometheus.Registry
	for _, name := range []string{"alpha", "beta"} {
		c := cfg
		c.Instance = name
		reg := prometheus.NewRegistry()
		c.Registerer = reg
		registries = append(registries, reg)
		testproc.Start(t, testenv.Connect(t, natsURL(nc)), sim.URL(), c)
	}
	reqs := writes("midcall", 20)
	for i := range reqs {
		reqs[i].operation = subjects.Row
		reqs[i].body = fmt.Sprintf(`{"table":"leads","row":{"n":%d}}`, i)
	}
	for _, r := range reqs {
		publish(t, js, r)
	}
	keys := keysOf(reqs)
	s := &stack{nc: nc, js: js, sim: sim}
	out := s.await(t, keys, 2*time.Minute)
	noDLQ(t, out)
	assertOnce(t, sim, keys)
	lost := 0.0
	for _, reg := range registries {
		lost += counterValue(t, reg, "claybridge_lost_claims_total", "", "")
	}
	if lost == 0 {
		t.Error("no lost claims counted, want redeliveries that met a live lease")
	}
}

func natsURL(nc *nats.Conn) string { return nc.ConnectedUrl() }

// crashPoint returns a hook that simulates a crash where it is called. Its
// first call closes crashed, and every call blocks until the test ends, so
// the processor goes no further than the hook.
func crashPoint(t *testing.T) (hook func(string), crashed <-chan struct{}) {
	var once sync.Once
	signal := make(chan struct{})
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	return func(string) {
		once.Do(func() { close(signal) })
		<-hang
	}, signal
}

func TestCrashBeforeAckRepublishesResult(t *testing.T) {
	_, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	sim := testenv.Sim(t, claysim.Config{RateLimit: -1})
	hook, crashed := crashPoint(t)
	first := processor.Config{Instance: "crashes", AckWait: time.Second, Lease: time.Second,
		Hooks: processor.Hooks{AfterPublish: hook}}
	firstConn := testenv.Connect(t, natsURL(nc))
	crashing := testproc.Start(t, firstConn, sim.URL(), first)
	reqs := writes("crash-ack", 1)
	publish(t, js, reqs[0])
	<-crashed
	firstConn.Close() // the process is gone before its ack
	crashing.Abandon()

	testproc.Start(t, testenv.Connect(t, natsURL(nc)), sim.URL(), processor.Config{Instance: "restarted", AckWait: time.Second})
	s := &stack{nc: nc, js: js, sim: sim}
	testenv.Eventually(t, 30*time.Second, "the request to be consumed", func() bool { return s.pending(t) == 0 })
	out := s.await(t, keysOf(reqs), 30*time.Second)
	noDLQ(t, out)
	assertOnce(t, sim, keysOf(reqs))
}

// A crash between a result's publish and the ledger's published mark,
// with the restart past the stream's duplicate window, still leaves one
// result: the restarted processor finds it in the stream.
func TestCrashPastWindowStoresOneResult(t *testing.T) {
	_, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	sim := testenv.Sim(t, claysim.Config{RateLimit: -1})
	hook, crashed := crashPoint(t)
	first := processor.Config{Instance: "crashes", AckWait: time.Second, Lease: time.Second, DuplicateWindow: minWindow,
		Hooks: processor.Hooks{AfterPublish: hook}}
	firstConn := testenv.Connect(t, natsURL(nc))
	crashing := testproc.Start(t, firstConn, sim.URL(), first)
	s := &stack{nc: nc, js: js, sim: sim}
	keys := s.searches(t, "past-window", subjects.Normal, 1, nil)
	<-crashed
	firstConn.Close() // the process is gone before its ack and the published mark
	crashing.Abandon()
	time.Sleep(10 * minWindow) // the stream no longer drops a second copy

	testproc.Start(t, testenv.Connect(t, natsURL(nc)), sim.URL(), processor.Config{Instance: "restarted", AckWait: time.Second})
	testenv.Eventually(t, 30*time.Second, "the request to be consumed", func() bool { return s.pending(t) == 0 })
	out := s.await(t, keys, 30*time.Second)
	noDLQ(t, out)
	book, err := ledger.Open(context.Background(), js, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := book.Get(context.Background(), keys[0])
	if err != nil || rec == nil || !rec.Published {
		t.Errorf("ledger record %+v (error %v), want it marked published", rec, err)
	}
}

func TestCrashAfterSendIsOutcomeUnknown(t *testing.T) {
	for _, resend := range []bool{false, true} {
		t.Run(fmt.Sprintf("resend_unknown=%v", resend), func(t *testing.T) {
			_, nc := testenv.NATS(t)
			js := testenv.JetStream(t, nc)
			sim := testenv.Sim(t, claysim.Config{RateLimit: -1})
			sim.AddFault(claysim.Fault{Latency: time.Minute, Count: 1, Operation: claysim.OpRow})
			cfg := processor.Config{Instance: "dies", AckWait: time.Second, Lease: time.Second, MaxDeliver: 10, Hooks: processor.Hooks{DisableInProgress: true}}
			firstConn := testenv.Connect(t, natsURL(nc))
			first := testproc.Start(t, firstConn, sim.URL(), cfg)
			reqs := writes("crash-sent", 1)
			publish(t, js, reqs[0])
			book, err := ledger.Open(context.Background(), js, ledger.Config{})
			if err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 10*time.Second, "the row to be marked sent", func() bool {
				rec, _, err := book.Get(context.Background(), reqs[0].key)
				return err == nil && rec != nil && rec.State == ledger.Sent
			})
			time.Sleep(200 * time.Millisecond) // the request is written just after
			firstConn.Close()
			first.Abandon()

			second := processor.Config{Instance: "survivor", AckWait: time.Second}
			second.Tables = map[string]processor.Table{"leads": {ResendUnknown: resend, Webhook: webhookOf(sim, "leads")}}
			testproc.Start(t, testenv.Connect(t, natsURL(nc)), sim.URL(), second)
			s := &stack{nc: nc, js: js, sim: sim}
			out := s.await(t, keysOf(reqs), time.Minute)
			// The simulator records the cut-off call once the dead process's
			// connection is gone.
			testenv.Eventually(t, 30*time.Second, "the first call to be cut off", func() bool {
				return sim.Stats().ClientDisconnects >= 1
			})
			key := reqs[0].key
			submissions := sim.Stats().SubmissionsByKey[key]
			if resend {
				if len(out.Results[key]) != 1 || submissions != 2 {
					t.Errorf("resend_unknown: %d results and %d submissions, want 1 result and the key sent a second time", len(out.Results[key]), submissions)
				}
				return
			}
			if got := out.DLQ[key]; len(got) != 1 || got[0].Class != subjects.ClassOutcomeUnknown {
				t.Errorf("want one %s DLQ entry, got %+v and %d results", subjects.ClassOutcomeUnknown, got, len(out.Results[key]))
			}
			if submissions != 1 {
				t.Errorf("key reached Clay %d times, want 1", submissions)
			}
		})
	}
}

func webhookOf(sim *claysim.Running, table string) clay.Webhook {
	return clay.Webhook{URL: sim.URL() + clay.WebhookPathPrefix + processor.DefaultWebhookSource(table)}
}

func TestWebhookCapTurnsHeartbeatDegraded(t *testing.T) {
	cfg := processor.Config{WebhookCap: 10, WebhookWarnRatio: 0.5, HeartbeatInterval: 200 * time.Millisecond}
	s := newStack(t, claysim.Config{RateLimit: -1}, cfg)
	reqs := writes("cap", 12)
	for i := range reqs {
		reqs[i].operation = subjects.Row
		reqs[i].body = fmt.Sprintf(`{"table":"capped","row":{"n":%d}}`, i)
	}
	for _, r := range reqs[:6] {
		publish(t, s.js, r)
	}
	s.await(t, keysOf(reqs[:6]), 30*time.Second)
	testenv.Eventually(t, 5*time.Second, "the heartbeat to count the table's submissions", func() bool {
		return s.heartbeat(t).WebhookRemaining["capped"] == 4
	})
	if hb := s.heartbeat(t); hb.State != subjects.Degraded {
		t.Errorf("heartbeat state %s with 6 of 10 submissions used, want %s (warning at half)", hb.State, subjects.Degraded)
	}
}
