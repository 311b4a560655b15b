package suite

import (
	"sort"
	"time"

	"golang.org/x/time/rate"

	"github.com/claybridge/claybridge/clay/claysim"
)

// Conformance is the result of replaying arrivals through a token bucket.
type Conformance struct {
	// Arrivals is the number of arrivals replayed.
	Arrivals int
	// Rejected counts the arrivals the bucket would have rejected.
	Rejected int
}

// CheckConformance replays the arrival times of operation op through a
// token bucket of perSecond and burst that starts full, as Clay's does,
// and counts the arrivals it rejects. A sender that keeps to the budget
// has none rejected. Rejected arrivals take no token, as at Clay.
func CheckConformance(arrivals []claysim.Arrival, op string, perSecond float64, burst int) Conformance {
	times := make([]time.Time, 0, len(arrivals))
	for _, a := range arrivals {
		if a.Operation == op {
			times = append(times, a.Time)
		}
	}
	sort.Slice(times, func(i, k int) bool { return times[i].Before(times[k]) })
	limiter := rate.NewLimiter(rate.Limit(perSecond), burst)
	c := Conformance{Arrivals: len(times)}
	for _, at := range times {
		if !limiter.AllowN(at, 1) {
			c.Rejected++
		}
	}
	return c
}

// Goodput returns the rows of op accepted (2xx) per second between the
// first arrival of op and the last accepted one, and how many there were.
func Goodput(arrivals []claysim.Arrival, op string) (perSecond float64, accepted int) {
	var first, last time.Time
	for _, a := range arrivals {
		if a.Operation != op {
			continue
		}
		if first.IsZero() || a.Time.Before(first) {
			first = a.Time
		}
		if a.Status >= 200 && a.Status < 300 {
			accepted++
			if a.Time.After(last) {
				last = a.Time
			}
		}
	}
	if accepted < 2 || !last.After(first) {
		return 0, accepted
	}
	return float64(accepted) / last.Sub(first).Seconds(), accepted
}
