package itest

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/verify"
	"github.com/claybridge/claybridge/itest/suite"
	"github.com/claybridge/claybridge/subjects"
)

func TestWorkloadFollowsMix(t *testing.T) {
	reqs := suite.Workload{Name: "mix", Requests: 100, Mix: suite.Mix{Rows: 3, Routines: 1, Searches: 1}}.Generate()
	counts := map[subjects.Operation]int{}
	keys := map[string]bool{}
	for _, r := range reqs {
		counts[r.Operation]++
		if keys[r.Key] {
			t.Errorf("key %s generated twice", r.Key)
		}
		keys[r.Key] = true
	}
	want := map[subjects.Operation]int{subjects.Row: 60, subjects.Routine: 20, subjects.Search: 20}
	for op, n := range want {
		if counts[op] != n {
			t.Errorf("%s requests: got %d, want %d", op, counts[op], n)
		}
	}
}

func TestConformanceReplay(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// arrivals returns n row arrivals, the first at offset after start
	// and then one every every.
	arrivals := func(offset time.Duration, n int, every time.Duration) []claysim.Arrival {
		var list []claysim.Arrival
		for i := range n {
			at := start.Add(offset + time.Duration(i)*every)
			list = append(list, claysim.Arrival{Time: at, Operation: claysim.OpRow, Status: 200})
		}
		return list
	}
	for _, tc := range []struct {
		name         string
		arrivals     []claysim.Arrival
		wantRejected int
	}{
		// A burst of 20 at once, then one every 100 ms, keeps to 10/s.
		{"burst then rate", append(arrivals(0, 20, 0), arrivals(100*time.Millisecond, 50, 100*time.Millisecond)...), 0},
		{"at the rate", arrivals(0, 100, 100*time.Millisecond), 0},
		// 21 at once: the bucket holds 20.
		{"one over the burst", arrivals(0, 21, 0), 1},
		// The next arrival after a burst comes before a token is back.
		{"burst then too soon", append(arrivals(0, 20, 0), arrivals(50*time.Millisecond, 1, 0)...), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := suite.CheckConformance(tc.arrivals, claysim.OpRow, 10, 20)
			if got.Rejected != tc.wantRejected {
				t.Errorf("rejected %d of %d arrivals, want %d", got.Rejected, got.Arrivals, tc.wantRejected)
			}
		})
	}

	// Three senders each at 10/s make 30/s: after the burst, two in
	// three arrivals are over the limit.
	fast := suite.CheckConformance(arrivals(0, 300, time.Second/30), claysim.OpRow, 10, 20)
	if fast.Rejected < 150 {
		t.Errorf("30/s for 10 s: %d of %d arrivals rejected, want at least 150", fast.Rejected, fast.Arrivals)
	}
}

