package suite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/verify"
	"github.com/claybridge/claybridge/subjects"
)

// Report holds the figures of one run and what broke the guarantees.
type Report struct {
	Name     string `json:"name"`
	Requests int    `json:"requests"`
	// Results counts result messages. FromCache counts the results served
	// from the fallback cache, and Fallbacks those with status fallback.
	Results   int `json:"results"`
	FromCache int `json:"from_cache"`
	Fallbacks int `json:"fallbacks"`
	// DLQ counts DLQ entries by class.
	DLQ map[subjects.ErrorClass]int `json:"dlq"`
	// Submissions counts arrivals of row and routine keys at the
	// simulator, whatever the response.
	Submissions int `json:"submissions"`
	// MaxPerKey is the largest number of arrivals of one row or routine
	// key.
	MaxPerKey int `json:"max_per_key"`
	// CutOff counts row and routine arrivals whose client went away
	// before the simulator responded: calls whose outcome claybridge
	// cannot know.
	CutOff int `json:"cut_off"`
	// Status429 counts the simulator's 429 responses.
	Status429 int `json:"status_429"`
	// Duration runs from the first publish until the stack was quiet.
	Duration time.Duration `json:"duration_ns"`

	// Lost lists keys without a result or DLQ entry, Doubled keys with
	// more than one, and TakenTwice row and routine keys that Clay took,
	// or may have taken, more than once.
	Lost       []string `json:"lost"`
	Doubled    []string `json:"doubled"`
	TakenTwice []string `json:"taken_twice"`
	// Malformed lists outcomes that do not match their request. Examples
	// are a result of another operation or priority, a DLQ entry without
	// the original subject, key or body or with a class outside the
	// closed list, and an invalid request not dead-lettered as
	// invalid_request.
	Malformed []string `json:"malformed"`
	// PublishFailures lists requests that could not be published.
	PublishFailures []string `json:"publish_failures"`
	// ArrivalsDropped counts arrivals the simulator dropped from its log,
	// which makes TakenTwice incomplete.
	ArrivalsDropped int `json:"arrivals_dropped"`

	// Outcomes and Stats are the raw material, for checks of one
	// scenario.
	Outcomes *verify.Outcomes `json:"-"`
	Stats    claysim.Stats    `json:"-"`
}

// Evaluate returns the report of reqs from the outcomes read back and the
// simulator's stats. A nil out counts every request as lost.
func Evaluate(name string, reqs []Request, out *verify.Outcomes, stats claysim.Stats) *Report {
	if out == nil {
		out = &verify.Outcomes{Results: map[string][]subjects.Result{}, DLQ: map[string][]verify.Entry{}}
	}
	r := &Report{Name: name, Requests: len(reqs), DLQ: out.ClassCounts(), Outcomes: out, Stats: stats,
		Status429: stats.ResponsesByStatus[strconv.Itoa(http.StatusTooManyRequests)], ArrivalsDropped: stats.ArrivalsDropped}
	writes := map[string]bool{}
	for _, req := range reqs {
		if req.isWrite() {
			writes[req.Key] = true
		}
		results, entries := len(out.Results[req.Key]), len(out.DLQ[req.Key])
		r.Results += results
		for _, res := range out.Results[req.Key] {
			if res.Source == subjects.SourceCache {
				r.FromCache++
			}
			if res.Status == subjects.StatusFallback {
				r.Fallbacks++
			}
		}
		r.Malformed = append(r.Malformed, malformed(req, out)...)
		switch {
		case results+entries == 0:
			r.Lost = append(r.Lost, req.Key)
		case results+entries > 1:
			r.Doubled = append(r.Doubled, fmt.Sprintf("%s (%d results, %d DLQ entries)", req.Key, results, entries))
		}
	}
	r.countSubmissions(writes, stats)
	return r
}

// malformed returns what is wrong with the outcomes of req.
func malformed(req Request, out *verify.Outcomes) []string {
	var problems []string
	for _, res := range out.Results[req.Key] {
		if req.Invalid {
			problems = append(problems, fmt.Sprintf("%s: invalid request has a result, want a DLQ entry of class %s",
				req.Key, subjects.ClassInvalidRequest))
		}
		if res.Operation != req.Operation || res.Priority != req.Priority {
			problems = append(problems, fmt.Sprintf("%s: result for %s/%s, want %s/%s",
				req.Key, res.Priority, res.Operation, req.Priority, req.Operation))
		}
	}
	subject := subjects.RequestSubject(req.Priority, req.Operation)
	for _, e := range out.DLQ[req.Key] {
		if req.Invalid && e.Class != subjects.ClassInvalidRequest {
			problems = append(problems, fmt.Sprintf("%s: invalid request dead-lettered as %s, want %s",
				req.Key, e.Class, subjects.ClassInvalidRequest))
		}
		if !slices.Contains(subjects.ErrorClasses, e.Class) {
			problems = append(problems, fmt.Sprintf("%s: DLQ entry has class %q, which is not an error class", req.Key, e.Class))
		}
		if got := e.Header.Get(subjects.HeaderOrigSubject); got != subject {
			problems = append(problems, fmt.Sprintf("%s: DLQ entry has %s %q, want %q", req.Key, subjects.HeaderOrigSubject, got, subject))
		}
		if got := e.Header.Get(subjects.HeaderOrigPrefix + subjects.HeaderMsgID); got != req.Key {
			problems = append(problems, fmt.Sprintf("%s: DLQ entry has %s%s %q, want the request key",
				req.Key, subjects.HeaderOrigPrefix, subjects.HeaderMsgID, got))
		}
		if !bytes.Equal(e.Data, req.Body) {
			problems = append(problems, fmt.Sprintf("%s: DLQ entry body %q, want the request body %q", req.Key, e.Data, req.Body))
		}
	}
	return problems
}

