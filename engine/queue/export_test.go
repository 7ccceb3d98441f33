package queue

// ExtraCount is how many jobs of the named queue have a deduplication id or
// a failure history held for them, so that the tests can check those leave
// with their jobs.
func ExtraCount(b *Broker, name string) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	q := b.queues[name]
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.extras)
}

// QueueObjects is how many queue objects the broker holds, listed or not,
// so that the tests can check that a call leaves none behind for nothing.
func QueueObjects(b *Broker) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.queues)
}
