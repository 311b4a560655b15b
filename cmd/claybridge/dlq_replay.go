package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/subjects"
)

// dlqReplayAbout explains what a replay publishes and when it removes an
// entry.
const dlqReplayAbout = `Republishes each selected entry's original body to its original subject
(Clay-Orig-Subject) under a new request key derived from the entry's key:
KEY~r1, or the next unused KEY~rN, so a key is never reused. The request
carries Clay-Replay-Of: KEY and the original's own headers; JetStream's
headers (Clay-Orig-Nats-*) are not restored. A Clay-Deadline header is
kept, so an entry whose deadline passed fails again. An entry is removed
only after the request stream acknowledged its republish. Running a replay
again after it stopped or failed anywhere does not publish an entry twice,
as long as it runs within the 24 hours that CLAY_LEDGER keeps the key
reserved. Fix the cause of the failures before replaying.

` + dlqFilterAbout + `

Exit status: 0 every entry replayed, 1 error or an entry not replayed, 2
invalid arguments.`

// replayReport is one entry in dlq replay's output.
type replayReport struct {
	Key         string `json:"key"`
	DLQSequence uint64 `json:"dlq_sequence"`
	// ReplayKey is the derived key of the republished request.
	ReplayKey string `json:"replay_key,omitempty"`
	Subject   string `json:"subject"`
	// RequestSequence is the request's sequence in CLAY_REQUESTS, 0 when
	// nothing was published by this run.
	RequestSequence uint64 `json:"request_sequence,omitempty"`
	DryRun          bool   `json:"dry_run,omitempty"`
	Resumed         bool   `json:"resumed,omitempty"`
	Published       bool   `json:"published"`
	Removed         bool   `json:"removed"`
	Error           string `json:"error,omitempty"`
}

func dlqReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var rate string
	var dryRun, all bool
	f := newDLQSelectFlags("replay", "replay [flags] [KEY...]", dlqReplayAbout, stderr)
	f.fs.StringVar(&rate, "rate", "", "replay at most N entries per second, written N or N/s (default: no limit)")
	f.fs.BoolVar(&dryRun, "dry-run", false, "print what would be replayed, under which keys, and change nothing")
	f.fs.BoolVar(&all, "all", false, "replay every entry; without a filter, a key or --dry-run, replay needs it")
	filter, err := f.parseFilter(args)
	if err != nil {
		return err
	}
	if filter.SelectsAll() && !all && !dryRun {
		return &exitError{code: exitDLQUsage,
			err: errors.New("replay without a filter or a key would republish every DLQ entry: add --all to replay them all, or --dry-run to list them first")}
	}
	perSecond, err := parseRate(rate)
	if err != nil {
		return &exitError{code: exitDLQUsage, err: err}
	}

	closeConn, js, entries, err := f.selectEntries(ctx, "replay", filter, stderr)
	if err != nil {
		return err
	}
	defer closeConn()

	bar := newProgress(stderr, "replaying")
	replayed, err := dlq.Replay(ctx, js, entries, dlq.ReplayConfig{Rate: perSecond, DryRun: dryRun, Progress: bar.update})
	bar.finish()
	reports := make([]replayReport, len(replayed))
	for i, r := range replayed {
		reports[i] = newReplayReport(&r, dryRun)
	}

	if f.json {
		if err := printJSON(stdout, reports); err != nil {
			return err
		}
	} else {
		printReplayReports(stdout, reports, dryRun)
	}
	if err != nil {
		return err
	}
	return replayExit(reports, len(entries))
}

// parseRate parses --rate: "N" or "N/s", N > 0; empty means no limit.
func parseRate(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseFloat(strings.TrimSuffix(s, "/s"), 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid --rate %q: use a positive number of entries per second, such as 50 or 50/s", s)
	}
	return n, nil
}

func newReplayReport(r *dlq.Replayed, dryRun bool) replayReport {
	report := replayReport{
		Key: r.Entry.Key, DLQSequence: r.Entry.Sequence, ReplayKey: r.Key, Subject: r.Subject,
		RequestSequence: r.Sequence, DryRun: dryRun, Resumed: r.Resumed, Published: r.Published, Removed: r.Removed,
	}
	if r.Err != nil {
		report.Error = r.Err.Error()
	}
	return report
}

func printReplayReports(w io.Writer, reports []replayReport, dryRun bool) {
	done := 0
	for _, r := range reports {
		switch {
		case r.Error != "":
			fmt.Fprintf(w, "not replayed: %s (DLQ sequence %d): %s\n", r.Key, r.DLQSequence, r.Error)
			continue
		case dryRun:
			fmt.Fprintf(w, "would replay %s (DLQ sequence %d) as %s on %s\n", r.Key, r.DLQSequence, r.ReplayKey, r.Subject)
		case r.Published:
			fmt.Fprintf(w, "replayed %s (DLQ sequence %d) as %s on %s, request sequence %d\n",
				r.Key, r.DLQSequence, r.ReplayKey, r.Subject, r.RequestSequence)
		default:
			fmt.Fprintf(w, "removed %s (DLQ sequence %d): an earlier replay had published it as %s\n",
				r.Key, r.DLQSequence, r.ReplayKey)
		}
		done++
	}
	verb := "replayed"
	if dryRun {
		verb = "would replay"
	}
	fmt.Fprintf(w, "%s %d of %d DLQ entries\n", verb, done, len(reports))
}

// replayExit returns an exit error when an entry was not replayed.
func replayExit(reports []replayReport, listed int) error {
	failed := 0
	for _, r := range reports {
		if r.Error != "" {
			failed++
		}
	}
	if failed == 0 && len(reports) == listed {
		return nil
	}
	return &exitError{code: exitDLQError, err: fmt.Errorf("%d of %d DLQ entries not replayed", failed+listed-len(reports), listed)}
}

// dlqPurgeAbout explains purge's confirmation.
const dlqPurgeAbout = `Deletes the selected DLQ entries. Without --yes, purge only counts them
and exits with status 2.

` + dlqFilterAbout + `

Exit status: 0 deleted, 1 error, 2 invalid arguments or no --yes.`

func dlqPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var yes bool
	f := newDLQSelectFlags("purge", "purge [flags] [KEY...] --yes", dlqPurgeAbout, stderr)
	f.fs.BoolVar(&yes, "yes", false, "delete the entries; without it purge deletes nothing")
	filter, err := f.parseFilter(args)
	if err != nil {
		return err
	}

	closeConn, js, entries, err := f.selectEntries(ctx, "purge", filter, stderr)
	if err != nil {
		return err
	}
	defer closeConn()
	if !yes {
		return &exitError{code: exitDLQUsage,
			err: fmt.Errorf("purge would delete %d DLQ entries; add --yes to delete them", len(entries))}
	}

	bar := newProgress(stderr, "deleting")
	deleted, err := dlq.Delete(ctx, js, entries, dlq.DeleteConfig{Progress: bar.update})
	bar.finish()
	if err != nil {
		return fmt.Errorf("purge failed after deleting %d of %d DLQ entries: %w", deleted, len(entries), err)
	}

	if f.json {
		return printJSON(stdout, nonNil(entries))
	}
	fmt.Fprintf(stdout, "deleted %d DLQ entries from %s\n", deleted, subjects.StreamDLQ)
	if deleted < len(entries) {
		fmt.Fprintf(stdout, "%d were already gone, deleted by a replay or another purge\n", len(entries)-deleted)
	}
	return nil
}
