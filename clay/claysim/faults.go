package claysim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Fault changes the responses of matching Clay requests, to simulate
// outages, slow responses and throttling. Faults stack: for each request
// the newest matching fault with a Status supplies the response, and the
// newest matching fault with a Latency supplies the extra delay.
//
// In JSON, durations are Go duration strings such as "1500ms":
//
//	{"status": 503, "duration": "10s", "operation": "search",
//	 "retry_after": "2s", "retry_after_raw": "0", "latency": "3s",
//	 "count": 3, "body": "..."}
type Fault struct {
	// Status is the response status code. Zero leaves the response alone,
	// so that the fault only adds Latency.
	Status int
	// Operation limits the fault to OpRow, OpRoutine, OpSearch or OpMe.
	// Empty matches every Clay operation.
	Operation string
	// Duration ends the fault this long after it was added. Zero keeps it
	// until cleared or until Count runs out.
	Duration time.Duration
	// Count ends the fault after it has changed this many requests. Zero
	// sets no count limit.
	Count int
	// RetryAfter sets the Retry-After header of the fault response in
	// whole seconds, rounded up. Zero sends no header.
	RetryAfter time.Duration
	// RetryAfterRaw sets the Retry-After header to exactly this value,
	// such as an HTTP date or "0", and takes precedence over RetryAfter.
	RetryAfterRaw string
	// Latency delays matching requests by this much on top of the
	// configured latency.
	Latency time.Duration
	// Body is the response body of a fault with a Status. Empty sends
	// {"message": "..."} naming the status.
	Body string
}

// faultJSON is the wire form of Fault, with durations as strings.
type faultJSON struct {
	Status        int    `json:"status,omitempty"`
	Operation     string `json:"operation,omitempty"`
	Duration      string `json:"duration,omitempty"`
	Count         int    `json:"count,omitempty"`
	RetryAfter    string `json:"retry_after,omitempty"`
	RetryAfterRaw string `json:"retry_after_raw,omitempty"`
	Latency       string `json:"latency,omitempty"`
	Body          string `json:"body,omitempty"`
}

// MarshalJSON encodes the fault with durations as Go duration strings.
func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(f.wire())
}

// UnmarshalJSON decodes the fault, parsing durations such as "10s". It
// rejects unknown fields, so that a misspelt field does not pass silently.
func (f *Fault) UnmarshalJSON(data []byte) error {
	var w faultJSON
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&w); err != nil {
		return err
	}
	decoded := Fault{
		Status:        w.Status,
		Operation:     w.Operation,
		Count:         w.Count,
		RetryAfterRaw: w.RetryAfterRaw,
		Body:          w.Body,
	}
	durations := []struct {
		name  string
		value string
		dst   *time.Duration
	}{
		{"duration", w.Duration, &decoded.Duration},
		{"retry_after", w.RetryAfter, &decoded.RetryAfter},
		{"latency", w.Latency, &decoded.Latency},
	}
	for _, d := range durations {
		if err := parseOptionalDuration(d.name, d.value, d.dst); err != nil {
			return err
		}
	}
	*f = decoded
	return nil
}

func (f Fault) wire() faultJSON {
	return faultJSON{
		Status:        f.Status,
		Operation:     f.Operation,
		Duration:      formatOptionalDuration(f.Duration),
		Count:         f.Count,
		RetryAfter:    formatOptionalDuration(f.RetryAfter),
		RetryAfterRaw: f.RetryAfterRaw,
		Latency:       formatOptionalDuration(f.Latency),
		Body:          f.Body,
	}
}

func parseOptionalDuration(name, value string, dst *time.Duration) error {
	if value == "" {
		return nil
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		return fmt.Errorf("invalid %s %q: use a Go duration such as \"1500ms\" or \"10s\"", name, value)
	}
	*dst = d
	return nil
}

func formatOptionalDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// validate rejects faults that could never take effect or that use
// values the simulator cannot send.
func (f Fault) validate() error {
	if f.Status != 0 && (f.Status < 200 || f.Status > 599) {
		return fmt.Errorf("invalid fault status %d: use 200-599, or 0 for latency only", f.Status)
	}
	if f.Operation != "" && !validOperation(f.Operation) {
		return fmt.Errorf("invalid fault operation %q: use %s, %s, %s, %s or leave it empty for all",
			f.Operation, OpRow, OpRoutine, OpSearch, OpMe)
	}
	if f.Duration < 0 || f.RetryAfter < 0 || f.Latency < 0 {
		return fmt.Errorf("invalid fault: duration, retry_after and latency must not be negative")
	}
	if f.Count < 0 {
		return fmt.Errorf("invalid fault count %d: must not be negative", f.Count)
	}
	if f.Status == 0 && f.Latency == 0 {
		return fmt.Errorf("invalid fault: set a status, a latency or both")
	}
	return nil
}

// retryAfterHeader returns the Retry-After value of the fault response
// and whether to send the header at all.
func (f Fault) retryAfterHeader() (string, bool) {
	if f.RetryAfterRaw != "" {
		return f.RetryAfterRaw, true
	}
	if f.RetryAfter > 0 {
		seconds := (f.RetryAfter + time.Second - 1) / time.Second
		return strconv.FormatInt(int64(seconds), 10), true
	}
	return "", false
}

// activeFault is a fault with the state that ends it.
type activeFault struct {
	Fault
	id        int
	added     time.Time
	remaining int
}

func (a *activeFault) over(now time.Time) bool {
	if a.Duration > 0 && !now.Before(a.added.Add(a.Duration)) {
		return true
	}
	return a.Count > 0 && a.remaining <= 0
}

func (a *activeFault) matches(op string) bool {
	return a.Operation == "" || a.Operation == op
}

// activeFaultJSON is one entry of GET /_sim/faults.
type activeFaultJSON struct {
	faultJSON
	ID        int        `json:"id"`
	AddedAt   time.Time  `json:"added_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Remaining *int       `json:"remaining,omitempty"`
}

// faultEffect is what the active faults do to one request.
type faultEffect struct {
	status  *Fault
	latency time.Duration
}

// faultSet holds the active faults, oldest first.
type faultSet struct {
	mu     sync.Mutex
	nextID int
	faults []*activeFault
}

func (fs *faultSet) add(f Fault, now time.Time) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.nextID++
	fs.faults = append(fs.faults, &activeFault{Fault: f, id: fs.nextID, added: now, remaining: f.Count})
}

func (fs *faultSet) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = nil
}

// take returns the effect of the active faults on one request of
// operation op and uses up one count of each fault that contributed.
func (fs *faultSet) take(op string, now time.Time) faultEffect {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.prune(now)

	var effect faultEffect
	for i := len(fs.faults) - 1; i >= 0; i-- {
		f := fs.faults[i]
		if !f.matches(op) {
			continue
		}
		contributed := false
		if effect.status == nil && f.Status != 0 {
			copied := f.Fault
			effect.status = &copied
			contributed = true
		}
		if effect.latency == 0 && f.Latency > 0 {
			effect.latency = f.Latency
			contributed = true
		}
		if contributed {
			f.remaining--
		}
	}
	fs.prune(now)
	return effect
}

func (fs *faultSet) prune(now time.Time) {
	kept := fs.faults[:0]
	for _, f := range fs.faults {
		if !f.over(now) {
			kept = append(kept, f)
		}
	}
	clear(fs.faults[len(kept):])
	fs.faults = kept
}

func (fs *faultSet) list(now time.Time) []activeFaultJSON {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.prune(now)
	out := make([]activeFaultJSON, 0, len(fs.faults))
	for _, f := range fs.faults {
		entry := activeFaultJSON{faultJSON: f.wire(), ID: f.id, AddedAt: f.added}
		if f.Duration > 0 {
			expires := f.added.Add(f.Duration)
			entry.ExpiresAt = &expires
		}
		if f.Count > 0 {
			remaining := f.remaining
			entry.Remaining = &remaining
		}
		out = append(out, entry)
	}
	return out
}
