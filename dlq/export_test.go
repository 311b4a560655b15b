package dlq

// SetBeforeDelete sets cfg's hook that runs after a republish and before
// the entry is deleted.
func SetBeforeDelete(cfg *ReplayConfig, hook func(Replayed) error) { cfg.beforeDelete = hook }
