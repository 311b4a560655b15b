package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestSubmitWait(t *testing.T) {
	srv, nc := testenv.NATS(t)
	sim := testenv.Sim(t, claysim.Config{RoutineDelay: -1})
	testproc.Start(t, nc, sim.URL(), processor.Config{RoutinePollInterval: 10 * time.Millisecond})
	t.Setenv("NATS_URL", srv.ClientURL())

	const row = `{"table":"leads","row":{"email":"ada.berg@granitelabs.example.com"}}`
	tests := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{
			name: "result", args: []string{"--id", "submit-row-1", "--wait", "row", row},
			code: 0, wants: []string{"published: key submit-row-1", "result on clay.result.normal.row: status ok"},
		},
		{
			name: "result of a finished duplicate", args: []string{"--id", "submit-row-1", "--wait", "--priority", "bulk", "row", row},
			code: 0, wants: []string{"duplicate: CLAY_REQUESTS already holds key submit-row-1", "result on clay.result.normal.row"},
		},
		{
			name: "DLQ entry", args: []string{"--id", "submit-bad-1", "--wait", "--priority", "critical", "routine", "not json"},
			code: exitSubmitDLQ, wants: []string{"DLQ entry on clay.dlq.critical.routine: class invalid_request", "error: invalid request"},
		},
		{
			name: "rejected by Clay", args: []string{"--wait", "routine", `{"routine_id":"score-lead","inputs":{"fail":true}}`},
			code: exitSubmitDLQ, wants: []string{"class clay_rejected"},
		},
		{
			name: "keyless row keyed by its body", args: []string{"--wait", "row", row},
			code: 0, wants: []string{"key " + subjects.DerivedKey(subjects.Row, []byte(row)), "status ok"},
		},
		{
			name: "keyless search keyed by its sequence",
			args: []string{"--wait", "search", `{"source_type":"people","filters":{"job_title":"CTO"},"limit":3}`},
			code: 0, wants: []string{"key " + subjects.StreamRequests + "-", "result on clay.result.normal.search"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, append([]string{"submit"}, tt.args...)...)
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
}

func TestSubmitJSON(t *testing.T) {
	srv, nc := testenv.NATS(t)
	sim := testenv.Sim(t, claysim.Config{})
	testproc.Start(t, nc, sim.URL(), processor.Config{})

	tests := []struct {
		name    string
		args    []string
		code    int
		outcome string
	}{
		{name: "result", args: []string{"--id", "json-1", "row", `{"table":"leads","row":{"email":"wen.marsh@quilllabs.example.net"}}`}, outcome: "result"},
		{name: "DLQ entry", args: []string{"--id", "json-2", "search", `{"source_type":"people","filters":{},"limit":0}`}, code: exitSubmitDLQ, outcome: "dlq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"submit", "--json", "--wait", "--nats-url", srv.ClientURL()}, tt.args...)
			got := runCLI(t, args...)
			if got.code != tt.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", got.code, tt.code, got.stderr)
			}
			var report struct {
				Key     string           `json:"key"`
				Stream  string           `json:"stream"`
				Outcome string           `json:"outcome"`
				Result  *subjects.Result `json:"result"`
				DLQ     *struct {
					Class string `json:"class"`
					Body  string `json:"body"`
				} `json:"dlq"`
			}
			if err := json.Unmarshal([]byte(got.stdout), &report); err != nil {
				t.Fatalf("output is not one JSON object: %v\n%s", err, got.stdout)
			}
			if report.Key != tt.args[1] || report.Stream != subjects.StreamRequests {
				t.Errorf("key %q in stream %q, want %q in %s", report.Key, report.Stream, tt.args[1], subjects.StreamRequests)
			}
			if report.Outcome != tt.outcome {
				t.Errorf("outcome %q, want %q", report.Outcome, tt.outcome)
			}
			if tt.outcome == "result" && (report.Result == nil || report.Result.Status != subjects.StatusOK) {
				t.Errorf("result = %+v, want status ok", report.Result)
			}
			if tt.outcome == "dlq" && (report.DLQ == nil || report.DLQ.Class != string(subjects.ClassInvalidRequest) || report.DLQ.Body != tt.args[3]) {
				t.Errorf("dlq = %+v, want class invalid_request with the original body", report.DLQ)
			}
		})
	}
}

func TestSubmitWaitTimesOut(t *testing.T) {
	srv, nc := testenv.NATS(t)
	// Streams and consumers exist, but nothing processes the request.
	proc, err := processor.New(nc, clay.New(clay.Config{BaseURL: "http://127.0.0.1:1"}), processor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := runCLI(t, "submit", "--nats-url", srv.ClientURL(), "--id", "slow-1", "--wait", "--timeout", "300ms",
		"row", `{"table":"leads","row":{}}`)
	if got.code != exitSubmitTimeout {
		t.Errorf("exit status %d, want %d", got.code, exitSubmitTimeout)
	}
	if !strings.Contains(got.stderr, "timed out after 300ms waiting for the result or DLQ entry of key slow-1") {
		t.Errorf("stderr does not say it timed out:\n%s", got.stderr)
	}
	if !strings.Contains(got.stdout, "published: key slow-1") {
		t.Errorf("stdout does not report the publish:\n%s", got.stdout)
	}
}

func TestSubmitRejectsInvalidArguments(t *testing.T) {
	tests := map[string][]string{
		"unknown operation": {"submit", "enrich", "{}"},
		"unknown priority":  {"submit", "--priority", "urgent", "row", "{}"},
		"missing body":      {"submit", "row"},
		"extra argument":    {"submit", "row", "{}", "{}"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			got := runCLI(t, args...)
			if got.code != exitSubmitUsage {
				t.Errorf("exit status %d, want %d; stderr:\n%s", got.code, exitSubmitUsage, got.stderr)
			}
		})
	}
}

func TestSubmitWithoutClaybridgeSaysSo(t *testing.T) {
	srv, _ := testenv.NATS(t)
	got := runCLI(t, "submit", "--nats-url", srv.ClientURL(), "row", `{"table":"leads","row":{}}`)
	if got.code != exitSubmitError {
		t.Errorf("exit status %d, want %d", got.code, exitSubmitError)
	}
	if !strings.Contains(got.stderr, "make run") {
		t.Errorf("error does not say how to start claybridge:\n%s", got.stderr)
	}
}
