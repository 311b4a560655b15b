package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/fallback"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestForgetErasesEverything(t *testing.T) {
	s := newOpStack(t, processor.Config{})
	ctx := context.Background()
	const key = "forget-1"
	// An answer too large for one message, so its data goes to the Object
	// Store, for the result and for the cache.
	blob := strings.Repeat("x", 2<<20)
	page := `{"search_id":"big","has_more":false,"results":[{"name":"Large Corp","notes":"` + blob + `"}]}`
	s.sim.AddFault(claysim.Fault{Status: http.StatusOK, Body: page, Count: 1, Operation: claysim.OpSearch})
	s.publish(t, subjects.Normal, subjects.Search, key, `{"source_type":"people","filters":{"job_title":"CTO"},"limit":3}`, nil)
	if out := s.await(t, subjects.Search, key); out.Kind != client.KindResult {
		t.Fatalf("outcome of %s is a DLQ entry: %+v", key, out.Failure())
	}
	got := runCLI(t, "results", "--json", key)
	var found []resultsReport
	if err := json.Unmarshal([]byte(got.stdout), &found); err != nil || len(found) != 1 {
		t.Fatalf("results --json %s: %v", key, err)
	}
	if got.code != 0 || !strings.Contains(string(found[0].Data), blob) {
		t.Errorf("results %s: exit status %d, %d bytes of data, want the answer read from the Object Store", key, got.code, len(found[0].Data))
	}
	ledgerKV := bucket(t, s.js, subjects.BucketLedger)
	rec, _, err := ledger.New(ledgerKV, ledger.Config{}).Get(ctx, key)
	if err != nil || rec == nil || rec.CacheKey == "" {
		t.Fatalf("ledger record of %s = %+v (%v), want one naming a cache key", key, rec, err)
	}
	cacheKV := bucket(t, s.js, subjects.BucketCache)
	if _, err := cacheKV.Get(ctx, rec.CacheKey); err != nil {
		t.Fatalf("cache entry of %s: %v", key, err)
	}
	// What the processor may also hold for a key, stored here directly.
	pendingKV := bucket(t, s.js, subjects.BucketPending)
	put(t, ledgerKV, ledger.AttemptsKey(key), `[{"attempt":1,"error":"timeout"}]`)
	put(t, ledgerKV, dlq.ReservationKey(key), `{"owner":"someone"}`)
	put(t, pendingKV, subjects.PendingKey(key), `{"key":"forget-1"}`)
	callbackSubject := subjects.CallbackSubject(key)
	for range 2 {
		if _, err := s.js.Publish(ctx, callbackSubject, []byte(`{"email":"ada@example.com"}`)); err != nil {
			t.Fatal(err)
		}
	}
	storeEntry(t, s.js, key, 900)
	storeEntry(t, s.js, key+"~r1", 901)

	for _, name := range []string{subjects.ObjectResults, fallback.ObjectBucket} {
		if n := countObjects(t, s.js, name); n != 1 {
			t.Fatalf("Object Store %s holds %d objects before forget, want 1", name, n)
		}
	}

	got = runCLI(t, "forget", key)
	if got.code != 0 {
		t.Fatalf("forget: exit status %d, stderr:\n%s", got.code, got.stderr)
	}
	for _, want := range []string{
		"results in CLAY_RESULTS 1 erased", "result data in CLAY_RESULT_OBJECTS 1 erased",
		"fallback cache entry in CLAY_CACHE 1 erased", "DLQ entries in CLAY_DLQ 1 erased", "callbacks in CLAY_CALLBACKS 2 erased",
		"replays of this key, not erased: forget-1~r1",
	} {
		if !strings.Contains(oneSpaced(got.stdout), want) {
			t.Errorf("forget output lacks %q:\n%s", want, got.stdout)
		}
	}

	if out := s.outcomes(t); len(out.Results[key]) != 0 || len(out.DLQ[key]) != 0 {
		t.Errorf("after forget: %d results and %d DLQ entries of %s, want none", len(out.Results[key]), len(out.DLQ[key]), key)
	}
	if n := len(s.entries(t, dlq.Filter{Keys: []string{key + "~r1"}})); n != 1 {
		t.Errorf("%d DLQ entries of the replay %s~r1, want it kept", n, key)
	}
	for _, k := range []struct {
		kv   jetstream.KeyValue
		name string
	}{
		{ledgerKV, ledger.KVKey(key)}, {ledgerKV, ledger.AttemptsKey(key)}, {ledgerKV, dlq.ReservationKey(key)},
		{pendingKV, subjects.PendingKey(key)}, {cacheKV, rec.CacheKey},
	} {
		if _, err := k.kv.Get(ctx, k.name); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("%s in %s after forget: err = %v, want key not found", k.name, k.kv.Bucket(), err)
		}
	}
	for _, name := range []string{subjects.ObjectResults, fallback.ObjectBucket} {
		if n := countObjects(t, s.js, name); n != 0 {
			t.Errorf("Object Store %s holds %d objects after forget, want none", name, n)
		}
	}
	if got := runCLI(t, "results", key); got.code != exitResultsNotFound {
		t.Errorf("results %s after forget: exit status %d, want %d", key, got.code, exitResultsNotFound)
	}
	stream, err := s.js.Stream(ctx, subjects.StreamCallbacks)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(callbackSubject))
	if err != nil || info.State.Subjects[callbackSubject] != 0 {
		t.Errorf("callbacks of %s after forget: %v (%v), want none", key, info.State.Subjects, err)
	}

	got = runCLI(t, "forget", "--json", key)
	var reports []forgetReport
	if err := json.Unmarshal([]byte(got.stdout), &reports); err != nil || len(reports) != 1 {
		t.Fatalf("second forget --json: %v\n%s", err, got.stdout)
	}
	r := reports[0]
	if got.code != 0 || r.Results+r.DLQEntries+r.Requests != 0 || r.Callbacks != 0 || r.LedgerRecord || r.CacheEntry || r.PendingRecord {
		t.Errorf("second forget = %+v (exit status %d), want nothing erased", r, got.code)
	}
}

