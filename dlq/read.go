package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/scan"
	"github.com/claybridge/claybridge/subjects"
)

// ErrNotFound is returned when no DLQ entry has the sequence or key asked
// for.
var ErrNotFound = errors.New("DLQ entry not found")

// Entry is a DLQ entry as stored in the stream.
type Entry struct {
	Sequence  uint64              `json:"sequence"`
	Subject   string              `json:"subject"`
	Time      time.Time           `json:"time"`
	Priority  subjects.Priority   `json:"priority"`
	Operation subjects.Operation  `json:"operation"`
	Key       string              `json:"key"`
	Class     subjects.ErrorClass `json:"class"`
	// HTTPStatus is Clay's last status, or 0 when there was none.
	HTTPStatus int    `json:"http_status"`
	Error      string `json:"error"`
	Attempts   int    `json:"attempts"`
	// OrigSubject and OrigSequence locate the request in CLAY_REQUESTS.
	OrigSubject  string      `json:"orig_subject"`
	OrigSequence uint64      `json:"orig_sequence"`
	Header       nats.Header `json:"headers"`
	// Size is the body's size in bytes.
	Size int `json:"size"`
	// Data is the original request body. It is empty when the entry was
	// read with headers only.
	Data []byte `json:"-"`
}

// Filter selects DLQ entries. Its zero value selects every entry.
type Filter struct {
	Class     subjects.ErrorClass
	Priority  subjects.Priority
	Operation subjects.Operation
	// Since, when set, skips entries stored before it.
	Since time.Time
	// Keys, when set, keeps only entries of these request keys.
	Keys []string
}

// SelectsAll reports whether f selects every entry.
func (f Filter) SelectsAll() bool {
	return f.Class == "" && f.Priority == "" && f.Operation == "" && f.Since.IsZero() && len(f.Keys) == 0
}

// Subject returns the subject filter of f, always under clay.dlq so that
// heartbeats are never read as entries.
func (f Filter) Subject() string {
	p, op := "*", "*"
	if f.Priority != "" {
		p = string(f.Priority)
	}
	if f.Operation != "" {
		op = string(f.Operation)
	}
	if p == "*" && op == "*" {
		return subjects.DLQEntries
	}
	return subjects.DLQPrefix + "." + p + "." + op
}

// Match reports whether e passes the filters that the subject filter and
// the start time do not apply.
func (f Filter) Match(e *Entry) bool {
	if f.Class != "" && e.Class != f.Class {
		return false
	}
	return len(f.Keys) == 0 || slices.Contains(f.Keys, e.Key)
}

// ListConfig configures List.
type ListConfig struct {
	// HeadersOnly returns entries without their bodies. List always scans
	// headers only and reads the body of each matching entry after.
	HeadersOnly bool
	// Progress, when set, is called after each batch with the number of
	// messages read so far and the number still to read.
	Progress func(read, left uint64)
}

// List returns the DLQ entries that match f, in stream order. An entry
// deleted between the scan and the read of its body is left out.
func List(ctx context.Context, js jetstream.JetStream, f Filter, cfg ListConfig) ([]Entry, error) {
	entries, err := listHeaders(ctx, js, f, cfg.Progress)
	if err != nil || cfg.HeadersOnly || len(entries) == 0 {
		return entries, err
	}
	stream, err := scan.OpenStream(ctx, js, subjects.StreamDLQ)
	if err != nil {
		return nil, err
	}
	withBodies := entries[:0]
	for _, e := range entries {
		full, err := get(ctx, stream, e.Sequence)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		withBodies = append(withBodies, *full)
	}
	return withBodies, nil
}

// listHeaders returns the entries that match f, without bodies.
func listHeaders(ctx context.Context, js jetstream.JetStream, f Filter, progress func(read, left uint64)) ([]Entry, error) {
	var entries []Entry
	cfg := scan.Config{
		Stream:      subjects.StreamDLQ,
		Filters:     []string{f.Subject()},
		Since:       f.Since,
		HeadersOnly: true,
		Progress:    progress,
	}
	err := scan.Stream(ctx, js, cfg, func(msg jetstream.Msg) error {
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read DLQ entry metadata: %w", err)
		}
		e := newEntry(msg.Subject(), meta.Sequence.Stream, meta.Timestamp, msg.Headers(), msg.Data())
		if f.Match(&e) {
			entries = append(entries, e)
		}
		return nil
	})
	return entries, err
}

// Get returns the DLQ entry stored at sequence seq, with its body. It
// returns ErrNotFound when the sequence holds no DLQ entry, such as a
// heartbeat or a deleted message.
func Get(ctx context.Context, js jetstream.JetStream, seq uint64) (*Entry, error) {
	stream, err := scan.OpenStream(ctx, js, subjects.StreamDLQ)
	if err != nil {
		return nil, err
	}
	return get(ctx, stream, seq)
}

func get(ctx context.Context, stream jetstream.Stream, seq uint64) (*Entry, error) {
	raw, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: no message at sequence %d of %s", ErrNotFound, seq, subjects.StreamDLQ)
	}
	if err != nil {
		return nil, fmt.Errorf("read sequence %d of %s: %w", seq, subjects.StreamDLQ, err)
	}
	if _, _, err := subjects.ParseDLQSubject(raw.Subject); err != nil {
		return nil, fmt.Errorf("%w: sequence %d of %s is on %s, not a DLQ entry", ErrNotFound, seq, subjects.StreamDLQ, raw.Subject)
	}
	e := newEntry(raw.Subject, raw.Sequence, raw.Time, raw.Header, raw.Data)
	return &e, nil
}

// newEntry decodes a stored DLQ message. Headers that do not parse leave
// their fields at zero.
func newEntry(subject string, seq uint64, stored time.Time, h nats.Header, data []byte) Entry {
	e := Entry{
		Sequence:    seq,
		Subject:     subject,
		Time:        stored,
		Key:         h.Get(subjects.HeaderRequestKey),
		Class:       subjects.ErrorClass(h.Get(subjects.HeaderErrorClass)),
		Error:       h.Get(subjects.HeaderError),
		OrigSubject: h.Get(subjects.HeaderOrigSubject),
		Header:      h,
		Size:        len(data),
		Data:        data,
	}
	e.Priority, e.Operation, _ = subjects.ParseDLQSubject(subject)
	e.HTTPStatus, _ = strconv.Atoi(h.Get(subjects.HeaderHTTPStatus))
	e.Attempts, _ = strconv.Atoi(h.Get(subjects.HeaderAttempts))
	e.OrigSequence, _ = strconv.ParseUint(h.Get(subjects.HeaderOrigSeq), 10, 64)
	if size := h.Get(nats.MsgSize); size != "" && len(data) == 0 {
		// Added by the server to a headers-only read, not by the entry.
		e.Size, _ = strconv.Atoi(size)
		h.Del(nats.MsgSize)
	}
	return e
}
