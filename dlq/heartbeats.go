package dlq

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/scan"
	"github.com/claybridge/claybridge/subjects"
)

// DefaultHeartbeatInterval is the interval assumed for an instance that
// has one heartbeat stored: the processor's default interval.
const DefaultHeartbeatInterval = 5 * time.Second

// LiveIntervals is the number of heartbeat intervals after which an
// instance's latest heartbeat no longer counts as live.
const LiveIntervals = 3

// InstanceHealth is the latest heartbeat of one instance.
type InstanceHealth struct {
	Subject string
	// Stored is when the stream stored the heartbeat.
	Stored time.Time
	// Age is the time from Stored to the read.
	Age time.Duration
	// Interval is the time between the instance's last two heartbeats, or
	// DefaultHeartbeatInterval when only one is stored.
	Interval time.Duration
	// Live is true while Age is at most LiveIntervals intervals.
	Live      bool
	Heartbeat subjects.Heartbeat
	// DecodeError is set when the heartbeat's body is not a Heartbeat.
	DecodeError string
}

// Instance returns the instance id, from the heartbeat or its subject.
func (h *InstanceHealth) Instance() string {
	if h.Heartbeat.Instance != "" {
		return h.Heartbeat.Instance
	}
	return strings.TrimPrefix(h.Subject, subjects.HealthPrefix+".")
}

// Heartbeats returns the latest heartbeat of each instance with one
// stored, sorted by instance, with ages measured at now. Heartbeats carry
// a per-message TTL, so an instance that stopped drops out once its last
// heartbeat expires. Until then its heartbeat is returned with Live false.
func Heartbeats(ctx context.Context, js jetstream.JetStream, now time.Time) ([]InstanceHealth, error) {
	type lastTwo struct{ last, previous time.Time }
	times := map[string]*lastTwo{}
	latest := map[string]jetstream.Msg{}
	cfg := scan.Config{Stream: subjects.StreamDLQ, Filters: []string{subjects.HealthAll}}
	err := scan.Stream(ctx, js, cfg, func(msg jetstream.Msg) error {
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read heartbeat metadata: %w", err)
		}
		t := times[msg.Subject()]
		if t == nil {
			t = &lastTwo{}
			times[msg.Subject()] = t
		}
		t.previous, t.last = t.last, meta.Timestamp
		latest[msg.Subject()] = msg
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]InstanceHealth, 0, len(latest))
	for subject, msg := range latest {
		t := times[subject]
		h := InstanceHealth{Subject: subject, Stored: t.last, Age: max(now.Sub(t.last), 0), Interval: DefaultHeartbeatInterval}
		if !t.previous.IsZero() && t.last.After(t.previous) {
			h.Interval = t.last.Sub(t.previous)
		}
		h.Live = h.Age <= LiveIntervals*h.Interval
		if err := json.Unmarshal(msg.Data(), &h.Heartbeat); err != nil {
			h.DecodeError = err.Error()
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Instance() < out[k].Instance() })
	return out, nil
}
