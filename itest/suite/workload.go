package suite

import (
	"fmt"

	"github.com/claybridge/claybridge/subjects"
)

// Mix gives the relative weights of the kinds of request in a workload.
// Rows and routines are writes: each reaches Clay as a submission that
// carries its key (claybridge_key of a row, the item id of a routine).
// Searches are reads, which Clay may serve any number of times.
type Mix struct {
	Rows     int
	Routines int
	Searches int
	// Invalid requests are rows whose body is not JSON; each must end in
	// one DLQ entry of class invalid_request without reaching Clay.
	Invalid int
	// SearchBodies bounds the number of distinct search bodies, so that
	// the fallback cache can serve repeats. Zero gives every search its
	// own body.
	SearchBodies int
}

// Workload is a set of requests and how fast to publish them.
type Workload struct {
	// Name prefixes every request key and names the figures.
	Name string
	// Requests is the number of requests, each with its own key.
	Requests int
	Mix      Mix
	// Rate is in publishes per second; 0 publishes as fast as the
	// publishers go.
	Rate float64
}

// Request is one request of a workload.
type Request struct {
	Priority  subjects.Priority
	Operation subjects.Operation
	// Key is sent as Nats-Msg-Id, which makes it the request key.
	Key  string
	Body []byte
	// Invalid marks a request that must end in the DLQ.
	Invalid bool
}

// kind is the kind of one generated request.
type kind int

const (
	kindRow kind = iota
	kindRoutine
	kindSearch
	kindInvalid
)

// pattern returns one cycle of kinds with each kind as often as its
// weight, interleaved so that every stretch of a workload has each kind.
func (m Mix) pattern() []kind {
	left := []int{m.Rows, m.Routines, m.Searches, m.Invalid}
	var out []kind
	for more := true; more; {
		more = false
		for k, n := range left {
			if n > 0 {
				out = append(out, kind(k))
				left[k]--
				more = true
			}
		}
	}
	if len(out) == 0 {
		out = []kind{kindRow}
	}
	return out
}

// Generate returns the workload's requests: kinds by the mix, priorities
// in turn, keys "<name>-<index>".
func (w Workload) Generate() []Request {
	pattern := w.Mix.pattern()
	reqs := make([]Request, w.Requests)
	for i := range reqs {
		key := fmt.Sprintf("%s-%05d", w.Name, i)
		r := Request{Priority: subjects.Priorities[i%len(subjects.Priorities)], Key: key}
		switch pattern[i%len(pattern)] {
		case kindRow:
			r.Operation = subjects.Row
			r.Body = fmt.Appendf(nil, `{"table":"leads","row":{"email":"%s@example.com","seq":%d}}`, key, i)
		case kindRoutine:
			r.Operation = subjects.Routine
			r.Body = fmt.Appendf(nil, `{"routine_id":"enrich-company","inputs":{"domain":"%s.example.com"}}`, key)
		case kindSearch:
			group := i
			if w.Mix.SearchBodies > 0 {
				group = i % w.Mix.SearchBodies
			}
			r.Operation = subjects.Search
			r.Body = fmt.Appendf(nil, `{"source_type":"companies","filters":{"industry":"software","group":%d},"limit":5}`, group)
		case kindInvalid:
			r.Operation, r.Invalid = subjects.Row, true
			r.Body = []byte(`{"table":"leads","row":`)
		}
		reqs[i] = r
	}
	return reqs
}

// isWrite reports whether r reaches Clay as a submission that must not
// be sent twice.
func (r Request) isWrite() bool {
	return !r.Invalid && (r.Operation == subjects.Row || r.Operation == subjects.Routine)
}
