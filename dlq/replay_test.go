package dlq_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestRootKey(t *testing.T) {
	tests := map[string]string{
		"lead-7":        "lead-7",
		"lead-7~r1":     "lead-7",
		"lead-7~r12":    "lead-7",
		"lead-7~r0":     "lead-7~r0",
		"lead-7~r01":    "lead-7~r01",
		"lead-7~rx":     "lead-7~rx",
		"lead-7~r":      "lead-7~r",
		"~r1":           "~r1",
		"a~r1~r2":       "a~r1",
		"CLAY_REQUESTS": "CLAY_REQUESTS",
	}
	for key, want := range tests {
		if got := dlq.RootKey(key); got != want {
			t.Errorf("RootKey(%q) = %q, want %q", key, got, want)
		}
	}
	if got := dlq.ReplayKey("lead-7", 3); got != "lead-7~r3" {
		t.Errorf("ReplayKey(lead-7, 3) = %q, want lead-7~r3", got)
	}
}

// setup creates claybridge's streams and buckets, with no processor
// running, so republished requests stay in CLAY_REQUESTS.
func setup(t *testing.T, cfg processor.Config) jetstream.JetStream {
	t.Helper()
	_, nc := testenv.NATS(t)
	proc, err := processor.New(nc, clay.New(clay.Config{BaseURL: "http://127.0.0.1:1"}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return testenv.JetStream(t, nc)
}

// deadLetter stores a DLQ entry for a row request of key, as the
// processor would, and returns it as listed.
func deadLetter(t *testing.T, js jetstream.JetStream, key string, origSeq uint64) dlq.Entry {
	t.Helper()
	orig := dlq.Original{
		Subject:  subjects.RequestSubject(subjects.Normal, subjects.Row),
		Sequence: origSeq,
		Header: nats.Header{
			subjects.HeaderMsgID:          {key},
			subjects.HeaderExpectedStream: {subjects.StreamRequests},
			"X-Tenant":                    {"acme"},
		},
		Data: []byte(`{"table":"leads","row":{"email":"ada@example.com"}}`),
	}
	f := dlq.Failure{Key: key, Class: subjects.ClassClayRejected, HTTPStatus: 422, Error: "rejected", Attempts: 1}
	msg := dlq.NewEntry(orig, subjects.Normal, subjects.Row, f)
	ack, err := js.PublishMsg(context.Background(), msg)
	if err != nil {
		t.Fatalf("publish DLQ entry: %v", err)
	}
	e, err := dlq.Get(context.Background(), js, ack.Sequence)
	if err != nil {
		t.Fatalf("read DLQ entry back: %v", err)
	}
	return *e
}

// requests returns the Nats-Msg-Id of every request stored now.
func requests(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	stream, err := js.Stream(context.Background(), subjects.StreamRequests)
	if err != nil {
		t.Fatal(err)
	}
	state := stream.CachedInfo().State
	var ids []string
	for seq := state.FirstSeq; state.Msgs > 0 && seq <= state.LastSeq; seq++ {
		msg, err := stream.GetMsg(context.Background(), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, msg.Header.Get(subjects.HeaderMsgID))
	}
	return ids
}

func TestReplayRepublishesOriginal(t *testing.T) {
	js := setup(t, processor.Config{})
	e := deadLetter(t, js, "orig-1", 7)
	done, err := dlq.Replay(context.Background(), js, []dlq.Entry{e}, dlq.ReplayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := done[0]
	if r.Err != nil || !r.Published || !r.Removed || r.Key != "orig-1~r1" {
		t.Fatalf("replayed = %+v, want orig-1~r1 published and removed", r)
	}

	stream, _ := js.Stream(context.Background(), subjects.StreamRequests)
	msg, err := stream.GetMsg(context.Background(), r.Sequence)
	if err != nil {
		t.Fatalf("read republished request: %v", err)
	}
	if msg.Subject != e.OrigSubject {
		t.Errorf("subject %s, want %s", msg.Subject, e.OrigSubject)
	}
	if string(msg.Data) != string(e.Data) {
		t.Errorf("body %s, want %s", msg.Data, e.Data)
	}

	want := map[string]string{
		subjects.HeaderMsgID: "orig-1~r1", subjects.HeaderReplayOf: "orig-1", "X-Tenant": "acme",
		subjects.HeaderExpectedStream: subjects.StreamRequests,
	}
	for name, value := range want {
		if got := msg.Header.Get(name); got != value {
			t.Errorf("header %s = %q, want %q", name, got, value)
		}
	}
	for name := range msg.Header {
		if hasPrefix(name, subjects.HeaderOrigPrefix) || name == subjects.HeaderErrorClass || name == subjects.HeaderRequestKey {
			t.Errorf("republished request carries DLQ header %s", name)
		}
	}
	if _, err := dlq.Get(context.Background(), js, e.Sequence); !errors.Is(err, dlq.ErrNotFound) {
		t.Errorf("entry still in the DLQ after replay: err = %v", err)
	}
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

func TestReplayAfterCrashPublishesOnce(t *testing.T) {
	const window = 200 * time.Millisecond
	js := setup(t, processor.Config{DuplicateWindow: window})
	e := deadLetter(t, js, "crash-1", 11)

	crash := errors.New("stopped before the delete")
	var cfg dlq.ReplayConfig
	dlq.SetBeforeDelete(&cfg, func(dlq.Replayed) error { return crash })
	done, err := dlq.Replay(context.Background(), js, []dlq.Entry{e}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(done[0].Err, crash) || !done[0].Published || done[0].Removed {
		t.Fatalf("first replay = %+v, want published, stopped before removing", done[0])
	}
	if _, err := dlq.Get(context.Background(), js, e.Sequence); err != nil {
		t.Fatalf("entry gone after a replay that stopped before its delete: %v", err)
	}

	// Past the duplicate window the stream no longer drops a repeat, so
	// only the replay's own check keeps it from publishing twice.
	time.Sleep(2 * window)
	done, err = dlq.Replay(context.Background(), js, []dlq.Entry{e}, dlq.ReplayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := done[0]
	if r.Err != nil || r.Key != "crash-1~r1" || !r.Resumed || r.Published || !r.Removed {
		t.Errorf("second replay = %+v, want crash-1~r1 resumed, not published, removed", r)
	}
	if ids := requests(t, js); len(ids) != 1 || ids[0] != "crash-1~r1" {
		t.Errorf("requests stored = %v, want exactly [crash-1~r1]", ids)
	}

	// A third run finds no entry: nothing to publish.
	done, err = dlq.Replay(context.Background(), js, []dlq.Entry{e}, dlq.ReplayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(done[0].Err, dlq.ErrNotFound) {
		t.Errorf("third replay err = %v, want ErrNotFound", done[0].Err)
	}
	if ids := requests(t, js); len(ids) != 1 {
		t.Errorf("requests stored = %v, want one", ids)
	}
}

func TestReplayNeverReusesKey(t *testing.T) {
	js := setup(t, processor.Config{})
	first := deadLetter(t, js, "reuse-1", 21)
	second := deadLetter(t, js, "reuse-1", 22)
	third := deadLetter(t, js, "reuse-1~r1", 23)

	dry, err := dlq.Replay(context.Background(), js, []dlq.Entry{first}, dlq.ReplayConfig{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	// reuse-1~r1 has a DLQ entry of its own (third), so it is used.
	if dry[0].Key != "reuse-1~r2" || dry[0].Published || dry[0].Removed {
		t.Errorf("dry run = %+v, want key reuse-1~r2, nothing done", dry[0])
	}
	if ids := requests(t, js); len(ids) != 0 {
		t.Fatalf("dry run published %v", ids)
	}

	done, err := dlq.Replay(context.Background(), js, []dlq.Entry{first, second, third}, dlq.ReplayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"reuse-1~r2", "reuse-1~r3", "reuse-1~r4"}
	for i, r := range done {
		if r.Err != nil || r.Key != want[i] {
			t.Errorf("entry %d replayed as %q (err %v), want %s", i, r.Key, r.Err, want[i])
		}
	}
}

func TestReplayReplayOfNamesParent(t *testing.T) {
	js := setup(t, processor.Config{})
	e := deadLetter(t, js, "parent-1~r1", 31)
	done, err := dlq.Replay(context.Background(), js, []dlq.Entry{e}, dlq.ReplayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	stream, _ := js.Stream(context.Background(), subjects.StreamRequests)
	msg, err := stream.GetMsg(context.Background(), done[0].Sequence)
	if err != nil {
		t.Fatalf("read republished request: %v", err)
	}
	if got := msg.Header.Get(subjects.HeaderMsgID); got != "parent-1~r2" {
		t.Errorf("Nats-Msg-Id %q, want parent-1~r2", got)
	}
	if got := msg.Header.Get(subjects.HeaderReplayOf); got != "parent-1~r1" {
		t.Errorf("Clay-Replay-Of %q, want parent-1~r1", got)
	}
}

func TestConcurrentReplaysPublishOnce(t *testing.T) {
	js := setup(t, processor.Config{})
	e := deadLetter(t, js, "race-1", 41)
	results := make(chan dlq.Replayed, 4)
	for range 4 {
		go func() {
			done, err := dlq.Replay(context.Background(), js, []dlq.Entry{e}, dlq.ReplayConfig{})
			if err != nil {
				t.Error(err)
				results <- dlq.Replayed{}
				return
			}
			results <- done[0]
		}()
	}
	for range 4 {
		if r := <-results; r.Key != "" && r.Key != "race-1~r1" {
			t.Errorf("a replay used key %s, want race-1~r1", r.Key)
		}
	}
	if ids := requests(t, js); len(ids) != 1 || ids[0] != "race-1~r1" {
		t.Errorf("requests stored = %v, want exactly [race-1~r1]", ids)
	}
}
