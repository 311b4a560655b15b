package processor

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/claybridge/claybridge/clay"
)

// observe feeds a call's outcome to the breaker of its surface and to the
// holds: a 429 or a Retry-After pauses the surface, a 401 holds the table
// or the API key, a 402 holds the workspace, and a success ends the holds
// the call probed.
func (p *Processor) observe(j *job, err error) {
	surface := surfaceOf(j.c.operation)
	if from, to, changed := p.gate.breakers[surface].record(err); changed {
		p.breakerChanged(surface, from, to)
	}
	if j.ticket.breaker != "" {
		p.gate.finishHalfOpen(j.ticket.breaker)
	}
	if err == nil {
		for _, h := range j.probes {
			p.endHold(h, "probe succeeded")
		}
		return
	}
	var clayErr *clay.Error
	if errors.As(err, &clayErr) {
		p.holdFor(j, surface, clayErr)
	}
	for _, h := range j.probes {
		p.gate.finishProbe(h)
	}
}

// holdFor starts or renews the hold a Clay error calls for.
func (p *Processor) holdFor(j *job, surface string, e *clay.Error) {
	switch {
	case e.Status == http.StatusUnauthorized && surface == surfaceWebhook:
		p.startHold(scopeTablePrefix+j.table, reasonUnauthorized, time.Time{}, false, e)
	case e.Status == http.StatusUnauthorized:
		p.startHold(surface, reasonUnauthorized, time.Time{}, p.hasAPIKey, e)
	case e.Status == http.StatusPaymentRequired:
		p.startHold(scopeWorkspace, reasonPaymentRequired, time.Time{}, false, e)
	case e.Status == http.StatusTooManyRequests || e.HasRetryAfter:
		p.startHold(surface, reasonRetryAfter, time.Now().Add(p.pauseFor(e)), false, e)
	}
}

// pauseFor returns how long a surface pauses after e: its Retry-After
// clamped to the configured bounds, or the default pause for a 429
// without one.
func (p *Processor) pauseFor(e *clay.Error) time.Duration {
	if !e.HasRetryAfter {
		return p.cfg.RateLimitPause
	}
	d := min(max(e.RetryAfter, p.cfg.RetryAfterMin), p.cfg.RetryAfterMax)
	if d != e.RetryAfter {
		p.log.Warn().Dur("retry_after", e.RetryAfter).Dur("pause", d).Str("op", e.Op).Msg("Retry-After clamped to the configured bounds")
	}
	return d
}

func (p *Processor) startHold(scope, reason string, until time.Time, viaMe bool, cause error) {
	if until.IsZero() {
		until = time.Now().Add(p.cfg.ProbeInterval)
	}
	if p.gate.startHold(scope, reason, until, viaMe) {
		p.log.Warn().Err(cause).Str("scope", scope).Str("reason", reason).Time("probe_at", until).
			Msg("hold started: calls stop for its scope until a probe succeeds")
	}
	p.shareHold(scope, reason, until)
	p.metrics.setHolds(p.gate.holdList())
}

// endHold ends a hold here and for the other replicas.
func (p *Processor) endHold(h *hold, how string) {
	if p.gate.endHold(h.scope) {
		p.log.Info().Str("scope", h.scope).Str("reason", h.reason).Msg("hold ended: " + how)
	}
	p.unshareHold(h.scope)
	p.metrics.setHolds(p.gate.holdList())
}

func (p *Processor) breakerChanged(surface, from, to string) {
	p.log.Info().Str("surface", surface).Str("from", from).Str("to", to).Msg("breaker state changed")
	// The breaker itself cannot be shared, so an open one is shared as a
	// hold that lasts its open timeout.
	switch to {
	case stateOpen:
		p.shareHold(surface, reasonBreakerOpen, time.Now().Add(p.cfg.BreakerOpenTimeout))
	case stateClosed:
		p.unshareHold(surface)
	}
	p.metrics.setBreaker(surface, to)
	p.metrics.setHolds(p.gate.holdList())
}

// park sets a held message aside: its worker is freed and the keep-alive
// loop sends InProgress for it until the hold ends.
func (p *Processor) park(j *job, stop *hold) {
	for _, h := range j.probes {
		p.gate.finishProbe(h)
	}
	if j.ticket.breaker != "" {
		p.gate.finishHalfOpen(j.ticket.breaker)
	}
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	p.release(ctx, j)
	p.gate.park(&parkedMsg{c: j.c, msg: j.msg, table: j.table})
	j.log.Debug().Str("scope", stop.scope).Str("reason", stop.reason).Msg("request parked while a hold lasts")
	p.metrics.countRequest(j, outcomeParked)
}

// holdLoop keeps parked messages alive, probes holds through GET /me where
// an API key exists, and notices the breaker's own move to half-open.
func (p *Processor) holdLoop(ctx context.Context) {
	keepAlive := time.NewTicker(p.cfg.AckWait / 3)
	defer keepAlive.Stop()
	check := time.NewTicker(250 * time.Millisecond)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			for _, pm := range p.gate.parkedMessages() {
				if err := pm.msg.InProgress(); err != nil {
					p.log.Warn().Err(err).Str("subject", pm.msg.Subject()).Msg("in-progress signal for a parked request failed")
				}
			}
		case <-check.C:
			for _, s := range surfaces {
				if from, to, changed := p.gate.breakers[s].transition(); changed {
					p.breakerChanged(s, from, to)
				}
			}
			p.probeViaMe(ctx)
		}
	}
}

// probeViaMe tests a Public API hold whose probe is due with GET /me.
func (p *Processor) probeViaMe(ctx context.Context) {
	h := p.gate.dueMeProbe()
	if h == nil {
		return
	}
	err := p.clay.Me(ctx)
	if err == nil {
		p.endHold(h, "GET /me succeeded")
		return
	}
	p.log.Debug().Err(err).Str("scope", h.scope).Msg("GET /me probe failed: hold stays")
	var clayErr *clay.Error
	if errors.As(err, &clayErr) && clayErr.Status == http.StatusUnauthorized {
		p.gate.startHold(h.scope, h.reason, time.Time{}, true)
		return
	}
	p.gate.finishProbe(h)
}

// releaseParked gives every parked message back at shutdown, with a delay
// so it is not redelivered into the same hold at once.
func (p *Processor) releaseParked() {
	for _, pm := range p.gate.takeAllParked() {
		key := pm.msg.Headers().Get("Nats-Msg-Id")
		if err := pm.msg.NakWithDelay(p.cfg.ProbeInterval); err != nil {
			p.log.Error().Err(err).Str("key", key).Msg("nak of a parked request failed: JetStream redelivers after the ack wait")
			continue
		}
		p.log.Info().Str("key", key).Msg("parked request given back at shutdown")
	}
}

// observeRateLimit adapts the Public API budget to Clay's X-RateLimit-*
// headers: the remaining calls are spread over the time left in the
// window, and an exhausted window pauses the surface until it resets.
func (p *Processor) observeRateLimit(surface string, rl clay.RateLimit) {
	if surface != surfacePublicAPI {
		return
	}
	if rl.Remaining == 0 {
		p.startHold(surface, reasonRetryAfter, time.Now().Add(max(rl.Reset, p.cfg.RetryAfterMin)), false,
			errors.New("X-RateLimit-Remaining is 0"))
		return
	}
	// A burst of one spreads the calls evenly, so calls granted before the
	// headers of earlier ones arrive cannot overrun a fixed window.
	window := max(rl.Reset, time.Second)
	p.budgets[surface].setRate(float64(rl.Remaining)/window.Seconds(), 1)
}
