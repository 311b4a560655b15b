package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/ledger"
)

// attempt is one failed delivery of a request, kept so a DLQ entry can
// carry the whole error history and the time of the first attempt.
type attempt struct {
	Attempt int       `json:"attempt"`
	Time    time.Time `json:"time"`
	Status  int       `json:"status,omitempty"`
	Error   string    `json:"error"`
}

// recordAttempt appends a failed attempt to the request's history. A
// failure here loses history, not the request, so it is only logged.
func (p *Processor) recordAttempt(ctx context.Context, j *job, cause error) {
	history := p.attempts(ctx, j)
	a := attempt{Attempt: j.attempt, Time: time.Now().UTC(), Error: cause.Error()}
	var clayErr *clay.Error
	if errors.As(cause, &clayErr) {
		a.Status = clayErr.Status
	}
	data, err := json.Marshal(append(history, a))
	if err == nil {
		_, err = p.history.Put(ctx, ledger.AttemptsKey(j.key), data)
	}
	if err != nil {
		j.log.Warn().Err(err).Msg("attempt history not stored")
	}
}

// attempts returns the request's failed attempts so far.
func (p *Processor) attempts(ctx context.Context, j *job) []attempt {
	entry, err := p.history.Get(ctx, ledger.AttemptsKey(j.key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		j.log.Warn().Err(err).Msg("attempt history not read")
		return nil
	}
	var history []attempt
	if err := json.Unmarshal(entry.Value(), &history); err != nil {
		j.log.Warn().Err(err).Msg("attempt history unreadable")
		return nil
	}
	return history
}

// errorHistory formats earlier attempts and the last error for a DLQ
// entry.
func errorHistory(history []attempt, last error) string {
	var b strings.Builder
	for _, a := range history {
		fmt.Fprintf(&b, "attempt %d at %s: %s; ", a.Attempt, a.Time.Format(time.RFC3339), a.Error)
	}
	b.WriteString(last.Error())
	return b.String()
}
