package subjects

import "encoding/json"

// ResultSchema is the version of the result body's shape.
const ResultSchema = 1

// Result statuses, sources and staleness levels.
const (
	StatusOK       = "ok"
	StatusFallback = "fallback"

	SourceClay  = "clay"
	SourceCache = "cache"

	Fresh     = "fresh"
	Stale     = "stale"
	VeryStale = "very_stale"
)

// Result is the JSON body of a message on the result stream.
type Result struct {
	Schema    int       `json:"schema"`
	Key       string    `json:"key"`
	Operation Operation `json:"operation"`
	Priority  Priority  `json:"priority"`
	// Status is "ok", or "fallback" when the cache answered because Clay
	// could not.
	Status string `json:"status"`
	// Source is "clay" or "cache".
	Source string `json:"source"`
	// Staleness is "fresh", "stale" or "very_stale".
	Staleness string `json:"staleness"`
	// AgeMS is how long ago Clay produced the data, in milliseconds.
	AgeMS int64 `json:"age_ms"`
	// Attempts counts deliveries of the request, this one included.
	Attempts int `json:"attempts"`
	// ClayLatencyMS is the time spent in Clay calls, in milliseconds.
	ClayLatencyMS int64 `json:"clay_latency_ms"`
	// Data is Clay's answer. It is absent when Ref is set.
	Data json.RawMessage `json:"data,omitempty"`
	// Ref names the Object Store object holding Data when it was too large
	// for one message.
	Ref string `json:"ref,omitempty"`
	// Reason says why a fallback answer was served.
	Reason string `json:"reason,omitempty"`
}
