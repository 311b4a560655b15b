package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/scan"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/subjects"
)

// clockMargin widens the time bounds of a search of CLAY_RESULTS, for the
// difference between this host's clock and the NATS server's.
const clockMargin = 10 * time.Second

// storeOnce publishes msg, the result a done ledger record holds, unless
// CLAY_RESULTS already has it. Inside the stream's duplicate window the
// stream itself drops a second copy under the same Nats-Msg-Id. Past the
// window, after a crash between the result's publish and the ledger's
// published mark that lasted longer than the window, the stream is
// searched for the key first.
func (p *Processor) storeOnce(ctx context.Context, rec *ledger.Record, msg *nats.Msg) error {
	stream, err := p.js.Stream(ctx, subjects.StreamResults)
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", subjects.StreamResults, err)
	}
	window := stream.CachedInfo().Config.Duplicates
	if time.Since(rec.Updated) < window-clockMargin {
		return p.publish(ctx, msg)
	}
	found, err := p.resultStored(ctx, rec)
	if err != nil {
		return err
	}
	if found {
		p.metrics.duplicates.WithLabelValues("stream").Inc()
		p.log.Info().Str("key", rec.Key).Msg("result found in the result stream: not published again")
		return nil
	}
	return p.publish(ctx, msg)
}

// errScanDone ends a search of the result stream early.
var errScanDone = errors.New("search of the result stream done")

// resultStored reports whether the result stream holds a result for the
// record's key. A result is published after the ledger records it done,
// within persistTimeout, so only results stored in that span after the
// record's last change are read, headers only.
//
// NOTE: the search reads every result header of the key's priority and
// operation stored in that span of about two and a half minutes. Its
// duration at thousands of results per second was not measured.
func (p *Processor) resultStored(ctx context.Context, rec *ledger.Record) (bool, error) {
	since := rec.Updated.Add(-clockMargin)
	until := rec.Updated.Add(persistTimeout + settleTimeout + clockMargin)
	found := false
	cfg := scan.Config{Stream: subjects.StreamResults, Since: since, HeadersOnly: true,
		Filters: []string{subjects.ResultSubject(rec.Priority, rec.Operation)}}
	err := scan.Stream(ctx, p.js, cfg, func(msg jetstream.Msg) error {
		if msg.Headers().Get(subjects.HeaderRequestKey) == rec.Key {
			found = true
			return errScanDone
		}
		if meta, err := msg.Metadata(); err == nil && meta.Timestamp.After(until) {
			return errScanDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errScanDone) {
		return false, fmt.Errorf("search %s for key %s: %w", subjects.StreamResults, rec.Key, err)
	}
	return found, nil
}
