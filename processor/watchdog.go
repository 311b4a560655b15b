package processor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// stallAfter is how long a consumer may have pending work and deliver
// nothing, while no hold explains it, before it counts as stalled.
const stallAfter = 2 * time.Minute

// binding is a consumer's handle and when it last delivered, shared by
// its consume loop and the watchdog.
type binding struct {
	mu        sync.Mutex
	handle    jetstream.Consumer
	delivered time.Time
}

func (b *binding) get() jetstream.Consumer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.handle
}

func (b *binding) touch() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.delivered = time.Now()
}

// stalled reports whether the consumer has had pending work for longer
// than stallAfter without a delivery.
func (b *binding) stalled(pending uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if pending == 0 {
		b.delivered = time.Now()
		return false
	}
	return time.Since(b.delivered) > stallAfter
}

// rebind looks the durable consumer up again, for a consume loop whose
// handle stopped delivering (after a leader change, say), and wakes it.
func (p *Processor) rebind(ctx context.Context, c *consumer) error {
	handle, err := p.ensureConsumer(ctx, c.priority, c.operation)
	if err != nil {
		return fmt.Errorf("rebind %s: %w", ConsumerName(c.priority, c.operation), err)
	}
	c.bind.mu.Lock()
	c.bind.handle, c.bind.delivered = handle, time.Now()
	c.bind.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}
