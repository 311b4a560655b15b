package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// Exit statuses of pause and resume.
const (
	exitPauseError = 1
	exitPauseUsage = 2
)

// pauseForever is how long a pause without --until lasts: until resume,
// in practice.
const pauseForever = 100 * 365 * 24 * time.Hour

// pauseAbout explains what pausing does and which replicas it reaches.
const pauseAbout = `Pauses the durable consumers of CLAY_REQUESTS for PRIORITY and OPERATION
(row, routine or search; all three when left out). JetStream stops
delivering their requests to every claybridge replica, because the pause
is kept by the server; requests keep being stored and wait. In-flight
requests finish. A pause lasts until "claybridge resume", or until --until
has passed. Restarting claybridge does not resume a paused consumer.

Exit status: 0 done, 1 error, 2 invalid arguments.`

// resumeAbout explains resume.
const resumeAbout = `Resumes the durable consumers of CLAY_REQUESTS that "claybridge pause"
paused, for PRIORITY and OPERATION (all three operations when left out).

Exit status: 0 done, 1 error, 2 invalid arguments.`

// pauseReport is one consumer in pause's and resume's output.
type pauseReport struct {
	Consumer string `json:"consumer"`
	Paused   bool   `json:"paused"`
	// PauseUntil is when the pause ends; absent when not paused.
	PauseUntil *time.Time `json:"pause_until,omitempty"`
}

func pauseCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return pauseOrResume(ctx, "pause", pauseAbout, args, stdout, stderr)
}

func resumeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return pauseOrResume(ctx, "resume", resumeAbout, args, stdout, stderr)
}

func pauseOrResume(ctx context.Context, name, about string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, name+" [flags] PRIORITY [OPERATION]", about, stderr)
	var until time.Duration
	if name == "pause" {
		fs.DurationVar(&until, "until", 0, "resume by itself after this duration, such as 30m (default: stay paused until resume)")
	}
	asJSON := fs.Bool("json", false, "print one JSON array, one object per consumer")
	loader := natsLoader(fs)
	if err := parseFlags(fs, args, exitPauseUsage); err != nil {
		return err
	}
	consumers, err := pauseTargets(fs.Args())
	if err == nil && until < 0 {
		err = fmt.Errorf("invalid --until %s: use a positive duration", until)
	}
	if err != nil {
		return &exitError{code: exitPauseUsage, err: fmt.Errorf("%w; see claybridge %s --help", err, name)}
	}
	nc, js, err := connectJetStream(loader, "claybridge "+name)
	if err != nil {
		return err
	}
	defer nc.Close()

	reports := make([]pauseReport, 0, len(consumers))
	for _, consumer := range consumers {
		report, err := setPause(ctx, js, consumer, name == "pause", until)
		if err != nil {
			return &exitError{code: exitPauseError, err: err}
		}
		reports = append(reports, report)
	}
	if *asJSON {
		return printJSON(stdout, reports)
	}
	for _, r := range reports {
		printPauseReport(stdout, &r, until == 0)
	}
	return nil
}

// pauseTargets returns the consumer names that PRIORITY [OPERATION]
// select.
func pauseTargets(args []string) ([]string, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, fmt.Errorf("want PRIORITY and an optional OPERATION, got %d arguments", len(args))
	}
	prio, err := subjects.ParsePriority(args[0])
	if err != nil {
		return nil, err
	}
	ops := subjects.Operations
	if len(args) == 2 {
		op, err := subjects.ParseOperation(args[1])
		if err != nil {
			return nil, err
		}
		ops = []subjects.Operation{op}
	}
	names := make([]string, len(ops))
	for i, op := range ops {
		names[i] = processor.ConsumerName(prio, op)
	}
	return names, nil
}

// setPause pauses consumer for d (pauseForever when d is 0), or resumes
// it.
func setPause(ctx context.Context, js jetstream.JetStream, consumer string, pause bool, d time.Duration) (pauseReport, error) {
	var resp *jetstream.ConsumerPauseResponse
	var err error
	if pause {
		if d == 0 {
			d = pauseForever
		}
		resp, err = js.PauseConsumer(ctx, subjects.StreamRequests, consumer, time.Now().Add(d))
	} else {
		resp, err = js.ResumeConsumer(ctx, subjects.StreamRequests, consumer)
	}
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return pauseReport{}, fmt.Errorf("consumer %s not found on stream %s; start claybridge, which creates it, first",
			consumer, subjects.StreamRequests)
	}
	if err != nil {
		return pauseReport{}, fmt.Errorf("set the pause of consumer %s: %w", consumer, err)
	}
	report := pauseReport{Consumer: consumer, Paused: resp.Paused}
	if resp.Paused {
		until := resp.PauseUntil.UTC()
		report.PauseUntil = &until
	}
	return report, nil
}

func printPauseReport(w io.Writer, r *pauseReport, forever bool) {
	switch {
	case !r.Paused:
		fmt.Fprintf(w, "%s: delivering\n", r.Consumer)
	case forever:
		fmt.Fprintf(w, "%s: paused until resumed\n", r.Consumer)
	default:
		fmt.Fprintf(w, "%s: paused until %s\n", r.Consumer, r.PauseUntil.Format(time.RFC3339))
	}
}
