package queue

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Counts are a queue's jobs by state.
type Counts struct {
	Ready, Delayed, InFlight, Dead, Completed int
}

// QueueInfo describes a queue: its settings, its jobs and its counters.
type QueueInfo struct {
	Name string
	Counts
	Settings  Settings
	Overrides []string // the settings this queue overrides, in Params order
	Paused    bool
	Consumers int // consumers waiting in PopWait
	Repeats   int // schedules
	// Counters since the server started.
	Pushed, Delivered, Acked, Failed, DeadLettered, DeadDropped int64
}

// Lock should be held.
func (q *queue) counts() Counts {
	return Counts{Ready: q.ready.Len(), Delayed: q.delayed.Len(), InFlight: q.inflight.Len(), Dead: q.dead.Len(),
		Completed: q.completed.Len()}
}

// Lock should be held.
func (q *queue) info() QueueInfo {
	in := QueueInfo{
		Name:         q.name,
		Counts:       q.counts(),
		Settings:     q.settings,
		Paused:       q.paused,
		Consumers:    q.waiters.n,
		Repeats:      len(q.repeats),
		Pushed:       q.stats.pushed,
		Delivered:    q.stats.delivered,
		Acked:        q.stats.acked,
		Failed:       q.stats.failed,
		DeadLettered: q.stats.deadLettered,
		DeadDropped:  q.stats.deadDropped,
	}
	for _, p := range Params() {
		if _, ok := q.overrides[p]; ok {
			in.Overrides = append(in.Overrides, p)
		}
	}
	return in
}

// read runs fn on the named queue, locked, once the queue has done what
// time asks of it, and returns the log index a reply showing what fn read
// waits for: every record appended so far. What a read sees may rest on a
// record that is not durable yet, another connection's change or one its
// own expiry just wrote (a timed-out job, a dead letter), and a reply must
// not show what a crash could undo. fn is not run for an unknown queue.
func (b *Broker) read(name string, fn func(q *queue)) uint64 {
	if q := b.lockQueue(name, false); q != nil {
		q.expire(b.now())
		fn(q)
		b.unlockQueue(q)
	}
	return b.unchanged()
}

// Len returns the queue's jobs by state and the log index to wait for
// before showing them (read). An unknown queue is empty.
func (b *Broker) Len(name string) (Counts, uint64) {
	var n Counts
	idx := b.read(name, func(q *queue) { n = q.counts() })
	return n, idx
}

// Info describes the queue and returns the log index to wait for before
// showing it (read). An unknown queue is empty, with the default settings.
func (b *Broker) Info(name string) (QueueInfo, uint64) {
	in := QueueInfo{Name: name, Settings: b.cfg.Defaults}
	idx := b.read(name, func(q *queue) { in = q.info() })
	return in, idx
}

// List describes every queue, by name, and returns the log index to wait
// for before showing them (read).
func (b *Broker) List() ([]QueueInfo, uint64) {
	b.mu.RLock()
	names := slices.Sorted(maps.Keys(b.queues))
	b.mu.RUnlock()
	out := make([]QueueInfo, 0, len(names))
	for _, name := range names {
		b.read(name, func(q *queue) {
			if q.declared {
				out = append(out, q.info())
			}
		})
	}
	return out, b.unchanged()
}

// Job returns what the broker knows of the job with that id in the queue,
// whatever its state, and the log index to wait for before showing it
// (read); false when the queue holds no such job (never pushed, or gone:
// acked and not kept as completed, cancelled, purged, or a dead letter or
// completed job dropped past the queue's bound).
func (b *Broker) Job(name string, id uint64) (JobInfo, bool, uint64) {
	var in JobInfo
	found := false
	idx := b.read(name, func(q *queue) {
		if j := q.lookup(id); j != nil {
			in, found = q.jobInfo(j), true
		}
	})
	return in, found, idx
}

