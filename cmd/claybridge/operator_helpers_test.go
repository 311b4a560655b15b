package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/internal/verify"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// opStack is an embedded NATS server, a simulator and a processor, with
// NATS_URL pointing at the server for the commands under test.
type opStack struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	sim  *claysim.Running
	proc *testproc.Processor
}

// newOpStack starts the stack with no rate limit, so tests with hundreds
// of rows stay fast.
func newOpStack(t *testing.T, cfg processor.Config) *opStack {
	t.Helper()
	srv, nc := testenv.NATS(t)
	sim := testenv.Sim(t, claysim.Config{RateLimit: -1, RoutineDelay: -1})
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	if cfg.Instance == "" {
		cfg.Instance = processor.SanitizeToken("test-" + t.Name())
	}
	t.Setenv("NATS_URL", srv.ClientURL())
	return &opStack{nc: nc, js: testenv.JetStream(t, nc), sim: sim, proc: testproc.Start(t, nc, sim.URL(), cfg)}
}

// publish publishes a request with key and extra headers.
func (s *opStack) publish(t *testing.T, p subjects.Priority, op subjects.Operation, key, body string, header nats.Header) {
	t.Helper()
	req := client.Request{Priority: p, Operation: op, ID: key, Body: []byte(body), Header: header}
	if _, err := client.Publish(context.Background(), s.js, req); err != nil {
		t.Fatalf("publish %s: %v", key, err)
	}
}

// await returns the first result or DLQ entry of key.
func (s *opStack) await(t *testing.T, op subjects.Operation, key string) client.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := client.Await(ctx, s.js, op, key)
	if err != nil {
		t.Fatalf("await outcome of %s: %v", key, err)
	}
	return out
}

// entries returns the DLQ entries stored now that match f.
func (s *opStack) entries(t *testing.T, f dlq.Filter) []dlq.Entry {
	t.Helper()
	list, err := dlq.List(context.Background(), s.js, f, dlq.ListConfig{HeadersOnly: true})
	if err != nil {
		t.Fatalf("list DLQ entries: %v", err)
	}
	return list
}

// waitEntries waits until the DLQ holds n entries.
func (s *opStack) waitEntries(t *testing.T, n int) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("%d DLQ entries", n), func() bool {
		return len(s.entries(t, dlq.Filter{})) == n
	})
}

// outcomes returns every result and DLQ entry stored now.
func (s *opStack) outcomes(t *testing.T) *verify.Outcomes {
	t.Helper()
	out, err := verify.Collect(context.Background(), s.js)
	if err != nil {
		t.Fatalf("read outcomes: %v", err)
	}
	return out
}

// rowBody returns a valid row body, distinct per i.
func rowBody(i int) string {
	return fmt.Sprintf(`{"table":"leads","row":{"email":"person%d@example.com"}}`, i)
}
