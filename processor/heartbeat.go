package processor

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/version"
	"github.com/claybridge/claybridge/subjects"
)

// heartbeatTTLFactor makes a heartbeat outlive a few missed intervals, so
// a live instance always has one stored and a dead one ages out.
const heartbeatTTLFactor = 3

func (p *Processor) heartbeatLoop(ctx context.Context) {
	p.every(ctx, p.cfg.HeartbeatInterval, p.publishHeartbeat, "heartbeat not published")
}

func (p *Processor) publishHeartbeat(ctx context.Context) error {
	hb := p.heartbeat(ctx)
	data, err := json.Marshal(hb)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(subjects.HealthSubject(p.cfg.Instance))
	msg.Data = data
	ttl := heartbeatTTLFactor * p.cfg.HeartbeatInterval
	_, err = p.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(max(ttl, time.Second)))
	return err
}

// heartbeat collects the instance's state. Figures that cannot be read now
// are left at zero and the state turns degraded.
func (p *Processor) heartbeat(ctx context.Context) *subjects.Heartbeat {
	hb := &subjects.Heartbeat{
		Instance:         p.cfg.Instance,
		Time:             time.Now().UTC(),
		Version:          version.Version,
		State:            subjects.Healthy,
		Holds:            p.gate.holdList(),
		Breakers:         map[string]string{},
		Lag:              map[subjects.Priority]uint64{},
		RateBudget:       map[string]subjects.RateBudget{},
		WebhookRemaining: map[string]int64{},
	}
	for _, s := range surfaces {
		hb.Breakers[s] = p.gate.breakers[s].state()
		hb.RateBudget[s] = p.budgets[s].state()
		p.metrics.rateTokens.WithLabelValues(s).Set(hb.RateBudget[s].Tokens)
	}
	if p.cache != nil {
		hb.CacheHitRatio = p.cache.HitRatio()
	}
	p.webhookCap(ctx, hb)
	for _, h := range hb.Holds {
		hb.Worsen(subjects.Degraded, "hold on "+h.Scope+": "+h.Reason)
	}
	for _, c := range p.consumers {
		info, err := c.bind.get().Info(ctx)
		if err != nil {
			hb.Worsen(subjects.Unhealthy, "consumer info unavailable: "+err.Error())
			continue
		}
		if c.bind.stalled(info.NumPending) && !p.gate.surfaceHeld(surfaceOf(c.operation)) && !info.Paused {
			name := ConsumerName(c.priority, c.operation)
			hb.Worsen(subjects.Degraded, fmt.Sprintf("consumer %s has %d pending and delivered nothing for %s: rebinding it", name, info.NumPending, stallAfter))
			p.log.Warn().Str("consumer", name).Uint64("pending", info.NumPending).Msg("consumer stalled: rebinding it")
			if err := p.rebind(ctx, c); err != nil {
				p.log.Error().Err(err).Str("consumer", name).Msg("consumer not rebound")
			}
		}
		hb.Lag[c.priority] += info.NumPending
		p.metrics.consumerPending.WithLabelValues(string(c.priority), string(c.operation)).Set(float64(info.NumPending))
		p.metrics.consumerAckPending.WithLabelValues(string(c.priority), string(c.operation)).Set(float64(info.NumAckPending))
	}
	depth, err := p.dlqDepth(ctx)
	if err != nil {
		hb.Worsen(subjects.Unhealthy, "DLQ depth unavailable: "+err.Error())
	}
	if last := p.lastDLQDepth.Swap(depth); err == nil && last > 0 && depth > last {
		hb.Worsen(subjects.Degraded, fmt.Sprintf("DLQ grew by %d since the last heartbeat", depth-last))
	}
	hb.DLQDepth = depth
	return hb
}

// dlqDepth counts DLQ entries, leaving heartbeats out.
func (p *Processor) dlqDepth(ctx context.Context) (uint64, error) {
	stream, err := p.js.Stream(ctx, subjects.StreamDLQ)
	if err != nil {
		return 0, err
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subjects.DLQEntries))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, count := range info.State.Subjects {
		n += count
	}
	return n, nil
}

// webhookCap fills each table's remaining lifetime submissions and turns
// the state degraded when a table nears the cap.
func (p *Processor) webhookCap(ctx context.Context, hb *subjects.Heartbeat) {
	totals, err := p.counted.flush(ctx, p.control)
	if err != nil {
		hb.Worsen(subjects.Degraded, "webhook submission counts not stored: "+err.Error())
	}
	for table, used := range totals {
		hb.WebhookRemaining[table] = max(p.cfg.WebhookCap-used, 0)
		if float64(used) >= p.cfg.WebhookWarnRatio*float64(p.cfg.WebhookCap) {
			hb.Worsen(subjects.Degraded, fmt.Sprintf("table %s used %d of its webhook source's %d lifetime submissions", table, used, p.cfg.WebhookCap))
		}
	}
}
