// Command claybridge lets programs use Clay through NATS JetStream. Its
// subcommands run the processor and operate it; "claybridge help" lists
// them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "process Clay requests from NATS JetStream", runCommand},
		{"submit", "publish one Clay request, optionally waiting for its outcome", submitCommand},
		{"results", "print the result or DLQ entry of request keys", resultsCommand},
		{"dlq", "list, show, replay and purge DLQ entries", dlqCommand},
		{"pause", "pause the consumers of a priority, on every replica", pauseCommand},
		{"resume", "resume paused consumers", resumeCommand},
		{"forget", "erase everything held for request keys", forgetCommand},
		{"health", "print each instance's latest heartbeat; exit 0 healthy, 1 degraded, 2 unhealthy", healthCommand},
		{"config", "print the effective configuration, or the defaults", configCommand},
		{"probe", "check an HTTP endpoint such as /healthz; exit 0 on a 2xx status", probeCommand},
		{"bench", "measure throughput, latency, rate-budget use, memory and scaling", benchCommand},
		{"version", "print the version", versionCommand},
	}
}

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		var exit *exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, pflag.ErrHelp):
			return 0
		case errors.As(err, &exit):
			if exit.err != nil && exit.err.Error() != "" {
				fmt.Fprintf(stderr, "claybridge %s: %v\n", c.name, exit.err)
			}
			return exit.code
		default:
			fmt.Fprintf(stderr, "claybridge %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "claybridge: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "claybridge lets programs use Clay through NATS JetStream.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: claybridge COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "claybridge COMMAND --help" for a command's flags.`)
}

// newFlagSet returns a flag set whose usage names the command and, when
// about is set, explains it before the flags.
// parseFlags parses args into fs. A parse error, such as an unknown flag
// or a bad value, exits with code, the command's status for invalid
// arguments. A request for --help is returned as pflag.ErrHelp.
func parseFlags(fs *pflag.FlagSet, args []string, code int) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, pflag.ErrHelp) {
		return err
	}
	return &exitError{code: code, err: err}
}

func newFlagSet(name, synopsis, about string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: claybridge %s\n\n", synopsis)
		if about != "" {
			fmt.Fprintf(stderr, "%s\n\n", about)
		}
		fmt.Fprintf(stderr, "Flags:\n%s", fs.FlagUsages())
	}
	return fs
}
