package main_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestRunRefusesConsumerWithBackOff(t *testing.T) {
	bin := buildBinary(t)
	srv, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	ctx := context.Background()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: subjects.StreamRequests, Subjects: subjects.RequestSubjects(),
		Retention: jetstream.WorkQueuePolicy, Discard: jetstream.DiscardNew,
	})
	if err != nil {
		t.Fatalf("create request stream: %v", err)
	}
	name := processor.ConsumerName(subjects.Normal, subjects.Search)
	_, err = js.CreateConsumer(ctx, subjects.StreamRequests, jetstream.ConsumerConfig{
		Durable: name, FilterSubject: subjects.RequestSubject(subjects.Normal, subjects.Search),
		AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5,
		BackOff: []time.Duration{time.Second, 5 * time.Second},
	})
	if err != nil {
		t.Fatalf("create consumer with BackOff: %v", err)
	}

	runCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, bin, "run", "--nats-url", srv.ClientURL(), "--sim",
		"--sim-listen", testenv.FreeAddr(t), "--http-listen", testenv.FreeAddr(t), "--log-format", "json")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("run with a BackOff consumer exited 0; output:\n%s", out)
	}
	if runCtx.Err() != nil {
		t.Fatalf("run did not exit within a minute; output:\n%s", out)
	}
	if !strings.Contains(string(out), name) || !strings.Contains(string(out), "BackOff") {
		t.Errorf("error does not name the consumer %s and its BackOff:\n%s", name, out)
	}
}
