package subjects

import "time"

// Health states, from best to worst.
const (
	Healthy   = "healthy"
	Degraded  = "degraded"
	Unhealthy = "unhealthy"
)

// Heartbeat is the JSON body an instance publishes on its health subject.
// It carries a per-message TTL, so heartbeats of a dead instance age out.
type Heartbeat struct {
	Instance string    `json:"instance"`
	Time     time.Time `json:"time"`
	Version  string    `json:"version"`
	// State is "healthy", "degraded" or "unhealthy"; Reasons say why it is
	// not healthy.
	State   string   `json:"state"`
	Reasons []string `json:"reasons,omitempty"`
	// Holds lists what stopped fetching, and why.
	Holds []Hold `json:"holds"`
	// Breakers maps each Clay surface to its breaker state.
	Breakers map[string]string `json:"breakers"`
	// DLQDepth counts DLQ entries in the stream.
	DLQDepth uint64 `json:"dlq_depth"`
	// Lag counts requests not yet delivered, per priority.
	Lag map[Priority]uint64 `json:"lag"`
	// RateBudget is each surface's rate budget.
	RateBudget map[string]RateBudget `json:"rate_budget"`
	// CacheHitRatio is hits over lookups of the fallback cache, 0 to 1.
	CacheHitRatio float64 `json:"cache_hit_ratio"`
	// WebhookRemaining maps each table to the submissions left of its
	// webhook source's lifetime cap.
	WebhookRemaining map[string]int64 `json:"webhook_remaining"`
}

// Hold is a reason that stopped fetching for some operations.
type Hold struct {
	// Scope is what the hold concerns: a surface, a table or the workspace.
	Scope  string    `json:"scope"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"`
}

// RateBudget is the state of one rate budget.
type RateBudget struct {
	// Limit is the refill rate in tokens per second; 0 means unlimited.
	Limit  float64 `json:"limit"`
	Burst  int     `json:"burst"`
	Tokens float64 `json:"tokens"`
}

var stateRank = map[string]int{Healthy: 0, Degraded: 1, Unhealthy: 2}

// Worsen adds a reason and lowers the state to state when it is worse.
func (hb *Heartbeat) Worsen(state, reason string) {
	if stateRank[state] > stateRank[hb.State] {
		hb.State = state
	}
	hb.Reasons = append(hb.Reasons, reason)
}
