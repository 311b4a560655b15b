package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/dlq"
	"github.com/claybridge/claybridge/fallback"
	"github.com/claybridge/claybridge/internal/scan"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// Exit statuses of forget.
const (
	exitForgetError = 1
	exitForgetUsage = 2
)

// forgetAbout lists what forget erases.
const forgetAbout = `Erases everything claybridge holds for each request KEY:
  - the request, while it waits in CLAY_REQUESTS;
  - its results in CLAY_RESULTS, with their large data in
    CLAY_RESULT_OBJECTS, and its DLQ entries in CLAY_DLQ;
  - the callbacks Clay posted for it, in CLAY_CALLBACKS;
  - its pending record in CLAY_PENDING;
  - its fallback cache entry in CLAY_CACHE (and CLAY_CACHE_OBJECTS), found
    through its ledger record;
  - its ledger record, attempt history and replay reservation in
    CLAY_LEDGER, last, because the record names the cache entry.
Stream messages are deleted and overwritten on the server's storage; KV
entries and Object Store objects are purged. forget prints what it
erased; running it again erases nothing more and says so.

Replays of KEY (KEY~r1, KEY~r2, ...) are keys of their own: forget lists
the ones it finds, and each needs its own forget. Every stream and bucket
that holds request data also has a maximum age; docs/retention.md lists
them.

Exit status: 0 done, 1 error, 2 invalid arguments.`

// forgetReport counts, per stream and bucket, the items forget erased for
// one key.
type forgetReport struct {
	Key            string `json:"key"`
	Requests       int    `json:"requests"`
	Results        int    `json:"results"`
	DLQEntries     int    `json:"dlq_entries"`
	Callbacks      int    `json:"callbacks"`
	PendingRecord  bool   `json:"pending_record"`
	CacheEntry     bool   `json:"cache_entry"`
	ResultObject   bool   `json:"result_object"`
	LedgerRecord   bool   `json:"ledger_record"`
	AttemptHistory bool   `json:"attempt_history"`
	Reservation    bool   `json:"replay_reservation"`
	// Replays are derived keys of Key found in the streams. They are not
	// erased.
	Replays []string `json:"replays,omitempty"`
	// Notes name what forget could not look for.
	Notes []string `json:"notes,omitempty"`
}

func forgetCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("forget", "forget [flags] KEY...", forgetAbout, stderr)
	asJSON := fs.Bool("json", false, "print one JSON array, one object per key")
	loader := natsLoader(fs)
	if err := parseFlags(fs, args, exitForgetUsage); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return &exitError{code: exitForgetUsage, err: errors.New("want at least one KEY; see claybridge forget --help")}
	}

	nc, js, err := connectJetStream(loader, "claybridge forget")
	if err != nil {
		return err
	}
	defer nc.Close()

	reports := make([]forgetReport, 0, fs.NArg())
	for _, key := range fs.Args() {
		e := &eraser{js: js, report: forgetReport{Key: key}, bar: newProgress(stderr, "erasing "+key)}
		err := e.erase(ctx)
		e.bar.finish()
		if err != nil {
			printForgetReport(stdout, &e.report)
			return fmt.Errorf("forget %s: %w; run forget again to erase the rest", key, err)
		}
		reports = append(reports, e.report)
	}

	if *asJSON {
		return printJSON(stdout, reports)
	}
	for i := range reports {
		printForgetReport(stdout, &reports[i])
	}
	return nil
}

// eraser erases one key.
type eraser struct {
	js     jetstream.JetStream
	report forgetReport
	bar    *progress
	// record is the key's ledger record, nil when there is none.
	record *ledger.Record
	ledger jetstream.KeyValue
}

