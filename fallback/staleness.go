package fallback

import (
	"fmt"
	"time"

	"github.com/claybridge/claybridge/subjects"
)

// Default staleness thresholds.
const (
	DefaultFreshMaxAge = time.Hour
	DefaultStaleMaxAge = 24 * time.Hour
)

// defaultMaxStaleness is the staleness each priority may be served when
// Config.MaxStaleness does not name it.
var defaultMaxStaleness = map[subjects.Priority]string{
	subjects.Critical: subjects.Stale,
	subjects.Normal:   subjects.VeryStale,
	subjects.Bulk:     subjects.VeryStale,
}

// stalenessRank orders the staleness levels from fresh to very stale. It
// returns false for a string that is not a level.
func stalenessRank(s string) (int, bool) {
	switch s {
	case subjects.Fresh:
		return 0, true
	case subjects.Stale:
		return 1, true
	case subjects.VeryStale:
		return 2, true
	}
	return 0, false
}

// Allowed reports whether an entry of the given staleness may be served to a
// caller that accepts at most limit. Both are "fresh", "stale" or
// "very_stale", and any other string is never allowed.
func Allowed(staleness, limit string) bool {
	got, ok := stalenessRank(staleness)
	highest, limitOK := stalenessRank(limit)
	return ok && limitOK && got <= highest
}

// Staleness returns the staleness level of data produced age ago: "fresh"
// below Config.FreshMaxAge, "stale" below Config.StaleMaxAge and
// "very_stale" beyond. A negative age, from clocks that disagree, is fresh.
func (c *Cache) Staleness(age time.Duration) string {
	switch {
	case age < c.freshMaxAge:
		return subjects.Fresh
	case age < c.staleMaxAge:
		return subjects.Stale
	default:
		return subjects.VeryStale
	}
}

// MaxStalenessFor returns the highest staleness that may be served to a
// request of priority p. An unknown priority gets "fresh", the strictest
// level.
func (c *Cache) MaxStalenessFor(p subjects.Priority) string {
	if limit, ok := c.maxStaleness[p]; ok {
		return limit
	}
	return subjects.Fresh
}

// resolveMaxStaleness merges configured limits over the defaults and
// validates them.
func resolveMaxStaleness(configured map[subjects.Priority]string) (map[subjects.Priority]string, error) {
	limits := make(map[subjects.Priority]string, len(subjects.Priorities))
	for p, limit := range defaultMaxStaleness {
		limits[p] = limit
	}
	for p, limit := range configured {
		if _, err := subjects.ParsePriority(string(p)); err != nil {
			return nil, fmt.Errorf("%w: MaxStaleness: %v", ErrInvalidConfig, err)
		}
		if _, ok := stalenessRank(limit); !ok {
			return nil, fmt.Errorf("%w: MaxStaleness[%s] has unknown level %q, expected %q, %q or %q",
				ErrInvalidConfig, p, limit, subjects.Fresh, subjects.Stale, subjects.VeryStale)
		}
		limits[p] = limit
	}
	return limits, nil
}