// countSubmissions fills the submission figures from the simulator's
// arrivals. A row or routine key is taken twice when more than one of
// its arrivals was accepted (2xx) or cut off (the client went away, so
// Clay may have taken it). Arrivals refused with another status are
// known not to have created anything, so sending again after them is
// right.
func (r *Report) countSubmissions(writes map[string]bool, stats claysim.Stats) {
	mayHaveCreated := map[string]int{}
	for _, a := range stats.Arrivals {
		if !writes[a.Key] || (a.Operation != claysim.OpRow && a.Operation != claysim.OpRoutine) {
			continue
		}
		r.Submissions++
		accepted := a.Status >= 200 && a.Status < 300
		cutOff := a.Status == claysim.StatusClientClosedRequest
		if cutOff {
			r.CutOff++
		}
		if accepted || cutOff {
			mayHaveCreated[a.Key]++
		}
	}
	for key := range writes {
		r.MaxPerKey = max(r.MaxPerKey, stats.SubmissionsByKey[key])
	}
	r.TakenTwice = verify.SubmittedTwice(mayHaveCreated)
}

// Check fails t for each broken guarantee: a request lost, a request
// with two outcomes, a write taken twice, an outcome that does not match
// its request, a failed publish.
func (r *Report) Check(t testing.TB) {
	t.Helper()
	if len(r.Lost) > 0 {
		t.Errorf("%s: %d of %d requests lost (no result and no DLQ entry): %s", r.Name, len(r.Lost), r.Requests, firstKeys(r.Lost, 10))
	}
	if len(r.Doubled) > 0 {
		t.Errorf("%s: %d requests ended more than once: %s", r.Name, len(r.Doubled), firstKeys(r.Doubled, 10))
	}
	if len(r.TakenTwice) > 0 {
		t.Errorf("%s: %d row or routine keys were accepted or cut off at Clay more than once (key (times)): %s",
			r.Name, len(r.TakenTwice), firstKeys(r.TakenTwice, 10))
		for _, entry := range r.TakenTwice[:min(len(r.TakenTwice), 3)] {
			key, _, _ := strings.Cut(entry, " ")
			t.Logf("%s reached the simulator: %s", key, r.arrivalsOf(key))
		}
	}
	if len(r.Malformed) > 0 {
		t.Errorf("%s: %d outcomes do not match their request: %s", r.Name, len(r.Malformed), firstKeys(r.Malformed, 5))
	}
	if len(r.PublishFailures) > 0 {
		t.Errorf("%s: %d requests could not be published", r.Name, len(r.PublishFailures))
	}
	if r.ArrivalsDropped > 0 {
		t.Errorf("%s: the simulator dropped %d arrivals from its log, so keys taken twice may be missed", r.Name, r.ArrivalsDropped)
	}
}

// arrivalsOf formats the simulator's arrivals of key, in order.
func (r *Report) arrivalsOf(key string) string {
	var parts []string
	for _, a := range r.Stats.Arrivals {
		if a.Key == key {
			parts = append(parts, fmt.Sprintf("%s %d at %s", a.Operation, a.Status, a.Time.Format("15:04:05.000")))
		}
	}
	return strings.Join(parts, ", ")
}

// String returns the figures on one line.
func (r *Report) String() string {
	dlq := verify.Summary(r.DLQ)
	if dlq == "" {
		dlq = "none"
	}
	return fmt.Sprintf("figures %s: requests=%d results=%d (cache=%d fallback=%d) dlq=%d [%s] lost=%d doubled=%d "+
		"clay_submissions=%d max_per_key=%d cut_off=%d taken_twice=%d 429s=%d responses=[%s] duration=%s",
		r.Name, r.Requests, r.Results, r.FromCache, r.Fallbacks, r.dlqTotal(), dlq, len(r.Lost), len(r.Doubled),
		r.Submissions, r.MaxPerKey, r.CutOff, len(r.TakenTwice), r.Status429, sortedStatuses(r.Stats.ResponsesByStatus),
		r.Duration.Round(100*time.Millisecond))
}

func (r *Report) dlqTotal() int {
	n := 0
	for _, c := range r.DLQ {
		n += c
	}
	return n
}

// JSON returns the figures as one JSON object, for records of runs.
func (r *Report) JSON() string {
	data, err := json.Marshal(r)
	if err != nil {
		return err.Error()
	}
	return string(data)
}

// sortedStatuses formats a status → count map in status order.
func sortedStatuses(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	return strings.Join(parts, " ")
}
