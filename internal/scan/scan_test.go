package scan_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/scan"
	"github.com/claybridge/claybridge/internal/testenv"
)

// newStream creates stream "SCAN" on scan.> with retention and stores n
// messages, alternating between scan.a and scan.b, each with its index in
// the header "Index".
func newStream(t *testing.T, retention jetstream.RetentionPolicy, n int) jetstream.JetStream {
	t.Helper()
	_, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SCAN", Subjects: []string{"scan.>"}, Retention: retention}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		msg := nats.NewMsg("scan.a")
		if i%2 == 1 {
			msg.Subject = "scan.b"
		}
		msg.Header.Set("Index", strconv.Itoa(i))
		msg.Data = []byte(fmt.Sprintf("body %d", i))
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	return js
}

func TestStreamReadsEveryStoredMessage(t *testing.T) {
	const n = 2500 // more than one batch
	js := newStream(t, jetstream.LimitsPolicy, n)
	var read []int
	var lastLeft uint64 = 1
	cfg := scan.Config{Stream: "SCAN", Progress: func(_, left uint64) { lastLeft = left }}
	err := scan.Stream(context.Background(), js, cfg, func(msg jetstream.Msg) error {
		i, _ := strconv.Atoi(msg.Headers().Get("Index"))
		read = append(read, i)
		if string(msg.Data()) != fmt.Sprintf("body %d", i) {
			t.Errorf("message %d has body %q", i, msg.Data())
		}
		// A message stored during the scan is not read.
		_, err := js.Publish(context.Background(), "scan.a", []byte("late"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(read) != n {
		t.Fatalf("read %d messages, want %d", len(read), n)
	}
	for i, got := range read {
		if got != i {
			t.Fatalf("message %d read at position %d: not in stream order", got, i)
		}
	}
	if lastLeft != 0 {
		t.Errorf("last progress left %d, want 0", lastLeft)
	}
}

func TestStreamFiltersAndHeadersOnly(t *testing.T) {
	js := newStream(t, jetstream.LimitsPolicy, 10)
	count := 0
	cfg := scan.Config{Stream: "SCAN", Filters: []string{"scan.b"}, HeadersOnly: true}
	err := scan.Stream(context.Background(), js, cfg, func(msg jetstream.Msg) error {
		count++
		if msg.Subject() != "scan.b" {
			t.Errorf("read %s, want only scan.b", msg.Subject())
		}
		if len(msg.Data()) != 0 || msg.Headers().Get(nats.MsgSize) == "" {
			t.Errorf("headers-only message has %d body bytes and size %q", len(msg.Data()), msg.Headers().Get(nats.MsgSize))
		}
		return nil
	})
	if err != nil || count != 5 {
		t.Errorf("read %d messages on scan.b (%v), want 5", count, err)
	}

	count = 0
	cfg = scan.Config{Stream: "SCAN", Since: time.Now().Add(time.Hour)}
	err = scan.Stream(context.Background(), js, cfg, func(jetstream.Msg) error { count++; return nil })
	if err != nil || count != 0 {
		t.Errorf("read %d messages stored in the future (%v), want 0", count, err)
	}
}

func TestStreamMissingSaysToStartClaybridge(t *testing.T) {
	_, nc := testenv.NATS(t)
	err := scan.Stream(context.Background(), testenv.JetStream(t, nc), scan.Config{Stream: "NONE"}, nil)
	if err == nil {
		t.Fatal("scan of a missing stream succeeded")
	}
	if got := err.Error(); got != "stream NONE not found; start claybridge (make run) first" {
		t.Errorf("error %q, want it to name the stream and say to start claybridge", got)
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("error %v does not wrap jetstream.ErrStreamNotFound", err)
	}
}

func TestByGetReadsWorkQueue(t *testing.T) {
	js := newStream(t, jetstream.WorkQueuePolicy, 6)
	ctx := context.Background()
	// A consumer of scan.a makes the server reject any other consumer
	// whose filter overlaps, as claybridge's consumers do on CLAY_REQUESTS.
	if _, err := js.CreateConsumer(ctx, "SCAN", jetstream.ConsumerConfig{Durable: "a", FilterSubject: "scan.a", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	if err := scan.Stream(ctx, js, scan.Config{Stream: "SCAN"}, func(jetstream.Msg) error { return nil }); err == nil {
		t.Error("the server accepted an overlapping consumer on a work-queue stream, which ByGet exists to avoid")
	}
	var read []string
	err := scan.ByGet(ctx, js, "SCAN", "scan.>", func(msg *jetstream.RawStreamMsg) error {
		read = append(read, msg.Header.Get("Index"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(read) != "[0 1 2 3 4 5]" {
		t.Errorf("read %v, want [0 1 2 3 4 5]", read)
	}
	read = nil
	err = scan.ByGet(ctx, js, "SCAN", "scan.b", func(msg *jetstream.RawStreamMsg) error {
		read = append(read, msg.Header.Get("Index"))
		return nil
	})
	if err != nil || fmt.Sprint(read) != "[1 3 5]" {
		t.Errorf("read %v (%v) on scan.b, want [1 3 5]", read, err)
	}
}
