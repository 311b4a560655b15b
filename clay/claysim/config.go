package claysim

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// Operations that the simulator counts separately in Stats and that
// Config.LatencyByOperation and Fault.Operation refer to.
const (
	// OpRow is a POST of rows to a table webhook source.
	OpRow = "row"
	// OpRoutine is a routine run request or a poll of its results.
	OpRoutine = "routine"
	// OpSearch is a people or company search request.
	OpSearch = "search"
	// OpMe is a GET of /public/v0/me.
	OpMe = "me"
)

// Webhook acknowledgement variants for Config.WebhookAck. Clay's
// documentation does not fix the status and body of a webhook
// acknowledgement, so the simulator can send each of these.
const (
	// AckJSON200 sends 200 with {"status":"ok","rows":N}.
	AckJSON200 = "json200"
	// AckEmpty200 sends 200 with an empty body.
	AckEmpty200 = "empty200"
	// AckJSON202 sends 202 with {"status":"ok","rows":N}.
	AckJSON202 = "json202"
	// AckHTML200 sends 200 with a short text/html page.
	AckHTML200 = "html200"
)

// Defaults that New uses for zero Config fields. The webhook limits are
// the ones Clay documents for table webhook sources.
const (
	DefaultRateLimit        = 10.0
	DefaultBurst            = 20
	DefaultMaxBodyBytes     = 100 * 1024
	DefaultMaxRowsPerSource = 50000
	DefaultRoutineDelay     = time.Second
	DefaultRoutinePageSize  = 50
)

// Config sets up a simulator. Its zero value gives the documented Clay
// limits, no webhook token, any non-empty API key, no added latency and a
// disabled logger.
type Config struct {
	// WebhookToken is the value that requests to a webhook source must
	// send in the x-clay-webhook-auth header. Empty accepts every request.
	WebhookToken string
	// APIKey is the clay-api-key header value that the public API
	// accepts. Empty accepts any non-empty key.
	APIKey string

	// RateLimit is the rate of webhook records (rows, not requests) per
	// second that the workspace accepts. Zero means DefaultRateLimit and
	// a negative value disables the limit.
	RateLimit float64
	// Burst is the token bucket size of the records rate limit, in
	// records. Zero means DefaultBurst.
	Burst int
	// NoRetryAfter leaves out the Retry-After header of the 429 sent when
	// the records rate limit is exceeded. By default the header is "1".
	NoRetryAfter bool
	// MaxBodyBytes is the largest webhook request body accepted, and
	// larger bodies get 413. Zero means DefaultMaxBodyBytes and a negative value
	// disables the check.
	MaxBodyBytes int64
	// MaxRowsPerSource is the number of rows one webhook source accepts
	// over its lifetime. Zero means DefaultMaxRowsPerSource and a negative
	// value disables the limit.
	MaxRowsPerSource int
	// WebhookAck selects the success response of a webhook request: one
	// of AckJSON200 (the default when empty), AckEmpty200, AckJSON202 or
	// AckHTML200.
	WebhookAck string

	// RoutineDelay is the time from a routine run request until its
	// results are ready. Zero means DefaultRoutineDelay and a negative
	// value makes results ready at once.
	RoutineDelay time.Duration
	// RoutinePageSize is the number of item results on one page of
	// routine results. Zero means DefaultRoutinePageSize.
	RoutinePageSize int

	// Latency is added before the response of every Clay request.
	Latency time.Duration
	// LatencyByOperation adds latency per operation (OpRow, OpRoutine,
	// OpSearch, OpMe) on top of Latency.
	LatencyByOperation map[string]time.Duration

	// Logger receives a debug line per Clay request and info lines for
	// fault and setting changes. The zero value logs nothing.
	Logger zerolog.Logger
}

// validate reports settings that New would otherwise replace or ignore.
func (c Config) validate() error {
	if !validAck(c.WebhookAck) {
		return fmt.Errorf("claysim: invalid webhook ack %q: use %s, %s, %s or %s",
			c.WebhookAck, AckJSON200, AckEmpty200, AckJSON202, AckHTML200)
	}
	if c.Burst < 0 {
		return fmt.Errorf("claysim: invalid burst %d: must be 0 (default) or more", c.Burst)
	}
	if c.RoutinePageSize < 0 {
		return fmt.Errorf("claysim: invalid routine page size %d: must be 0 (default) or more", c.RoutinePageSize)
	}
	for op := range c.LatencyByOperation {
		if !validOperation(op) {
			return fmt.Errorf("claysim: invalid operation %q in latency by operation: use %s, %s, %s or %s",
				op, OpRow, OpRoutine, OpSearch, OpMe)
		}
	}
	return nil
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxRowsPerSource == 0 {
		c.MaxRowsPerSource = DefaultMaxRowsPerSource
	}
	if !validAck(c.WebhookAck) || c.WebhookAck == "" {
		c.WebhookAck = AckJSON200
	}
	if c.RoutineDelay == 0 {
		c.RoutineDelay = DefaultRoutineDelay
	}
	if c.RoutineDelay < 0 {
		c.RoutineDelay = 0
	}
	if c.RoutinePageSize <= 0 {
		c.RoutinePageSize = DefaultRoutinePageSize
	}
	return c
}

func validAck(ack string) bool {
	switch ack {
	case "", AckJSON200, AckEmpty200, AckJSON202, AckHTML200:
		return true
	}
	return false
}

func validOperation(op string) bool {
	switch op {
	case OpRow, OpRoutine, OpSearch, OpMe:
		return true
	}
	return false
}
