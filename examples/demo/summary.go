package main

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/claybridge/claybridge/examples"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/subjects"
)

// Summary is the tally of a demo run: what it published and how each
// request ended.
type Summary struct {
	RunTag  string
	Elapsed time.Duration
	// Published counts requests published; Keys counts the distinct keys
	// the stream stored, each of which must end once.
	Published int
	Keys      int
	// Duplicates counts publishes the stream dropped (PubAck.Duplicate).
	Duplicates int
	Results    int
	// Fallbacks counts results with status "fallback".
	Fallbacks int
	DLQ       map[subjects.ErrorClass]int
	// Unended lists keys without a result or DLQ entry.
	Unended []string
	// Repeated lists keys with more than one result or DLQ entry.
	Repeated []string
	// Unexpected lists requests that ended otherwise than their sample
	// line expects.
	Unexpected []string

	// SimulatorError is the reason the simulator's counts are missing, or
	// empty when they were read.
	SimulatorError string
	// ClaySubmissions counts this run's keys as the simulator received
	// them; ClayRequests counts every Clay request, routine polls included.
	ClaySubmissions int
	ClayRequests    int
	// SubmittedTwice lists row and routine keys the simulator accepted
	// (responded with 2xx) more than once, which created a row or run twice.
	SubmittedTwice []string
	// Resent lists row and routine keys sent again after the simulator
	// refused an attempt (429 or 5xx), which created nothing twice.
	Resent []string
}

// summarize counts the outcomes of the published requests.
func summarize(published []sent, keys map[string]bool, got map[string][]client.Outcome) *Summary {
	s := &Summary{Published: len(published), Keys: len(keys), DLQ: map[subjects.ErrorClass]int{}}
	for key := range keys {
		outcomes := got[key]
		switch {
		case len(outcomes) == 0:
			s.Unended = append(s.Unended, key)
		case len(outcomes) > 1:
			s.Repeated = append(s.Repeated, fmt.Sprintf("%s (%d outcomes)", key, len(outcomes)))
		}
		for _, o := range outcomes {
			s.count(o)
		}
	}
	for _, p := range published {
		if p.Duplicate {
			s.Duplicates++
		}
		if problem := unexpected(p, got[p.Key]); problem != "" {
			s.Unexpected = append(s.Unexpected, problem)
		}
	}
	sort.Strings(s.Unended)
	sort.Strings(s.Repeated)
	return s
}

func (s *Summary) count(o client.Outcome) {
	if o.Kind == client.KindDLQ {
		s.DLQ[o.Failure().Class]++
		return
	}
	s.Results++
	if res, err := o.Result(); err == nil && res.Status == subjects.StatusFallback {
		s.Fallbacks++
	}
}

// unexpected describes how a request's outcome differs from its sample
// line's expectation, or returns "" when it does not.
func unexpected(p sent, outcomes []client.Outcome) string {
	want := p.Expect
	switch {
	case want == examples.ExpectDuplicate && !p.Duplicate:
		return fmt.Sprintf("key %s: stored as a new request, want a duplicate", p.Key)
	case want == examples.ExpectDuplicate:
		return ""
	case p.Duplicate:
		return fmt.Sprintf("key %s: dropped as a duplicate, want %s", p.Key, want)
	case len(outcomes) == 0:
		return ""
	}
	got := examples.ExpectResult
	if o := outcomes[0]; o.Kind == client.KindDLQ {
		got = string(o.Failure().Class)
	}
	if got != want {
		return fmt.Sprintf("key %s: ended as %s, want %s", p.Key, got, want)
	}
	return ""
}

// addSimulator counts this run's keys in the simulator's statistics. A
// search sends one Clay request per result page, so only rows and routines
// are checked for repeats.
func (s *Summary) addSimulator(published []sent, before, after *simStats) {
	s.ClayRequests = after.RequestsTotal - before.RequestsTotal
	seen := map[string]bool{}
	for _, p := range published {
		if p.Duplicate || seen[p.Key] {
			continue
		}
		seen[p.Key] = true
		arrived := after.SubmissionsByKey[p.Key] - before.SubmissionsByKey[p.Key]
		accepted := after.AcceptedByKey[p.Key] - before.AcceptedByKey[p.Key]
		s.ClaySubmissions += arrived
		switch {
		case p.Operation == subjects.Search:
		case accepted > 1:
			s.SubmittedTwice = append(s.SubmittedTwice, fmt.Sprintf("%s (accepted %d times)", p.Key, accepted))
		case arrived > 1:
			s.Resent = append(s.Resent, fmt.Sprintf("%s (%d attempts)", p.Key, arrived))
		}
	}
	sort.Strings(s.SubmittedTwice)
	sort.Strings(s.Resent)
}

// Problems lists every broken guarantee; none means the run passed.
func (s *Summary) Problems() []string {
	var problems []string
	if n := len(s.Unended); n > 0 {
		problems = append(problems, fmt.Sprintf("%d requests did not end in time, for example key %s", n, s.Unended[0]))
	}
	if n := len(s.Repeated); n > 0 {
		problems = append(problems, fmt.Sprintf("%d keys ended more than once, for example %s", n, s.Repeated[0]))
	}
	if n := len(s.Unexpected); n > 0 {
		problems = append(problems, fmt.Sprintf("%d requests ended otherwise than expected, for example %s", n, s.Unexpected[0]))
	}
	if n := len(s.SubmittedTwice); n > 0 {
		problems = append(problems, fmt.Sprintf("%d row or routine keys reached Clay more than once, for example %s", n, s.SubmittedTwice[0]))
	}
	return problems
}

// Print writes the summary for a person.
func (s *Summary) Print(w io.Writer) {
	dlq := 0
	for _, n := range s.DLQ {
		dlq += n
	}
	fmt.Fprintf(w, "run tag:                       %s (prefix of this run's request keys)\n", s.RunTag)
	fmt.Fprintf(w, "published:                     %d requests, %d distinct keys\n", s.Published, s.Keys)
	fmt.Fprintf(w, "duplicates suppressed:         %d\n", s.Duplicates)
	fmt.Fprintf(w, "results:                       %d (fallbacks: %d)\n", s.Results, s.Fallbacks)
	fmt.Fprintf(w, "DLQ entries:                   %d\n", dlq)
	for _, class := range subjects.ErrorClasses {
		if s.DLQ[class] > 0 {
			fmt.Fprintf(w, "  %-28s %d\n", class, s.DLQ[class])
		}
	}

	if s.SimulatorError != "" {
		fmt.Fprintf(w, "Clay submissions:              unknown (%s)\n", s.SimulatorError)
	} else {
		fmt.Fprintf(w, "Clay submissions:              %d (Clay requests in all, routine polls included: %d)\n",
			s.ClaySubmissions, s.ClayRequests)
		fmt.Fprintf(w, "keys submitted more than once: %d (row and routine keys Clay accepted twice)\n", len(s.SubmittedTwice))
		if len(s.Resent) > 0 {
			fmt.Fprintf(w, "keys resent after a refusal:   %d (Clay answered 429 or 5xx first, for example %s)\n",
				len(s.Resent), s.Resent[0])
		}
	}
	fmt.Fprintf(w, "took:                          %s\n", s.Elapsed.Round(100*time.Millisecond))

	problems := s.Problems()
	if len(problems) == 0 {
		fmt.Fprintln(w, "every request ended in exactly one result or DLQ entry")
		return
	}
	for _, p := range problems {
		fmt.Fprintf(w, "FAILED: %s\n", p)
	}
}
