package claysim

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Headers of the Public API rate limit, in the form that claybridge's
// client reads.
const (
	rateLimitHeader     = "X-RateLimit-Limit"
	rateRemainingHeader = "X-RateLimit-Remaining"
	rateResetHeader     = "X-RateLimit-Reset"
)

// publicWindow counts Public API requests in fixed windows. A window
// starts at the first request after the previous window ended.
type publicWindow struct {
	mu    sync.Mutex
	start time.Time
	used  int
}

// publicAdmission is the outcome of one request under the Public API rate
// limit.
type publicAdmission struct {
	allowed   bool
	limit     int
	remaining int
	now       time.Time
	resetAt   time.Time
}

// admit counts one request at now against a limit of limit requests per
// window of length. A rejected request does not use up the window.
func (pw *publicWindow) admit(now time.Time, limit int, length time.Duration) publicAdmission {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.start.IsZero() || !now.Before(pw.start.Add(length)) {
		pw.start = now
		pw.used = 0
	}
	admission := publicAdmission{limit: limit, now: now, resetAt: pw.start.Add(length)}
	if pw.used < limit {
		pw.used++
		admission.allowed = true
	}
	admission.remaining = limit - pw.used
	return admission
}

// reset ends the current window, so that the next request starts a new
// one under the settings of that moment.
func (pw *publicWindow) reset() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.start = time.Time{}
	pw.used = 0
}

// resetSeconds returns the whole seconds until the window resets, rounded
// up. It is at least 1 because admit starts a new window at its end.
func (a publicAdmission) resetSeconds() int64 {
	return int64((a.resetAt.Sub(a.now) + time.Second - 1) / time.Second)
}

// addHeaders returns a copy of header with the X-RateLimit-* headers
// added.
func (a publicAdmission) addHeaders(header http.Header) http.Header {
	header = header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Set(rateLimitHeader, strconv.Itoa(a.limit))
	header.Set(rateRemainingHeader, strconv.Itoa(a.remaining))
	header.Set(rateResetHeader, strconv.FormatInt(a.resetSeconds(), 10))
	return header
}

// rejectReply returns the 429 of a request over the limit, with the
// Retry-After header that mode selects.
func (a publicAdmission) rejectReply(mode string, window time.Duration) reply {
	rep := errorReply(http.StatusTooManyRequests,
		"rate limit exceeded: the Public API accepts %d requests per %v, and the window resets in %d s",
		a.limit, window, a.resetSeconds())
	var value string
	switch mode {
	case RetryAfterMissing:
		return rep
	case RetryAfterZero:
		value = "0"
	case RetryAfterHTTPDate:
		// An HTTP date has whole seconds, so rounding up keeps a client
		// that waits until then from retrying inside the window.
		at := a.resetAt.Truncate(time.Second)
		if at.Before(a.resetAt) {
			at = at.Add(time.Second)
		}
		value = at.UTC().Format(http.TimeFormat)
	default:
		value = strconv.FormatInt(a.resetSeconds(), 10)
	}
	rep.header = http.Header{"Retry-After": {value}}
	return rep
}

// admitPublic counts a Public API request against the Public API rate
// limit and keeps the outcome in ex for the response headers. It returns
// false when the request is over the limit. Webhook requests, and every
// request while the limit is off, pass without a count.
func (s *Server) admitPublic(ex *exchange, cfg Config) bool {
	if ex.op == OpRow || cfg.PublicRateLimit <= 0 {
		return true
	}
	admission := s.publicWindow.admit(time.Now(), cfg.PublicRateLimit, cfg.PublicRateWindow)
	ex.publicLimit = &admission
	return admission.allowed
}
