package fallback

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/claybridge/claybridge/subjects"
)

// configOnly returns a cache built from cfg without buckets, for the
// helpers that need no NATS server.
func configOnly(t *testing.T, cfg Config) *Cache {
	t.Helper()
	c, err := newCache(nil, nil, cfg)
	if err != nil {
		t.Fatalf("newCache: %v", err)
	}
	return c
}

func TestStalenessBoundaries(t *testing.T) {
	c := configOnly(t, Config{})
	cases := []struct {
		age  time.Duration
		want string
	}{
		{-time.Minute, subjects.Fresh},
		{0, subjects.Fresh},
		{59 * time.Minute, subjects.Fresh},
		{time.Hour - time.Nanosecond, subjects.Fresh},
		{time.Hour, subjects.Stale},
		{23*time.Hour + 59*time.Minute, subjects.Stale},
		{24 * time.Hour, subjects.VeryStale},
		{7 * 24 * time.Hour, subjects.VeryStale},
	}
	for _, tc := range cases {
		t.Run(tc.age.String(), func(t *testing.T) {
			if got := c.Staleness(tc.age); got != tc.want {
				t.Errorf("Staleness(%s) = %q, want %q", tc.age, got, tc.want)
			}
		})
	}
}

func TestStalenessConfiguredThresholds(t *testing.T) {
	c := configOnly(t, Config{FreshMaxAge: time.Minute, StaleMaxAge: time.Hour})
	cases := []struct {
		age  time.Duration
		want string
	}{
		{59 * time.Second, subjects.Fresh},
		{time.Minute, subjects.Stale},
		{59 * time.Minute, subjects.Stale},
		{time.Hour, subjects.VeryStale},
	}
	for _, tc := range cases {
		t.Run(tc.age.String(), func(t *testing.T) {
			if got := c.Staleness(tc.age); got != tc.want {
				t.Errorf("Staleness(%s) = %q, want %q", tc.age, got, tc.want)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	cases := []struct {
		staleness, limit string
		want             bool
	}{
		{subjects.Fresh, subjects.Fresh, true},
		{subjects.Stale, subjects.Fresh, false},
		{subjects.Fresh, subjects.Stale, true},
		{subjects.Stale, subjects.Stale, true},
		{subjects.VeryStale, subjects.Stale, false},
		{subjects.VeryStale, subjects.VeryStale, true},
		{"ancient", subjects.VeryStale, false},
		{subjects.Fresh, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.staleness+"/"+tc.limit, func(t *testing.T) {
			if got := Allowed(tc.staleness, tc.limit); got != tc.want {
				t.Errorf("Allowed(%q, %q) = %v, want %v", tc.staleness, tc.limit, got, tc.want)
			}
		})
	}
}

func TestMaxStalenessFor(t *testing.T) {
	cases := []struct {
		name       string
		configured map[subjects.Priority]string
		priority   subjects.Priority
		want       string
	}{
		{"critical default", nil, subjects.Critical, subjects.Stale},
		{"normal default", nil, subjects.Normal, subjects.VeryStale},
		{"bulk default", nil, subjects.Bulk, subjects.VeryStale},
		{"unknown priority", nil, "urgent", subjects.Fresh},
		{"configured", map[subjects.Priority]string{subjects.Normal: subjects.Fresh}, subjects.Normal, subjects.Fresh},
		{"others keep defaults", map[subjects.Priority]string{subjects.Normal: subjects.Fresh}, subjects.Critical, subjects.Stale},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := configOnly(t, Config{MaxStaleness: tc.configured})
			if got := c.MaxStalenessFor(tc.priority); got != tc.want {
				t.Errorf("MaxStalenessFor(%q) = %q, want %q", tc.priority, got, tc.want)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, kv, objects := testBuckets(t)
	cases := []struct {
		name string
		cfg  Config
	}{
		{"unknown staleness", Config{MaxStaleness: map[subjects.Priority]string{subjects.Bulk: "old"}}},
		{"unknown priority", Config{MaxStaleness: map[subjects.Priority]string{"urgent": subjects.Stale}}},
		{"fresh not below stale", Config{FreshMaxAge: 2 * time.Hour, StaleMaxAge: time.Hour}},
		{"negative memory", Config{MemoryMaxBytes: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(context.Background(), kv, objects, tc.cfg)
			if err == nil {
				c.Close()
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("New error = %v, want ErrInvalidConfig", err)
			}
		})
	}
}
