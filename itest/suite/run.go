// Package suite checks the guarantees that every claybridge deployment
// keeps, against any running stack: each request ends in exactly one
// result or one DLQ entry, and no row or routine key is taken by Clay
// twice. Run publishes a workload, optionally while a fault disturbs the
// stack, waits until every request has ended, asserts the guarantees and
// logs the figures.
package suite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/internal/verify"
	"github.com/claybridge/claybridge/subjects"
)

// Stack is a running claybridge deployment under test. It provides a
// JetStream client of the NATS server or cluster that claybridge uses,
// and the stats of the Clay simulator that claybridge calls.
type Stack interface {
	JetStream() jetstream.JetStream
	SimStats(ctx context.Context) (claysim.Stats, error)
}

// Fault disturbs a stack while a workload runs. It returns when it is
// done, when p.Done() is closed or when ctx ends, and leaves the stack
// running: Run waits for it before the final check.
type Fault func(ctx context.Context, p *Progress)

const (
	// pollInterval is how often the wait reads the request stream's
	// depth.
	pollInterval = time.Second
	// collectInterval is how often the wait reads every outcome, in case
	// the incremental watch missed some.
	collectInterval = 15 * time.Second
	// logInterval is how often the wait logs its progress.
	logInterval = 10 * time.Second
	// finalReadTimeout bounds the reads of the final check, which still
	// run when ctx has ended.
	finalReadTimeout = 30 * time.Second
)

// Run publishes w to st, runs fault (if not nil) alongside, waits until
// every request has ended and the request stream is empty, then asserts
// the guarantees on t and logs the figures. ctx caps the whole run: a
// request that has not ended by then counts as lost.
func Run(ctx context.Context, t testing.TB, st Stack, w Workload, fault Fault) *Report {
	t.Helper()
	reqs := w.Generate()
	r := &runner{t: t, js: st.JetStream(), reqs: reqs, progress: newProgress(len(reqs)), keys: map[string]bool{}}
	for _, req := range reqs {
		r.keys[req.Key] = true
		r.keyList = append(r.keyList, req.Key)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	outcomes, err := client.Watch(watchCtx, r.js, client.WatchConfig{})
	if err != nil {
		t.Fatalf("watch results and DLQ entries: %v", err)
	}
	go r.track(watchCtx, outcomes)

	published := make(chan *publishStats, 1)
	go func() { published <- publishAll(ctx, r.js, reqs, w.Rate) }()
	faultDone := make(chan struct{})
	go func() {
		defer close(faultDone)
		if fault != nil {
			fault(ctx, r.progress)
		}
	}()

	out, quiet := r.wait(ctx, published)
	r.progress.finish()
	<-faultDone
	if quiet {
		// The fault may have restarted processes after the traffic
		// ended, so the stack has to be quiet once more.
		out, quiet = r.wait(ctx, nil)
	}
	duration := r.progress.Elapsed()

	readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalReadTimeout)
	defer cancel()
	if !quiet {
		t.Errorf("workload %s did not end within its time cap: %d of %d requests ended", w.Name, r.progress.Ended(), len(reqs))
		if latest, err := verify.Collect(readCtx, r.js); err == nil {
			out = latest
		}
	}
	stats, err := st.SimStats(readCtx)
	if err != nil {
		t.Errorf("read the simulator's stats: %v", err)
	}
	report := Evaluate(w.Name, reqs, out, stats)
	report.Duration = duration
	if r.pub != nil {
		report.PublishFailures = r.pub.failed
	}
	report.Check(t)
	t.Log(report)
	return report
}

// runner holds the state of one Run.
type runner struct {
	t        testing.TB
	js       jetstream.JetStream
	reqs     []Request
	keys     map[string]bool
	keyList  []string
	progress *Progress
	pub      *publishStats
}

// track counts the distinct keys of the workload among outcomes, for
// Progress, until ctx ends.
func (r *runner) track(ctx context.Context, outcomes <-chan client.Outcome) {
	seen := map[string]bool{}
	for {
		select {
		case o := <-outcomes:
			if r.keys[o.Key] && !seen[o.Key] {
				seen[o.Key] = true
				r.progress.ended.Store(int64(len(seen)))
			}
		case <-ctx.Done():
			return
		}
	}
}

// wait waits until publishing is over (published delivered its stats, or
// is nil), every request has an outcome, and the request stream is empty.
// It returns the outcomes read then and true. When ctx ends first, it
// returns the last outcomes read, possibly nil, and false.
func (r *runner) wait(ctx context.Context, published <-chan *publishStats) (*verify.Outcomes, bool) {
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	lastCollect, lastLog := time.Now(), time.Now()
	var pending uint64
	var last *verify.Outcomes
	for {
		select {
		case stats := <-published:
			r.pub, published = stats, nil
			r.reportPublishing()
			continue
		case <-ctx.Done():
			return last, false
		case <-poll.C:
		}
		n, err := r.requestsStored(ctx)
		if err == nil {
			pending = n
		}
		if time.Since(lastLog) >= logInterval {
			r.t.Logf("%s: %d of %d requests ended, %d in the request stream", r.progress.Elapsed().Round(time.Second),
				r.progress.Ended(), len(r.reqs), pending)
			lastLog = time.Now()
		}
		watched := r.progress.Ended() == len(r.reqs)
		if published != nil || err != nil || pending > 0 || (!watched && time.Since(lastCollect) < collectInterval) {
			continue
		}
		out, err := verify.Collect(ctx, r.js)
		lastCollect = time.Now()
		if err != nil {
			continue
		}
		last = out
		if out.Ended(r.keyList) == len(r.reqs) {
			return out, true
		}
	}
}

// requestsStored returns the number of messages in the request stream:
// requests not yet acknowledged, terminated or expired.
func (r *runner) requestsStored(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stream, err := r.js.Stream(ctx, subjects.StreamRequests)
	if err != nil {
		return 0, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

func (r *runner) reportPublishing() {
	p := r.pub
	r.t.Logf("%s: published %d requests (%d retried publishes, %d duplicates dropped by the stream, %d failed)",
		r.progress.Elapsed().Round(time.Millisecond), len(r.reqs)-len(p.failed), p.retries, p.duplicates, len(p.failed))
	for i, f := range p.failed {
		if i == 10 {
			r.t.Errorf("... and %d more publishes failed", len(p.failed)-10)
			break
		}
		r.t.Errorf("publish failed: %s", f)
	}
}

// firstKeys formats the first n keys of list for a failure message.
func firstKeys(list []string, n int) string {
	if len(list) <= n {
		return fmt.Sprint(list)
	}
	return fmt.Sprintf("%v and %d more", list[:n], len(list)-n)
}