func TestForgetErasesWaitingRequest(t *testing.T) {
	s := newOpStack(t, processor.Config{})
	if got := runCLI(t, "pause", "bulk", "row"); got.code != 0 {
		t.Fatalf("pause: exit status %d, stderr:\n%s", got.code, got.stderr)
	}
	s.publish(t, subjects.Bulk, subjects.Row, "forget-waiting", rowBody(7), nil)
	got := runCLI(t, "forget", "forget-waiting")
	if got.code != 0 || !strings.Contains(oneSpaced(got.stdout), "requests waiting in CLAY_REQUESTS 1 erased") {
		t.Errorf("forget: exit status %d, output:\n%s%s", got.code, got.stdout, got.stderr)
	}
	if got := runCLI(t, "resume", "bulk", "row"); got.code != 0 {
		t.Fatalf("resume: exit status %d, stderr:\n%s", got.code, got.stderr)
	}
	stream, err := s.js.Stream(context.Background(), subjects.StreamRequests)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "an empty request stream", func() bool {
		info, err := stream.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	})
	if out := s.outcomes(t); len(out.Results["forget-waiting"]) != 0 {
		t.Errorf("the forgotten request was processed after all")
	}
}

// oneSpaced returns s with each run of spaces made one space.
func oneSpaced(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

// countObjects returns the number of objects in an Object Store.
func countObjects(t *testing.T, js jetstream.JetStream, name string) int {
	t.Helper()
	store, err := js.ObjectStore(context.Background(), name)
	if err != nil {
		t.Fatalf("open Object Store %s: %v", name, err)
	}
	objects, err := store.List(context.Background())
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("list Object Store %s: %v", name, err)
	}
	return len(objects)
}

func bucket(t *testing.T, js jetstream.JetStream, name string) jetstream.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), name)
	if err != nil {
		t.Fatalf("open bucket %s: %v", name, err)
	}
	return kv
}

func put(t *testing.T, kv jetstream.KeyValue, key, value string) {
	t.Helper()
	if _, err := kv.Put(context.Background(), key, []byte(value)); err != nil {
		t.Fatalf("put %s in %s: %v", key, kv.Bucket(), err)
	}
}

// storeEntry stores a DLQ entry of key as the processor would.
func storeEntry(t *testing.T, js jetstream.JetStream, key string, origSeq uint64) {
	t.Helper()
	orig := dlq.Original{Subject: subjects.RequestSubject(subjects.Normal, subjects.Search), Sequence: origSeq,
		Header: nats.Header{subjects.HeaderMsgID: {key}}, Data: []byte(`{"source_type":"people"}`)}
	f := dlq.Failure{Key: key, Class: subjects.ClassInvalidRequest, Error: "invalid request"}
	if _, err := js.PublishMsg(context.Background(), dlq.NewEntry(orig, subjects.Normal, subjects.Search, f)); err != nil {
		t.Fatalf("store DLQ entry of %s: %v", key, err)
	}
}
