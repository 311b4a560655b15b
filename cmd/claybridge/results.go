package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/subjects"
)

// Exit statuses of results.
const (
	exitResultsError    = 1
	exitResultsUsage    = 2
	exitResultsDLQ      = 3
	exitResultsNotFound = 4
)

// resultsAbout explains results' lookup order and exit statuses.
const resultsAbout = `Prints the outcome of each request KEY: its result, its DLQ entry with
the error class, or that it is pending or not found. The ledger
(CLAY_LEDGER) answers at once for keys that ended within its maximum age;
for other keys results scans the headers of CLAY_RESULTS, then CLAY_DLQ.

A result whose data was too large for one message names it with a ref in
the Object Store; results reads the data from there.

The NATS connection comes from the same settings as submit's (--nats-url,
NATS_URL, --config, ...).

Exit status: 0 every key has a result, 1 error, 2 invalid arguments, 3 a
key ended in the DLQ, 4 a key is pending or not found, or its result's
data is gone from the Object Store. With several keys the status is the
first that applies of 1, 4 and 3.`

// Outcomes of a key in results' output.
const (
	outcomeResult   = "result"
	outcomeDLQ      = "dlq"
	outcomePending  = "pending"
	outcomeNotFound = "not_found"
)

// resultsReport is one key in results' output.
type resultsReport struct {
	Key string `json:"key"`
	// Outcome is "result", "dlq", "pending" or "not_found".
	Outcome string `json:"outcome"`
	// Source names the store the outcome was read from: "ledger" or a
	// stream.
	Source   string      `json:"source,omitempty"`
	Subject  string      `json:"subject,omitempty"`
	Sequence uint64      `json:"sequence,omitempty"`
	Headers  nats.Header `json:"headers,omitempty"`
	// Result is the result body as stored.
	Result json.RawMessage `json:"result,omitempty"`
	// Data is the result's data read from the Object Store, for a result
	// with a ref.
	Data json.RawMessage `json:"data,omitempty"`
	// RefError is the reason Data could not be read.
	RefError string     `json:"ref_error,omitempty"`
	DLQ      *dlqReport `json:"dlq,omitempty"`
	// State is the ledger state of a pending key.
	State string `json:"state,omitempty"`
}

func resultsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("results", "results [flags] KEY...", resultsAbout, stderr)
	asJSON := fs.Bool("json", false, "print one JSON array, one object per key")
	loader := natsLoader(fs)
	if err := parseFlags(fs, args, exitResultsUsage); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return &exitError{code: exitResultsUsage, err: errors.New("want at least one KEY; see claybridge results --help")}
	}
	nc, js, err := connectJetStream(loader, "claybridge results")
	if err != nil {
		return err
	}
	defer nc.Close()

	reports := make([]resultsReport, 0, fs.NArg())
	for _, key := range fs.Args() {
		report, err := findResult(ctx, js, key, newProgress(stderr, "scanning for "+key))
		if err != nil {
			return err
		}
		reports = append(reports, report)
	}
	if *asJSON {
		if err := printJSON(stdout, reports); err != nil {
			return err
		}
	} else {
		for i := range reports {
			printResultsReport(stdout, &reports[i])
		}
	}
	return resultsExit(reports)
}

// findResult looks key up and describes what it found.
func findResult(ctx context.Context, js jetstream.JetStream, key string, bar *progress) (resultsReport, error) {
	defer bar.finish()
	lk, err := client.Find(ctx, js, key, bar.scanned)
	report := resultsReport{Key: key, Outcome: outcomeNotFound, Source: lk.Source}
	if err != nil {
		return report, fmt.Errorf("look up key %s: %w", key, err)
	}
	switch lk.Found {
	case client.Pending:
		report.Outcome, report.State = outcomePending, string(lk.Record.State)
	case client.FoundResult, client.FoundDLQ:
		report.Subject, report.Sequence, report.Headers = lk.Outcome.Subject, lk.Outcome.Sequence, lk.Outcome.Header
		report.Outcome, report.Result = outcomeResult, lk.Outcome.Data
		if lk.Found == client.FoundDLQ {
			report.Outcome, report.Result = outcomeDLQ, nil
			report.DLQ = &dlqReport{Failure: lk.Outcome.Failure(), Body: string(lk.Outcome.Data)}
			return report, nil
		}
		return report, readRefData(ctx, js, &report)
	}
	return report, nil
}

