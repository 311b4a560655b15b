package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Report holds a run's figures. Each figure is a JSON number under its
// key and is absent when its case did not run.
type Report struct {
	E2ERPS              *float64 `json:"e2e_rps,omitempty"`
	LedgerOffRPS        *float64 `json:"ledger_off_rps,omitempty"`
	BaselineRPS         *float64 `json:"baseline_rps,omitempty"`
	OverheadRatio       *float64 `json:"overhead_ratio,omitempty"`
	JetStreamConsumeRPS *float64 `json:"jetstream_consume_rps,omitempty"`
	AddedLatencyP50MS   *float64 `json:"added_latency_p50_ms,omitempty"`
	AddedLatencyP99MS   *float64 `json:"added_latency_p99_ms,omitempty"`
	BudgetUse1          *float64 `json:"budget_use_1,omitempty"`
	BudgetUse3          *float64 `json:"budget_use_3,omitempty"`
	RateLimited429s     *float64 `json:"rate_limited_429s,omitempty"`
	CriticalP99Ratio    *float64 `json:"critical_p99_ratio,omitempty"`
	FallbackP50MS       *float64 `json:"fallback_p50_ms,omitempty"`
	FallbackP99MS       *float64 `json:"fallback_p99_ms,omitempty"`
	RSSMB               *float64 `json:"rss_mb,omitempty"`
	ScalingEfficiency   *float64 `json:"scaling_efficiency,omitempty"`

	// Targets lists each target with its figure and whether it passed.
	Targets []Target `json:"targets"`
	// Details are each case's figures behind the headline ones.
	Details Details `json:"details"`
	// Machine describes where the run took place.
	Machine Machine `json:"machine"`
	// Quick is true for a run with QuickSizes.
	Quick bool `json:"quick"`
	// Sizes are the sizes the run used.
	Sizes Sizes `json:"sizes"`
	// Workers is the worker pool of the overhead case.
	Workers int `json:"workers"`
	// ElapsedSeconds is the run's wall-clock time.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

// Target is a bound on one figure.
type Target struct {
	Key string `json:"key"`
	// Op is ">=" or "<=".
	Op    string  `json:"op"`
	Bound float64 `json:"bound"`
	Value float64 `json:"value"`
	Pass  bool    `json:"pass"`
}

// Machine describes the host of a run.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	// NATSServer is the nats-server version the cases ran against, as the
	// embedded server reports it or a binary prints it.
	NATSServer string `json:"nats_server"`
	// LoadBefore and LoadAfter are /proc/loadavg's 1-minute load average
	// when the run started and ended.
	LoadBefore float64 `json:"load_before"`
	LoadAfter  float64 `json:"load_after"`
}

// Details are the per-case figures behind the headline ones.
type Details struct {
	Overhead *OverheadDetails `json:"overhead,omitempty"`
	Budget   *BudgetDetails   `json:"budget,omitempty"`
	Priority *PriorityDetails `json:"priority,omitempty"`
	Fallback *FallbackDetails `json:"fallback,omitempty"`
	Memory   *MemoryDetails   `json:"memory,omitempty"`
	Scaling  *ScalingDetails  `json:"scaling,omitempty"`
}

// target bounds, in the order the table lists them.
var targets = []struct {
	key   string
	op    string
	bound float64
}{
	{"overhead_ratio", ">=", 0.90},
	{"budget_use_1", ">=", 0.98},
	{"budget_use_3", ">=", 0.98},
	{"rate_limited_429s", "<=", 0},
	{"critical_p99_ratio", "<=", 1.2},
	{"fallback_p99_ms", "<=", 5},
	{"rss_mb", "<=", 128},
	{"scaling_efficiency", ">=", 0.95},
}

func newReport(cfg Config) *Report {
	return &Report{
		Quick:   cfg.Quick,
		Sizes:   cfg.Sizes,
		Workers: cfg.Workers,
		Machine: Machine{
			CPUs:       runtime.NumCPU(),
			CPUModel:   cpuModel(),
			Kernel:     readTrimmed("/proc/sys/kernel/osrelease"),
			Go:         runtime.Version(),
			NATSServer: "v" + server.VERSION + " (embedded)",
			LoadBefore: loadAverage(),
		},
	}
}

// finish records the elapsed time and the load, and checks the targets.
func (r *Report) finish(elapsed time.Duration) {
	r.ElapsedSeconds = round(elapsed.Seconds(), 1)
	r.Machine.LoadAfter = loadAverage()
	figures := r.figures()
	r.Targets = r.Targets[:0]
	for _, t := range targets {
		value, ok := figures[t.key]
		if !ok {
			continue
		}
		pass := value >= t.bound
		if t.op == "<=" {
			pass = value <= t.bound
		}
		r.Targets = append(r.Targets, Target{Key: t.key, Op: t.op, Bound: t.bound, Value: value, Pass: pass})
	}
}

// figures returns the figures that are set, by JSON key.
func (r *Report) figures() map[string]float64 {
	data, _ := json.Marshal(r)
	var all map[string]any
	_ = json.Unmarshal(data, &all)
	out := map[string]float64{}
	for key, v := range all {
		if n, ok := v.(float64); ok && key != "elapsed_seconds" && key != "workers" {
			out[key] = n
		}
	}
	return out
}

// FigureKeys lists the JSON keys of the headline figures, in report order.
var FigureKeys = []string{
	"e2e_rps", "ledger_off_rps", "baseline_rps", "overhead_ratio", "jetstream_consume_rps",
	"added_latency_p50_ms", "added_latency_p99_ms", "budget_use_1", "budget_use_3",
	"rate_limited_429s", "critical_p99_ratio", "fallback_p50_ms", "fallback_p99_ms",
	"rss_mb", "scaling_efficiency",
}

// WriteTable prints the figures, one a line, with each target's outcome.
func (r *Report) WriteTable(w io.Writer) error {
	figures := r.figures()
	bounds := map[string]Target{}
	for _, t := range r.Targets {
		bounds[t.Key] = t
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\ttarget\tresult")
	for _, key := range FigureKeys {
		value, ok := figures[key]
		if !ok {
			fmt.Fprintf(tw, "%s\tnot run\t\t\n", key)
			continue
		}
		t, bounded := bounds[key]
		if !bounded {
			fmt.Fprintf(tw, "%s\t%s\t\t\n", key, formatFigure(value))
			continue
		}
		result := "miss"
		if t.Pass {
			result = "pass"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\n", key, formatFigure(value), t.Op, formatFigure(t.Bound), result)
	}
	fmt.Fprintf(tw, "\nmachine: %d CPUs, %s, %s, nats-server %s; load %.2f before, %.2f after; %.1f s\n",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Go, r.Machine.NATSServer,
		r.Machine.LoadBefore, r.Machine.LoadAfter, r.ElapsedSeconds)
	return tw.Flush()
}

func formatFigure(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// set stores a figure rounded for the report; NaN and infinities, which
// JSON cannot carry, become 0.
func set(field **float64, v float64, digits int) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	*field = new(round(v, digits))
}

func round(v float64, digits int) float64 {
	scale := math.Pow(10, float64(digits))
	return math.Round(v*scale) / scale
}

// ratio returns a ÷ b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return runtime.GOARCH
}

func loadAverage() float64 {
	var load float64
	_, _ = fmt.Sscan(readTrimmed("/proc/loadavg"), &load)
	return load
}

func readTrimmed(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}
