package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestDLQReplayKeepsCustomHeader(t *testing.T) {
	s := newOpStack(t, processor.Config{})
	s.sim.AddFault(claysim.Fault{Status: http.StatusUnprocessableEntity, Operation: claysim.OpRow})
	header := nats.Header{subjects.HeaderExpectedStream: {subjects.StreamRequests}, "X-Tenant": {"acme"}}
	s.publish(t, subjects.Normal, subjects.Row, "hdr-1", rowBody(1), header)

	out := s.await(t, subjects.Row, "hdr-1")
	if out.Kind != client.KindDLQ || out.Failure().Class != subjects.ClassClayRejected {
		t.Fatalf("outcome of hdr-1 = kind %d class %s, want a clay_rejected DLQ entry", out.Kind, out.Failure().Class)
	}
	if got := out.Header.Get(subjects.HeaderOrigPrefix + subjects.HeaderExpectedStream); got != subjects.StreamRequests {
		t.Errorf("entry's %s%s = %q, want %s", subjects.HeaderOrigPrefix, subjects.HeaderExpectedStream, got, subjects.StreamRequests)
	}

	s.sim.ClearFaults()
	got := runCLI(t, "dlq", "replay", "hdr-1")
	if got.code != 0 {
		t.Fatalf("dlq replay: exit status %d, stderr:\n%s", got.code, got.stderr)
	}
	if !strings.Contains(got.stdout, "replayed hdr-1 (DLQ sequence") || !strings.Contains(got.stdout, "as hdr-1~r1 on clay.request.normal.row") {
		t.Errorf("dlq replay output lacks the replay of hdr-1 as hdr-1~r1:\n%s", got.stdout)
	}

	res := s.await(t, subjects.Row, "hdr-1~r1")
	if res.Kind != client.KindResult {
		t.Fatalf("outcome of hdr-1~r1 is a DLQ entry: %+v", res.Failure())
	}
	for name, want := range map[string]string{"X-Tenant": "acme", subjects.HeaderReplayOf: "hdr-1"} {
		if v := res.Header.Get(name); v != want {
			t.Errorf("result header %s = %q, want %q", name, v, want)
		}
	}
	if left := s.entries(t, dlq.Filter{Keys: []string{"hdr-1"}}); len(left) != 0 {
		t.Errorf("%d DLQ entries of hdr-1 left after replay, want 0", len(left))
	}
	if got := runCLI(t, "results", "hdr-1"); got.code != exitResultsDLQ || !strings.Contains(got.stdout, "its DLQ entry was replayed or purged") {
		t.Errorf("results hdr-1: exit status %d, output:\n%s", got.code, got.stdout)
	}
	if got := runCLI(t, "results", "hdr-1~r1"); got.code != 0 || !strings.Contains(got.stdout, "X-Tenant: acme") {
		t.Errorf("results hdr-1~r1: exit status %d, output:\n%s", got.code, got.stdout)
	}
}

