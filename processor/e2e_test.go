package processor_test

import (
	"context"
	"errors"
	"fmt"
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

// request is one request a test publishes.
type request struct {
	priority  subjects.Priority
	operation subjects.Operation
	key       string
	body      string
	header    nats.Header
}

func publish(t *testing.T, js jetstream.JetStream, r request) *jetstream.PubAck {
	t.Helper()
	msg := nats.NewMsg(subjects.RequestSubject(r.priority, r.operation))
	msg.Data = []byte(r.body)
	for name, values := range r.header {
		msg.Header[name] = values
	}
	if r.key != "" {
		msg.Header.Set(subjects.HeaderMsgID, r.key)
	}
	ack, err := js.PublishMsg(context.Background(), msg)
	if err != nil {
		t.Fatalf("publish %s request %s: %v", r.operation, r.key, err)
	}
	return ack
}

// validRequests returns n valid requests cycling through the operations
// and priorities.
func validRequests(n int) []request {
	var reqs []request
	for i := range n {
		prio := subjects.Priorities[i%3]
		op := subjects.Operations[(i/3)%3]
		var body string
		switch op {
		case subjects.Row:
			body = fmt.Sprintf(`{"table":"leads","row":{"email":"person%d@example.com","company":"Northwind %d"}}`, i, i)
		case subjects.Routine:
			body = fmt.Sprintf(`{"routine_id":"enrich-company","inputs":{"domain":"company%d.example.com"}}`, i)
		case subjects.Search:
			body = fmt.Sprintf(`{"source_type":"companies","filters":{"industry":"software","seq":%d},"limit":5}`, i)
		}
		reqs = append(reqs, request{priority: prio, operation: op, key: fmt.Sprintf("e2e-%02d", i), body: body})
	}
	return reqs
}

func TestEndToEndEveryRequestEndsOnce(t *testing.T) {
	_, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	sim := testenv.Sim(t, claysim.Config{RoutineDelay: 200 * time.Millisecond})
	testproc.Start(t, nc, sim.URL(), processor.Config{RoutinePollInterval: 100 * time.Millisecond})

	valid := validRequests(30)
	for _, r := range valid {
		publish(t, js, r)
	}
	for _, r := range valid[:4] {
		if ack := publish(t, js, r); !ack.Duplicate {
			t.Errorf("second publish of %s: PubAck.Duplicate = false, want true", r.key)
		}
	}
	invalid := []request{
		{priority: subjects.Normal, operation: subjects.Row, key: "bad-json", body: `{"table": "leads", "row": `},
		{priority: subjects.Bulk, operation: subjects.Search, key: "bad-limit", body: `{"source_type":"people","filters":{},"limit":0}`},
		{priority: subjects.Critical, operation: subjects.Routine, key: "bad-expected-stream", body: `{"inputs":{}}`,
			header: nats.Header{subjects.HeaderExpectedStream: {subjects.StreamRequests}, "X-Trace": {"abc"}}},
	}
	for _, r := range invalid {
		publish(t, js, r)
	}
	var keys []string
	for _, r := range append(valid, invalid...) {
		keys = append(keys, r.key)
	}

	var out *verify.Outcomes
	testenv.Eventually(t, 60*time.Second, "every request to end", func() bool {
		var err error
		out, err = verify.Collect(context.Background(), js)
		return err == nil && out.Ended(keys) == len(keys)
	})
	for _, problem := range out.ExactlyOnce(keys) {
		t.Error(problem)
	}
	for _, r := range valid {
		if len(out.Results[r.key]) != 1 {
			t.Errorf("key %s: %d results, want 1", r.key, len(out.Results[r.key]))
			continue
		}
		res := out.Results[r.key][0]
		if res.Status != subjects.StatusOK || res.Source != subjects.SourceClay || res.Operation != r.operation || res.Priority != r.priority {
			t.Errorf("key %s: result %+v, want status ok from clay for %s/%s", r.key, res, r.priority, r.operation)
		}
	}
	for _, r := range invalid {
		entries := out.DLQ[r.key]
		if len(entries) != 1 {
			t.Errorf("key %s: %d DLQ entries, want 1", r.key, len(entries))
			continue
		}
		if entries[0].Class != subjects.ClassInvalidRequest {
			t.Errorf("key %s: class %s, want %s", r.key, entries[0].Class, subjects.ClassInvalidRequest)
		}
		if string(entries[0].Data) != r.body {
			t.Errorf("key %s: DLQ body %q, want the original %q", r.key, entries[0].Data, r.body)
		}
	}
	kept := out.DLQ["bad-expected-stream"][0].Header
	if got := kept.Get("Clay-Orig-" + subjects.HeaderExpectedStream); got != subjects.StreamRequests {
		t.Errorf("Clay-Orig-Nats-Expected-Stream = %q, want %q", got, subjects.StreamRequests)
	}
	if got := kept.Get(subjects.HeaderExpectedStream); got != "" {
		t.Errorf("DLQ entry still carries %s = %q", subjects.HeaderExpectedStream, got)
	}
	if got := kept.Get("X-Trace"); got != "abc" {
		t.Errorf("custom header X-Trace = %q, want abc", got)
	}

	stats := sim.Stats()
	for _, r := range valid {
		if r.operation == subjects.Search {
			continue
		}
		if n := stats.SubmissionsByKey[r.key]; n != 1 {
			t.Errorf("key %s reached the simulator %d times, want 1", r.key, n)
		}
	}
}

func TestPublishToUnknownOperationFails(t *testing.T) {
	_, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	sim := testenv.Sim(t, claysim.Config{})
	testproc.Start(t, nc, sim.URL(), processor.Config{})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := js.Publish(ctx, subjects.RequestPrefix+".normal.bogus", []byte(`{}`))
	if !errors.Is(err, jetstream.ErrNoStreamResponse) && !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("publish to clay.request.normal.bogus: err = %v, want no responders", err)
	}
}
