package itest

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/claybridge/claybridge/itest/harness"
)

var soak = flag.Bool("soak", false, "run the longer variants of the scenarios")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(harness.Main(m))
}

// deadlineMargin is left between a test's time cap and the go test
// deadline, for the final reads, the cleanup and the failure output.
const deadlineMargin = 45 * time.Second

// capped returns a context that ends after limit, or earlier when the go
// test deadline would come first, and skips t under -short.
func capped(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	if *soak {
		limit *= 10
	}
	if deadline, ok := t.Deadline(); ok {
		left := time.Until(deadline) - deadlineMargin
		if left < limit/2 {
			t.Fatalf("the go test -timeout leaves %s for this test, want at least %s: raise -timeout",
				left.Round(time.Second), (limit/2 + deadlineMargin).Round(time.Second))
		}
		limit = min(limit, left)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return ctx
}

// size returns normal, or soakSize under -soak.
func size(normal, soakSize int) int {
	if *soak {
		return soakSize
	}
	return normal
}

// unlimitedBridge and unlimitedSim take rate limits out of a scenario
// that does not test them: no budget in claybridge, none at the
// simulator.
var (
	unlimitedBridge = []string{"--rate-limit", "0"}
	unlimitedSim    = []string{"--rate-limit", "0"}
)
