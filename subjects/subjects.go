// Package subjects is claybridge's wire contract: the names of its streams,
// subjects, headers and KV buckets, the request and result messages, and the
// validation of each operation's parameters. Publishers and the processor
// share these definitions, and nothing else in the code spells them.
package subjects

import (
	"fmt"
	"strings"
)

// Stream names.
const (
	// StreamRequests is the work-queue stream that holds Clay requests.
	StreamRequests = "CLAY_REQUESTS"
	// StreamResults holds one result per request key.
	StreamResults = "CLAY_RESULTS"
	// StreamDLQ holds dead-lettered requests and the health heartbeats.
	StreamDLQ = "CLAY_DLQ"
	// StreamCallbacks holds callbacks that Clay posted for awaited rows.
	StreamCallbacks = "CLAY_CALLBACKS"
)

// KV bucket names.
const (
	// BucketLedger records each request key's state (claimed, sent, done).
	BucketLedger = "CLAY_LEDGER"
	// BucketCache is the shared tier of the fallback cache.
	BucketCache = "CLAY_CACHE"
	// BucketPending records awaited callbacks and routine runs.
	BucketPending = "CLAY_PENDING"
	// BucketControl holds state shared by replicas: holds, rate budgets and
	// webhook submission counts.
	BucketControl = "CLAY_CONTROL"
)

// ObjectResults is the Object Store bucket holding result data too large
// for one message; a result's ref is "<bucket>/<object name>".
const ObjectResults = "CLAY_RESULT_OBJECTS"

// Subject prefixes and wildcards.
const (
	RequestPrefix  = "clay.request"
	ResultPrefix   = "clay.result"
	DLQPrefix      = "clay.dlq"
	HealthPrefix   = "clay.health"
	CallbackPrefix = "clay.callback"

	// DLQEntries matches every DLQ entry and no heartbeat. DLQ tooling
	// filters on it.
	DLQEntries = DLQPrefix + ".>"
	// HealthAll matches every instance's heartbeat.
	HealthAll = HealthPrefix + ".*"
	// ResultsAll matches every result.
	ResultsAll = ResultPrefix + ".>"
	// CallbacksAll matches every stored callback.
	CallbacksAll = CallbackPrefix + ".*"
)

// Header names. Headers starting with "Nats-" belong to JetStream.
const (
	HeaderMsgID            = "Nats-Msg-Id"
	HeaderExpectedStream   = "Nats-Expected-Stream"
	HeaderTTL              = "Nats-TTL"
	HeaderTraceParent      = "traceparent"
	HeaderRequestKey       = "Clay-Request-Key"
	HeaderDeadline         = "Clay-Deadline"
	HeaderOrigPrefix       = "Clay-Orig-"
	HeaderOrigSubject      = "Clay-Orig-Subject"
	HeaderOrigSeq          = "Clay-Orig-Seq"
	HeaderErrorClass       = "Clay-Error-Class"
	HeaderHTTPStatus       = "Clay-Http-Status"
	HeaderError            = "Clay-Error"
	HeaderAttempts         = "Clay-Attempts"
	HeaderFirstAttempt     = "Clay-First-Attempt"
	HeaderLastAttempt      = "Clay-Last-Attempt"
	HeaderBreakerState     = "Clay-Breaker-State"
	HeaderReplayOf         = "Clay-Replay-Of"
	natsHeaderPrefix       = "Nats-"
	natsHeaderPrefixLength = len(natsHeaderPrefix)
)

// Priority orders work: critical before normal before bulk.
type Priority string

// The three priorities.
const (
	Critical Priority = "critical"
	Normal   Priority = "normal"
	Bulk     Priority = "bulk"
)

// Priorities lists every priority, most urgent first.
var Priorities = []Priority{Critical, Normal, Bulk}

// Operation is the kind of Clay call a request asks for.
type Operation string

// The three operations.
const (
	// Row pushes one row to a Clay table's webhook source.
	Row Operation = "row"
	// Routine runs a Clay routine on one item.
	Routine Operation = "routine"
	// Search runs a people or company search.
	Search Operation = "search"
)

// Operations lists every operation.
var Operations = []Operation{Row, Routine, Search}

// ParsePriority returns the priority named s, or an error listing the valid
// ones.
func ParsePriority(s string) (Priority, error) {
	for _, p := range Priorities {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("invalid priority %q: use critical, normal or bulk", s)
}

// ParseOperation returns the operation named s, or an error listing the
// valid ones.
func ParseOperation(s string) (Operation, error) {
	for _, op := range Operations {
		if string(op) == s {
			return op, nil
		}
	}
	return "", fmt.Errorf("invalid operation %q: use row, routine or search", s)
}

// RequestSubject returns the subject a request of this priority and
// operation is published on.
func RequestSubject(p Priority, op Operation) string {
	return RequestPrefix + "." + string(p) + "." + string(op)
}

// RequestSubjects returns the nine request subjects, the only ones the
// request stream accepts.
func RequestSubjects() []string {
	subjects := make([]string, 0, len(Priorities)*len(Operations))
	for _, p := range Priorities {
		for _, op := range Operations {
			subjects = append(subjects, RequestSubject(p, op))
		}
	}
	return subjects
}

// ResultSubject returns the subject a result is published on.
func ResultSubject(p Priority, op Operation) string {
	return ResultPrefix + "." + string(p) + "." + string(op)
}

// DLQSubject returns the subject a DLQ entry is published on.
func DLQSubject(p Priority, op Operation) string {
	return DLQPrefix + "." + string(p) + "." + string(op)
}

// HealthSubject returns the heartbeat subject of an instance.
func HealthSubject(instance string) string {
	return HealthPrefix + "." + instance
}

// ParseRequestSubject returns the priority and operation of a request
// subject.
func ParseRequestSubject(subject string) (Priority, Operation, error) {
	return parseSubject(RequestPrefix, subject)
}

// ParseDLQSubject returns the priority and operation of a DLQ subject.
func ParseDLQSubject(subject string) (Priority, Operation, error) {
	return parseSubject(DLQPrefix, subject)
}

func parseSubject(prefix, subject string) (Priority, Operation, error) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	tokens := strings.Split(rest, ".")
	if !ok || len(tokens) != 2 {
		return "", "", fmt.Errorf("invalid subject %q: want %s.<priority>.<operation>", subject, prefix)
	}
	p, err := ParsePriority(tokens[0])
	if err != nil {
		return "", "", err
	}
	op, err := ParseOperation(tokens[1])
	if err != nil {
		return "", "", err
	}
	return p, op, nil
}

// IsNatsHeader reports whether a header belongs to JetStream ("Nats-"
// prefix, any case).
func IsNatsHeader(name string) bool {
	return len(name) >= natsHeaderPrefixLength &&
		strings.EqualFold(name[:natsHeaderPrefixLength], natsHeaderPrefix)
}
