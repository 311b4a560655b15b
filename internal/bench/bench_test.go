package bench_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/internal/bench"
	"github.com/claybridge/claybridge/processor"
)

// The test binary runs the memory case's child processor itself when
// these variables are set, so the test needs no claybridge build.
const (
	childNATSURL  = "CLAYBRIDGE_BENCH_TEST_NATS_URL"
	childClayURL  = "CLAYBRIDGE_BENCH_TEST_CLAY_URL"
	childHTTPAddr = "CLAYBRIDGE_BENCH_TEST_HTTP_ADDR"
)

func TestMain(m *testing.M) {
	if os.Getenv(childNATSURL) != "" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "bench test child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild runs a processor with default settings until SIGTERM, with
// /readyz on the given address, as "claybridge run" does.
func runChild() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	nc, err := nats.Connect(os.Getenv(childNATSURL))
	if err != nil {
		return err
	}
	defer nc.Close()
	clayURL := os.Getenv(childClayURL)
	client := clay.New(clay.Config{BaseURL: clayURL, APIKey: "bench-key"})
	proc, err := processor.New(nc, client, processor.Config{DefaultWebhookBase: clayURL})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !proc.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	srv := &http.Server{Addr: os.Getenv(childHTTPAddr), Handler: mux, ReadHeaderTimeout: time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			stop()
		}
	}()
	defer srv.Close()
	return proc.Run(ctx, 5*time.Second)
}

// childCommand re-runs the test binary as the memory case's processor.
func childCommand(natsURL, clayURL, httpAddr string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childNATSURL+"="+natsURL, childClayURL+"="+clayURL, childHTTPAddr+"="+httpAddr)
	return cmd
}

// tinySizes run every case in a few seconds.
func tinySizes() bench.Sizes {
	return bench.Sizes{
		Requests:        200,
		LatencySamples:  20,
		BudgetWindow:    500 * time.Millisecond,
		BulkBacklog:     100,
		CriticalSamples: 10,
		FallbackSamples: 10,
		MemoryBacklog:   300,
		MemoryTimeout:   30 * time.Second,
		ScalingWorkers:  []int{2},
		ScalingRun:      500 * time.Millisecond,
	}
}

func TestRunReportsEveryFigure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := bench.Config{
		Sizes:            tinySizes(),
		Quick:            true,
		Workers:          4,
		Dir:              t.TempDir(),
		ProcessorCommand: childCommand,
		Progress:         t.Output(),
	}

	report, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	data, err := json.Marshal(report)
	if err != nil {
		t.Fatalf("marshal the report: %v", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatalf("unmarshal the report: %v", err)
	}

	for _, key := range bench.FigureKeys {
		value, ok := fields[key]
		if !ok {
			t.Errorf("JSON has no key %q", key)
			continue
		}
		if _, ok := value.(float64); !ok {
			t.Errorf("JSON key %q = %v (%T), want a number", key, value, value)
		}
	}

	if got, want := len(report.Targets), 8; got != want {
		t.Errorf("got %d targets, want %d", got, want)
	}
	if report.Details.Fallback != nil && report.Details.Fallback.NotFallback != 0 {
		t.Errorf("got %d measured requests without a fallback result, want 0", report.Details.Fallback.NotFallback)
	}
}
