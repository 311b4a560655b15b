package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/claybridge/claybridge/callback"
	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// callbackSecret signs the callback tokens in tests.
var callbackSecret = []byte("test-callback-secret-0123456789")

// callbackTable is the table configured to call back.
const callbackTable = "enrich"

// listener is a callback listener on a loopback port.
type listener struct {
	url      string
	registry *prometheus.Registry
}

// startListener serves a callback handler on its own NATS connection.
func startListener(t *testing.T, nc *nats.Conn) *listener {
	t.Helper()
	registry := prometheus.NewRegistry()
	h, err := callback.NewHandler(callback.Config{
		JetStream:  testenv.JetStream(t, testenv.Connect(t, natsURL(nc))),
		Secret:     callbackSecret,
		Registerer: registry,
	})
	if err != nil {
		t.Fatalf("new callback handler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &listener{url: srv.URL, registry: registry}
}

// callbackConfig returns cfg with the table "enrich" calling back to l.
func callbackConfig(cfg processor.Config, sim *claysim.Running, l *listener) processor.Config {
	cfg.Tables = map[string]processor.Table{callbackTable: {Callback: true, Webhook: webhookOf(sim, callbackTable)}}
	cfg.CallbackURL, cfg.CallbackSecret = l.url, callbackSecret
	return cfg
}

// newCallbackStack starts NATS, the simulator, a callback listener and a
// processor whose table "enrich" calls back.
func newCallbackStack(t *testing.T, simCfg claysim.Config, cfg processor.Config) (*stack, *listener) {
	t.Helper()
	_, nc := testenv.NATS(t)
	s := &stack{nc: nc, js: testenv.JetStream(t, nc), sim: testenv.Sim(t, simCfg)}
	l := startListener(t, nc)
	if cfg.Instance == "" {
		cfg.Instance = processor.SanitizeToken("test-" + t.Name())
	}
	s.proc = testproc.Start(t, nc, s.sim.URL(), callbackConfig(cfg, s.sim, l))
	return s, l
}

// enrichRows publishes n keyed rows for the callback table.
func enrichRows(t *testing.T, s *stack, prefix string, n int) []string {
	t.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%03d", prefix, i)
		body := fmt.Sprintf(`{"table":%q,"row":{"email":"lead%d@example.com"}}`, callbackTable, i)
		publish(t, s.js, request{priority: subjects.Normal, operation: subjects.Row, key: keys[i], body: body,
			header: nats.Header{"X-Trace": {keys[i]}}})
	}
	return keys
}

func TestCallbackRowsBatchedUnderRateBudget(t *testing.T) {
	s, _ := newCallbackStack(t, claysim.Config{CallbackDelay: 200 * time.Millisecond}, processor.Config{})
	// The 100 requests wait together, as a backlog does, instead of
	// trickling in at the speed of this test's publishes.
	consumer := processor.ConsumerName(subjects.Normal, subjects.Row)
	if _, err := s.js.PauseConsumer(context.Background(), subjects.StreamRequests, consumer, time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("pause %s: %v", consumer, err)
	}
	keys := enrichRows(t, s, "batched", 100)
	start := time.Now()
	if _, err := s.js.ResumeConsumer(context.Background(), subjects.StreamRequests, consumer); err != nil {
		t.Fatalf("resume %s: %v", consumer, err)
	}
	out := s.await(t, keys, time.Minute)
	noDLQ(t, out)
	assertOnce(t, s.sim, keys)

	for _, key := range keys {
		if len(out.Results[key]) != 1 {
			continue
		}
		var data map[string]any
		if err := json.Unmarshal(out.Results[key][0].Data, &data); err != nil {
			t.Fatalf("key %s: result data is not a JSON object: %v", key, err)
		}
		if data["enriched"] != true || data["company_size"] == nil || data[subjects.RowKeyColumn] != key {
			t.Errorf("key %s: result data %v, want the enriched row with enriched, company_size and its key", key, data)
		}
		if _, leaked := data[subjects.RowCallbackTokenColumn]; leaked {
			t.Errorf("key %s: result data carries the callback token", key)
		}
	}

	stats := s.sim.Stats()
	posts := stats.RequestsByOperation[claysim.OpRow]
	perPost := float64(stats.RecordsAccepted) / float64(posts)
	t.Logf("%d rows in %d POSTs (%.1f per POST) in %s", stats.RecordsAccepted, posts, perPost, time.Since(start).Round(time.Millisecond))
	if perPost < 8 {
		t.Errorf("%.1f rows per POST, want at least 8", perPost)
	}
	if n := stats.ResponsesByStatus["429"]; n > 0 {
		t.Errorf("Clay answered 429 %d times, want the budget to keep under its rate", n)
	}
}

func TestCallbackResultsOutlivePushingReplica(t *testing.T) {
	_, nc := testenv.NATS(t)
	s := &stack{nc: nc, js: testenv.JetStream(t, nc), sim: testenv.Sim(t, claysim.Config{RateLimit: -1, CallbackDelay: 2 * time.Second})}
	l := startListener(t, nc)
	cfg := processor.Config{RateLimit: processor.Unlimited}
	first := cfg
	first.Instance = "pusher"
	pusher := testproc.Start(t, testenv.Connect(t, natsURL(nc)), s.sim.URL(), callbackConfig(first, s.sim, l))

	keys := enrichRows(t, s, "handover", 30)
	testenv.Eventually(t, 10*time.Second, "every row to be pushed and acknowledged", func() bool {
		return s.pending(t) == 0 && s.sim.Stats().RecordsAccepted == len(keys)
	})
	pusher.Stop(t)
	if sent := s.sim.Stats().CallbacksSent; sent != 0 {
		t.Fatalf("%d callbacks arrived before the pushing replica stopped, want none", sent)
	}

	second := cfg
	second.Instance = "survivor"
	testproc.Start(t, testenv.Connect(t, natsURL(nc)), s.sim.URL(), callbackConfig(second, s.sim, l))
	out := s.await(t, keys, 30*time.Second)
	noDLQ(t, out)
	assertOnce(t, s.sim, keys)
	for _, key := range keys {
		if res := out.Results[key]; len(res) == 1 && res[0].Operation != subjects.Row {
			t.Errorf("key %s: result operation %s, want row", key, res[0].Operation)
		}
	}
}

func TestCallbackTimeoutDeadLetters(t *testing.T) {
	cfg := processor.Config{LongPollTimeout: time.Second, PendingCheckInterval: 100 * time.Millisecond}
	s, _ := newCallbackStack(t, claysim.Config{CallbackMode: claysim.CallbackNone}, cfg)
	keys := enrichRows(t, s, "silent", 3)
	out := s.await(t, keys, 30*time.Second)
	for _, key := range keys {
		entries := out.DLQ[key]
		if len(entries) != 1 {
			continue
		}
		if entries[0].Class != subjects.ClassCallbackTimeout {
			t.Errorf("key %s: DLQ class %s, want %s", key, entries[0].Class, subjects.ClassCallbackTimeout)
		}
		if got := entries[0].Header.Get("X-Trace"); got != key {
			t.Errorf("key %s: DLQ entry header X-Trace = %q, want the request's %q", key, got, key)
		}
		if !bytes.Contains(entries[0].Data, []byte("@example.com")) {
			t.Errorf("key %s: DLQ entry body %s, want the original request", key, entries[0].Data)
		}
	}
}

// A row whose sender dies after Clay accepted it, and before its pending
// record is stored, is awaited by its next delivery. A callback still ends
// it in a result, and without one it ends as outcome_unknown.
func TestCallbackAfterSenderDied(t *testing.T) {
	tests := []struct {
		mode  string
		class subjects.ErrorClass
	}{
		{mode: claysim.CallbackNormal},
		{mode: claysim.CallbackNone, class: subjects.ClassOutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			_, nc := testenv.NATS(t)
			simCfg := claysim.Config{RateLimit: -1, CallbackMode: tt.mode, CallbackDelay: 2 * time.Second}
			s := &stack{nc: nc, js: testenv.JetStream(t, nc), sim: testenv.Sim(t, simCfg)}
			l := startListener(t, nc)
			hook, crashed := crashPoint(t)
			first := processor.Config{Instance: "dies", AckWait: time.Second, Lease: time.Second, RateLimit: processor.Unlimited,
				Hooks: processor.Hooks{BeforeAwait: hook}}
			firstConn := testenv.Connect(t, natsURL(nc))
			dying := testproc.Start(t, firstConn, s.sim.URL(), callbackConfig(first, s.sim, l))
			keys := enrichRows(t, s, "lost", 1)
			<-crashed
			firstConn.Close() // the process is gone before its pending record is stored
			dying.Abandon()

			second := processor.Config{Instance: "survivor", AckWait: time.Second, RateLimit: processor.Unlimited,
				LongPollTimeout: 5 * time.Second, PendingCheckInterval: 100 * time.Millisecond}
			testproc.Start(t, testenv.Connect(t, natsURL(nc)), s.sim.URL(), callbackConfig(second, s.sim, l))
			out := s.await(t, keys, 30*time.Second)
			assertOnce(t, s.sim, keys)
			key := keys[0]
			if tt.class == "" {
				noDLQ(t, out)
				if len(out.Results[key]) != 1 {
					t.Errorf("key %s: %d results, want the callback's", key, len(out.Results[key]))
				}
				return
			}
			if got := out.DLQ[key]; len(got) != 1 || got[0].Class != tt.class {
				t.Errorf("key %s: DLQ entries %+v, want one %s", key, got, tt.class)
			}
		})
	}
}

