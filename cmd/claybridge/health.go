package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// Exit statuses of health. An error exits with exitHealthDegraded's
// status too, as every other command's error does.
const (
	exitHealthDegraded  = 1
	exitHealthUnhealthy = 2
)

// healthAbout explains where health reads from and its exit statuses.
var healthAbout = fmt.Sprintf(`Prints the latest heartbeat of each claybridge instance, read from
CLAY_DLQ on clay.health.*. Heartbeats carry a per-message TTL, so an
instance that stopped drops out once its last one expires. A heartbeat
older than %d times its instance's interval does not count as live; the
interval is the time between the instance's last two heartbeats, or %s
when only one is stored. The overall state is the worst of the live
instances' states. The text output also lists paused request consumers,
whose requests wait while every instance stays healthy.

The NATS connection comes from the same settings as submit's (--nats-url,
NATS_URL, --config, ...).

Exit status: 0 healthy, 1 degraded (or an error), 2 unhealthy or no live
heartbeat.`, dlq.LiveIntervals, dlq.DefaultHeartbeatInterval)

// healthReport is one instance in health's JSON output.
type healthReport struct {
	Instance   string    `json:"instance"`
	State      string    `json:"state"`
	Live       bool      `json:"live"`
	Stored     time.Time `json:"stored"`
	AgeMS      int64     `json:"age_ms"`
	IntervalMS int64     `json:"interval_ms"`
	// Heartbeat is the heartbeat as published, absent when it was not
	// JSON.
	Heartbeat *subjects.Heartbeat `json:"heartbeat,omitempty"`
	Error     string              `json:"error,omitempty"`
}

func healthCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("health", "health [flags]", healthAbout, stderr)
	instance := fs.String("instance", "", "report only this instance id")
	asJSON := fs.Bool("json", false, "print one JSON array, one object per instance")
	loader := natsLoader(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: health takes only flags", fs.Arg(0))
	}
	nc, js, err := connectJetStream(loader, "claybridge health")
	if err != nil {
		return err
	}
	defer nc.Close()
	beats, err := dlq.Heartbeats(ctx, js, time.Now())
	if err != nil {
		return err
	}
	reports := healthReports(beats, *instance)
	if *asJSON {
		if err := printJSON(stdout, reports); err != nil {
			return err
		}
	} else {
		printHealth(stdout, reports, *instance)
		printPaused(ctx, stdout, js)
	}
	return healthExit(reports)
}

// printPaused lists the paused request consumers, which no heartbeat
// shows. Their requests wait until the pause ends. A consumer that cannot
// be read is left out.
func printPaused(ctx context.Context, w io.Writer, js jetstream.JetStream) {
	for _, prio := range subjects.Priorities {
		for _, op := range subjects.Operations {
			cons, err := js.Consumer(ctx, subjects.StreamRequests, processor.ConsumerName(prio, op))
			if err != nil {
				continue
			}
			if info := cons.CachedInfo(); info.Paused && info.Config.PauseUntil != nil {
				fmt.Fprintf(w, "paused: %s %s until %s (claybridge resume %s %s)\n",
					prio, op, info.Config.PauseUntil.UTC().Format(time.RFC3339), prio, op)
			}
		}
	}
}

// healthReports builds the report of instance's heartbeat, or of every
// instance's heartbeat when instance is empty.
func healthReports(beats []dlq.InstanceHealth, instance string) []healthReport {
	reports := []healthReport{}
	for _, b := range beats {
		if instance != "" && b.Instance() != instance {
			continue
		}
		r := healthReport{
			Instance: b.Instance(), State: b.Heartbeat.State, Live: b.Live, Stored: b.Stored,
			AgeMS: b.Age.Milliseconds(), IntervalMS: b.Interval.Milliseconds(),
		}
		if b.DecodeError != "" {
			r.State, r.Error = subjects.Unhealthy, "heartbeat is not JSON: "+b.DecodeError
		} else {
			hb := b.Heartbeat
			r.Heartbeat = &hb
		}
		reports = append(reports, r)
	}
	return reports
}

// healthExit returns the exit error for the worst state of the live
// instances, or exitHealthUnhealthy when none is live.
func healthExit(reports []healthReport) error {
	worst := ""
	for _, r := range reports {
		if r.Live && stateRank(r.State) > stateRank(worst) {
			worst = r.State
		}
	}
	switch worst {
	case "":
		return &exitError{code: exitHealthUnhealthy, err: errors.New("no live heartbeat")}
	case subjects.Healthy:
		return nil
	case subjects.Degraded:
		return &exitError{code: exitHealthDegraded, err: errors.New("")}
	default:
		return &exitError{code: exitHealthUnhealthy, err: errors.New("")}
	}
}

// stateRank orders states from best to worst; an unknown state ranks as
// unhealthy.
func stateRank(state string) int {
	switch state {
	case "":
		return 0
	case subjects.Healthy:
		return 1
	case subjects.Degraded:
		return 2
	default:
		return 3
	}
}

func printHealth(w io.Writer, reports []healthReport, instance string) {
	if len(reports) == 0 {
		if instance != "" {
			fmt.Fprintf(w, "no heartbeat of instance %s in %s\n", instance, subjects.StreamDLQ)
		} else {
			fmt.Fprintf(w, "no heartbeat in %s: no claybridge instance is running\n", subjects.StreamDLQ)
		}
		return
	}
	for i := range reports {
		printInstance(w, &reports[i])
	}
}

func printInstance(w io.Writer, r *healthReport) {
	age := (time.Duration(r.AgeMS) * time.Millisecond).Round(time.Millisecond)
	interval := time.Duration(r.IntervalMS) * time.Millisecond
	live := "live"
	if !r.Live {
		live = "not live"
	}
	fmt.Fprintf(w, "%s: %s, %s: last heartbeat %s ago, interval %s\n", r.Instance, r.State, live, age, interval)
	if r.Error != "" {
		fmt.Fprintf(w, "  %s\n", r.Error)
		return
	}
	hb := r.Heartbeat
	for _, reason := range hb.Reasons {
		fmt.Fprintf(w, "  reason: %s\n", reason)
	}
	fmt.Fprintf(w, "  version %s, DLQ depth %d, lag %s\n", hb.Version, hb.DLQDepth, formatLag(hb.Lag))
	fmt.Fprintf(w, "  breakers: %s\n", formatMap(hb.Breakers))
}

func formatLag(lag map[subjects.Priority]uint64) string {
	parts := make([]string, 0, len(subjects.Priorities))
	for _, p := range subjects.Priorities {
		parts = append(parts, fmt.Sprintf("%s %d", p, lag[p]))
	}
	return strings.Join(parts, ", ")
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + m[k]
	}
	return strings.Join(parts, ", ")
}
