// Package verify reads back what claybridge produced (results and DLQ
// entries) and checks the guarantees every deployment keeps: each request
// ends in exactly one result or one DLQ entry, and no key reaches Clay
// twice. In-process tests and the multi-process tests share it.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/subjects"
)

// Entry is one DLQ entry as read back.
type Entry struct {
	Key    string
	Class  subjects.ErrorClass
	Header nats.Header
	Data   []byte
	Seq    uint64
}

// Outcomes are the results and DLQ entries found, by request key.
type Outcomes struct {
	Results map[string][]subjects.Result
	DLQ     map[string][]Entry
}

// Collect reads every result and DLQ entry stored now.
func Collect(ctx context.Context, js jetstream.JetStream) (*Outcomes, error) {
	out := &Outcomes{Results: map[string][]subjects.Result{}, DLQ: map[string][]Entry{}}
	results, err := ReadAll(ctx, js, subjects.StreamResults, subjects.ResultsAll)
	if err != nil {
		return nil, err
	}
	for _, msg := range results {
		var res subjects.Result
		if err := json.Unmarshal(msg.Data(), &res); err != nil {
			return nil, fmt.Errorf("result on %s is not JSON: %w", msg.Subject(), err)
		}
		out.Results[res.Key] = append(out.Results[res.Key], res)
	}
	entries, err := ReadAll(ctx, js, subjects.StreamDLQ, subjects.DLQEntries)
	if err != nil {
		return nil, err
	}
	for _, msg := range entries {
		meta, _ := msg.Metadata()
		e := Entry{
			Key:    msg.Headers().Get(subjects.HeaderRequestKey),
			Class:  subjects.ErrorClass(msg.Headers().Get(subjects.HeaderErrorClass)),
			Header: msg.Headers(),
			Data:   msg.Data(),
		}
		if meta != nil {
			e.Seq = meta.Sequence.Stream
		}
		out.DLQ[e.Key] = append(out.DLQ[e.Key], e)
	}
	return out, nil
}

// ReadAll returns every message of stream on filter stored now, in order.
func ReadAll(ctx context.Context, js jetstream.JetStream, stream, filter string) ([]jetstream.Msg, error) {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	var msgs []jetstream.Msg
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		n, last := 0, false
		for msg := range batch.Messages() {
			n++
			msgs = append(msgs, msg)
			if meta, err := msg.Metadata(); err == nil && meta.NumPending == 0 {
				last = true
			}
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		if n == 0 || last {
			return msgs, nil
		}
	}
}

// Ended returns the number of keys with at least one result or DLQ entry.
func (o *Outcomes) Ended(keys []string) int {
	n := 0
	for _, k := range keys {
		if len(o.Results[k])+len(o.DLQ[k]) > 0 {
			n++
		}
	}
	return n
}

// ExactlyOnce returns one line per key that did not end in exactly one
// result or one DLQ entry; none means the guarantee holds for keys.
func (o *Outcomes) ExactlyOnce(keys []string) []string {
	var problems []string
	for _, k := range keys {
		r, d := len(o.Results[k]), len(o.DLQ[k])
		if r+d != 1 {
			problems = append(problems, fmt.Sprintf("key %s: %d results and %d DLQ entries, want exactly one in all", k, r, d))
		}
	}
	return problems
}

// ClassCounts returns the number of DLQ entries per class.
func (o *Outcomes) ClassCounts() map[subjects.ErrorClass]int {
	counts := map[subjects.ErrorClass]int{}
	for _, entries := range o.DLQ {
		for _, e := range entries {
			counts[e.Class]++
		}
	}
	return counts
}

// SubmittedTwice returns the keys that reached Clay more than once,
// sorted, from a key → submissions map.
func SubmittedTwice(submissions map[string]int) []string {
	var keys []string
	for k, n := range submissions {
		if n > 1 {
			keys = append(keys, fmt.Sprintf("%s (%d)", k, n))
		}
	}
	sort.Strings(keys)
	return keys
}

// Summary formats class counts for a test log.
func Summary(counts map[subjects.ErrorClass]int) string {
	var parts []string
	for _, c := range subjects.ErrorClasses {
		if counts[c] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", c, counts[c]))
		}
	}
	return strings.Join(parts, " ")
}