func TestEvaluateFindsBrokenGuarantees(t *testing.T) {
	row := func(key string) suite.Request {
		return suite.Request{Priority: subjects.Normal, Operation: subjects.Row, Key: key}
	}
	reqs := []suite.Request{
		row("retried-after-429"), row("accepted-twice"), row("cut-off-then-accepted"), row("lost"), row("doubled"),
		{Priority: subjects.Normal, Operation: subjects.Search, Key: "search-twice"},
	}
	result := subjects.Result{Status: subjects.StatusOK, Source: subjects.SourceClay}
	out := &verify.Outcomes{
		Results: map[string][]subjects.Result{
			"retried-after-429": {result}, "accepted-twice": {result}, "search-twice": {result}, "doubled": {result},
		},
		DLQ: map[string][]verify.Entry{
			"cut-off-then-accepted": {{Class: subjects.ClassOutcomeUnknown}},
			"doubled":               {{Class: subjects.ClassRetriesExhausted}},
		},
	}
	at := time.Now()
	arrival := func(op, key string, status int) claysim.Arrival {
		at = at.Add(time.Millisecond)
		return claysim.Arrival{Time: at, Operation: op, Key: key, Status: status}
	}
	stats := claysim.Stats{
		SubmissionsByKey:  map[string]int{"retried-after-429": 2, "accepted-twice": 2, "cut-off-then-accepted": 2},
		ResponsesByStatus: map[string]int{"200": 5, "429": 1},
		Arrivals: []claysim.Arrival{
			arrival(claysim.OpRow, "retried-after-429", 429), arrival(claysim.OpRow, "retried-after-429", 200),
			arrival(claysim.OpRow, "accepted-twice", 200), arrival(claysim.OpRow, "accepted-twice", 200),
			arrival(claysim.OpRow, "cut-off-then-accepted", claysim.StatusClientClosedRequest),
			arrival(claysim.OpRow, "cut-off-then-accepted", 200),
			arrival(claysim.OpSearch, "search-twice", 200), arrival(claysim.OpSearch, "search-twice", 200),
		},
	}
	r := suite.Evaluate("evaluate", reqs, out, stats)

	if got := r.Lost; len(got) != 1 || got[0] != "lost" {
		t.Errorf("Lost = %v, want [lost]", got)
	}
	if got := r.Doubled; len(got) != 1 {
		t.Errorf("Doubled = %v, want only the key doubled", got)
	}
	want := []string{"accepted-twice (2)", "cut-off-then-accepted (2)"}
	if len(r.TakenTwice) != len(want) || r.TakenTwice[0] != want[0] || r.TakenTwice[1] != want[1] {
		t.Errorf("TakenTwice = %v, want %v", r.TakenTwice, want)
	}
	if r.Submissions != 6 || r.CutOff != 1 || r.MaxPerKey != 2 || r.Status429 != 1 {
		t.Errorf("submissions %d, cut off %d, max per key %d, 429s %d; want 6, 1, 2, 1",
			r.Submissions, r.CutOff, r.MaxPerKey, r.Status429)
	}
	if got := r.DLQ[subjects.ClassOutcomeUnknown]; got != 1 {
		t.Errorf("outcome_unknown entries: got %d, want 1", got)
	}
}

func TestEvaluateChecksDLQEntries(t *testing.T) {
	invalid := suite.Request{Priority: subjects.Bulk, Operation: subjects.Row, Key: "bad", Body: []byte(`{"table":`), Invalid: true}
	header := func(subject, key string) nats.Header {
		return nats.Header{
			subjects.HeaderOrigSubject:                       {subject},
			subjects.HeaderOrigPrefix + subjects.HeaderMsgID: {key},
		}
	}
	subject := subjects.RequestSubject(invalid.Priority, invalid.Operation)
	for _, tc := range []struct {
		name  string
		entry verify.Entry
		want  int
	}{
		{"well formed", verify.Entry{Class: subjects.ClassInvalidRequest, Header: header(subject, "bad"), Data: invalid.Body}, 0},
		{"other class", verify.Entry{Class: subjects.ClassRetriesExhausted, Header: header(subject, "bad"), Data: invalid.Body}, 1},
		{"unknown class", verify.Entry{Class: "oops", Header: header(subject, "bad"), Data: invalid.Body}, 2},
		{"other subject", verify.Entry{Class: subjects.ClassInvalidRequest, Header: header("clay.request.normal.row", "bad"), Data: invalid.Body}, 1},
		{"key missing", verify.Entry{Class: subjects.ClassInvalidRequest, Header: header(subject, ""), Data: invalid.Body}, 1},
		{"body changed", verify.Entry{Class: subjects.ClassInvalidRequest, Header: header(subject, "bad"), Data: []byte(`{}`)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &verify.Outcomes{DLQ: map[string][]verify.Entry{"bad": {tc.entry}}}
			r := suite.Evaluate("dlq", []suite.Request{invalid}, out, claysim.Stats{})
			if len(r.Malformed) != tc.want {
				t.Errorf("Malformed = %q, want %d problems", r.Malformed, tc.want)
			}
		})
	}
}