// erase runs each step. The ledger goes last: its record names the cache
// entry, so a run that fails before can be repeated.
func (e *eraser) erase(ctx context.Context) error {
	steps := []func(context.Context) error{
		e.readRecord, e.eraseRequests, e.eraseResults, e.eraseResultObject, e.eraseDLQ, e.eraseCallbacks,
		e.erasePending, e.eraseCache, e.eraseLedger,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (e *eraser) readRecord(ctx context.Context) error {
	kv, err := e.js.KeyValue(ctx, subjects.BucketLedger)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", subjects.BucketLedger, err)
	}
	e.ledger = kv
	e.record, _, err = ledger.New(kv, ledger.Config{}).Get(ctx, e.report.Key)
	return err
}

// eraseRequests deletes the key's requests that wait in CLAY_REQUESTS. A
// keyless row or routine is keyed by its body, so when the key has the
// form of such a derived key, bodies are hashed too.
func (e *eraser) eraseRequests(ctx context.Context) error {
	key := e.report.Key
	derived := isHexSHA256(key)
	var seqs []uint64
	err := scan.ByGet(ctx, e.js, subjects.StreamRequests, subjects.RequestPrefix+".>", func(msg *jetstream.RawStreamMsg) error {
		id := msg.Header.Get(subjects.HeaderMsgID)
		match := id == key || (id == "" && key == subjects.SequenceKey(msg.Sequence))
		if id == "" && derived && !match {
			_, op, err := subjects.ParseRequestSubject(msg.Subject)
			match = err == nil && subjects.DerivedKey(op, msg.Data) == key
		}
		if match {
			seqs = append(seqs, msg.Sequence)
		}
		return nil
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	e.report.Requests, err = e.secureDelete(ctx, subjects.StreamRequests, seqs)
	return err
}

func (e *eraser) eraseResults(ctx context.Context) error {
	filter := subjects.ResultsAll
	if e.record != nil {
		filter = subjects.ResultSubject(e.record.Priority, e.record.Operation)
	}
	n, err := e.deleteMatching(ctx, subjects.StreamResults, filter, func(msg jetstream.Msg) bool {
		k := msg.Headers().Get(subjects.HeaderRequestKey)
		e.noteReplay(k)
		return k == e.report.Key
	})
	e.report.Results = n
	return err
}

// eraseResultObject deletes the result data that did not fit in one
// message. The processor names its object after the key's hash.
func (e *eraser) eraseResultObject(ctx context.Context) error {
	store, err := e.js.ObjectStore(ctx, subjects.ObjectResults)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open Object Store %s: %w", subjects.ObjectResults, err)
	}
	err = store.Delete(ctx, subjects.HashKey(e.report.Key))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete the result data of %s from %s: %w", e.report.Key, subjects.ObjectResults, err)
	}
	e.report.ResultObject = true
	return nil
}

func (e *eraser) eraseDLQ(ctx context.Context) error {
	entries, err := dlq.List(ctx, e.js, dlq.Filter{}, dlq.ListConfig{HeadersOnly: true, Progress: e.bar.scanned})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var own []dlq.Entry
	for _, entry := range entries {
		e.noteReplay(entry.Key)
		if entry.Key == e.report.Key {
			own = append(own, entry)
		}
	}
	e.report.DLQEntries, err = dlq.Delete(ctx, e.js, own, dlq.DeleteConfig{Secure: true})
	return err
}

// noteReplay records k when it is a replay of the key.
func (e *eraser) noteReplay(k string) {
	if k == e.report.Key || dlq.RootKey(k) != e.report.Key {
		return
	}
	for _, seen := range e.report.Replays {
		if seen == k {
			return
		}
	}
	e.report.Replays = append(e.report.Replays, k)
}

func (e *eraser) eraseCallbacks(ctx context.Context) error {
	subject := subjects.CallbackSubject(e.report.Key)
	n, err := e.deleteMatching(ctx, subjects.StreamCallbacks, subject, func(jetstream.Msg) bool { return true })
	e.report.Callbacks = n
	return err
}

func (e *eraser) erasePending(ctx context.Context) error {
	kv, err := e.js.KeyValue(ctx, subjects.BucketPending)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", subjects.BucketPending, err)
	}
	e.report.PendingRecord, err = purgeKey(ctx, kv, subjects.PendingKey(e.report.Key))
	return err
}

// eraseCache deletes the key's fallback cache entry. The cache is keyed
// by the request's parameters, which only the ledger record names.
func (e *eraser) eraseCache(ctx context.Context) error {
	if e.record == nil {
		e.report.Notes = append(e.report.Notes, fmt.Sprintf(
			"no ledger record, so its fallback cache entry, if any, cannot be found; cache entries expire after %d days",
			int(fallback.DefaultTTL.Hours()/24)))
		return nil
	}
	if e.record.CacheKey == "" {
		return nil
	}
	kv, err := e.js.KeyValue(ctx, subjects.BucketCache)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", subjects.BucketCache, err)
	}
	if _, err := kv.Get(ctx, e.record.CacheKey); errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}

	objects, err := e.js.ObjectStore(ctx, fallback.ObjectBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		objects, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("open Object Store %s: %w", fallback.ObjectBucket, err)
	}
	cache, err := fallback.New(ctx, kv, objects, fallback.Config{NoWatch: true, MemoryMaxBytes: 1 << 20})
	if err != nil {
		return err
	}
	defer cache.Close()
	if err := cache.Forget(ctx, e.record.CacheKey); err != nil {
		return err
	}
	e.report.CacheEntry = true
	return nil
}