// DeadLetters returns up to count dead letters (count <= 0: all), oldest
// first, with their failure history, and the log index to wait for before
// showing them (read).
func (b *Broker) DeadLetters(name string, count int) ([]JobInfo, uint64) {
	var out []JobInfo
	idx := b.read(name, func(q *queue) { out = scanInfo(q, q.dead.Scan, count) })
	return out, idx
}

// jobInfo is j as JobInfo shows it, with its progress. Lock should be held.
func (q *queue) jobInfo(j *job) JobInfo {
	in := JobInfo{Job: j.view(q.name), State: j.state, Dedup: q.dedupID(j)}
	if j.state == Delayed || j.state == Dead || j.state == Completed {
		in.Due = msTime(j.due)
	}
	if fs := q.failures(j); fs != nil {
		in.FailureCount = fs.count
		in.FirstFailure = msTime(fs.first)
		in.Failures = make([]Failure, len(fs.list))
		for i, f := range fs.list {
			in.Failures[i] = Failure{At: msTime(f.at), Attempt: f.attempt, Reason: f.reason, Message: f.message}
		}
	}
	in.Progress = q.progress[j.id]
	in.Result = q.results[j.id]
	return in
}

func scanInfo(q *queue, scan func(func(*job) bool), count int) []JobInfo {
	var out []JobInfo
	scan(func(j *job) bool {
		if count > 0 && len(out) == count {
			return false
		}
		out = append(out, q.jobInfo(j))
		return true
	})
	return out
}

// Cancel removes waiting jobs (ready or delayed) of the queue and returns
// how many; every id must be a waiting job, or nothing is removed: a job a
// consumer holds is settled by it, and dead letters are purged with
// PurgeDead.
func (b *Broker) Cancel(name string, ids []uint64) (int, uint64, error) {
	if len(ids) == 0 {
		return 0, 0, nil
	}
	q := b.lockQueue(name, false)
	if q == nil {
		return 0, 0, &JobError{ID: ids[0], Err: ErrNotWaiting}
	}
	defer b.unlockQueue(q)
	q.expire(b.now())
	ids = uniqueIDs(ids)
	jobs, err := q.jobsIn(ids, ErrNotWaiting, Ready, Delayed)
	if err != nil {
		return 0, 0, err
	}
	idx, err := b.appendRecs(q.enc.ids(opCancel, q.name, ids))
	if err != nil {
		return 0, 0, err
	}
	q.applyCancel(jobs)
	for _, j := range jobs {
		q.notify(Event{Kind: EventRemoved, ID: j.id, Attempt: int(j.attempts)})
	}
	return len(jobs), idx, nil
}

// jobsIn returns the jobs of ids (looked up as Job does), which must all be
// in one of states; the first that is not fails the call with a JobError
// of refusal. Lock should be held.
func (q *queue) jobsIn(ids []uint64, refusal error, states ...State) ([]*job, error) {
	jobs := make([]*job, len(ids))
	for k, id := range ids {
		j := q.lookup(id)
		if j == nil || !slices.Contains(states, j.state) {
			return nil, &JobError{ID: id, Err: refusal}
		}
		jobs[k] = j
	}
	return jobs, nil
}

// Promote makes delayed jobs of the queue (pushed with a delay, or waiting
// for a retry) ready at once, behind the ready jobs of their priority, and
// returns how many; every id must be a delayed job, or nothing changes.
// Like Job, it indexes the queue's waiting jobs by id from then on.
func (b *Broker) Promote(name string, ids []uint64) (int, uint64, error) {
	if len(ids) == 0 {
		return 0, 0, nil
	}
	q := b.lockQueue(name, false)
	if q == nil {
		return 0, 0, &JobError{ID: ids[0], Err: ErrNotDelayed}
	}
	defer b.unlockQueue(q)
	now := b.now()
	q.expire(now)
	rec := promoteRec{queue: q.name, at: max(now, q.lastAt), ids: uniqueIDs(ids)}
	jobs, err := q.jobsIn(rec.ids, ErrNotDelayed, Delayed)
	if err != nil {
		return 0, 0, err
	}
	idx, err := b.appendRecs(q.enc.promote(&rec))
	if err != nil {
		return 0, 0, err
	}
	q.applyPromote(rec.at, jobs)
	for _, j := range jobs {
		q.notify(Event{Kind: EventWaiting, ID: j.id, Attempt: int(j.attempts)})
	}
	return len(jobs), idx, nil
}

