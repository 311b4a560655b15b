package subjects

// ErrorClass says why a request ended in the DLQ. The list is closed.
type ErrorClass string

// The error classes of DLQ entries.
const (
	// ClassInvalidRequest marks input that can never succeed: bad JSON,
	// missing fields, an unknown table, a body too large for Clay.
	ClassInvalidRequest ErrorClass = "invalid_request"
	// ClassClayRejected marks a request Clay refused as such (400, 404,
	// 413, 422).
	ClassClayRejected ErrorClass = "clay_rejected"
	// ClassForbidden marks a 403 from Clay.
	ClassForbidden ErrorClass = "forbidden"
	// ClassRetriesExhausted marks a request whose transient failures
	// outlasted its deliveries.
	ClassRetriesExhausted ErrorClass = "retries_exhausted"
	// ClassDeadlineExceeded marks a request whose deadline passed.
	ClassDeadlineExceeded ErrorClass = "deadline_exceeded"
	// ClassOutcomeUnknown marks a request that may have reached Clay but
	// whose answer was lost, so it is not sent again.
	ClassOutcomeUnknown ErrorClass = "outcome_unknown"
	// ClassMaxDeliverExceeded marks a message JetStream stopped
	// delivering, found by the sweep.
	ClassMaxDeliverExceeded ErrorClass = "max_deliver_exceeded"
	// ClassCallbackTimeout marks a row whose Clay callback never came.
	ClassCallbackTimeout ErrorClass = "callback_timeout"
)

// ErrorClasses lists every error class.
var ErrorClasses = []ErrorClass{
	ClassInvalidRequest, ClassClayRejected, ClassForbidden,
	ClassRetriesExhausted, ClassDeadlineExceeded, ClassOutcomeUnknown,
	ClassMaxDeliverExceeded, ClassCallbackTimeout,
}
