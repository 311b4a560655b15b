package processor

import (
	"context"
	"testing"
)

func TestSlotShareGivesBackSlotsPerBatch(t *testing.T) {
	p := newPool(5)
	held := p.acquire(context.Background(), 5)
	s := newSlotShare(p, maxBatchRows, held, 23)
	steps := []struct {
		name     string
		settle   int
		wantHeld int
	}{
		{name: "23 messages need 3 slots", settle: 0, wantHeld: 3},
		{name: "20 left need 2", settle: 3, wantHeld: 2},
		{name: "11 left still need 2", settle: 9, wantHeld: 2},
		{name: "10 left need 1", settle: 1, wantHeld: 1},
		{name: "none left need none", settle: 10, wantHeld: 0},
	}
	for _, step := range steps {
		for range step.settle {
			s.done()
		}
		if got := len(p.slots); got != step.wantHeld {
			t.Errorf("%s: %d slots held, want %d", step.name, got, step.wantHeld)
		}
	}
}

func TestSlotShareShrinksToMessagesFetched(t *testing.T) {
	p := newPool(3)
	held := p.acquire(context.Background(), 3)
	s := newSlotShare(p, 1, held, 3)
	s.shrink(2) // the fetch brought one message of three
	if got := len(p.slots); got != 1 {
		t.Errorf("%d slots held after a fetch of one search, want 1", got)
	}
	s.done()
	if got := len(p.slots); got != 0 {
		t.Errorf("%d slots held after the search settled, want 0", got)
	}
}
