package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestPauseHoldsRequestsUntilResume(t *testing.T) {
	s := newOpStack(t, processor.Config{})
	got := runCLI(t, "pause", "--json", "normal", "row")
	var reports []pauseReport
	if err := json.Unmarshal([]byte(got.stdout), &reports); err != nil || got.code != 0 {
		t.Fatalf("pause --json: exit status %d, %v\n%s%s", got.code, err, got.stdout, got.stderr)
	}
	if len(reports) != 1 || reports[0].Consumer != "claybridge-normal-row" || !reports[0].Paused {
		t.Fatalf("pause reported %+v, want claybridge-normal-row paused", reports)
	}
	cons, err := s.js.Consumer(context.Background(), subjects.StreamRequests, "claybridge-normal-row")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := cons.Info(context.Background()); err != nil || !info.Paused {
		t.Fatalf("consumer info: paused %v (%v), want paused on the server", info != nil && info.Paused, err)
	}
	if got := runCLI(t, "health"); !strings.Contains(got.stdout, "paused: normal row until ") {
		t.Errorf("health output does not list the paused consumer:\n%s%s", got.stdout, got.stderr)
	}

	s.publish(t, subjects.Normal, subjects.Row, "paused-1", rowBody(1), nil)
	s.publish(t, subjects.Normal, subjects.Search, "unpaused-1", `{"source_type":"people","filters":{"job_title":"CEO"},"limit":1}`, nil)
	s.await(t, subjects.Search, "unpaused-1")
	// The search of the same priority ended, so the processor fetched; the
	// row must still wait.
	if info, err := cons.Info(context.Background()); err != nil || info.NumPending != 1 {
		t.Fatalf("paused consumer: %d requests waiting (%v), want 1", info.NumPending, err)
	}
	if lk, err := client.Find(context.Background(), s.js, "paused-1", nil); err != nil || lk.Found != client.NotFound {
		t.Errorf("paused-1 found %d (%v) while paused, want nothing", lk.Found, err)
	}

	got = runCLI(t, "resume", "normal", "row")
	if got.code != 0 || !strings.Contains(got.stdout, "claybridge-normal-row: delivering") {
		t.Fatalf("resume: exit status %d, output:\n%s%s", got.code, got.stdout, got.stderr)
	}
	if out := s.await(t, subjects.Row, "paused-1"); out.Kind != client.KindResult {
		t.Errorf("paused-1 after resume: a DLQ entry, want a result")
	}
}

func TestPauseUntilResumesByItself(t *testing.T) {
	s := newOpStack(t, processor.Config{})
	got := runCLI(t, "pause", "--until", "500ms", "bulk")
	if got.code != 0 {
		t.Fatalf("pause: exit status %d, stderr:\n%s", got.code, got.stderr)
	}
	for _, name := range []string{"claybridge-bulk-row", "claybridge-bulk-routine", "claybridge-bulk-search"} {
		if !strings.Contains(got.stdout, name+": paused until ") {
			t.Errorf("pause output lacks %s:\n%s", name, got.stdout)
		}
	}
	s.publish(t, subjects.Bulk, subjects.Row, "until-1", rowBody(2), nil)
	cons, err := s.js.Consumer(context.Background(), subjects.StreamRequests, "claybridge-bulk-row")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the pause to end", func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && !info.Paused
	})
	if out := s.await(t, subjects.Row, "until-1"); out.Kind != client.KindResult {
		t.Errorf("until-1 after the pause: a DLQ entry, want a result")
	}
}

func TestPauseRejectsInvalidArguments(t *testing.T) {
	tests := map[string][]string{
		"no priority":       {"pause"},
		"unknown priority":  {"pause", "urgent"},
		"unknown operation": {"resume", "normal", "enrich"},
		"extra argument":    {"pause", "normal", "row", "row"},
		"negative until":    {"pause", "--until", "-1s", "normal"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			if got := runCLI(t, args...); got.code != exitPauseUsage {
				t.Errorf("exit status %d, want %d; stderr:\n%s", got.code, exitPauseUsage, got.stderr)
			}
		})
	}
}

func TestPauseWithoutClaybridgeSaysSo(t *testing.T) {
	srv, _ := testenv.NATS(t)
	got := runCLI(t, "pause", "--nats-url", srv.ClientURL(), "normal", "row")
	if got.code != exitPauseError || !strings.Contains(got.stderr, "consumer claybridge-normal-row not found on stream CLAY_REQUESTS; start claybridge") {
		t.Errorf("exit status %d, stderr:\n%s", got.code, got.stderr)
	}
}
