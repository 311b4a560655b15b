package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/claybridge/claybridge/internal/bench"
)

// benchAbout explains bench's cases, modes and exit statuses.
const benchAbout = `Measures claybridge and prints one figure a line with its target. The
cases are overhead (throughput and added latency next to a bare JetStream
consumer), budget (use of Clay's webhook rate limit by 1 and 3 replicas),
priority (critical latency with a bulk backlog), fallback (answers from the
cache while Clay returns 503), memory (peak RSS of a claybridge process
draining a backlog) and scaling (throughput as workers grow against 200 ms
of Clay latency); docs/benchmarks.md describes each.

By default every case gets an embedded NATS server and a Clay simulator in
this process. With --nats-url and --clay-url the cases use a running NATS
server, which must carry no other claybridge traffic, and a running claysim,
which they reconfigure. The memory case runs "claybridge run" from this
binary as a child process, with nats-server (from --nats-server) as another.

A full run takes about two and a half minutes on 2 cores. --quick runs
every case small, in under a minute, to check the harness rather than
claybridge.

Exit status: 0 when every case ran, whether or not targets were met; 1
error; 2 invalid flags or arguments.`

// benchOptions are the flags of bench.
type benchOptions struct {
	quick      bool
	requests   int
	workers    int
	cases      []string
	jsonPath   string
	cpuProfile string
	natsURL    string
	clayURL    string
	natsServer string
	logPath    string
}

func benchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o benchOptions
	fs := newFlagSet("bench", "bench [flags]", benchAbout, stderr)
	fs.BoolVar(&o.quick, "quick", false, "run every case small and short, in under a minute")
	fs.IntVar(&o.requests, "requests", 0, "backlog of each overhead variant, `N` requests (default 50000, or 2000 with --quick)")
	fs.IntVar(&o.workers, "workers", 10, "`N` workers each for claybridge and the bare consumer in the overhead case")
	fs.StringSliceVar(&o.cases, "cases", nil, "`LIST` of cases to run, comma-separated (default all): "+strings.Join(bench.Cases, ","))
	fs.StringVar(&o.jsonPath, "json", "", "write the figures as a JSON object to `FILE`")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of claybridge draining the overhead backlog to `FILE`")
	fs.StringVar(&o.natsURL, "nats-url", "", "`URL` of a running NATS server for every case (default: an embedded server per case)")
	fs.StringVar(&o.clayURL, "clay-url", "", "`URL` of a running claysim for every case (default: a simulator in this process per case)")
	fs.StringVar(&o.natsServer, "nats-server", "", "`PATH` of the nats-server binary for the memory case (default: go tool -n nats-server; \"embedded\" for a server in this process)")
	fs.StringVar(&o.logPath, "log", "", "write warnings of the in-process processors and simulators to `FILE`")

	if err := parseFlags(fs, args, exitBenchUsage); err != nil {
		return err
	}
	if err := o.check(fs.Args()); err != nil {
		return &exitError{code: exitBenchUsage, err: err}
	}

	cfg, closeAll, err := o.config(ctx, stderr)
	if err != nil {
		return err
	}
	defer closeAll()

	report, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := report.WriteTable(stdout); err != nil {
		return err
	}
	return o.writeJSON(report)
}

// Exit status of bench for invalid arguments.
const exitBenchUsage = 2

// check rejects arguments and unknown cases.
func (o *benchOptions) check(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q: bench takes only flags", args[0])
	}
	for _, c := range o.cases {
		if !slices.Contains(bench.Cases, c) {
			return fmt.Errorf("unknown case %q in --cases: use %s", c, strings.Join(bench.Cases, ", "))
		}
	}
	if o.requests < 0 || o.workers < 1 {
		return fmt.Errorf("invalid --requests %d or --workers %d: use 1 or more", o.requests, o.workers)
	}
	return nil
}

// config builds the bench configuration and opens its output files; the
// returned function closes them.
func (o *benchOptions) config(ctx context.Context, stderr io.Writer) (bench.Config, func(), error) {
	cfg := bench.Config{Quick: o.quick, Workers: o.workers, Cases: o.cases,
		NATSURL: o.natsURL, ClayURL: o.clayURL, Progress: stderr, Sizes: bench.DefaultSizes()}
	if o.quick {
		cfg.Sizes = bench.QuickSizes()
	}
	if o.requests > 0 {
		cfg.Sizes.Requests = o.requests
	}
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	for _, out := range []struct {
		path string
		dst  *io.Writer
	}{{o.cpuProfile, &cfg.CPUProfile}, {o.logPath, &cfg.Log}} {
		if out.path == "" {
			continue
		}
		f, err := os.Create(out.path)
		if err != nil {
			closeAll()
			return cfg, nil, err
		}
		files = append(files, f)
		*out.dst = f
	}
	if o.wantsNATSServer() {
		cfg.NATSServer = o.resolveNATSServer(ctx, stderr)
	}
	return cfg, closeAll, nil
}

// wantsNATSServer reports whether the memory case runs and needs a
// nats-server binary.
func (o *benchOptions) wantsNATSServer() bool {
	if o.natsURL != "" || o.natsServer == "embedded" {
		return false
	}
	return len(o.cases) == 0 || slices.Contains(o.cases, bench.CaseMemory)
}

// resolveNATSServer returns --nats-server, or the binary of go.mod's tool
// line; without one, the memory case falls back to an embedded server.
func (o *benchOptions) resolveNATSServer(ctx context.Context, stderr io.Writer) string {
	if o.natsServer != "" {
		return o.natsServer
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "tool", "-n", "nats-server").Output()
	if err != nil {
		fmt.Fprintf(stderr, "bench: no nats-server binary (go tool -n nats-server: %v); the memory case uses an embedded server\n", err)
		return ""
	}
	return strings.TrimSpace(string(out))
}

func (o *benchOptions) writeJSON(report *bench.Report) error {
	if o.jsonPath == "" {
		return nil
	}
	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(o.jsonPath, append(data, '\n'), 0o644)
}