// eraseLedger purges the key's record, attempt history and replay
// reservation.
func (e *eraser) eraseLedger(ctx context.Context) error {
	if e.ledger == nil {
		return nil
	}
	var err error
	key := e.report.Key
	if e.report.LedgerRecord, err = purgeKey(ctx, e.ledger, ledger.KVKey(key)); err != nil {
		return err
	}
	if e.report.AttemptHistory, err = purgeKey(ctx, e.ledger, ledger.AttemptsKey(key)); err != nil {
		return err
	}
	e.report.Reservation, err = purgeKey(ctx, e.ledger, dlq.ReservationKey(key))
	return err
}

// purgeKey purges a KV key and its history. It returns false, and writes
// nothing, when the key holds no value.
func purgeKey(ctx context.Context, kv jetstream.KeyValue, key string) (bool, error) {
	if _, err := kv.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("read %s in bucket %s: %w", key, kv.Bucket(), err)
	}
	if err := kv.Purge(ctx, key); err != nil {
		return false, fmt.Errorf("purge %s in bucket %s: %w", key, kv.Bucket(), err)
	}
	return true, nil
}

// deleteMatching scans the headers of a stream on filter and securely
// deletes each message that match accepts. It returns the number deleted;
// a missing stream holds nothing.
func (e *eraser) deleteMatching(ctx context.Context, streamName, filter string, match func(jetstream.Msg) bool) (int, error) {
	var seqs []uint64
	cfg := scan.Config{Stream: streamName, Filters: []string{filter}, HeadersOnly: true, Progress: e.bar.scanned}
	err := scan.Stream(ctx, e.js, cfg, func(msg jetstream.Msg) error {
		meta, err := msg.Metadata()
		if err != nil {
			return err
		}
		if match(msg) {
			seqs = append(seqs, meta.Sequence.Stream)
		}
		return nil
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return e.secureDelete(ctx, streamName, seqs)
}

// secureDelete deletes the messages at seqs, overwriting them on the
// server's storage, and returns the number deleted. A message deleted
// meanwhile, such as a request acknowledged, is not counted.
func (e *eraser) secureDelete(ctx context.Context, streamName string, seqs []uint64) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	stream, err := e.js.Stream(ctx, streamName)
	if err != nil {
		return 0, fmt.Errorf("look up stream %s: %w", streamName, err)
	}
	deleted := 0
	for _, seq := range seqs {
		if err := stream.SecureDeleteMsg(ctx, seq); err != nil {
			if _, getErr := stream.GetMsg(ctx, seq); errors.Is(getErr, jetstream.ErrMsgNotFound) {
				continue
			}
			return deleted, fmt.Errorf("delete sequence %d of %s: %w", seq, streamName, err)
		}
		deleted++
	}
	return deleted, nil
}

// isHexSHA256 reports whether s has the form of a hex SHA-256, as the key
// of a keyless row or routine has.
func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

func printForgetReport(w io.Writer, r *forgetReport) {
	fmt.Fprintf(w, "%s:\n", r.Key)
	erased := []struct {
		store string
		count int
	}{
		{"requests waiting in " + subjects.StreamRequests, r.Requests},
		{"results in " + subjects.StreamResults, r.Results},
		{"result data in " + subjects.ObjectResults, boolCount(r.ResultObject)},
		{"DLQ entries in " + subjects.StreamDLQ, r.DLQEntries},
		{"callbacks in " + subjects.StreamCallbacks, r.Callbacks},
		{"pending record in " + subjects.BucketPending, boolCount(r.PendingRecord)},
		{"fallback cache entry in " + subjects.BucketCache, boolCount(r.CacheEntry)},
		{"ledger record in " + subjects.BucketLedger, boolCount(r.LedgerRecord)},
		{"attempt history in " + subjects.BucketLedger, boolCount(r.AttemptHistory)},
		{"replay reservation in " + subjects.BucketLedger, boolCount(r.Reservation)},
	}
	total := 0
	for _, item := range erased {
		fmt.Fprintf(w, "  %-45s %d erased\n", item.store, item.count)
		total += item.count
	}
	if total == 0 {
		fmt.Fprintln(w, "  nothing was held for this key")
	}
	for _, note := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", note)
	}
	if len(r.Replays) > 0 {
		fmt.Fprintf(w, "  replays of this key, not erased: %s; run forget for each\n", strings.Join(r.Replays, ", "))
	}
}

func boolCount(b bool) int {
	if b {
		return 1
	}
	return 0
}
