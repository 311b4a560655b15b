package dlq

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/scan"
	"github.com/claybridge/claybridge/subjects"
)

// DeleteConfig configures Delete.
type DeleteConfig struct {
	// Secure overwrites each deleted entry on the server's storage, for
	// erasing personal data; it is slower.
	Secure bool
	// Progress, when set, is called after each entry with the number of
	// entries done and their total.
	Progress func(done, total int)
}

// Delete deletes entries from the DLQ stream by sequence and returns how
// many it deleted. An entry deleted already, by a replay or another
// purge, is not counted and is no error.
func Delete(ctx context.Context, js jetstream.JetStream, entries []Entry, cfg DeleteConfig) (int, error) {
	stream, err := scan.OpenStream(ctx, js, subjects.StreamDLQ)
	if err != nil {
		return 0, err
	}
	deleted := 0
	for i, e := range entries {
		err := deleteEntry(ctx, stream, e.Sequence, cfg.Secure)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return deleted, err
		default:
			deleted++
		}
		if cfg.Progress != nil {
			cfg.Progress(i+1, len(entries))
		}
	}
	return deleted, nil
}

// deleteEntry deletes the message at seq. It returns ErrNotFound when
// there is none.
func deleteEntry(ctx context.Context, stream jetstream.Stream, seq uint64, secure bool) error {
	del := stream.DeleteMsg
	if secure {
		del = stream.SecureDeleteMsg
	}
	err := del(ctx, seq)
	if err == nil {
		return nil
	}
	// The server reports a missing message only in the error text, so
	// check for it by reading the sequence.
	if _, getErr := stream.GetMsg(ctx, seq); errors.Is(getErr, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("%w: sequence %d of %s", ErrNotFound, seq, subjects.StreamDLQ)
	}
	return fmt.Errorf("delete sequence %d of %s: %w", seq, subjects.StreamDLQ, err)
}
