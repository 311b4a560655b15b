package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// runRecord is a started routine run in CLAY_PENDING, under runKey: what
// any replica needs to poll the run to its end and to find its items'
// pending records. It holds pending keys (hashes), not request keys.
type runRecord struct {
	RunID     string            `json:"run_id"`
	RoutineID string            `json:"routine_id"`
	Priority  subjects.Priority `json:"priority"`
	// Items are the pending keys of the run's items not ended yet.
	Items    []string  `json:"items"`
	Started  time.Time `json:"started"`
	Deadline time.Time `json:"deadline"`
	// Poller is the instance polling the run until PollUntil; others
	// leave the run alone until then.
	Poller    string    `json:"poller,omitempty"`
	PollUntil time.Time `json:"poll_until,omitzero"`

	key string
	rev uint64
}

// runKey returns the CLAY_PENDING key of a run's record.
func runKey(runID string) string { return "run." + subjects.HashKey(runID) }

// runRoutine adds the item to its routine's next run and returns, once
// the run started, a pending record that names the run.
func (p *Processor) runRoutine(ctx context.Context, j *job, req *subjects.Request) (*outcome, error) {
	item := clay.RoutineItem{ID: req.Key, Inputs: req.Routine.Inputs}
	encoded, err := json.Marshal(item)
	if err != nil {
		return nil, fmt.Errorf("%w: encode routine item: %v", subjects.ErrInvalidRequest, err)
	}
	if len(encoded) > clay.MaxBody {
		return nil, &clay.Error{Op: "routine run", Kind: clay.KindTooLarge,
			Message: fmt.Sprintf("routine item is %d bytes, over Clay's limit of %d", len(encoded), clay.MaxBody)}
	}
	routineID := req.Routine.RoutineID
	b := batcherFor(&p.runBatches, routineID, func() *batcher {
		return &batcher{maxItems: maxRunItems, maxBytes: maxBatchBytes, linger: p.cfg.BatchLinger,
			send: func(ctx context.Context, items []*batchItem) { p.sendRun(ctx, routineID, items) }}
	})
	res := b.submit(ctx, newBatchItem(j, item, len(encoded)))
	if res.err != nil {
		return nil, res.err
	}
	rec := p.newPending(j, pendingRoutine)
	rec.RunID = res.runID
	return &outcome{pending: rec}, nil
}

// sendRun marks each item sent, starts one run of them and stores the
// run's record, splitting the run when Clay rejects it.
func (p *Processor) sendRun(ctx context.Context, routineID string, items []*batchItem) {
	items = p.markBatchSent(ctx, items)
	if len(items) == 0 {
		return
	}
	p.sendSplitting(ctx, subjects.Routine, items, func(ctx context.Context, items []*batchItem) (batchResult, error) {
		run := &runRecord{RoutineID: routineID, Priority: subjects.Bulk, Items: make([]string, len(items))}
		runItems := make([]clay.RoutineItem, len(items))
		for i, it := range items {
			runItems[i] = it.payload.(clay.RoutineItem)
			run.Items[i] = subjects.PendingKey(it.j.key)
			run.Priority = moreUrgent(run.Priority, it.j.c.priority)
		}
		p.metrics.batchSize.WithLabelValues(string(subjects.Routine)).Observe(float64(len(items)))
		runID, err := withinDeadline(ctx, time.Time{}, p.cfg.RequestTimeout, func(ctx context.Context) (string, error) {
			return p.clay.RunRoutine(ctx, routineID, runItems)
		})
		if err != nil {
			return batchResult{}, err
		}
		run.RunID, run.Started = runID, time.Now().UTC()
		run.Deadline = run.Started.Add(p.cfg.LongPollTimeout)
		if err := p.createRun(ctx, run); err != nil {
			// The run exists in Clay, so its items must not be sent again:
			// they end as outcome_unknown.
			return batchResult{}, &clay.Error{Op: "routine run", Kind: clay.KindTransient, MayHaveReached: true,
				Message: fmt.Sprintf("run %s started but its record was not stored: %v", runID, err), Err: err}
		}
		p.log.Debug().Str("run_id", runID).Str("routine_id", routineID).Int("items", len(items)).Msg("routine run started")
		return batchResult{runID: runID}, nil
	})
}

