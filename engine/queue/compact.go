package queue

import (
	"bytes"
	"errors"
	"maps"
	"slices"

	"github.com/tidwall/btree"
)

// maybeCompact starts a compaction in the background once dead records
// dominate the log: it holds at least CompactMinRecords records and more
// than compactFactor per live job.
func (b *Broker) maybeCompact() {
	recs := b.logRecords.Load()
	if recs < int64(b.cfg.CompactMinRecords) || recs <= compactFactor*(b.liveJobs.Load()+1) {
		return
	}
	if b.closed.Load() || b.failed.Load() || !b.compacting.CompareAndSwap(false, true) {
		return
	}
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		defer b.compacting.Store(false)
		if err := b.Compact(); err != nil && !errors.Is(err, ErrClosed) {
			b.lg.Warn("queue log compaction failed", "err", err)
		}
	}()
}

// Compact rewrites the log as the records that recreate the current
// state: the id sequence, each queue's settings, then its jobs. The state
// is read with every queue stopped; the log is rewritten after, while the
// queues run.
func (b *Broker) Compact() error {
	b.compactMu.Lock()
	defer b.compactMu.Unlock()
	var e encoder
	rec := func(r []byte) []byte { return bytes.Clone(r) }
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		return ErrClosed
	}
	upTo := b.log.LastIndex()
	before := b.logRecords.Load()
	live := [][]byte{rec(e.seq(b.nextID.Load()))}
	for _, name := range slices.Sorted(maps.Keys(b.queues)) {
		q := b.queues[name]
		q.mu.Lock()
		if q.declared {
			params := make([][2]string, 0, len(q.overrides))
			for _, p := range Params() {
				if v, ok := q.overrides[p]; ok {
					params = append(params, [2]string{p, v})
				}
			}
			live = append(live, rec(e.snapQueue(&snapQueueRec{queue: name, paused: q.paused, params: params})))
		}
		for _, n := range slices.Sorted(maps.Keys(q.repeats)) {
			live = append(live, rec(e.repeatSet(name, q.repeats[n])))
		}
		for _, t := range []*btree.BTreeG[*job]{q.ready, q.delayed, q.inflight, q.dead, q.completed} {
			t.Scan(func(j *job) bool {
				live = append(live, rec(e.snapJob(name, j, q.extra(j), q.results[j.id])))
				return true
			})
		}
		q.mu.Unlock()
	}
	b.mu.Unlock()
	if err := b.log.Compact(live, upTo); err != nil {
		return err
	}
	b.logRecords.Add(int64(len(live)) - before)
	b.compacted.Add(1)
	return nil
}
