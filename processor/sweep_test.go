package processor_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestSweepDeadLettersStrandedRequest(t *testing.T) {
	hang := make(chan struct{})
	var closeOnce sync.Once
	release := func() { closeOnce.Do(func() { close(hang) }) }
	cfg := processor.Config{
		MaxDeliver: 2, AckWait: time.Second, Lease: 500 * time.Millisecond, SweepInterval: time.Hour,
		Hooks: processor.Hooks{DisableInProgress: true, BeforeCall: func(string) { <-hang }},
	}
	s := newStack(t, claysim.Config{RateLimit: -1}, cfg)
	t.Cleanup(release) // runs before the processor stops
	reqs := writes("stranded", 2)
	seqs := make([]uint64, len(reqs))
	for i, r := range reqs {
		seqs[i] = publish(t, s.js, r).Sequence
	}
	dies, doneElsewhere := reqs[0], reqs[1]

	testenv.Eventually(t, 30*time.Second, "JetStream to stop delivering both requests", func() bool {
		return s.settledUpTo(t, dies) >= seqs[0] && s.settledUpTo(t, doneElsewhere) >= seqs[1]
	})
	time.Sleep(cfg.AckWait + 1500*time.Millisecond) // the last deliveries' ack wait is over
	book := ledger.New(s.kv(t), ledger.Config{Owner: "elsewhere"})
	claim, err := book.Claim(context.Background(), doneElsewhere.key, doneElsewhere.operation, doneElsewhere.priority, true)
	if err != nil || claim.Verdict != ledger.Acquired {
		t.Fatalf("claim %s elsewhere: %v, verdict %v", doneElsewhere.key, err, claim)
	}
	if err := book.Finish(context.Background(), claim, []byte(`{}`), "", nil, ""); err != nil {
		t.Fatalf("finish %s elsewhere: %v", doneElsewhere.key, err)
	}

	if err := s.proc.Sweep(context.Background()); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	out := s.await(t, keysOf(reqs[:1]), 10*time.Second)
	if got := out.DLQ[dies.key]; len(got) != 1 || got[0].Class != subjects.ClassMaxDeliverExceeded {
		t.Errorf("%s: want one %s DLQ entry, got %+v", dies.key, subjects.ClassMaxDeliverExceeded, got)
	}
	if got := out.DLQ[doneElsewhere.key]; len(got) != 0 {
		t.Errorf("%s is done but got %d DLQ entries, want none", doneElsewhere.key, len(got))
	}
	if n := s.pending(t); n != 0 {
		t.Errorf("%d messages left in the work queue after the sweep, want 0", n)
	}
	// A second sweep finds nothing more to do.
	if err := s.proc.Sweep(context.Background()); err != nil {
		t.Fatalf("second sweep: %v", err)
	}
	if out := s.await(t, keysOf(reqs[:1]), 10*time.Second); len(out.DLQ[dies.key]) != 1 {
		t.Errorf("after a second sweep %s has %d DLQ entries, want 1", dies.key, len(out.DLQ[dies.key]))
	}
}

// settledUpTo returns the last stream sequence the request's consumer
// delivered, once nothing is awaiting an ack.
func (s *stack) settledUpTo(t *testing.T, r request) uint64 {
	t.Helper()
	cons, err := s.js.Consumer(context.Background(), subjects.StreamRequests, processor.ConsumerName(r.priority, r.operation))
	if err != nil {
		t.Fatalf("open consumer: %v", err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	if info.NumAckPending > 0 {
		return 0
	}
	return info.Delivered.Stream
}