// createRun stores a new run record, retrying a few times.
func (p *Processor) createRun(ctx context.Context, run *runRecord) error {
	data, err := json.Marshal(run)
	if err != nil {
		return err
	}
	for attempt := 1; attempt <= publishAttempts; attempt++ {
		if _, err = p.pending.Put(ctx, runKey(run.RunID), data); err == nil || ctx.Err() != nil {
			break
		}
		sleep(ctx, time.Duration(attempt)*200*time.Millisecond)
	}
	return err
}

// pollLease is how long a poller keeps a run to itself.
func (p *Processor) pollLease() time.Duration {
	return max(3*p.cfg.RoutinePollInterval, time.Second)
}

// routineGrace is how long after its run's deadline an item's pending
// record waits for the run's poller before the deadline check ends it.
func (p *Processor) routineGrace() time.Duration {
	return 2*p.pollLease() + p.cfg.RequestTimeout
}

// pollRuns polls every run that no other replica is polling now. Every
// replica does, so runs survive the restart of the one that started them.
func (p *Processor) pollRuns(ctx context.Context) error {
	runs, err := p.runRecords(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, run := range runs {
		if !p.takeRun(ctx, run) {
			continue
		}
		if err := p.pollRun(ctx, run); err != nil {
			errs = append(errs, fmt.Errorf("poll routine run %s: %w", run.RunID, err))
		}
	}
	return errors.Join(errs...)
}

// runRecords returns every run record in CLAY_PENDING.
func (p *Processor) runRecords(ctx context.Context) ([]*runRecord, error) {
	w, err := p.pending.Watch(ctx, "run.*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list runs in %s: %w", subjects.BucketPending, err)
	}
	defer func() { _ = w.Stop() }()
	var runs []*runRecord
	for entry := range w.Updates() {
		if entry == nil {
			return runs, nil
		}
		run := &runRecord{key: entry.Key(), rev: entry.Revision()}
		if err := json.Unmarshal(entry.Value(), run); err != nil {
			p.log.Warn().Err(err).Str("pending_key", entry.Key()).Msg("run record is not JSON: skipped")
			continue
		}
		runs = append(runs, run)
	}
	return runs, ctx.Err()
}

// takeRun makes this instance the run's poller for a lease, unless
// another one polls it now.
func (p *Processor) takeRun(ctx context.Context, run *runRecord) bool {
	now := time.Now()
	if run.Poller != p.cfg.Instance && now.Before(run.PollUntil) {
		return false
	}
	run.Poller, run.PollUntil = p.cfg.Instance, now.Add(p.pollLease()).UTC()
	return p.updateRun(ctx, run) == nil
}

// updateRun writes the run record by compare-and-set.
func (p *Processor) updateRun(ctx context.Context, run *runRecord) error {
	data, err := json.Marshal(run)
	if err != nil {
		return err
	}
	rev, err := p.pending.Update(ctx, run.key, data, run.rev)
	if err != nil {
		return err
	}
	run.rev = rev
	return nil
}

