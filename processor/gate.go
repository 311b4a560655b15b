package processor

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// Hold reasons, as shown in heartbeats and metrics.
const (
	reasonBreakerOpen     = "breaker_open"
	reasonUnauthorized    = "unauthorized"
	reasonPaymentRequired = "payment_required"
	reasonRetryAfter      = "retry_after"
)

// Hold scopes besides the surfaces themselves.
const (
	scopeWorkspace   = "workspace"
	scopeTablePrefix = "table:"
)

// hold stops calls for what its scope concerns: a surface, a table or the
// whole workspace. It ends through a probe: one real request (or GET /me
// when viaMe) once probeAt has passed.
type hold struct {
	// remoteKey is the CLAY_CONTROL key of a hold another replica shared,
	// empty for this replica's own.
	remoteKey string
	scope     string
	reason    string
	since     time.Time
	probeAt   time.Time
	probing   bool
	viaMe     bool
	// probeSince is when the probe in flight started.
	probeSince time.Time
}

// parkedMsg is a fetched message waiting for a hold to end.
type parkedMsg struct {
	c     *consumer
	msg   jetstream.Msg
	table string
	since time.Time
}

// gate decides what may be fetched and called: it keeps each surface's
// breaker, the holds, and the messages parked while a hold lasts. Parked
// messages sit outside the worker pools and are kept alive by one
// InProgress ticker, so an outage of any length uses up no deliveries.
type gate struct {
	mu       sync.Mutex
	breakers map[string]*surfaceBreaker
	holds    map[string]*hold
	parked   []*parkedMsg
	halfOpen map[string]bool // a half-open probe is in flight
	// halfOpenSince is when each half-open probe started.
	halfOpenSince map[string]time.Time
	// idleProbe records consumers whose probe found nothing to send. They
	// are passed over for probes until the recorded time, so one idle
	// consumer cannot keep taking the probe from one with work.
	idleProbe map[*consumer]time.Time
	changed   chan struct{}

	probeInterval time.Duration
	maxParked     int
	// cacheAnswers lets consumers of cacheable operations keep fetching
	// during a hold, so the fallback cache can answer what it holds.
	cacheAnswers bool
	now          func() time.Time
}

func newGate(cfg *Config) *gate {
	g := &gate{
		breakers:      map[string]*surfaceBreaker{},
		holds:         map[string]*hold{},
		halfOpen:      map[string]bool{},
		halfOpenSince: map[string]time.Time{},
		idleProbe:     map[*consumer]time.Time{},
		changed:       make(chan struct{}),
		probeInterval: cfg.ProbeInterval,
		maxParked:     cfg.MaxParked,
		cacheAnswers:  !cfg.CacheDisabled,
		now:           time.Now,
	}
	for _, s := range surfaces {
		g.breakers[s] = newSurfaceBreaker(cfg.BreakerFailures, cfg.BreakerSuccesses, cfg.BreakerOpenTimeout)
	}
	return g
}

// broadcast wakes every admission waiter. Callers hold g.mu.
func (g *gate) broadcast() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// surfaceOf returns the Clay surface an operation calls.
func surfaceOf(op subjects.Operation) string {
	if op == subjects.Row {
		return surfaceWebhook
	}
	return surfacePublicAPI
}

// ticket is permission to fetch: up to limit messages, and whether this
// fetch is a probe of a hold or of a half-open breaker.
type ticket struct {
	limit   int
	probe   *hold
	breaker string
}

// isProbe reports whether the ticket admits a probe.
func (t ticket) isProbe() bool { return t.probe != nil || t.breaker != "" }

// probeTimeout frees a probe that never reported back, so a path that
// ends a probed request without a verdict cannot stop calls for good.
const probeTimeout = 45 * time.Second

// idleProbePause is how long a consumer whose probe found nothing is
// passed over for probes.
const idleProbePause = time.Second

