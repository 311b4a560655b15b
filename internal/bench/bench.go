// Package bench measures claybridge end to end. It compares throughput and
// added latency with a bare JetStream consumer, and measures the share of
// Clay's rate budget spent, critical latency beside a bulk backlog,
// fallback latency while Clay is down, peak memory and scaling with
// workers. Every case runs against real nats-server code and the Clay
// simulator, in this process or against a running stack, and reports its
// figures under fixed JSON keys.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// Case names, in the order Run runs them.
const (
	CaseOverhead = "overhead"
	CaseBudget   = "budget"
	CasePriority = "priority"
	CaseFallback = "fallback"
	CaseMemory   = "memory"
	CaseScaling  = "scaling"
)

// Cases lists every case in the order Run runs them.
var Cases = []string{CaseOverhead, CaseBudget, CasePriority, CaseFallback, CaseMemory, CaseScaling}

// Sizes sets how many requests each case sends and how long it runs.
type Sizes struct {
	// Requests is the backlog each overhead variant drains.
	Requests int `json:"requests"`
	// LatencySamples is the number of requests whose publish-to-result
	// time the overhead case measures, one variant at a time.
	LatencySamples int `json:"latency_samples"`
	// BudgetWindow is how long the budget case counts accepted records.
	BudgetWindow time.Duration `json:"budget_window_ns"`
	// BulkBacklog is the bulk backlog of the priority case.
	BulkBacklog int `json:"bulk_backlog"`
	// CriticalSamples is the number of critical requests measured with
	// and again without the bulk backlog.
	CriticalSamples int `json:"critical_samples"`
	// FallbackSamples is the number of fallback results measured.
	FallbackSamples int `json:"fallback_samples"`
	// MemoryBacklog is the backlog the memory case's processor drains.
	MemoryBacklog int `json:"memory_backlog"`
	// MemoryTimeout bounds the memory case's drain.
	MemoryTimeout time.Duration `json:"memory_timeout_ns"`
	// ScalingWorkers are the worker counts of the scaling case.
	ScalingWorkers []int `json:"scaling_workers"`
	// ScalingRun is how long each scaling step runs at its ideal rate.
	ScalingRun time.Duration `json:"scaling_run_ns"`
}

// DefaultSizes returns the sizes of a full run, about two and a half
// minutes on a quiet 2-core machine.
func DefaultSizes() Sizes {
	return Sizes{
		Requests:        50_000,
		LatencySamples:  2_000,
		BudgetWindow:    20 * time.Second,
		BulkBacklog:     50_000,
		CriticalSamples: 300,
		FallbackSamples: 500,
		MemoryBacklog:   100_000,
		MemoryTimeout:   150 * time.Second,
		ScalingWorkers:  []int{1, 4, 16, 64},
		ScalingRun:      5 * time.Second,
	}
}

// QuickSizes returns the sizes of a quick run, under a minute in all. Its
// figures check that the harness works; they are too short to judge
// claybridge by.
func QuickSizes() Sizes {
	return Sizes{
		Requests:        2_000,
		LatencySamples:  200,
		BudgetWindow:    6 * time.Second,
		BulkBacklog:     2_000,
		CriticalSamples: 40,
		FallbackSamples: 50,
		MemoryBacklog:   5_000,
		MemoryTimeout:   30 * time.Second,
		ScalingWorkers:  []int{4, 16},
		ScalingRun:      2 * time.Second,
	}
}

// Config configures a run. The zero value runs every case at
// DefaultSizes with in-process NATS servers and simulators.
type Config struct {
	// Sizes are the cases' sizes, default DefaultSizes().
	Sizes Sizes
	// Quick marks the report as a quick run; it does not change Sizes.
	Quick bool
	// Workers is the worker pool of the overhead case, the same for
	// claybridge and the bare consumer, default 10.
	Workers int
	// Cases lists the cases to run, default all of Cases.
	Cases []string

	// NATSURL is a running NATS server with JetStream that every case
	// uses. Empty starts an embedded server per case. The server must
	// carry no other claybridge traffic: cases purge CLAY_REQUESTS.
	NATSURL string
	// ClayURL is a running Clay simulator (cmd/claysim) that every case
	// configures through its /_sim/ admin API. Empty starts one in this
	// process per case.
	ClayURL string
	// APIKey is sent to the simulator's Public API, default "bench-key".
	APIKey string
	// NATSServer is a nats-server binary that the memory case runs as its
	// own process. Empty uses an embedded server in this process, which
	// is still a separate process from the measured processor.
	NATSServer string
	// ProcessorCommand returns the child process the memory case
	// measures, default ClaybridgeCommand of this executable. Run sets
	// its Stdout and Stderr when they are nil.
	ProcessorCommand func(natsURL, clayURL, httpAddr string) *exec.Cmd

	// CPUProfile, when set, receives a pprof CPU profile of this process
	// while claybridge drains the overhead case's backlog.
	CPUProfile io.Writer
	// Progress receives a line as each step starts, default io.Discard.
	Progress io.Writer
	// Log receives warnings and errors of the in-process processors and
	// simulators, default io.Discard.
	Log io.Writer
	// Dir holds JetStream files and child logs, default a new directory
	// under os.TempDir() that Run removes.
	Dir string
}