// readRefData reads the data of a result with a ref into report.
func readRefData(ctx context.Context, js jetstream.JetStream, report *resultsReport) error {
	var res subjects.Result
	if json.Unmarshal(report.Result, &res) != nil || res.Ref == "" {
		return nil
	}
	data, err := client.ReadRef(ctx, js, res.Ref)
	if errors.Is(err, client.ErrRefNotFound) {
		report.RefError = err.Error()
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the result data of key %s: %w", report.Key, err)
	}
	report.Data = data
	return nil
}

// resultsExit returns the exit error for the worst outcome of reports.
func resultsExit(reports []resultsReport) error {
	code := 0
	for _, r := range reports {
		switch {
		case r.Outcome == outcomeNotFound || r.Outcome == outcomePending || r.RefError != "":
			code = exitResultsNotFound
		case r.Outcome == outcomeDLQ && code == 0:
			code = exitResultsDLQ
		}
	}
	if code == 0 {
		return nil
	}
	return &exitError{code: code, err: errors.New("")}
}

func printResultsReport(w io.Writer, r *resultsReport) {
	switch r.Outcome {
	case outcomeResult:
		printResult(w, r)
	case outcomeDLQ:
		printDLQOutcome(w, r)
	case outcomePending:
		fmt.Fprintf(w, "%s: pending: the ledger has it %s, with no result or DLQ entry yet\n", r.Key, r.State)
	default:
		fmt.Fprintf(w, "%s: not found in %s, %s or %s\n", r.Key, subjects.BucketLedger, subjects.StreamResults, subjects.StreamDLQ)
	}
}

func printResult(w io.Writer, r *resultsReport) {
	var res subjects.Result
	if err := json.Unmarshal(r.Result, &res); err != nil {
		fmt.Fprintf(w, "%s: result on %s (from %s), not JSON: %v\n%s\n", r.Key, r.Subject, r.Source, err, r.Result)
		return
	}
	fmt.Fprintf(w, "%s: result on %s (from %s): status %s, source %s, staleness %s, attempts %d, Clay latency %d ms\n",
		r.Key, r.Subject, r.Source, res.Status, res.Source, res.Staleness, res.Attempts, res.ClayLatencyMS)
	printCorrelationHeaders(w, r.Headers)
	if res.Reason != "" {
		fmt.Fprintf(w, "  reason: %s\n", res.Reason)
	}
	if len(res.Data) > 0 {
		fmt.Fprintf(w, "  data: %s\n", res.Data)
	}
	switch {
	case r.RefError != "":
		fmt.Fprintf(w, "  data stored as %s: not found: %s\n", res.Ref, r.RefError)
	case res.Ref != "":
		fmt.Fprintf(w, "  data (from the Object Store as %s): %s\n", res.Ref, r.Data)
	}
}

func printDLQOutcome(w io.Writer, r *resultsReport) {
	f := r.DLQ.Failure
	if r.Source == client.SourceLedger {
		fmt.Fprintf(w, "%s: dead-lettered, class %s; its DLQ entry was replayed or purged since\n", r.Key, f.Class)
		return
	}
	status := "none"
	if f.HTTPStatus != 0 {
		status = strconv.Itoa(f.HTTPStatus)
	}
	fmt.Fprintf(w, "%s: DLQ entry on %s, sequence %d: class %s, HTTP status %s, attempts %d\n",
		r.Key, r.Subject, r.Sequence, f.Class, status, f.Attempts)
	fmt.Fprintf(w, "  error: %s\n", f.Error)
}

// printCorrelationHeaders prints the headers a result copied from its
// request, sorted, leaving out JetStream's and the request key.
func printCorrelationHeaders(w io.Writer, h nats.Header) {
	var names []string
	for name := range h {
		if !subjects.IsNatsHeader(name) && !strings.EqualFold(name, subjects.HeaderRequestKey) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %s: %s\n", name, strings.Join(h[name], ", "))
	}
}
