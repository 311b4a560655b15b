package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"

	"github.com/claybridge/claybridge/config"
	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/subjects"
)

// Exit statuses of dlq.
const (
	exitDLQError    = 1
	exitDLQUsage    = 2
	exitDLQNotFound = 4
)

// dlqSubcommands are the subcommands of dlq, in help order.
var dlqSubcommands = []struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}{
	{"list", "list DLQ entries", dlqList},
	{"show", "print one DLQ entry with its headers and body", dlqShow},
	{"replay", "republish DLQ entries to their request subjects and remove them", dlqReplay},
	{"purge", "delete DLQ entries", dlqPurge},
}

// dlqFilterAbout explains the filters that list, replay and purge share.
const dlqFilterAbout = `Entries are read from CLAY_DLQ on clay.dlq.> only, never the heartbeats on
clay.health.*. --class, --priority, --operation and --since narrow them,
and KEY arguments keep only those request keys. The NATS connection comes
from the same settings as submit's (--nats-url, NATS_URL, --config, ...).`

func dlqCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		dlqUsage(stdout)
		return nil
	}
	for _, sub := range dlqSubcommands {
		if sub.name == args[0] {
			return sub.run(ctx, args[1:], stdout, stderr)
		}
	}
	dlqUsage(stderr)
	return &exitError{code: exitDLQUsage, err: fmt.Errorf("unknown subcommand %q", args[0])}
}

func dlqUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: claybridge dlq SUBCOMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Subcommands:")
	for _, sub := range dlqSubcommands {
		fmt.Fprintf(w, "  %-8s %s\n", sub.name, sub.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "claybridge dlq SUBCOMMAND --help" for its flags.`)
}

// dlqFilterFlags are the flags that select entries.
type dlqFilterFlags struct {
	class, priority, operation string
	since                      time.Duration
}

func (f *dlqFilterFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.class, "class", "", "keep entries of this error class, such as clay_rejected")
	fs.StringVar(&f.priority, "priority", "", "keep entries of this priority: critical, normal or bulk")
	fs.StringVar(&f.operation, "operation", "", "keep entries of this operation: row, routine or search")
	fs.DurationVar(&f.since, "since", 0, "keep entries stored within this duration before now, such as 1h")
}

// filter checks the flags and returns the filter they and keys select.
func (f *dlqFilterFlags) filter(keys []string) (dlq.Filter, error) {
	filter := dlq.Filter{Keys: keys}
	var err error
	if f.class != "" {
		filter.Class = subjects.ErrorClass(f.class)
		if !isErrorClass(filter.Class) {
			return filter, fmt.Errorf("invalid --class %q: use one of %s", f.class, errorClassList())
		}
	}
	if f.priority != "" {
		if filter.Priority, err = subjects.ParsePriority(f.priority); err != nil {
			return filter, err
		}
	}
	if f.operation != "" {
		if filter.Operation, err = subjects.ParseOperation(f.operation); err != nil {
			return filter, err
		}
	}
	if f.since < 0 {
		return filter, fmt.Errorf("invalid --since %s: use a positive duration", f.since)
	}
	if f.since > 0 {
		filter.Since = time.Now().Add(-f.since)
	}
	return filter, nil
}

func isErrorClass(c subjects.ErrorClass) bool {
	for _, known := range subjects.ErrorClasses {
		if c == known {
			return true
		}
	}
	return false
}

func errorClassList() string {
	names := make([]string, len(subjects.ErrorClasses))
	for i, c := range subjects.ErrorClasses {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// dlqFlags are the flags every dlq subcommand has.
type dlqFlags struct {
	fs     *pflag.FlagSet
	loader *config.Loader
	json   bool
}

func newDLQFlags(name, synopsis, about string, stderr io.Writer) *dlqFlags {
	return &dlqFlags{fs: newFlagSet("dlq "+name, "dlq "+synopsis, about, stderr)}
}

// parse adds the flags every subcommand has after the subcommand's own,
// so help lists those first, and parses args.
func (f *dlqFlags) parse(args []string) error {
	f.fs.BoolVar(&f.json, "json", false, "print one JSON array instead of text")
	f.loader = natsLoader(f.fs)
	return parseFlags(f.fs, args, exitDLQUsage)
}

// dlqSelectFlags are the flags of a subcommand that selects entries with
// the filter flags and KEY arguments.
type dlqSelectFlags struct {
	*dlqFlags
	filters dlqFilterFlags
}

// newDLQSelectFlags creates the flags and binds the filter flags first, so
// help lists them before the subcommand's own flags.
func newDLQSelectFlags(name, synopsis, about string, stderr io.Writer) *dlqSelectFlags {
	f := &dlqSelectFlags{dlqFlags: newDLQFlags(name, synopsis, about, stderr)}
	f.filters.bind(f.fs)
	return f
}

// parseFilter parses args and returns the filter that the filter flags
// and KEY arguments select. An invalid filter is a usage error.
func (f *dlqSelectFlags) parseFilter(args []string) (dlq.Filter, error) {
	if err := f.parse(args); err != nil {
		return dlq.Filter{}, err
	}
	filter, err := f.filters.filter(f.fs.Args())
	if err != nil {
		return dlq.Filter{}, &exitError{code: exitDLQUsage, err: err}
	}
	return filter, nil
}

// connect opens JetStream for a dlq subcommand.
func (f *dlqFlags) connect(name string) (func(), jetstream.JetStream, error) {
	nc, js, err := connectJetStream(f.loader, "claybridge dlq "+name)
	if err != nil {
		return nil, nil, err
	}
	return nc.Close, js, nil
}

// selectEntries opens JetStream for a dlq subcommand and lists the
// entries of filter, headers only, with progress. The caller closes the
// connection with closeConn.
func (f *dlqSelectFlags) selectEntries(ctx context.Context, name string, filter dlq.Filter, stderr io.Writer) (
	closeConn func(), js jetstream.JetStream, entries []dlq.Entry, err error) {
	closeConn, js, err = f.connect(name)
	if err != nil {
		return nil, nil, nil, err
	}
	bar := newProgress(stderr, "reading "+subjects.StreamDLQ)
	entries, err = dlq.List(ctx, js, filter, dlq.ListConfig{HeadersOnly: true, Progress: bar.scanned})
	bar.finish()
	if err != nil {
		closeConn()
		return nil, nil, nil, err
	}
	return closeConn, js, entries, nil
}

func dlqList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newDLQSelectFlags("list", "list [flags] [KEY...]", "Lists DLQ entries, oldest first.\n\n"+dlqFilterAbout, stderr)
	filter, err := f.parseFilter(args)
	if err != nil {
		return err
	}

	closeConn, _, entries, err := f.selectEntries(ctx, "list", filter, stderr)
	if err != nil {
		return err
	}
	defer closeConn()
	if f.json {
		return printJSON(stdout, nonNil(entries))
	}
	printEntryTable(stdout, entries)
	fmt.Fprintf(stdout, "%d DLQ entries\n", len(entries))
	return nil
}

// maxErrorWidth bounds the error column of dlq list.
const maxErrorWidth = 60

func printEntryTable(w io.Writer, entries []dlq.Entry) {
	if len(entries) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSTORED\tSUBJECT\tCLASS\tHTTP\tATTEMPTS\tKEY\tERROR")
	for _, e := range entries {
		msg := e.Error
		if len(msg) > maxErrorWidth {
			msg = msg[:maxErrorWidth-3] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", e.Sequence, e.Time.UTC().Format(time.RFC3339),
			e.Subject, e.Class, e.HTTPStatus, e.Attempts, e.Key, msg)
	}
	_ = tw.Flush()
}

// dlqShowAbout explains dlq show's argument.
const dlqShowAbout = `Prints every DLQ entry of request KEY, or the entry at stream sequence
SEQ, with all its headers and its body byte for byte. An argument made of
digits only is read as a sequence first, and as a key when no DLQ entry
has that sequence.

Exit status: 0 found, 1 error, 2 invalid arguments, 4 no such entry.`

// shownEntry is an entry in dlq show's JSON output.
type shownEntry struct {
	dlq.Entry
	Body string `json:"body"`
}

func dlqShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newDLQFlags("show", "show [flags] KEY|SEQ", dlqShowAbout, stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.fs.NArg() != 1 {
		return &exitError{code: exitDLQUsage, err: errors.New("want one argument, a KEY or a SEQ; see claybridge dlq show --help")}
	}

	closeConn, js, err := f.connect("show")
	if err != nil {
		return err
	}
	defer closeConn()
	entries, err := findEntries(ctx, js, f.fs.Arg(0), stderr)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return &exitError{code: exitDLQNotFound, err: fmt.Errorf("%w: no entry has key or sequence %q", dlq.ErrNotFound, f.fs.Arg(0))}
	}

	if f.json {
		withBodies := make([]shownEntry, len(entries))
		for i, e := range entries {
			withBodies[i] = shownEntry{Entry: e, Body: string(e.Data)}
		}
		return printJSON(stdout, withBodies)
	}
	for i := range entries {
		printEntry(stdout, &entries[i])
	}
	return nil
}

// findEntries returns the entry at sequence arg, or the entries of key
// arg, with their bodies.
func findEntries(ctx context.Context, js jetstream.JetStream, arg string, stderr io.Writer) ([]dlq.Entry, error) {
	if seq, err := strconv.ParseUint(arg, 10, 64); err == nil {
		e, err := dlq.Get(ctx, js, seq)
		if err == nil {
			return []dlq.Entry{*e}, nil
		}
		if !errors.Is(err, dlq.ErrNotFound) {
			return nil, err
		}
	}
	bar := newProgress(stderr, "reading "+subjects.StreamDLQ)
	defer bar.finish()
	return dlq.List(ctx, js, dlq.Filter{Keys: []string{arg}}, dlq.ListConfig{Progress: bar.scanned})
}

func printEntry(w io.Writer, e *dlq.Entry) {
	fmt.Fprintf(w, "DLQ entry %d on %s, stored %s\n", e.Sequence, e.Subject, e.Time.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(w, "  key: %s\n  class: %s\n  HTTP status: %d\n  attempts: %d\n  error: %s\n",
		e.Key, e.Class, e.HTTPStatus, e.Attempts, e.Error)
	fmt.Fprintln(w, "headers:")
	for _, name := range sortedNames(e.Header) {
		for _, v := range e.Header[name] {
			fmt.Fprintf(w, "  %s: %s\n", name, v)
		}
	}
	fmt.Fprintf(w, "body (%d bytes):\n%s\n", len(e.Data), e.Data)
}
