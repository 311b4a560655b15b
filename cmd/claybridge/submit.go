package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/config"
	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/subjects"
)

// Exit statuses of submit.
const (
	exitSubmitError   = 1
	exitSubmitUsage   = 2
	exitSubmitDLQ     = 3
	exitSubmitTimeout = 4
)

// submitAbout explains submit's arguments and exit statuses.
const submitAbout = `Publishes one request on clay.request.<priority>.<OPERATION> (row, routine
or search) with JSON as its body, and prints its request key and stream
sequence, or that the stream dropped it as a duplicate of --id. Without
--id, a row or routine is keyed by its body and a search by its stream
sequence, as the processor keys them.

With --resubmit KEY, publishes the request as a new try of KEY: under the
next unused derived key KEY~r1, KEY~r2, ... (as "claybridge dlq replay"
derives them) and with the header Clay-Replay-Of: KEY.

With --wait, prints the request's result or DLQ entry, which may have been
stored before submit ran; the ledger answers at once for a key that
already ended. The NATS URL comes from --nats-url,
CLAYBRIDGE_NATS_URL, NATS_URL or nats.url in --config, else
nats://127.0.0.1:4222; credentials and TLS come from the same settings
as run's.

Exit status: 0 published (with --wait: a result), 1 error, 2 invalid
arguments, 3 a DLQ entry, 4 timed out waiting.`

// submitOptions are the flags of submit.
type submitOptions struct {
	priority string
	id       string
	resubmit string
	wait     bool
	timeout  time.Duration
	json     bool
}

// submitReport is the JSON object submit prints with --json.
type submitReport struct {
	client.Published
	// Outcome is "result", "dlq" or "timeout" with --wait, else empty.
	Outcome string           `json:"outcome,omitempty"`
	Subject string           `json:"subject,omitempty"`
	Result  *subjects.Result `json:"result,omitempty"`
	DLQ     *dlqReport       `json:"dlq,omitempty"`
}

// dlqReport is a DLQ entry in submit's --json output.
type dlqReport struct {
	client.Failure
	// Body is the request body as stored.
	Body string `json:"body"`
}

func submitCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o submitOptions
	fs := newFlagSet("submit", "submit [flags] OPERATION JSON", submitAbout, stderr)
	fs.StringVar(&o.priority, "priority", string(subjects.Normal), "priority: critical, normal or bulk")
	fs.StringVar(&o.id, "id", "", "request key, sent as Nats-Msg-Id (default: derived as the processor derives it)")
	fs.StringVar(&o.resubmit, "resubmit", "", "publish as a new try of request KEY, under the next unused key KEY~rN")
	fs.BoolVar(&o.wait, "wait", false, "wait for the request's result or DLQ entry and print it")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long --wait waits")
	fs.BoolVar(&o.json, "json", false, "print one JSON object instead of text")
	loader := config.NewLoader(fs, config.NATSClientKeys()...)
	if err := parseFlags(fs, args, exitSubmitUsage); err != nil {
		return err
	}
	req, err := o.request(fs.Args())
	if err != nil {
		return &exitError{code: exitSubmitUsage, err: err}
	}

	cfg, err := loader.Load()
	if err != nil {
		return err
	}
	nc, err := client.Connect(cfg.NATS, "claybridge submit")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open JetStream: %w", err)
	}
	return o.submit(ctx, js, req, stdout)
}

// request builds the request from the arguments OPERATION and JSON.
func (o *submitOptions) request(args []string) (client.Request, error) {
	if len(args) != 2 {
		return client.Request{}, fmt.Errorf("want 2 arguments, OPERATION and JSON, got %d; see claybridge submit --help", len(args))
	}
	op, err := subjects.ParseOperation(args[0])
	if err != nil {
		return client.Request{}, err
	}
	prio, err := subjects.ParsePriority(o.priority)
	if err != nil {
		return client.Request{}, err
	}
	if o.resubmit != "" && o.id != "" {
		return client.Request{}, errors.New("--resubmit and --id exclude each other: --resubmit derives the key")
	}
	return client.Request{Priority: prio, Operation: op, ID: o.id, Body: []byte(args[1])}, nil
}