// pollRun reads the run's results, following every page once it is done,
// and ends each item: a complete item in its result, a failed one in the
// DLQ as clay_rejected with the item's error. A run not done by its
// deadline ends its items as deadline_exceeded.
func (p *Processor) pollRun(ctx context.Context, run *runRecord) error {
	expired := time.Now().After(run.Deadline)
	if p.gate.blocked(subjects.Routine, "") != nil && !expired {
		return nil
	}
	remaining := make(map[string]bool, len(run.Items))
	for _, key := range run.Items {
		remaining[key] = true
	}
	cursor := ""
	for {
		page, err := p.runPage(ctx, run, cursor)
		switch {
		case err != nil && errors.Is(err, clay.ErrRejected):
			return p.endRun(ctx, run, remaining, rejectedEnd(run, err))
		case err != nil && expired:
			return p.endRun(ctx, run, remaining, timeoutEnd(run, p.cfg.LongPollTimeout))
		case err != nil:
			return err
		case !page.Done && expired:
			return p.endRun(ctx, run, remaining, timeoutEnd(run, p.cfg.LongPollTimeout))
		case !page.Done:
			return nil
		}
		p.endRunItems(ctx, run, page.Results, remaining)
		if !page.HasMore || page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return p.settleRun(ctx, run, remaining, expired)
}

// runPage reads one page of the run's results, spending one Public API
// rate token.
func (p *Processor) runPage(ctx context.Context, run *runRecord, cursor string) (*clay.RoutinePage, error) {
	if p.budgets[surfacePublicAPI].acquire(ctx, run.Priority, 1) == nil {
		return nil, ctx.Err()
	}
	return withinDeadline(ctx, time.Time{}, p.cfg.RequestTimeout, func(ctx context.Context) (*clay.RoutinePage, error) {
		return p.clay.RoutineResults(ctx, run.RunID, cursor)
	})
}

// endRunItems ends the items of one page that belong to the run and are
// not ended yet, and takes the ended ones out of remaining.
func (p *Processor) endRunItems(ctx context.Context, run *runRecord, items []clay.RoutineItemResult, remaining map[string]bool) {
	for _, item := range items {
		key := subjects.PendingKey(item.ID)
		if !remaining[key] {
			continue
		}
		ended, err := p.endRunItem(ctx, run, item)
		if err != nil {
			p.log.Warn().Err(err).Str("key", item.ID).Str("run_id", run.RunID).Msg("routine item not ended: the next poll tries again")
			continue
		}
		if ended {
			delete(remaining, key)
		}
	}
}

// endRunItem ends one item of a finished run. It returns false when the
// item's pending record is not stored yet and its key is not done.
func (p *Processor) endRunItem(ctx context.Context, run *runRecord, item clay.RoutineItemResult) (bool, error) {
	rec, err := p.getPending(ctx, subjects.PendingKey(item.ID))
	if err != nil {
		return false, err
	}
	if rec == nil {
		found, _, err := p.ledger.Get(ctx, item.ID)
		if err != nil {
			return false, err
		}
		return found == nil || found.State == ledger.Done, nil
	}
	end := pendingEnd{data: item.Output}
	if item.Status != clay.ItemComplete {
		end = pendingEnd{class: subjects.ClassClayRejected,
			err: fmt.Sprintf("routine run %s: item %s: %s", run.RunID, item.Status, item.Error)}
	}
	return true, p.endPending(ctx, rec, end)
}

// settleRun deletes the record of a run whose items all ended. Items the
// finished run did not list wait for their deadline.
func (p *Processor) settleRun(ctx context.Context, run *runRecord, remaining map[string]bool, expired bool) error {
	if len(remaining) == 0 {
		return p.pending.Delete(ctx, run.key)
	}
	if expired {
		return p.endRun(ctx, run, remaining, timeoutEnd(run, p.cfg.LongPollTimeout))
	}
	run.Items = run.Items[:0]
	for key := range remaining {
		run.Items = append(run.Items, key)
	}
	return p.updateRun(ctx, run)
}

// endRun ends every remaining item of the run the same way, then deletes
// the run's record.
func (p *Processor) endRun(ctx context.Context, run *runRecord, remaining map[string]bool, end pendingEnd) error {
	var errs []error
	for key := range remaining {
		rec, err := p.getPending(ctx, key)
		if err == nil && rec != nil {
			err = p.endPending(ctx, rec, end)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return p.pending.Delete(ctx, run.key)
}

// rejectedEnd is the end of the items of a run whose results Clay
// refuses to return, such as a 404 for the run.
func rejectedEnd(run *runRecord, err error) pendingEnd {
	end := pendingEnd{class: subjects.ClassClayRejected, err: fmt.Sprintf("routine run %s: %v", run.RunID, err)}
	var clayErr *clay.Error
	if errors.As(err, &clayErr) {
		end.status = clayErr.Status
	}
	return end
}

// timeoutEnd is the end of the items of a run not done by its deadline.
func timeoutEnd(run *runRecord, wait time.Duration) pendingEnd {
	return pendingEnd{class: subjects.ClassDeadlineExceeded,
		err: fmt.Sprintf("routine run %s did not finish with every item within %s", run.RunID, wait)}
}
