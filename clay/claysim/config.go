package claysim

import (
	"fmt"
	"net/http"
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

// Retry-After variants for Config.PublicRetryAfterMode, the header of a
// 429 over the Public API rate limit. Clay documents a Retry-After header
// on 429 but not its form, so the simulator can send each of these.
const (
	// RetryAfterSeconds sends the whole seconds until the window resets,
	// rounded up.
	RetryAfterSeconds = "seconds"
	// RetryAfterHTTPDate sends the end of the window as an HTTP date,
	// rounded up to the next whole second.
	RetryAfterHTTPDate = "http-date"
	// RetryAfterZero sends "0".
	RetryAfterZero = "zero"
	// RetryAfterMissing sends no Retry-After header.
	RetryAfterMissing = "missing"
)

// Callback modes for Config.CallbackMode. Clay's HTTP API column may call
// back late, twice or never, so the simulator can do each of these.
const (
	// CallbackNormal sends one callback per row after CallbackDelay.
	CallbackNormal = "normal"
	// CallbackNone sends no callbacks.
	CallbackNone = "none"
	// CallbackDuplicate sends two identical callbacks per row, the second
	// after the first has been delivered or given up.
	CallbackDuplicate = "duplicate"
	// CallbackLate sends one callback per row after CallbackLateDelay
	// instead of CallbackDelay.
	CallbackLate = "late"
	// CallbackErrorThenRetry sends the first attempt of each callback
	// with "invalid-" followed by the row's token in
	// X-Claybridge-Callback-Token. A receiver that checks the token
	// rejects that attempt, and the first retry carries the right token.
	// With CallbackRetries negative, no retry follows.
	CallbackErrorThenRetry = "error-then-retry"
)

// Defaults that New uses for zero Config fields. The webhook limits are
// the ones Clay documents for table webhook sources.
const (
	DefaultRateLimit        = 10.0
	DefaultBurst            = 20
	DefaultMaxBodyBytes     = 100 * 1024
	DefaultMaxRowsPerSource = 50000
	DefaultCapStatus        = http.StatusForbidden
	DefaultRoutineDelay     = time.Second
	DefaultRoutinePageSize  = 50

	DefaultPublicRateWindow = time.Second

	DefaultCallbackDelay        = 500 * time.Millisecond
	DefaultCallbackLateDelay    = 10 * DefaultCallbackDelay
	DefaultCallbackRetries      = 3
	DefaultCallbackRetryBackoff = 100 * time.Millisecond
)

// Config sets up a simulator. Its zero value gives the documented Clay
// limits, no Public API rate limit, no webhook token, any non-empty API
// key, one callback per row after 500ms, no added latency and a disabled
// logger.
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
	// CapStatus is the status of a webhook request that would take its
	// source past MaxRowsPerSource, from 400 to 599. Zero means
	// DefaultCapStatus (403). The response never has a Retry-After header.
	CapStatus int
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

	// PublicRateLimit is the number of Public API requests, to all
	// /public/v0 endpoints together, that one window of PublicRateWindow
	// accepts. Zero or a negative value disables the limit, which is the
	// default because Clay publishes no number for it. While it is on,
	// every Public API response has X-RateLimit-Limit,
	// X-RateLimit-Remaining and X-RateLimit-Reset headers.
	PublicRateLimit int
	// PublicRateWindow is the length of the fixed window of
	// PublicRateLimit. A window starts at the first request after the
	// previous window ended. Zero means DefaultPublicRateWindow (1s).
	PublicRateWindow time.Duration
	// PublicRetryAfterMode selects the Retry-After header of a 429 over
	// the Public API rate limit: RetryAfterSeconds (the default when
	// empty), RetryAfterHTTPDate, RetryAfterZero or RetryAfterMissing.
	PublicRetryAfterMode string

	// CallbackMode selects how accepted webhook rows that carry
	// claybridge_callback_url and claybridge_callback_token are called
	// back: CallbackNormal (the default when empty), CallbackNone,
	// CallbackDuplicate, CallbackLate or CallbackErrorThenRetry.
	CallbackMode string
	// CallbackDelay is the time from accepting a row until its callback.
	// Zero means DefaultCallbackDelay (500ms) and a negative value sends
	// the callback at once.
	CallbackDelay time.Duration
	// CallbackLateDelay replaces CallbackDelay in CallbackLate mode. Zero
	// means DefaultCallbackLateDelay (5s) and a negative value sends the
	// callback at once.
	CallbackLateDelay time.Duration
	// CallbackRetries is the number of retries of a callback attempt that
	// got a non-2xx status or a connection error, in every mode. Zero
	// means DefaultCallbackRetries (3) and a negative value disables
	// retries.
	CallbackRetries int
	// CallbackRetryBackoff is the wait before the first retry of a
	// callback, doubled for each further retry up to 10s. Zero means
	// DefaultCallbackRetryBackoff (100ms) and a negative value retries at
	// once.
	CallbackRetryBackoff time.Duration

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
	if c.CapStatus != 0 && !validCapStatus(c.CapStatus) {
		return fmt.Errorf("claysim: invalid cap status %d: use 400-599, or 0 for %d", c.CapStatus, DefaultCapStatus)
	}
	if c.PublicRateWindow < 0 {
		return fmt.Errorf("claysim: invalid public rate window %v: must be 0 (default) or more", c.PublicRateWindow)
	}
	if !validRetryAfterMode(c.PublicRetryAfterMode) {
		return fmt.Errorf("claysim: invalid public Retry-After mode %q: use %s", c.PublicRetryAfterMode, retryAfterModeList)
	}
	if !validCallbackMode(c.CallbackMode) {
		return fmt.Errorf("claysim: invalid callback mode %q: use %s", c.CallbackMode, callbackModeList)
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
	if !validCapStatus(c.CapStatus) {
		c.CapStatus = DefaultCapStatus
	}
	return c.withPublicDefaults().withCallbackDefaults()
}

func (c Config) withPublicDefaults() Config {
	c.PublicRateLimit = max(c.PublicRateLimit, 0)
	if c.PublicRateWindow <= 0 {
		c.PublicRateWindow = DefaultPublicRateWindow
	}
	if !validRetryAfterMode(c.PublicRetryAfterMode) || c.PublicRetryAfterMode == "" {
		c.PublicRetryAfterMode = RetryAfterSeconds
	}
	return c
}

func (c Config) withCallbackDefaults() Config {
	if !validCallbackMode(c.CallbackMode) || c.CallbackMode == "" {
		c.CallbackMode = CallbackNormal
	}
	c.CallbackDelay = durationOrDefault(c.CallbackDelay, DefaultCallbackDelay)
	c.CallbackLateDelay = durationOrDefault(c.CallbackLateDelay, DefaultCallbackLateDelay)
	c.CallbackRetryBackoff = durationOrDefault(c.CallbackRetryBackoff, DefaultCallbackRetryBackoff)
	switch {
	case c.CallbackRetries == 0:
		c.CallbackRetries = DefaultCallbackRetries
	case c.CallbackRetries < 0:
		c.CallbackRetries = 0
	}
	return c
}

// durationOrDefault returns def for zero, zero for a negative d and d
// otherwise.
func durationOrDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
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

func validCapStatus(status int) bool {
	return status >= 400 && status <= 599
}

const retryAfterModeList = RetryAfterSeconds + ", " + RetryAfterHTTPDate + ", " + RetryAfterZero + " or " + RetryAfterMissing

func validRetryAfterMode(mode string) bool {
	switch mode {
	case "", RetryAfterSeconds, RetryAfterHTTPDate, RetryAfterZero, RetryAfterMissing:
		return true
	}
	return false
}

const callbackModeList = CallbackNormal + ", " + CallbackNone + ", " + CallbackDuplicate + ", " +
	CallbackLate + " or " + CallbackErrorThenRetry

func validCallbackMode(mode string) bool {
	switch mode {
	case "", CallbackNormal, CallbackNone, CallbackDuplicate, CallbackLate, CallbackErrorThenRetry:
		return true
	}
	return false
}
