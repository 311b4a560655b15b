package claysim

import (
	"maps"
	"strconv"
	"sync"
	"time"
)

// StatusClientClosedRequest marks an Arrival whose client disconnected
// before the simulator responded. It follows nginx's non-standard 499.
// No response was written, so Stats.ResponsesByStatus does not count it.
const StatusClientClosedRequest = 499

// maxArrivals bounds the arrival log of a long standalone run. Older
// arrivals are dropped first and counted in Stats.ArrivalsDropped.
const maxArrivals = 100000

// Stats is a snapshot of what the simulator received since it started or
// since the last reset. GET /_sim/stats returns the same JSON.
type Stats struct {
	// RequestsTotal counts requests to Clay endpoints, but not admin
	// requests or unknown paths.
	RequestsTotal int `json:"requests_total"`
	// RequestsByOperation counts Clay requests by operation (OpRow, ...).
	RequestsByOperation map[string]int `json:"requests_by_operation"`
	// ResponsesByStatus counts written responses by HTTP status code.
	ResponsesByStatus map[string]int `json:"responses_by_status"`
	// SubmissionsByKey counts how often each request key arrived, whatever
	// the response: the claybridge_key of each webhook row, the id of each
	// routine item and the X-Claybridge-Key header of a search.
	SubmissionsByKey map[string]int `json:"submissions_by_key"`
	// AcceptedByKey counts, per request key, the submissions answered
	// with a 2xx status.
	AcceptedByKey map[string]int `json:"accepted_by_key"`
	// Arrivals lists Clay requests in arrival order, one entry per row
	// for webhook requests and one per item for routine run requests.
	Arrivals []Arrival `json:"arrivals"`
	// ArrivalsDropped counts the oldest arrivals removed to keep the log
	// at its maximum of 100000 entries.
	ArrivalsDropped int `json:"arrivals_dropped"`
	// ClientDisconnects counts Clay requests whose client went away while
	// the simulator was still waiting out the latency.
	ClientDisconnects int `json:"client_disconnects"`
	// RecordsAccepted counts webhook rows that were accepted.
	RecordsAccepted int `json:"records_accepted"`

	// CallbacksSent counts callbacks whose receiver responded with a 2xx
	// status. Each copy of a duplicate callback counts.
	CallbacksSent int `json:"callbacks_sent"`
	// CallbacksFailed counts callbacks given up after their last attempt
	// got a non-2xx status or a connection error. A callback cancelled by
	// Close counts as neither sent nor failed.
	CallbacksFailed int `json:"callbacks_failed"`
	// CallbacksByKey counts callback attempts, retries included, per
	// claybridge_key. Rows without a key are not counted here.
	CallbacksByKey map[string]int `json:"callbacks_by_key"`
	// CallbacksRefused counts accepted rows whose callback URL the
	// simulator rejected without dialling: not an http or https URL, or a
	// host other than localhost and loopback IP addresses.
	CallbacksRefused int `json:"callbacks_refused"`
}

// Arrival is one Clay request, or one row or routine item of it.
type Arrival struct {
	// Time is when the request arrived. JSON encodes it in RFC 3339 with
	// nanoseconds.
	Time time.Time `json:"time"`
	// Operation is OpRow, OpRoutine, OpSearch or OpMe.
	Operation string `json:"operation"`
	// Key is the request key of the row, item or search, or empty.
	Key string `json:"key"`
	// Status is the response status code, or StatusClientClosedRequest.
	Status int `json:"status"`
}

// statsRecorder accumulates Stats under a mutex.
type statsRecorder struct {
	mu    sync.Mutex
	stats Stats
}

func newStatsRecorder() *statsRecorder {
	r := &statsRecorder{}
	r.reset()
	return r
}

func (r *statsRecorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats = Stats{
		RequestsByOperation: map[string]int{},
		ResponsesByStatus:   map[string]int{},
		SubmissionsByKey:    map[string]int{},
		AcceptedByKey:       map[string]int{},
		Arrivals:            []Arrival{},
		CallbacksByKey:      map[string]int{},
	}
}

func (r *statsRecorder) countRequest(op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.RequestsTotal++
	r.stats.RequestsByOperation[op]++
}

// recordOutcome stores the end of one Clay request: its keys, one arrival
// per key (or a single arrival when there are none) and the status.
// Status StatusClientClosedRequest counts a client disconnect.
func (r *statsRecorder) recordOutcome(ex *exchange, status int, rowsAccepted int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if status == StatusClientClosedRequest {
		r.stats.ClientDisconnects++
	} else {
		r.stats.ResponsesByStatus[strconv.Itoa(status)]++
	}
	r.stats.RecordsAccepted += rowsAccepted

	accepted := status >= 200 && status < 300
	for _, key := range ex.keys {
		if key == "" {
			continue
		}
		r.stats.SubmissionsByKey[key]++
		if accepted {
			r.stats.AcceptedByKey[key]++
		}
	}

	if len(ex.keys) == 0 {
		r.appendArrival(Arrival{Time: ex.start, Operation: ex.op, Status: status})
		return
	}
	for _, key := range ex.keys {
		r.appendArrival(Arrival{Time: ex.start, Operation: ex.op, Key: key, Status: status})
	}
}

func (r *statsRecorder) appendArrival(a Arrival) {
	if len(r.stats.Arrivals) >= maxArrivals {
		r.stats.Arrivals = r.stats.Arrivals[1:]
		r.stats.ArrivalsDropped++
	}
	r.stats.Arrivals = append(r.stats.Arrivals, a)
}

// snapshot returns a deep copy that callers may keep and change.
func (r *statsRecorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.RequestsByOperation = maps.Clone(r.stats.RequestsByOperation)
	s.ResponsesByStatus = maps.Clone(r.stats.ResponsesByStatus)
	s.SubmissionsByKey = maps.Clone(r.stats.SubmissionsByKey)
	s.AcceptedByKey = maps.Clone(r.stats.AcceptedByKey)
	s.Arrivals = append([]Arrival{}, r.stats.Arrivals...)
	s.CallbacksByKey = maps.Clone(r.stats.CallbacksByKey)
	return s
}

func (r *statsRecorder) countCallbackAttempt(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key != "" {
		r.stats.CallbacksByKey[key]++
	}
}

func (r *statsRecorder) countCallbackSent() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.CallbacksSent++
}

func (r *statsRecorder) countCallbackFailed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.CallbacksFailed++
}

func (r *statsRecorder) countCallbackRefused() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.CallbacksRefused++
}
