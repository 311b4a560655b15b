package clay

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Kind sorts a failed Clay call by what the caller should do next.
type Kind int

// The kinds of failure.
const (
	// KindTransient is a failure that may pass: a connection error, 408 or
	// a 5xx.
	KindTransient Kind = iota + 1
	// KindRejected is Clay refusing this request (400, 404, 413, 422 or
	// another 4xx about the request).
	KindRejected
	// KindForbidden is a 403: no access to what this request names.
	KindForbidden
	// KindUnauthorized is a 401: the webhook token or API key failed.
	KindUnauthorized
	// KindPaymentRequired is a 402: the workspace is out of credits.
	KindPaymentRequired
	// KindRateLimited is a 429.
	KindRateLimited
	// KindTooLarge is a body over Clay's limit, refused before sending.
	KindTooLarge
	// KindCanceled is a call whose context ended: a deadline or shutdown.
	KindCanceled
)

// Sentinel errors, one per kind, for errors.Is.
var (
	ErrTransient       = errors.New("clay: transient failure")
	ErrRejected        = errors.New("clay: request rejected")
	ErrForbidden       = errors.New("clay: forbidden")
	ErrUnauthorized    = errors.New("clay: unauthorized")
	ErrPaymentRequired = errors.New("clay: credits exhausted")
	ErrRateLimited     = errors.New("clay: rate limited")
	ErrTooLarge        = errors.New("clay: request too large")
	ErrCanceled        = errors.New("clay: call canceled")
)

var kindErrors = map[Kind]error{
	KindTransient:       ErrTransient,
	KindRejected:        ErrRejected,
	KindForbidden:       ErrForbidden,
	KindUnauthorized:    ErrUnauthorized,
	KindPaymentRequired: ErrPaymentRequired,
	KindRateLimited:     ErrRateLimited,
	KindTooLarge:        ErrTooLarge,
	KindCanceled:        ErrCanceled,
}

// Error is a failed Clay call.
type Error struct {
	// Op names the call: "webhook", "routine run", "routine results",
	// "search" or "me".
	Op   string
	Kind Kind
	// Status is the HTTP status, or 0 when no response arrived.
	Status int
	// RetryAfter is the parsed Retry-After header; HasRetryAfter tells
	// whether the header was present and valid.
	RetryAfter    time.Duration
	HasRetryAfter bool
	// MayHaveReached is true when the request may have reached Clay: a
	// response arrived, or the connection was in use when the call failed.
	// A false value means Clay certainly did not receive it.
	MayHaveReached bool
	// Message is Clay's error message, or the transport error's text.
	Message string
	// Err is the underlying transport or context error, if any.
	Err error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("clay %s: HTTP %d: %s", e.Op, e.Status, e.Message)
	}
	return fmt.Sprintf("clay %s: %s", e.Op, e.Message)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel error of the kind.
func (e *Error) Is(target error) bool { return kindErrors[e.Kind] == target }

// OutcomeUnknown reports whether Clay may have acted on the request without
// the caller seeing its answer: no response arrived but the request may
// have been written.
func (e *Error) OutcomeUnknown() bool { return e.Status == 0 && e.MayHaveReached }

// kindOfStatus sorts an HTTP error status.
func kindOfStatus(status int) Kind {
	switch {
	case status == http.StatusUnauthorized:
		return KindUnauthorized
	case status == http.StatusPaymentRequired:
		return KindPaymentRequired
	case status == http.StatusForbidden:
		return KindForbidden
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status == http.StatusRequestTimeout || status >= 500:
		return KindTransient
	default:
		return KindRejected
	}
}

// parseRetryAfter reads a Retry-After header given in seconds or as an HTTP
// date. A date in the past is a zero wait.
func parseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	if value == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(value); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	when, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	return max(when.Sub(now), 0), true
}
