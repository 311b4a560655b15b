package main

import (
	"context"
	"strings"
	"testing"

	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestSubmitResubmitDerivesKeys(t *testing.T) {
	s := newOpStack(t, processor.Config{})
	body := rowBody(3)
	if got := runCLI(t, "submit", "--id", "rs-1", "--wait", "row", body); got.code != 0 {
		t.Fatalf("submit: exit status %d, stderr:\n%s", got.code, got.stderr)
	}
	for _, want := range []string{"rs-1~r1", "rs-1~r2"} {
		got := runCLI(t, "submit", "--resubmit", "rs-1", "--wait", "row", body)
		if got.code != 0 || !strings.Contains(got.stdout, "published: key "+want+",") {
			t.Fatalf("submit --resubmit rs-1: exit status %d, want key %s; output:\n%s%s", got.code, want, got.stdout, got.stderr)
		}
		out := s.await(t, subjects.Row, want)
		if v := out.Header.Get(subjects.HeaderReplayOf); v != "rs-1" {
			t.Errorf("result of %s has %s %q, want rs-1", want, subjects.HeaderReplayOf, v)
		}
	}
	// Each resend reaches Clay once under its own key; the original only once.
	stats := s.sim.Stats()
	for _, key := range []string{"rs-1", "rs-1~r1", "rs-1~r2"} {
		if n := stats.SubmissionsByKey[key]; n != 1 {
			t.Errorf("key %s reached Clay %d times, want 1", key, n)
		}
	}
	if got := runCLI(t, "submit", "--resubmit", "rs-1", "--id", "rs-9", "row", body); got.code != exitSubmitUsage {
		t.Errorf("--resubmit with --id: exit status %d, want %d", got.code, exitSubmitUsage)
	}
}

func TestSubmitWaitAnswersFromLedger(t *testing.T) {
	s := newOpStack(t, processor.Config{})
	body := rowBody(4)
	if got := runCLI(t, "submit", "--id", "ledger-1", "--wait", "row", body); got.code != 0 {
		t.Fatalf("submit: exit status %d, stderr:\n%s", got.code, got.stderr)
	}
	// With the result gone from the stream, only the ledger still has it;
	// the repeat publish is a duplicate that nothing processes.
	stream, err := s.js.Stream(context.Background(), subjects.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := runCLI(t, "submit", "--id", "ledger-1", "--wait", "--timeout", "300ms", "row", body)
	if got.code != 0 || !strings.Contains(got.stdout, "result on clay.result.normal.row: status ok") {
		t.Errorf("submit --wait of a finished key: exit status %d, output:\n%s%s", got.code, got.stdout, got.stderr)
	}
}