func (o *submitOptions) submit(ctx context.Context, js jetstream.JetStream, req client.Request, stdout io.Writer) error {
	if o.resubmit != "" {
		if err := resubmitKey(ctx, js, o.resubmit, &req); err != nil {
			return err
		}
	}
	pubCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pub, err := client.Publish(pubCtx, js, req)
	if err != nil {
		return err
	}
	report := submitReport{Published: pub}
	if !o.json {
		printPublished(stdout, pub)
	}
	var exit error
	if o.wait {
		exit = o.await(ctx, js, req.Operation, &report)
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		printOutcome(stdout, &report)
	}
	return exit
}

// await fills report with the outcome of its key and returns the exit
// error that outcome calls for.
func (o *submitOptions) await(ctx context.Context, js jetstream.JetStream, op subjects.Operation, report *submitReport) error {
	out, err := o.outcome(ctx, js, op, report.Key)
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		report.Outcome = "timeout"
		return &exitError{code: exitSubmitTimeout,
			err: fmt.Errorf("timed out after %s waiting for the result or DLQ entry of key %s", o.timeout, report.Key)}
	case err != nil:
		return err
	}
	report.Subject = out.Subject
	if out.Kind == client.KindDLQ {
		report.Outcome = "dlq"
		report.DLQ = &dlqReport{Failure: out.Failure(), Body: string(out.Data)}
		return &exitError{code: exitSubmitDLQ, err: errors.New("")}
	}
	res, err := out.Result()
	if err != nil {
		return err
	}
	report.Outcome, report.Result = "result", &res
	return nil
}

// outcome returns the key's result or DLQ entry: from the ledger at once
// when the key already ended, else the first one stored, waiting up to
// the timeout. When the ledger cannot be read, the outcome is read from
// the streams.
func (o *submitOptions) outcome(ctx context.Context, js jetstream.JetStream, op subjects.Operation, key string) (client.Outcome, error) {
	lk, err := client.FindInLedger(ctx, js, key)
	if err == nil && (lk.Found == client.FoundResult || lk.Found == client.FoundDLQ) {
		return lk.Outcome, nil
	}
	waitCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return client.Await(waitCtx, js, op, key)
}

// resubmitKey keys req as a new try of key: the next unused derived key,
// reserved for this submit alone, and Clay-Replay-Of naming key.
func resubmitKey(ctx context.Context, js jetstream.JetStream, key string, req *client.Request) error {
	lineage, err := dlq.OpenLineage(ctx, js, []string{key}, nil)
	if err != nil {
		return err
	}
	owner := make([]byte, 16)
	_, _ = rand.Read(owner)
	res, err := lineage.Reserve(ctx, key, "submit-"+hex.EncodeToString(owner))
	if err != nil {
		return fmt.Errorf("derive a key for the resubmission of %s: %w", key, err)
	}
	req.ID = res.Key
	if req.Header == nil {
		req.Header = nats.Header{}
	}
	req.Header.Set(subjects.HeaderReplayOf, key)
	return nil
}

func printPublished(w io.Writer, pub client.Published) {
	if pub.Duplicate {
		fmt.Fprintf(w, "duplicate: %s already holds key %s at sequence %d, so nothing new was stored\n",
			pub.Stream, pub.Key, pub.Sequence)
		return
	}
	fmt.Fprintf(w, "published: key %s, stream %s, sequence %d\n", pub.Key, pub.Stream, pub.Sequence)
}

func printOutcome(w io.Writer, report *submitReport) {
	switch {
	case report.Result != nil:
		res := report.Result
		fmt.Fprintf(w, "result on %s: status %s, source %s, attempts %d, Clay latency %d ms\n",
			report.Subject, res.Status, res.Source, res.Attempts, res.ClayLatencyMS)
		if res.Reason != "" {
			fmt.Fprintf(w, "reason: %s\n", res.Reason)
		}
		if len(res.Data) > 0 {
			fmt.Fprintf(w, "%s\n", res.Data)
		}
		if res.Ref != "" {
			fmt.Fprintf(w, "data stored in the Object Store as %s\n", res.Ref)
		}
	case report.DLQ != nil:
		f := report.DLQ.Failure
		status := "none"
		if f.HTTPStatus != 0 {
			status = strconv.Itoa(f.HTTPStatus)
		}
		fmt.Fprintf(w, "DLQ entry on %s: class %s, HTTP status %s, attempts %d\n",
			report.Subject, f.Class, status, f.Attempts)
		fmt.Fprintf(w, "error: %s\n", f.Error)
	}
}
