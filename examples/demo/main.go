// Command demo publishes the sample requests of examples/requests.jsonl to
// a running claybridge, waits until each has ended in a result or a DLQ
// entry, and prints a summary. It exits with status 1 in three cases: a
// request did not end in exactly one result or DLQ entry within --timeout,
// a request ended otherwise than its line expects, or the Clay simulator
// accepted a row or routine key more than once.
//
// "make demo" runs it against "make run" (NATS at NATS_URL, default
// nats://127.0.0.1:4222; the simulator at CLAYSIM_URL, default
// http://127.0.0.1:8089).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"

	"github.com/claybridge/claybridge/config"
	"github.com/claybridge/claybridge/internal/client"
)

// defaultSimURL is the simulator's address under "make run".
const defaultSimURL = "http://127.0.0.1:8089"

// options are the demo's settings.
type options struct {
	file    string
	simURL  string
	timeout time.Duration
	settle  time.Duration
	runTag  string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.StringVar(&o.file, "file", "examples/requests.jsonl", "requests to publish, one JSON object a line")
	fs.StringVar(&o.simURL, "sim-url", "", "Clay simulator base URL, for its submission counts (default $CLAYSIM_URL, else "+defaultSimURL+")")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for every request to end")
	fs.DurationVar(&o.settle, "settle", time.Second, "how long to keep watching after the last request ended, to catch extra outcomes")
	fs.StringVar(&o.runTag, "run-tag", "", "prefix of this run's request keys (default: derived from the time)")
	loader := config.NewLoader(fs, config.NATSClientKeys()...)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}

	cfg, err := loader.Load()
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 2
	}
	o.setDefaults()
	summary, err := o.connectAndRun(ctx, cfg.NATS, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	summary.Print(stdout)
	if len(summary.Problems()) > 0 {
		return 1
	}
	return 0
}

func (o *options) setDefaults() {
	if o.simURL == "" {
		o.simURL = os.Getenv("CLAYSIM_URL")
	}
	if o.simURL == "" {
		o.simURL = defaultSimURL
	}
	if o.runTag == "" {
		o.runTag = "demo" + strconv.FormatInt(time.Now().Unix(), 36)
	}
}

func (o *options) connectAndRun(ctx context.Context, natsCfg config.NATS, progress io.Writer) (*Summary, error) {
	nc, err := client.Connect(natsCfg, "claybridge demo")
	if err != nil {
		return nil, fmt.Errorf("%w (is claybridge running? start it with make run)", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	return runDemo(ctx, js, *o, progress)
}
