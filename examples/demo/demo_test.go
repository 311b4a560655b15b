package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/examples"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/internal/verify"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// With the processor's default budget of 10 webhook records per second and
// its small bulk pool, the thousand samples take about a minute. These
// tests therefore turn the budget and the simulator's rate limit off, give
// each priority 20 workers and make routine runs finish at once.
func fastProcessor() processor.Config {
	workers := map[subjects.Priority]int{subjects.Critical: 20, subjects.Normal: 20, subjects.Bulk: 20}
	return processor.Config{RateLimit: processor.Unlimited, RoutinePollInterval: 10 * time.Millisecond, Workers: workers}
}

func fastSim() claysim.Config {
	return claysim.Config{RateLimit: -1, RoutineDelay: -1}
}

func TestDemoEveryRequestEndsOnce(t *testing.T) {
	srv, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	sim := testenv.Sim(t, fastSim())
	testproc.Start(t, nc, sim.URL(), fastProcessor())
	reqs, err := examples.ReadFile("../requests.jsonl")
	if err != nil {
		t.Fatal(err)
	}

	var stdout bytes.Buffer
	args := []string{"--file", "../requests.jsonl", "--nats-url", srv.ClientURL(), "--sim-url", sim.URL(),
		"--timeout", "60s", "--settle", "300ms", "--run-tag", "t1"}
	if code := run(context.Background(), args, &stdout, io.Discard); code != 0 {
		t.Fatalf("demo exit status %d, want 0; output:\n%s", code, stdout.String())
	}
	t.Logf("demo output:\n%s", stdout.String())
	for _, want := range []string{"keys submitted more than once: 0", "every request ended in exactly one result or DLQ entry"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// Check the streams and the simulator directly, not through the demo.
	stored, clayKeys := 0, 0
	for _, r := range reqs {
		if r.Expect == examples.ExpectDuplicate {
			continue
		}
		stored++
		if r.Operation != subjects.Search && r.Expect != string(subjects.ClassInvalidRequest) {
			clayKeys++
		}
	}
	out, err := verify.Collect(context.Background(), js)
	if err != nil {
		t.Fatalf("collect outcomes: %v", err)
	}
	var keys []string
	for key := range out.Results {
		keys = append(keys, key)
	}
	for key := range out.DLQ {
		keys = append(keys, key)
	}
	if len(keys) != stored {
		t.Errorf("%d keys have outcomes, want %d (one per stored request)", len(keys), stored)
	}
	for _, problem := range out.ExactlyOnce(keys) {
		t.Error(problem)
	}
	stats := sim.Stats()
	// A search sends one Clay request per result page, so only row and
	// routine keys must arrive once.
	rowsAndRoutines := map[string]int{}
	for key, n := range stats.SubmissionsByKey {
		if !strings.HasPrefix(key, subjects.StreamRequests+"-") && !strings.Contains(key, "-search-") {
			rowsAndRoutines[key] = n
		}
	}
	for _, key := range verify.SubmittedTwice(rowsAndRoutines) {
		t.Errorf("row or routine key %s reached the simulator more than once", key)
	}
	if len(rowsAndRoutines) != clayKeys {
		t.Errorf("simulator saw %d row and routine keys, want %d", len(rowsAndRoutines), clayKeys)
	}
}

func TestDemoRunsTwiceOnOneServer(t *testing.T) {
	srv, nc := testenv.NATS(t)
	sim := testenv.Sim(t, fastSim())
	testproc.Start(t, nc, sim.URL(), fastProcessor())
	file := sampleFile(t, 60)
	for _, tag := range []string{"first", "second"} {
		var stdout bytes.Buffer
		args := []string{"--file", file, "--nats-url", srv.ClientURL(), "--sim-url", sim.URL(),
			"--timeout", "30s", "--settle", "200ms", "--run-tag", tag}
		if code := run(context.Background(), args, &stdout, io.Discard); code != 0 {
			t.Fatalf("run %s: exit status %d, want 0; output:\n%s", tag, code, stdout.String())
		}
	}
}

func TestDemoFailsWhenRequestsDoNotEnd(t *testing.T) {
	srv, nc := testenv.NATS(t)
	sim := testenv.Sim(t, fastSim())
	// Set up the streams and consumers, but process nothing.
	proc, err := processor.New(nc, clay.New(clay.Config{BaseURL: sim.URL()}), processor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	args := []string{"--file", sampleFile(t, 5), "--nats-url", srv.ClientURL(), "--sim-url", sim.URL(), "--timeout", "300ms"}
	if code := run(context.Background(), args, &stdout, io.Discard); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(stdout.String(), "requests did not end in time") {
		t.Errorf("output does not report the requests that did not end:\n%s", stdout.String())
	}
}

func TestDemoWithoutClaybridgeSaysSo(t *testing.T) {
	srv, _ := testenv.NATS(t)
	var stderr bytes.Buffer
	args := []string{"--file", sampleFile(t, 3), "--nats-url", srv.ClientURL(), "--sim-url", "http://127.0.0.1:1"}
	if code := run(context.Background(), args, io.Discard, &stderr); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "make run") {
		t.Errorf("error does not say to start claybridge:\n%s", stderr.String())
	}
}

func TestSummaryProblems(t *testing.T) {
	row := func(expect string, dup bool, key string) sent {
		return sent{
			Request:   examples.Request{Operation: subjects.Row, Expect: expect},
			Published: client.Published{Key: key, Duplicate: dup},
		}
	}
	result := client.Outcome{Kind: client.KindResult, Data: []byte(`{"status":"ok"}`)}
	tests := []struct {
		name      string
		published []sent
		got       map[string][]client.Outcome
		before    map[string]int
		after     map[string]int
		// attempts are the arrivals after the run; accepted ones are in
		// after. Without attempts, every arrival was accepted.
		attempts   map[string]int
		want       string
		wantResent int
	}{
		{name: "clean", published: []sent{row("result", false, "a")}, got: map[string][]client.Outcome{"a": {result}},
			after: map[string]int{"a": 1}},
		{name: "resent after a 429", published: []sent{row("result", false, "a")}, got: map[string][]client.Outcome{"a": {result}},
			after: map[string]int{"a": 1}, attempts: map[string]int{"a": 2}, wantResent: 1},
		{name: "not ended", published: []sent{row("result", false, "a")}, want: "did not end in time"},
		{name: "two outcomes", published: []sent{row("result", false, "a")},
			got: map[string][]client.Outcome{"a": {result, result}}, after: map[string]int{"a": 1}, want: "ended more than once"},
		{name: "submitted twice", published: []sent{row("result", false, "a")}, got: map[string][]client.Outcome{"a": {result}},
			after: map[string]int{"a": 2}, want: "reached Clay more than once"},
		{name: "earlier submissions do not count", published: []sent{row("result", false, "a")},
			got: map[string][]client.Outcome{"a": {result}}, before: map[string]int{"a": 3}, after: map[string]int{"a": 4}},
		{name: "duplicate not suppressed", published: []sent{row("result", false, "a"), row("duplicate", false, "a")},
			got: map[string][]client.Outcome{"a": {result}}, after: map[string]int{"a": 1}, want: "want a duplicate"},
		{name: "result instead of DLQ entry", published: []sent{row("invalid_request", false, "a")},
			got: map[string][]client.Outcome{"a": {result}}, want: "ended as result, want invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(tt.published, pendingKeys(tt.published), tt.got)
			attempts := tt.attempts
			if attempts == nil {
				attempts = tt.after
			}
			before := &simStats{SubmissionsByKey: tt.before, AcceptedByKey: tt.before}
			after := &simStats{SubmissionsByKey: attempts, AcceptedByKey: tt.after}
			s.addSimulator(tt.published, before, after)
			problems := strings.Join(s.Problems(), "\n")
			if tt.want == "" && problems != "" {
				t.Errorf("problems:\n%s\nwant none", problems)
			}
			if tt.want != "" && !strings.Contains(problems, tt.want) {
				t.Errorf("problems:\n%s\nwant one containing %q", problems, tt.want)
			}
			if len(s.Resent) != tt.wantResent {
				t.Errorf("resent keys %v, want %d", s.Resent, tt.wantResent)
			}
		})
	}
}

// sampleFile writes the first n sample requests to a temporary file.
func sampleFile(t *testing.T, n int) string {
	t.Helper()
	var buf bytes.Buffer
	if err := examples.Write(&buf, examples.Generate()[:n]); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "requests.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
