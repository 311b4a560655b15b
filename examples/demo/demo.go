package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"

	"github.com/claybridge/claybridge/examples"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/subjects"
)

// demoRunColumn is the field the demo adds to a keyless row or routine,
// so that each run's keyless requests get new derived keys.
const demoRunColumn = "demo_run"

// sent is one sample request as published.
type sent struct {
	examples.Request
	client.Published
}

// runDemo publishes the requests of o.file, waits for their outcomes and
// summarizes them. Progress bars go to progress.
func runDemo(ctx context.Context, js jetstream.JetStream, o options, progress io.Writer) (*Summary, error) {
	reqs, err := examples.ReadFile(o.file)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	simBefore, simErr := fetchSimStats(ctx, o.simURL)

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	outcomes, err := client.Watch(watchCtx, js, client.WatchConfig{SkipStored: true})
	if err != nil {
		return nil, err
	}
	published, err := publishAll(ctx, js, reqs, o.runTag, progress)
	if err != nil {
		return nil, err
	}
	keys := pendingKeys(published)
	got := awaitAll(ctx, outcomes, keys, o, progress)

	s := summarize(published, keys, got)
	s.RunTag, s.Elapsed = o.runTag, time.Since(start)
	if simErr == nil {
		simAfter, err := fetchSimStats(ctx, o.simURL)
		simErr = err
		if err == nil {
			s.addSimulator(published, simBefore, simAfter)
		}
	}
	if simErr != nil {
		s.SimulatorError = simErr.Error()
	}
	return s, nil
}

// publishAll publishes every request in order, namespaced by runTag.
func publishAll(ctx context.Context, js jetstream.JetStream, reqs []examples.Request, runTag string, progress io.Writer) ([]sent, error) {
	bar := newBar(len(reqs), "publishing", progress)
	defer bar.Finish()
	published := make([]sent, 0, len(reqs))
	for _, r := range reqs {
		req, err := prepare(r, runTag)
		if err != nil {
			return nil, err
		}
		pubCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		pub, err := client.Publish(pubCtx, js, req)
		cancel()
		if err != nil {
			return nil, err
		}
		published = append(published, sent{Request: r, Published: pub})
		_ = bar.Add(1)
	}
	return published, nil
}

// prepare turns a sample into a request of this run: its ID gets the run
// tag, and a keyless row or routine gets a demo_run field, so requests of
// an earlier run never count as duplicates of this one.
func prepare(r examples.Request, runTag string) (client.Request, error) {
	req := client.Request{Priority: r.Priority, Operation: r.Operation, Body: r.Payload()}
	switch {
	case r.ID != "":
		req.ID = runTag + "-" + r.ID
	case r.Operation == subjects.Row || r.Operation == subjects.Routine:
		body, err := tagBody(r, runTag)
		if err != nil {
			return client.Request{}, err
		}
		req.Body = body
	}
	return req, nil
}

// tagBody adds the demo_run field to the row or the routine inputs.
func tagBody(r examples.Request, runTag string) ([]byte, error) {
	var params map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		return nil, fmt.Errorf("keyless %s sample is not a JSON object: %w", r.Operation, err)
	}
	field := "row"
	if r.Operation == subjects.Routine {
		field = "inputs"
	}
	inner, ok := params[field].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("keyless %s sample has no %q object", r.Operation, field)
	}
	inner[demoRunColumn] = runTag
	return json.Marshal(params)
}

// pendingKeys returns the keys that must end: those of every request the
// stream stored.
func pendingKeys(published []sent) map[string]bool {
	keys := map[string]bool{}
	for _, p := range published {
		if !p.Duplicate {
			keys[p.Key] = true
		}
	}
	return keys
}

// awaitAll collects the outcomes of keys until each has one, then for
// o.settle more to catch extra outcomes, or until o.timeout passes.
func awaitAll(ctx context.Context, outcomes <-chan client.Outcome, keys map[string]bool, o options, progress io.Writer) map[string][]client.Outcome {
	bar := newBar(len(keys), "waiting for outcomes", progress)
	defer bar.Finish()
	got := map[string][]client.Outcome{}
	timeout := time.NewTimer(o.timeout)
	defer timeout.Stop()
	var settled <-chan time.Time
	if len(keys) == 0 {
		settled = time.After(0)
	}
	for {
		select {
		case out := <-outcomes:
			if !keys[out.Key] {
				continue
			}
			got[out.Key] = append(got[out.Key], out)
			if len(got[out.Key]) == 1 {
				_ = bar.Add(1)
				if len(got) == len(keys) {
					settled = time.After(o.settle)
				}
			}
		case <-settled:
			return got
		case <-timeout.C:
			return got
		case <-ctx.Done():
			return got
		}
	}
}

func newBar(n int, description string, w io.Writer) *progressbar.ProgressBar {
	return progressbar.NewOptions(n,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

// simStats is the part of the simulator's GET /_sim/stats that the demo
// reads.
type simStats struct {
	RequestsTotal    int            `json:"requests_total"`
	SubmissionsByKey map[string]int `json:"submissions_by_key"`
	AcceptedByKey    map[string]int `json:"accepted_by_key"`
}

func fetchSimStats(ctx context.Context, baseURL string) (*simStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/_sim/stats", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no Clay simulator at %s: %w", baseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("no Clay simulator at %s: GET /_sim/stats returned %s", baseURL, resp.Status)
	}
	var stats simStats
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		return nil, fmt.Errorf("decode %s/_sim/stats: %w", baseURL, err)
	}
	return &stats, nil
}