func TestDuplicateCallbackPublishesOneResult(t *testing.T) {
	simCfg := claysim.Config{CallbackMode: claysim.CallbackDuplicate, CallbackDelay: 100 * time.Millisecond}
	s, l := newCallbackStack(t, simCfg, processor.Config{})
	keys := enrichRows(t, s, "twice", 5)
	s.await(t, keys, 30*time.Second)
	testenv.Eventually(t, 10*time.Second, "both copies of every callback", func() bool {
		return s.sim.Stats().CallbacksSent == 2*len(keys)
	})
	time.Sleep(500 * time.Millisecond) // a second result would be published by now
	out := s.await(t, keys, 10*time.Second)
	noDLQ(t, out)
	if n := counterValue(t, l.registry, "claybridge_callbacks_received_total", "outcome", "duplicate"); n != float64(len(keys)) {
		t.Errorf("%v duplicate callbacks counted, want %d", n, len(keys))
	}
}

func TestCallbackTokenChecked(t *testing.T) {
	cfg := processor.Config{LongPollTimeout: time.Minute}
	s, l := newCallbackStack(t, claysim.Config{CallbackMode: claysim.CallbackNone}, cfg)
	keys := enrichRows(t, s, "token", 1)
	key := keys[0]
	testenv.Eventually(t, 10*time.Second, "the row to be awaited", func() bool { return s.pending(t) == 0 })

	body := `{"email":"lead0@example.com","enriched":true}`
	cases := []struct {
		name  string
		key   string
		token string
		want  int
	}{
		{name: "missing token", key: key, token: "", want: http.StatusUnauthorized},
		{name: "wrong token", key: key, token: callback.Token([]byte("another-secret-0123456789"), key), want: http.StatusUnauthorized},
		{name: "token of another key", key: key, token: callback.Token(callbackSecret, "token-999"), want: http.StatusUnauthorized},
		{name: "unknown key", key: "never-sent", token: callback.Token(callbackSecret, "never-sent"), want: http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := postCallback(t, l, tc.key, tc.token, body); got != tc.want {
				t.Errorf("POST status %d, want %d", got, tc.want)
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // a wrongly stored callback would be published by now
	if got, err := collectKeys(s.js); err != nil || len(got) != 0 {
		t.Fatalf("results %v (err %v) after rejected callbacks, want none", got, err)
	}
	if n := counterValue(t, l.registry, "claybridge_callbacks_received_total", "outcome", "unauthorized"); n != 3 {
		t.Errorf("%v unauthorized callbacks counted, want 3", n)
	}
	if n := counterValue(t, l.registry, "claybridge_callbacks_received_total", "outcome", "unknown_key"); n != 1 {
		t.Errorf("%v unknown keys counted, want 1", n)
	}

	if got := postCallback(t, l, key, callback.Token(callbackSecret, key), body); got != http.StatusOK {
		t.Fatalf("POST with the right token: status %d, want 200", got)
	}
	out := s.await(t, keys, 10*time.Second)
	if res := out.Results[key]; len(res) == 1 && !bytes.Contains(res[0].Data, []byte(`"enriched":true`)) {
		t.Errorf("result data %s, want the posted row", res[0].Data)
	}
}

// postCallback posts body as Clay's callback for key and returns the
// status.
func postCallback(t *testing.T, l *listener, key, token, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost,
		l.url+subjects.CallbackPath+url.PathEscape(key), bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(subjects.HeaderCallbackToken, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST callback: %v", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}
