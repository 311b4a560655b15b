package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestHealthExitStatus(t *testing.T) {
	s := newOpStack(t, processor.Config{
		BreakerFailures:    2,
		BreakerOpenTimeout: time.Minute,
		HeartbeatInterval:  200 * time.Millisecond,
	})
	instance := s.proc.Instance()

	got := runCLI(t, "health", "--instance", instance)
	if got.code != 0 || !strings.Contains(got.stdout, instance+": healthy, live") {
		t.Errorf("health of a healthy processor: exit status %d, output:\n%s%s", got.code, got.stdout, got.stderr)
	}
	// From the second heartbeat on, health infers the interval.
	testenv.Eventually(t, 5*time.Second, "health to infer a 200ms interval", func() bool {
		r := healthJSON(t)
		return len(r) == 1 && r[0].IntervalMS >= 150 && r[0].IntervalMS <= 400
	})

	s.sim.AddFault(claysim.Fault{Status: http.StatusServiceUnavailable, Operation: claysim.OpSearch})
	for i := range 3 {
		body := fmt.Sprintf(`{"source_type":"companies","filters":{"name":"Outage %d"},"limit":1}`, i)
		s.publish(t, subjects.Critical, subjects.Search, fmt.Sprintf("outage-%d", i), body, nil)
	}
	testenv.Eventually(t, 10*time.Second, "health to exit 1 with the breaker open", func() bool {
		return runCLI(t, "health").code == exitHealthDegraded
	})
	reports := healthJSON(t)
	if len(reports) != 1 {
		t.Fatalf("health --json reported %d instances, want 1", len(reports))
	}
	if r := reports[0]; r.State != subjects.Degraded || !r.Live || r.Heartbeat == nil || len(r.Heartbeat.Reasons) == 0 {
		t.Errorf("health --json = %+v, want a live degraded instance with reasons", r)
	}

	s.proc.Stop(t)
	testenv.Eventually(t, 10*time.Second, "health to exit 2 once the processor is gone", func() bool {
		return runCLI(t, "health").code == exitHealthUnhealthy
	})
	testenv.Eventually(t, 10*time.Second, "the last heartbeat to expire", func() bool {
		return strings.Contains(runCLI(t, "health").stdout, "no heartbeat in CLAY_DLQ")
	})
	if got := runCLI(t, "health", "--instance", "no-such-instance"); got.code != exitHealthUnhealthy {
		t.Errorf("health of an unknown instance: exit status %d, want %d", got.code, exitHealthUnhealthy)
	}
}

func healthJSON(t *testing.T) []healthReport {
	t.Helper()
	got := runCLI(t, "health", "--json")
	var reports []healthReport
	if err := json.Unmarshal([]byte(got.stdout), &reports); err != nil {
		t.Fatalf("health --json: %v\n%s", err, got.stdout)
	}
	return reports
}
