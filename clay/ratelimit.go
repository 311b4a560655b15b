package clay

import (
	"net/http"
	"strconv"
	"time"
)

// RateLimit is what Clay's X-RateLimit-* headers said about a surface's
// budget. Clay publishes no number for the Public API's limit, so callers
// adapt to these headers when they come.
type RateLimit struct {
	// Limit is X-RateLimit-Limit, or 0 when absent.
	Limit int
	// Remaining is X-RateLimit-Remaining.
	Remaining int
	// Reset is the time until the window resets.
	Reset time.Duration
}

// RateLimitObserver receives the rate-limit headers of each response that
// has them.
type RateLimitObserver func(surface string, rl RateLimit)

// ObserveRateLimits sets the function told about rate-limit headers; nil
// stops it.
func (c *Client) ObserveRateLimits(fn RateLimitObserver) {
	c.rateObserver.Store(&fn)
}

func (c *Client) reportRateLimit(surface string, h http.Header) {
	fn := c.rateObserver.Load()
	if fn == nil || *fn == nil {
		return
	}
	if rl, ok := parseRateLimit(h, c.now()); ok {
		(*fn)(surface, rl)
	}
}

// parseRateLimit reads X-RateLimit-Remaining and -Reset. Reset is taken as
// seconds from now, or as a Unix time when it is that large.
func parseRateLimit(h http.Header, now time.Time) (RateLimit, bool) {
	remaining, err := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	if err != nil || remaining < 0 {
		return RateLimit{}, false
	}
	rl := RateLimit{Remaining: remaining}
	rl.Limit, _ = strconv.Atoi(h.Get("X-RateLimit-Limit"))
	if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && reset >= 0 {
		const unixTimeFloor = 1_000_000_000
		if reset >= unixTimeFloor {
			rl.Reset = max(time.Unix(reset, 0).Sub(now), 0)
		} else {
			rl.Reset = time.Duration(reset) * time.Second
		}
	}
	return rl, true
}
