package fallback

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// startWatch watches the KV bucket for changes made after New, so the memory
// tier drops entries that any process overwrites, deletes or purges.
func (c *Cache) startWatch(ctx context.Context) error {
	// The watch lasts until Close, not until ctx ends.
	watcher, err := c.kv.WatchAll(context.WithoutCancel(ctx), jetstream.UpdatesOnly(), jetstream.MetaOnly())
	if err != nil {
		return fmt.Errorf("watch KV bucket %s: %w", c.kv.Bucket(), err)
	}
	c.watcher = watcher
	c.watchDone = make(chan struct{})
	go c.applyUpdates(watcher.Updates())
	return nil
}

// applyUpdates drops memory entries that KV changes have made out of date,
// until the watch stops.
func (c *Cache) applyUpdates(updates <-chan jetstream.KeyValueEntry) {
	defer close(c.watchDone)
	for update := range updates {
		if update != nil {
			c.invalidate(update)
		}
	}
}

// invalidate drops the memory entry of a changed key unless the entry
// already has the revision of the change, as it does after this cache's own
// Put.
//
// NOTE: a KV read that started before a purge can still copy the old value
// into memory after this runs. That copy lasts until it is overwritten or
// its TTL ends.
func (c *Cache) invalidate(update jetstream.KeyValueEntry) {
	key := update.Key()
	if update.Operation() == jetstream.KeyValuePut {
		cached, ok := c.memory.Get(key)
		if !ok || cached.revision >= update.Revision() {
			return
		}
	}
	c.memory.Del(key)
}