func TestDLQCommandsOnManyEntries(t *testing.T) {
	const rejected, invalid = 250, 30
	s := newOpStack(t, processor.Config{})
	s.sim.AddFault(claysim.Fault{Status: http.StatusUnprocessableEntity, Operation: claysim.OpRow})
	for i := range rejected {
		s.publish(t, subjects.Normal, subjects.Row, fmt.Sprintf("many-%03d", i), rowBody(i), nil)
	}
	for i := range invalid {
		s.publish(t, subjects.Bulk, subjects.Routine, fmt.Sprintf("bad-%03d", i), "not json", nil)
	}
	s.waitEntries(t, rejected+invalid)

	t.Run("list", func(t *testing.T) {
		checkList(t, []string{"--class", "clay_rejected"}, rejected)
		checkList(t, []string{"--priority", "bulk", "--operation", "routine"}, invalid)
		checkList(t, []string{"--since", "1h"}, rejected+invalid)
		checkList(t, []string{"many-007", "bad-003"}, 2)
		got := runCLI(t, "dlq", "list", "--class", "invalid_request")
		if !strings.Contains(got.stdout, fmt.Sprintf("%d DLQ entries", invalid)) || !strings.Contains(got.stdout, "bad-000") {
			t.Errorf("text list lacks the count or a key:\n%s", got.stdout)
		}
		if got := runCLI(t, "dlq", "list", "--class", "nonsense"); got.code != exitDLQUsage {
			t.Errorf("unknown class: exit status %d, want %d", got.code, exitDLQUsage)
		}
	})

	t.Run("show", func(t *testing.T) {
		got := runCLI(t, "dlq", "show", "many-042")
		for _, want := range []string{"key: many-042", "class: clay_rejected", "Clay-Orig-Subject: clay.request.normal.row", rowBody(42)} {
			if !strings.Contains(got.stdout, want) {
				t.Errorf("dlq show many-042 lacks %q:\n%s", want, got.stdout)
			}
		}
		seq := s.entries(t, dlq.Filter{Keys: []string{"bad-007"}})[0].Sequence
		got = runCLI(t, "dlq", "show", "--json", strconv.FormatUint(seq, 10))
		var withBodies []struct {
			Key  string `json:"key"`
			Body string `json:"body"`
		}
		if err := json.Unmarshal([]byte(got.stdout), &withBodies); err != nil || len(withBodies) != 1 {
			t.Fatalf("dlq show --json SEQ: %v, output:\n%s", err, got.stdout)
		}
		if withBodies[0].Key != "bad-007" || withBodies[0].Body != "not json" {
			t.Errorf("dlq show %d = %+v, want bad-007 with body \"not json\"", seq, withBodies[0])
		}
		if got := runCLI(t, "dlq", "show", "no-such-key"); got.code != exitDLQNotFound {
			t.Errorf("dlq show of a missing key: exit status %d, want %d", got.code, exitDLQNotFound)
		}
	})

	t.Run("unfiltered replay needs --all", func(t *testing.T) {
		got := runCLI(t, "dlq", "replay")
		if got.code != exitDLQUsage || !strings.Contains(got.stderr, "--all") {
			t.Errorf("dlq replay without a filter: exit status %d, stderr:\n%s\nwant %d and a hint at --all", got.code, got.stderr, exitDLQUsage)
		}
		if n := len(s.entries(t, dlq.Filter{})); n != rejected+invalid {
			t.Errorf("%d DLQ entries after the refused replay, want %d", n, rejected+invalid)
		}
	})

	t.Run("replay dry run", func(t *testing.T) {
		got := runCLI(t, "dlq", "replay", "--dry-run", "--json", "--class", "clay_rejected")
		reports := decodeReplay(t, got)
		if len(reports) != rejected {
			t.Fatalf("dry run reported %d entries, want %d", len(reports), rejected)
		}
		for _, r := range reports {
			if r.ReplayKey != r.Key+"~r1" || r.Published || r.Removed {
				t.Fatalf("dry run report %+v, want key %s~r1, nothing published or removed", r, r.Key)
			}
		}
		if n := len(s.entries(t, dlq.Filter{})); n != rejected+invalid {
			t.Errorf("%d DLQ entries after a dry run, want %d", n, rejected+invalid)
		}
	})

	s.sim.ClearFaults()
	t.Run("replay", func(t *testing.T) {
		got := runCLI(t, "dlq", "replay", "--json", "--rate", "2000/s", "--class", "clay_rejected")
		reports := decodeReplay(t, got)
		if got.code != 0 || len(reports) != rejected {
			t.Fatalf("replay: exit status %d, %d reports, want 0 and %d; stderr:\n%s", got.code, len(reports), rejected, got.stderr)
		}
		for _, r := range reports {
			if !r.Published || !r.Removed || r.ReplayKey != r.Key+"~r1" {
				t.Fatalf("replay report %+v, want published as %s~r1 and removed", r, r.Key)
			}
		}
		keys := make([]string, rejected)
		for i := range keys {
			keys[i] = fmt.Sprintf("many-%03d~r1", i)
		}
		testenv.Eventually(t, 20*time.Second, "every replayed key to end", func() bool {
			return s.outcomes(t).Ended(keys) == rejected
		})
		out := s.outcomes(t)
		for _, k := range keys {
			if len(out.Results[k]) != 1 || len(out.DLQ[k]) != 0 {
				t.Errorf("%s: %d results and %d DLQ entries, want one result", k, len(out.Results[k]), len(out.DLQ[k]))
			}
		}
		if n := len(s.entries(t, dlq.Filter{Class: subjects.ClassClayRejected})); n != 0 {
			t.Errorf("%d clay_rejected entries left after replay, want 0", n)
		}
	})

	t.Run("second replay does not duplicate", func(t *testing.T) {
		got := runCLI(t, "dlq", "replay", "--class", "clay_rejected", "many-000")
		if got.code != 0 || !strings.Contains(got.stdout, "replayed 0 of 0 DLQ entries") {
			t.Errorf("second replay: exit status %d, output:\n%s", got.code, got.stdout)
		}
		out := s.outcomes(t)
		for key := range out.Results {
			if strings.HasSuffix(key, "~r2") {
				t.Errorf("second replay produced %s", key)
			}
		}
	})

	t.Run("purge", func(t *testing.T) {
		got := runCLI(t, "dlq", "purge", "--class", "invalid_request")
		if got.code != exitDLQUsage || !strings.Contains(got.stderr, fmt.Sprintf("would delete %d DLQ entries; add --yes", invalid)) {
			t.Errorf("purge without --yes: exit status %d, stderr:\n%s", got.code, got.stderr)
		}
		if n := len(s.entries(t, dlq.Filter{})); n != invalid {
			t.Fatalf("%d DLQ entries after a refused purge, want %d", n, invalid)
		}
		got = runCLI(t, "dlq", "purge", "--yes", "--class", "invalid_request")
		if got.code != 0 || !strings.Contains(got.stdout, fmt.Sprintf("deleted %d DLQ entries", invalid)) {
			t.Errorf("purge --yes: exit status %d, output:\n%s%s", got.code, got.stdout, got.stderr)
		}
		if n := len(s.entries(t, dlq.Filter{})); n != 0 {
			t.Errorf("%d DLQ entries after purge, want 0", n)
		}
		beats, err := dlq.Heartbeats(t.Context(), s.js, time.Now())
		if err != nil || len(beats) == 0 {
			t.Errorf("heartbeats after purge: %d, %v; purge must leave clay.health.* alone", len(beats), err)
		}
	})
}

// checkList runs dlq list --json with args and checks the entry count.
func checkList(t *testing.T, args []string, want int) {
	t.Helper()
	got := runCLI(t, append([]string{"dlq", "list", "--json"}, args...)...)
	var entries []dlq.Entry
	if err := json.Unmarshal([]byte(got.stdout), &entries); err != nil {
		t.Fatalf("dlq list %v: %v; output:\n%s%s", args, err, got.stdout, got.stderr)
	}
	if len(entries) != want {
		t.Errorf("dlq list %v: %d entries, want %d", args, len(entries), want)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Subject, subjects.DLQPrefix+".") {
			t.Errorf("dlq list %v returned %s", args, e.Subject)
		}
	}
}

func decodeReplay(t *testing.T, got cliResult) []replayReport {
	t.Helper()
	var reports []replayReport
	if err := json.Unmarshal([]byte(got.stdout), &reports); err != nil {
		t.Fatalf("replay --json output is not a JSON array: %v\n%s%s", err, got.stdout, got.stderr)
	}
	return reports
}
