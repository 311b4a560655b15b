package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestResultsCommand(t *testing.T) {
	s := newOpStack(t, processor.Config{})
	s.publish(t, subjects.Normal, subjects.Row, "res-ok", rowBody(1), nil)
	s.publish(t, subjects.Critical, subjects.Routine, "res-bad", "not json", nil)
	s.await(t, subjects.Row, "res-ok")
	s.await(t, subjects.Routine, "res-bad")
	kv, err := s.js.KeyValue(context.Background(), subjects.BucketLedger)
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.New(kv, ledger.Config{Owner: "test"})
	if _, err := led.Claim(context.Background(), "res-pending", subjects.Row, subjects.Normal, false); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"result from the ledger", []string{"res-ok"}, 0,
			[]string{"res-ok: result on clay.result.normal.row (from ledger): status ok", `"http_status":200`}},
		{"DLQ entry", []string{"res-bad"}, exitResultsDLQ,
			[]string{"res-bad: DLQ entry on clay.dlq.critical.routine", "class invalid_request", "error: invalid request"}},
		{"pending", []string{"res-pending"}, exitResultsNotFound, []string{"res-pending: pending: the ledger has it claimed"}},
		{"not found", []string{"res-none"}, exitResultsNotFound, []string{"res-none: not found in CLAY_LEDGER, CLAY_RESULTS or CLAY_DLQ"}},
		{"worst of several", []string{"res-ok", "res-bad", "res-none"}, exitResultsNotFound, []string{"res-ok: result", "res-bad: DLQ entry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, append([]string{"results"}, tt.args...)...)
			if got.code != tt.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", got.code, tt.code, got.stderr)
			}
			for _, want := range tt.wants {
				if !strings.Contains(got.stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, got.stdout)
				}
			}
		})
	}

	t.Run("JSON", func(t *testing.T) {
		got := runCLI(t, "results", "--json", "res-ok", "res-bad", "res-none")
		var reports []resultsReport
		if err := json.Unmarshal([]byte(got.stdout), &reports); err != nil {
			t.Fatalf("output is not a JSON array: %v\n%s", err, got.stdout)
		}
		outcomes := []string{}
		for _, r := range reports {
			outcomes = append(outcomes, r.Outcome)
		}
		if strings.Join(outcomes, ",") != "result,dlq,not_found" {
			t.Errorf("outcomes %v, want result, dlq, not_found", outcomes)
		}
		var res subjects.Result
		if err := json.Unmarshal(reports[0].Result, &res); err != nil || res.Key != "res-ok" || res.Status != subjects.StatusOK {
			t.Errorf("result of res-ok = %+v (%v), want status ok", res, err)
		}
		if reports[1].DLQ == nil || reports[1].DLQ.Class != subjects.ClassInvalidRequest || reports[1].DLQ.Body != "not json" {
			t.Errorf("DLQ of res-bad = %+v, want invalid_request with the body", reports[1].DLQ)
		}
	})

	t.Run("result from the stream once the ledger forgot it", func(t *testing.T) {
		if err := led.Forget(context.Background(), "res-ok"); err != nil {
			t.Fatal(err)
		}
		got := runCLI(t, "results", "res-ok")
		if got.code != 0 || !strings.Contains(got.stdout, "res-ok: result on clay.result.normal.row (from CLAY_RESULTS): status ok") {
			t.Errorf("exit status %d, output:\n%s%s", got.code, got.stdout, got.stderr)
		}
	})

	t.Run("no arguments", func(t *testing.T) {
		if got := runCLI(t, "results"); got.code != exitResultsUsage {
			t.Errorf("exit status %d, want %d", got.code, exitResultsUsage)
		}
	})
}

func TestResultsWithoutClaybridgeSaysSo(t *testing.T) {
	srv, _ := testenv.NATS(t)
	got := runCLI(t, "results", "--nats-url", srv.ClientURL(), "some-key")
	if got.code != exitResultsError || !strings.Contains(got.stderr, "start claybridge") {
		t.Errorf("exit status %d, stderr:\n%s", got.code, got.stderr)
	}
}
