package processor

import (
	"context"
	"testing"
	"time"

	"github.com/claybridge/claybridge/subjects"
)

func TestAllocatorGiveBackStaysWithinBurst(t *testing.T) {
	a := newAllocator(10, 5, 10)
	ctx := context.Background()
	first := a.acquire(ctx, subjects.Critical, 5)
	if first.count() != 5 {
		t.Fatalf("first grant = %d, want the whole burst of 5", first.count())
	}
	first.giveBack(3)
	again := a.acquire(ctx, subjects.Critical, 10)
	if again.count() > 5 {
		t.Errorf("grant after a give-back = %d, want at most the burst of 5", again.count())
	}
}

func TestAllocatorNeverGrantsOverRate(t *testing.T) {
	const perSecond, burst = 20.0, 4
	a := newAllocator(perSecond, burst, 10)
	ctx := context.Background()
	start := time.Now()
	granted := 0
	for time.Since(start) < time.Second {
		g := a.acquire(ctx, subjects.Normal, 3)
		granted += g.count()
		if granted%4 == 0 {
			g.giveBack(1)
			granted--
		}
	}
	limit := burst + int(perSecond*time.Since(start).Seconds()) + 1
	if granted > limit {
		t.Errorf("granted %d tokens in %s, want at most %d (burst plus rate)", granted, time.Since(start), limit)
	}
}

func TestAllocatorGuaranteesShareToWaitingPriority(t *testing.T) {
	a := newAllocator(200, 1, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts := map[subjects.Priority]int{}
	done := make(chan subjects.Priority)
	for _, p := range []subjects.Priority{subjects.Critical, subjects.Bulk} {
		go func() {
			for ctx.Err() == nil {
				if g := a.acquire(ctx, p, 1); g != nil && g.count() > 0 {
					select {
					case done <- p:
					case <-ctx.Done():
					}
				}
			}
		}()
	}
	for range 200 {
		counts[<-done]++
	}
	cancel()
	if counts[subjects.Bulk] < 200/10-2 {
		t.Errorf("bulk got %d of 200 tokens while critical waited too, want about one in ten", counts[subjects.Bulk])
	}
	if counts[subjects.Critical] < counts[subjects.Bulk] {
		t.Errorf("critical got %d tokens and bulk %d, want critical first", counts[subjects.Critical], counts[subjects.Bulk])
	}
}