func (c *Config) setDefaults() error {
	if c.Sizes.Requests == 0 {
		c.Sizes = DefaultSizes()
	}
	if c.Workers == 0 {
		c.Workers = 10
	}
	if len(c.Cases) == 0 {
		c.Cases = Cases
	}
	if c.APIKey == "" {
		c.APIKey = "bench-key"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.ProcessorCommand == nil {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this executable for the memory case: %w", err)
		}
		c.ProcessorCommand = ClaybridgeCommand(exe, c.APIKey)
	}
	return c.validate()
}

func (c *Config) validate() error {
	for _, name := range c.Cases {
		if !slices.Contains(Cases, name) {
			return fmt.Errorf("unknown case %q: use %s", name, strings.Join(Cases, ", "))
		}
	}
	s := c.Sizes
	if s.Requests < 1 || s.LatencySamples < 1 || s.BulkBacklog < 1 || s.CriticalSamples < 1 ||
		s.FallbackSamples < 1 || s.MemoryBacklog < 1 || len(s.ScalingWorkers) == 0 {
		return fmt.Errorf("invalid sizes %+v: every count must be 1 or more", s)
	}
	if s.BudgetWindow <= 0 || s.ScalingRun <= 0 || s.MemoryTimeout <= 0 {
		return fmt.Errorf("invalid sizes %+v: every duration must be positive", s)
	}
	if c.Workers < 1 {
		return fmt.Errorf("invalid worker count %d: use 1 or more", c.Workers)
	}
	return nil
}

// bench is one run.
type bench struct {
	cfg    Config
	runID  string
	dir    string
	report *Report
}

// Run runs the configured cases one after another and returns their
// figures. It stops at the first case that fails.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, runID: newRunID()}
	if err := b.makeDir(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		defer os.RemoveAll(b.dir)
	}
	b.report = newReport(cfg)
	start := time.Now()
	steps := map[string]func(context.Context) error{
		CaseOverhead: b.overhead,
		CaseBudget:   b.budget,
		CasePriority: b.priority,
		CaseFallback: b.fallback,
		CaseMemory:   b.memory,
		CaseScaling:  b.scaling,
	}
	for _, name := range Cases {
		if !slices.Contains(cfg.Cases, name) {
			continue
		}
		b.progress("case %s", name)
		caseStart := time.Now()
		if err := steps[name](ctx); err != nil {
			return nil, fmt.Errorf("case %s: %w", name, err)
		}
		b.progress("case %s done in %.1fs", name, time.Since(caseStart).Seconds())
	}
	b.report.finish(time.Since(start))
	return b.report, nil
}

func (b *bench) makeDir() error {
	if b.cfg.Dir != "" {
		b.dir = b.cfg.Dir
		return os.MkdirAll(b.dir, 0o755)
	}
	dir, err := os.MkdirTemp("", "claybridge-bench-")
	if err != nil {
		return fmt.Errorf("create the bench directory: %w", err)
	}
	b.dir = dir
	return nil
}

// progress writes one line to the progress writer.
func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.cfg.Progress, "bench: "+format+"\n", args...)
}

// key returns a request key unique to this run.
func (b *bench) key(variant string, i int) string {
	return fmt.Sprintf("bench-%s-%s-%d", b.runID, variant, i)
}

func newRunID() string {
	buf := make([]byte, 4)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

// errTimeout marks a wait that ran past its bound.
var errTimeout = errors.New("timed out")

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