// admit waits until consumer c may fetch and returns how much. It returns
// false when ctx ends.
func (g *gate) admit(ctx context.Context, c *consumer) (ticket, bool) {
	surface := surfaceOf(c.operation)
	for {
		g.mu.Lock()
		t, wait, ok := g.admitLocked(c, surface)
		changed := g.changed
		g.mu.Unlock()
		if ok {
			return t, true
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ticket{}, false
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// admitLocked returns a ticket, or how long to wait before asking again.
// While a hold stops calls, consumers of cacheable operations still fetch
// (up to the parked bound) so the fallback cache can answer.
func (g *gate) admitLocked(c *consumer, surface string) (ticket, time.Duration, bool) {
	t, wait, ok := g.admitCallsLocked(c, surface)
	if ok || !g.cacheAnswers || !cacheable(c.operation) || len(g.parked) >= g.maxParked {
		return t, wait, ok
	}
	return ticket{limit: maxFetch}, 0, true
}

func (g *gate) admitCallsLocked(c *consumer, surface string) (ticket, time.Duration, bool) {
	const recheck = 250 * time.Millisecond
	now := g.now()
	mayProbe := !now.Before(g.idleProbe[c])
	for _, scope := range []string{scopeWorkspace, surface} {
		h := g.holds[scope]
		if h == nil {
			continue
		}
		if h.probing && now.Sub(h.probeSince) > probeTimeout {
			h.probing = false // its probe never reported back
		}
		if h.probing || h.viaMe || now.Before(h.probeAt) || !mayProbe {
			return ticket{}, min(recheck, max(h.probeAt.Sub(now), time.Millisecond)), false
		}
		h.probing, h.probeSince = true, now
		return ticket{limit: 1, probe: h}, 0, true
	}
	switch g.breakers[surface].state() {
	case stateOpen:
		return ticket{}, recheck, false
	case stateHalfOpen:
		if g.halfOpen[surface] && now.Sub(g.halfOpenSince[surface]) > probeTimeout {
			g.halfOpen[surface] = false // its probe never reported back
		}
		if g.halfOpen[surface] || !mayProbe {
			return ticket{}, recheck, false
		}
		g.halfOpen[surface], g.halfOpenSince[surface] = true, now
		return ticket{limit: 1, breaker: surface}, 0, true
	}
	if len(g.parked) >= g.maxParked {
		return ticket{}, recheck, false
	}
	return ticket{limit: maxFetch}, 0, true
}

// release ends a ticket whose fetch brought nothing to call; idle names
// the consumer that found nothing, if any.
func (g *gate) release(t ticket, idle *consumer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if idle != nil && t.isProbe() {
		g.idleProbe[idle] = g.now().Add(idleProbePause)
	}
	if t.probe != nil {
		t.probe.probing = false
	}
	if t.breaker != "" {
		g.halfOpen[t.breaker] = false
	}
	g.broadcast()
}

// blocked reports the hold that stops a call of op (for a row, on table),
// or nil.
func (g *gate) blocked(op subjects.Operation, table string) *hold {
	g.mu.Lock()
	defer g.mu.Unlock()
	scopes := []string{scopeWorkspace, surfaceOf(op)}
	if op == subjects.Row && table != "" {
		scopes = append(scopes, scopeTablePrefix+table)
	}
	for _, scope := range scopes {
		if h := g.holds[scope]; h != nil {
			return h
		}
	}
	return nil
}

// startHold opens or renews a hold on scope. It returns true when the
// hold is new.
func (g *gate) startHold(scope, reason string, until time.Time, viaMe bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if until.IsZero() {
		until = now.Add(g.probeInterval)
	}
	h, exists := g.holds[scope]
	if !exists {
		h = &hold{scope: scope, since: now}
		g.holds[scope] = h
	}
	h.reason, h.probeAt, h.probing, h.viaMe = reason, until, false, viaMe
	g.broadcast()
	return !exists
}

// endHold removes the hold on scope. It returns true when there was one.
func (g *gate) endHold(scope string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.holds[scope]; !ok {
		return false
	}
	delete(g.holds, scope)
	g.broadcast()
	return true
}

// finishProbe releases a probe that ended without a verdict on its hold.
func (g *gate) finishProbe(h *hold) {
	if h == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holds[h.scope] == h {
		h.probing = false
		h.probeAt = g.now().Add(g.probeInterval)
	}
	g.broadcast()
}

// finishHalfOpen marks the half-open probe of surface as done.
func (g *gate) finishHalfOpen(surface string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.halfOpen[surface] = false
	g.broadcast()
}

// park keeps a message outside the worker pools until its hold ends.
func (g *gate) park(p *parkedMsg) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p.since = g.now()
	g.parked = append(g.parked, p)
}

// unpark takes up to n parked messages of consumer c that no hold stops
// any more, besides the hold the ticket probes.
func (g *gate) unpark(c *consumer, n int, t ticket) []*parkedMsg {
	g.mu.Lock()
	defer g.mu.Unlock()
	var taken []*parkedMsg
	kept := g.parked[:0]
	for _, p := range g.parked {
		if len(taken) < n && p.c == c && !g.stoppedLocked(p, t.probe) {
			taken = append(taken, p)
			continue
		}
		kept = append(kept, p)
	}
	clear(g.parked[len(kept):])
	g.parked = kept
	return taken
}

// stoppedLocked reports whether a hold other than probed still stops a
// parked message. A table's hold lets one message through as its probe.
func (g *gate) stoppedLocked(p *parkedMsg, probed *hold) bool {
	scopes := []string{scopeWorkspace, surfaceOf(p.c.operation), scopeTablePrefix + p.table}
	for _, scope := range scopes {
		h := g.holds[scope]
		if h == nil || h == probed {
			continue
		}
		if scope == scopes[2] && !h.probing && !g.now().Before(h.probeAt) {
			continue
		}
		return true
	}
	return g.breakers[surfaceOf(p.c.operation)].state() == stateOpen
}

// admitCall checks a call about to be made. It returns the hold that stops
// it, if any, and the holds this call probes: those of its ticket, and a
// table's hold whose probe is due, which the call claims.
func (g *gate) admitCall(op subjects.Operation, table string, t ticket) (stop *hold, probes []*hold) {
	g.mu.Lock()
	defer g.mu.Unlock()
	surface := surfaceOf(op)
	scopes := []string{scopeWorkspace, surface}
	if table != "" {
		scopes = append(scopes, scopeTablePrefix+table)
	}
	now := g.now()
	for _, scope := range scopes {
		h := g.holds[scope]
		switch {
		case h == nil || h == t.probe:
		case scope == scopeTablePrefix+table && !h.probing && !now.Before(h.probeAt):
			h.probing, h.probeSince = true, now
			probes = append(probes, h)
		default:
			return h, probes
		}
	}
	switch g.breakers[surface].state() {
	case stateOpen:
		return &hold{scope: surface, reason: reasonBreakerOpen}, probes
	case stateHalfOpen:
		if t.breaker != surface {
			return &hold{scope: surface, reason: reasonBreakerOpen}, probes
		}
	}
	return nil, probes
}

// parkedMessages returns a snapshot of the parked messages.
func (g *gate) parkedMessages() []*parkedMsg {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*parkedMsg(nil), g.parked...)
}

// takeAllParked removes and returns every parked message, at shutdown.
func (g *gate) takeAllParked() []*parkedMsg {
	g.mu.Lock()
	defer g.mu.Unlock()
	all := g.parked
	g.parked = nil
	return all
}

// holdList returns the holds for heartbeats, breaker holds included.
func (g *gate) holdList() []subjects.Hold {
	g.mu.Lock()
	defer g.mu.Unlock()
	list := []subjects.Hold{}
	for _, h := range g.holds {
		list = append(list, subjects.Hold{Scope: h.scope, Reason: h.reason, Since: h.since, Until: h.probeAt})
	}
	for _, s := range surfaces {
		if g.breakers[s].state() == stateOpen {
			list = append(list, subjects.Hold{Scope: s, Reason: reasonBreakerOpen})
		}
	}
	sort.Slice(list, func(i, k int) bool { return list[i].Scope < list[k].Scope })
	return list
}

// dueMeProbe marks and returns a hold to be probed with GET /me now, or
// nil.
func (g *gate) dueMeProbe() *hold {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for _, h := range g.holds {
		if h.viaMe && !h.probing && !now.Before(h.probeAt) {
			h.probing, h.probeSince = true, now
			return h
		}
	}
	return nil
}

// releaseProbes ends the probes of a job that settled without a Clay call.
func (g *gate) releaseProbes(j *job) {
	for _, h := range j.probes {
		g.finishProbe(h)
	}
	if j.ticket.breaker != "" {
		g.finishHalfOpen(j.ticket.breaker)
	}
}

// surfaceHeld reports whether a hold or an open breaker stops calls on
// surface, which explains a consumer that delivers nothing.
func (g *gate) surfaceHeld(surface string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.holds[surface] != nil || g.holds[scopeWorkspace] != nil || g.breakers[surface].state() != stateClosed
}

// startRemoteHold applies a hold another replica shared. It returns true
// when the scope was not held here.
func (g *gate) startRemoteHold(scope, reason string, until time.Time, key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, exists := g.holds[scope]; exists {
		return false
	}
	g.holds[scope] = &hold{remoteKey: key, scope: scope, reason: reason, since: g.now(), probeAt: until}
	g.broadcast()
	return true
}

// endRemoteHold ends a hold applied from the shared key, if any.
func (g *gate) endRemoteHold(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for scope, h := range g.holds {
		if h.remoteKey == key {
			delete(g.holds, scope)
			g.broadcast()
		}
	}
}