// Purge drops every ready and delayed job of the queue and returns how
// many. Jobs in flight and dead letters stay.
func (b *Broker) Purge(name string) (int, uint64, error) {
	q := b.lockQueue(name, false)
	if q == nil {
		return 0, b.unchanged(), nil
	}
	defer b.unlockQueue(q)
	q.expire(b.now())
	if q.ready.Len()+q.delayed.Len() == 0 {
		return 0, b.unchanged(), nil
	}
	idx, err := b.appendRecs(q.enc.name(opPurge, q.name))
	if err != nil {
		return 0, 0, err
	}
	return q.applyPurge(), idx, nil
}

// Delete drops the queue: its jobs (in flight included), dead letters and
// settings. It reports whether the queue existed.
func (b *Broker) Delete(name string) (bool, uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queues[name]
	if q == nil || !q.declared {
		return false, b.unchanged(), nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	idx, err := b.appendRecs(q.enc.name(opDelete, name))
	if err != nil {
		return false, 0, err
	}
	b.applyDelete(name)
	return true, idx, nil
}

// Settings returns the queue's effective settings and the log index to
// wait for before showing them (read); an unknown queue has the defaults.
func (b *Broker) Settings(name string) (Settings, uint64) {
	s := b.cfg.Defaults
	idx := b.read(name, func(q *queue) { s = q.settings })
	return s, idx
}

// Configure overrides settings of the queue, creating it. Each pair is a
// setting name and its value as Settings.Set reads it; the value "default"
// restores the broker's default. All pairs apply or none.
func (b *Broker) Configure(name string, pairs [][2]string) (uint64, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	if len(pairs) == 0 {
		return 0, fmt.Errorf("%w: no setting", ErrInvalidValue)
	}
	rec := configRec{queue: name, params: make([][2]string, len(pairs))}
	for k, kv := range pairs {
		p, err := canonicalParam(kv[0])
		if err != nil {
			return 0, err
		}
		v := kv[1]
		if isDefault(v) {
			v = ""
		} else if err := (&Settings{}).Set(p, v); err != nil {
			return 0, fmt.Errorf("%s: %w", p, err)
		}
		rec.params[k] = [2]string{p, v}
	}
	q := b.lockQueue(name, true)
	defer b.unlockQueue(q)
	idx, err := b.appendRecs(q.enc.config(&rec))
	if err != nil {
		return 0, err
	}
	if err := q.applyConfig(&rec); err != nil {
		return 0, err
	}
	return idx, nil
}

// Pause stops (paused true) or resumes handing out the queue's jobs,
// creating the queue. Pushes, delays and timeouts go on while it is paused.
func (b *Broker) Pause(name string, paused bool) (uint64, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	q := b.lockQueue(name, true)
	defer b.unlockQueue(q)
	if q.declared && q.paused == paused {
		return b.unchanged(), nil
	}
	idx, err := b.appendRecs(q.enc.pause(name, paused))
	if err != nil {
		return 0, err
	}
	q.applyPause(paused)
	return idx, nil
}

// scanIDs is the longest id list uniqueIDs searches for repeats by
// scanning it; a longer one is checked with a set, so that a command naming
// a million ids costs a million lookups, not half a million million
// comparisons under the queue's lock.
const scanIDs = 16

// uniqueIDs drops repeated ids, keeping the first occurrence of each, in
// order. Without repeats it returns ids itself, which the callers only
// read and encode, so the usual command costs no copy.
func uniqueIDs(ids []uint64) []uint64 {
	var seen map[uint64]struct{}
	if len(ids) > scanIDs {
		seen = make(map[uint64]struct{}, len(ids))
	}
	var out []uint64
	for i, id := range ids {
		repeated := false
		if seen == nil {
			repeated = slices.Contains(ids[:i], id)
		} else if _, repeated = seen[id]; !repeated {
			seen[id] = struct{}{}
		}
		switch {
		case !repeated && out != nil:
			out = append(out, id)
		case repeated && out == nil:
			out = append(make([]uint64, 0, len(ids)-1), ids[:i]...)
		}
	}
	if out == nil {
		return ids
	}
	return out
}

// deadIDs checks that every id is a dead letter of q. Lock should be held.
func (q *queue) deadIDs(ids []uint64) ([]uint64, error) {
	ids = uniqueIDs(ids)
	for _, id := range ids {
		if j := q.byID[id]; j == nil || j.state != Dead {
			return nil, &JobError{ID: id, Err: ErrNotDead}
		}
	}
	return ids, nil
}

// Requeue moves dead letters of the queue (ids nil: all of them) to the
// ready jobs of target (which may be the queue itself), with a fresh set
// of attempts and their failure history kept. It returns how many moved;
// every id must be a dead letter, or nothing moves.
func (b *Broker) Requeue(name, target string, ids []uint64) (int, uint64, error) {
	if err := checkName(target); err != nil {
		return 0, 0, err
	}
	var src, dst *queue
	for {
		b.mu.RLock()
		src, dst = b.queues[name], b.queues[target]
		if src == nil {
			b.mu.RUnlock()
			if ids != nil {
				return 0, 0, &JobError{ID: ids[0], Err: ErrNotDead}
			}
			return 0, b.unchanged(), nil
		}
		if dst != nil {
			break
		}
		b.mu.RUnlock()
		b.mu.Lock()
		b.queueFor(target)
		b.mu.Unlock()
	}
	// A target created for this call that got no job is dropped again
	// once the locks are released.
	idle := false
	defer func() {
		if idle {
			b.dropIdle(dst)
		}
	}()
	defer b.mu.RUnlock()
	locked := []*queue{src}
	if dst != src {
		locked = append(locked, dst)
		sort.Slice(locked, func(i, j int) bool { return locked[i].name < locked[j].name })
	}
	for _, q := range locked {
		q.mu.Lock()
	}
	defer func() {
		idle = dst.idle()
		for _, q := range slices.Backward(locked) {
			q.settle()
			q.mu.Unlock()
		}
	}()
	rec := requeueRec{source: name, target: target, at: b.now(), all: ids == nil}
	n := src.dead.Len()
	if ids != nil {
		var err error
		if rec.ids, err = src.deadIDs(ids); err != nil {
			return 0, 0, err
		}
		n = len(rec.ids)
	}
	if n == 0 {
		return 0, b.unchanged(), nil
	}
	rec.at = max(rec.at, dst.lastAt)
	idx, err := b.appendRecs(src.enc.requeue(&rec))
	if err != nil {
		return 0, 0, err
	}
	moved := applyRequeue(src, dst, &rec)
	for _, j := range moved {
		dst.notify(Event{Kind: EventWaiting, ID: j.id})
	}
	return len(moved), idx, nil
}

// PurgeDead drops dead letters of the queue (ids nil: all of them) and
// returns how many; every id must be a dead letter, or nothing is dropped.
func (b *Broker) PurgeDead(name string, ids []uint64) (int, uint64, error) {
	q := b.lockQueue(name, false)
	if q == nil {
		if ids != nil {
			return 0, 0, &JobError{ID: ids[0], Err: ErrNotDead}
		}
		return 0, b.unchanged(), nil
	}
	defer b.unlockQueue(q)
	rec := deadPurgeRec{queue: name, all: ids == nil}
	n := q.dead.Len()
	if ids != nil {
		var err error
		if rec.ids, err = q.deadIDs(ids); err != nil {
			return 0, 0, err
		}
		n = len(rec.ids)
	}
	if n == 0 {
		return 0, b.unchanged(), nil
	}
	idx, err := b.appendRecs(q.enc.deadPurge(&rec))
	if err != nil {
		return 0, 0, err
	}
	return q.applyDeadPurge(&rec), idx, nil
}
