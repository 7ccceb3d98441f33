package queue

import (
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/tidwall/btree"
)

// shrinkMin is the size below which the id index is never rebuilt; above
// it, an index that has fallen to a shrinkRatio of its peak is rebuilt,
// because Go maps keep their peak size.
const (
	shrinkMin   = 1024
	shrinkRatio = 4
)

// queue is one named queue. Every field is guarded by mu.
type queue struct {
	b      *Broker
	name   string
	serial uint64 // unique per queue object, orders the timer schedule
	mu     sync.Mutex

	// byID indexes the jobs commands name by id: those in flight (QACK,
	// QNACK, QTOUCH) and the dead letters (QDLQ), and once indexAll is set
	// the waiting ones too (QJOB, QCANCEL, QPROMOTE). Until then ready and delayed
	// jobs are only reached through their trees, so a waiting job costs
	// no index entry: a queue pays for lookups by id once it uses them.
	byID      map[uint64]*job
	indexAll  bool
	peak      int             // largest len(byID) since the index was built
	dedupPeak int             // largest len(dedup) since that map was built
	replayed  map[uint64]*job // every job by id while the log is replayed; nil after
	ready     *btree.BTreeG[*job]
	delayed   *btree.BTreeG[*job]
	inflight  *btree.BTreeG[*job]
	dead      *btree.BTreeG[*job]
	completed *btree.BTreeG[*job] // by completion time, oldest first
	results   map[uint64][]byte   // of completed jobs that have one; nil until the first
	dedup     map[string]*job     // deduplication ids of ready, delayed and in-flight jobs
	// extras holds the dedup ids and failure histories of the jobs that
	// have one (job.hasExtra); nil until the first.
	extras     map[uint64]*jobExtra
	extrasPeak int // largest len(extras) since that map was built

	repeats  map[string]*schedule // by name; nil until the first
	repeatAt int64                // the earliest fire time of repeats; 0 = none

	// progress holds what consumers told of the progress of jobs they
	// hold (Broker.Progress), until the job leaves flight; nil until the
	// first. Not logged: a job in flight at a restart starts over.
	progress map[uint64][]byte

	// The rate limit's window (settings.RateLimit): when it ends (unix
	// ms) and the jobs handed out in it. Not logged: a restart opens a
	// new window.
	rateUntil int64
	rateUsed  int

	overrides map[string]string // param -> value set by Configure
	settings  Settings          // the defaults with the overrides applied
	paused    bool
	declared  bool  // created by a record: listed and snapshotted
	deleted   bool  // removed from the broker's map
	lastAt    int64 // latest push time, so push order is FIFO even if the clock steps back

	waiters waitList
	wake    int64 // the deadline registered in the broker's schedule; 0 = none
	retryAt int64 // a record the timer must retry after ErrOverload; 0 = none
	enc     encoder
	scratch [][]byte // the payload list of a push, reused

	// Path hints of the job trees by state, one for inserts and one for
	// deletes: jobs are mostly added at one end of a tree (the newest of a
	// priority, the latest deadline) and removed at the other.
	setHints, deleteHints [Completed + 1]btree.PathHint

	stats queueCounters
}

// queueCounters are a queue's lifetime statistics (since the server started).
type queueCounters struct {
	pushed, delivered, acked, failed, deadLettered, deadDropped int64
}

var queueSerial = struct {
	sync.Mutex
	n uint64
}{}

func (b *Broker) newQueue(name string) *queue {
	queueSerial.Lock()
	queueSerial.n++
	serial := queueSerial.n
	queueSerial.Unlock()
	return &queue{
		b:         b,
		name:      name,
		serial:    serial,
		byID:      make(map[uint64]*job),
		ready:     newJobTree(readyLess),
		delayed:   newJobTree(dueLess),
		inflight:  newJobTree(dueLess),
		dead:      newJobTree(dueLess),
		completed: newJobTree(dueLess),
		dedup:     make(map[string]*job),
		overrides: make(map[string]string),
		settings:  b.cfg.Defaults,
	}
}

// queueFor returns the named queue, creating it.
// Lock should be held (Broker.mu for writing, or replay).
func (b *Broker) queueFor(name string) *queue {
	q := b.queues[name]
	if q == nil {
		q = b.newQueue(name)
		b.queues[name] = q
	}
	return q
}

// tree returns the tree that holds jobs of state s.
func (q *queue) tree(s State) *btree.BTreeG[*job] {
	switch s {
	case Ready:
		return q.ready
	case Delayed:
		return q.delayed
	case InFlight:
		return q.inflight
	case Dead:
		return q.dead
	}
	return q.completed
}

// named reports whether jobs of state st are in the id index.
func (q *queue) named(st State) bool {
	return q.indexAll || st == InFlight || st == Dead || st == Completed
}

// lookup returns the job of the queue with that id, in any state, or nil.
// The first lookup of the queue adds its waiting jobs to the id index,
// which keeps every job from then on. Lock should be held.
func (q *queue) lookup(id uint64) *job {
	if !q.indexAll {
		q.indexAll = true
		for _, t := range []*btree.BTreeG[*job]{q.ready, q.delayed} {
			t.Scan(func(j *job) bool {
				q.byID[j.id] = j
				return true
			})
		}
		q.peak = max(q.peak, len(q.byID))
	}
	return q.byID[id]
}

// size is the number of jobs of the queue.
func (q *queue) size() int {
	return q.ready.Len() + q.delayed.Len() + q.inflight.Len() + q.dead.Len() + q.completed.Len()
}

// place puts j in the tree of its state, and in the id index when its
// state is named there.
func (q *queue) place(j *job) {
	q.tree(j.state).SetHint(j, &q.setHints[j.state])
	if q.named(j.state) {
		q.byID[j.id] = j
		q.peak = max(q.peak, len(q.byID))
	}
}

// detach removes j from the tree of its state and from the id index; a
// job that leaves flight loses its progress.
func (q *queue) detach(j *job) {
	q.tree(j.state).DeleteHint(j, &q.deleteHints[j.state])
	switch {
	case j.state == InFlight && q.progress != nil:
		delete(q.progress, j.id)
	case j.state == Completed && q.results != nil:
		delete(q.results, j.id)
	}
	if q.named(j.state) {
		delete(q.byID, j.id)
		q.shrink()
	}
}

func (q *queue) makeReady(j *job, readyAt int64) {
	j.state, j.readyAt, j.due, j.owner = Ready, readyAt, 0, 0
	q.place(j)
}

func (q *queue) makeDelayed(j *job, due int64) {
	j.state, j.due, j.owner = Delayed, due, 0
	q.place(j)
}

// requeueAt puts a detached job back: ready if due is not after at, else delayed.
func (q *queue) requeueAt(j *job, at, due int64) {
	if due <= at {
		q.makeReady(j, due)
		return
	}
	q.makeDelayed(j, due)
}

// adopt counts a placed job new to the queue (pushed, requeued from
// another queue, or read from a snapshot) and registers its
// deduplication id.
func (q *queue) adopt(j *job) {
	if id := q.dedupID(j); id != "" && j.state != Dead && j.state != Completed {
		q.dedup[id] = j
		q.dedupPeak = max(q.dedupPeak, len(q.dedup))
	}
	if q.replayed != nil {
		q.replayed[j.id] = j
	}
	q.b.liveJobs.Add(1)
}

// forget drops a detached job, its extra included.
func (q *queue) forget(j *job) {
	q.leave(j)
	q.takeExtra(j)
}

// leave drops a detached job that moves to another queue, which adopts it
// with its extra.
func (q *queue) leave(j *job) {
	q.releaseDedup(j)
	if q.replayed != nil {
		delete(q.replayed, j.id)
	}
	q.b.liveJobs.Add(-1)
}

func (q *queue) releaseDedup(j *job) {
	if id := q.dedupID(j); id != "" && q.dedup[id] == j {
		delete(q.dedup, id)
		if q.dedupPeak >= shrinkMin && len(q.dedup)*shrinkRatio <= q.dedupPeak {
			q.dedup = maps.Clone(q.dedup)
			q.dedupPeak = len(q.dedup)
		}
	}
}

// find returns the job a record names: any job while the log is replayed,
// afterwards the jobs of the id index.
func (q *queue) find(id uint64) *job {
	if q.replayed != nil {
		return q.replayed[id]
	}
	return q.byID[id]
}

// findAll resolves ids with find; unknown ids give nil entries.
func (q *queue) findAll(ids []uint64) []*job {
	out := make([]*job, len(ids))
	for k, id := range ids {
		out[k] = q.find(id)
	}
	return out
}

// shrink rebuilds the id index once it holds far fewer jobs than at its
// peak (Go maps keep their peak size), so memory follows the jobs held.
func (q *queue) shrink() {
	if q.peak < shrinkMin || len(q.byID)*shrinkRatio > q.peak {
		return
	}
	q.byID = maps.Clone(q.byID)
	q.peak = len(q.byID)
}

// bumpID makes sure the next id is above id.
func (b *Broker) bumpID(id uint64) {
	for {
		next := b.nextID.Load()
		if next > id || b.nextID.CompareAndSwap(next, id+1) {
			return
		}
	}
}

// Apply functions. The live path calls them under the queue's lock after
// the record is in the log, with the jobs it names already resolved;
// replay resolves them with find, in log order. They trust the record and
// skip jobs they do not know (nil): a dead letter dropped under a smaller
// bound than when the log was written cannot be requeued later.

func (q *queue) applyPush(r *pushRec) {
	q.declared = true
	q.lastAt = max(q.lastAt, r.at)
	for k, p := range r.payloads {
		j := newJob(r.firstID+uint64(k), p, r.priority, r.at)
		q.setDedup(j, r.dedup)
		q.requeueAt(j, r.at, max(r.due, r.at))
		q.adopt(j)
	}
	q.stats.pushed += int64(len(r.payloads))
	q.b.counters.pushed.Add(int64(len(r.payloads)))
}

func (q *queue) applyTake(r *takeRec, jobs []*job) {
	for k, j := range jobs {
		if j == nil {
			continue
		}
		q.detach(j)
		j.attempts = attemptCount(r.attempts[k])
		j.state, j.due = InFlight, r.deadline
		q.place(j)
	}
	q.stats.delivered += int64(len(jobs))
	q.b.counters.delivered.Add(int64(len(jobs)))
}

func (q *queue) applyAck(jobs []*job) {
	for _, j := range jobs {
		if j == nil {
			continue
		}
		q.detach(j)
		q.forget(j)
	}
	q.stats.acked += int64(len(jobs))
	q.b.counters.acked.Add(int64(len(jobs)))
}

// applyComplete moves acked jobs to the completed ones, with the result,
// and drops the oldest past keep-completed.
func (q *queue) applyComplete(r *completeRec, jobs []*job) {
	for _, j := range jobs {
		if j == nil {
			continue
		}
		q.detach(j)
		q.releaseDedup(j)
		j.state, j.due, j.owner = Completed, r.at, 0
		q.place(j)
		if len(r.result) > 0 {
			if q.results == nil {
				q.results = make(map[uint64][]byte)
			}
			q.results[j.id] = r.result
		}
	}
	q.stats.acked += int64(len(jobs))
	q.b.counters.acked.Add(int64(len(jobs)))
	q.trim(q.completed, q.settings.KeepCompleted)
}

// dropAged drops the completed jobs older than keep-completed-age. It is
// logged, by id: a replay could not tell from the clock and the settings
// at its end, since a later QCONFIG may have raised the age or removed the
// bound. Lock should be held.
func (q *queue) dropAged(now int64) error {
	age := q.settings.KeepCompletedAge.Milliseconds()
	if age == 0 {
		return nil
	}
	var aged []*job
	q.completed.Scan(func(j *job) bool {
		if j.due+age > now {
			return false
		}
		aged = append(aged, j)
		return true
	})
	if len(aged) == 0 {
		return nil
	}
	ids := make([]uint64, len(aged))
	for k, j := range aged {
		ids[k] = j.id
	}
	if _, err := q.b.appendRecs(q.enc.ids(opAged, q.name, ids)); err != nil {
		return err
	}
	q.applyAged(aged)
	return nil
}

// applyAged drops completed jobs past keep-completed-age.
func (q *queue) applyAged(jobs []*job) {
	for _, j := range jobs {
		if j == nil || j.state != Completed {
			continue
		}
		q.detach(j)
		q.forget(j)
	}
}

// trim drops the oldest jobs of t, the dead letters or the completed jobs
// (both by time), past max, and returns how many it dropped.
func (q *queue) trim(t *btree.BTreeG[*job], max int) int64 {
	var n int64
	for t.Len() > max {
		j, _ := t.Min()
		q.detach(j)
		q.forget(j)
		n++
	}
	return n
}

func (q *queue) applyFail(r *failRec, jobs []*job) {
	for k, j := range jobs {
		if j == nil {
			continue
		}
		q.detach(j)
		q.addFailure(j, failure{at: r.at, attempt: int(j.attempts), reason: r.reason, message: r.message})
		if r.dead[k] {
			q.bury(j, r.at)
			continue
		}
		q.requeueAt(j, r.at, r.due[k])
	}
	n := int64(len(jobs))
	q.stats.failed += n
	switch r.reason {
	case Nacked:
		q.b.counters.nacked.Add(n)
	case TimedOut:
		q.b.counters.timedOut.Add(n)
	case WorkerGone:
		q.b.counters.released.Add(n)
	}
}

// bury makes a detached job a dead letter, then drops the oldest dead
// letters past the bound.
func (q *queue) bury(j *job, at int64) {
	j.state, j.due, j.owner = Dead, at, 0
	q.releaseDedup(j)
	q.place(j)
	q.stats.deadLettered++
	q.b.counters.deadLettered.Add(1)
	q.trimDead()
}

func (q *queue) trimDead() {
	n := q.trim(q.dead, q.settings.DeadLetterMax)
	q.stats.deadDropped += n
	q.b.counters.deadDropped.Add(n)
}

func (q *queue) applyTouch(r *touchRec, j *job) {
	if j == nil || j.state != InFlight {
		return
	}
	q.inflight.Delete(j)
	j.due = r.deadline
	q.inflight.Set(j)
}

// applyCancel drops waiting (ready or delayed) jobs.
func (q *queue) applyCancel(jobs []*job) {
	n := 0
	for _, j := range jobs {
		if j == nil || (j.state != Ready && j.state != Delayed) {
			continue
		}
		q.detach(j)
		q.forget(j)
		n++
	}
	q.b.counters.cancelled.Add(int64(n))
}

// applyPromote makes delayed jobs ready at once, at at.
func (q *queue) applyPromote(at int64, jobs []*job) {
	for _, j := range jobs {
		if j == nil || j.state != Delayed {
			continue
		}
		q.detach(j)
		q.makeReady(j, at)
	}
}

// applyPurge drops every ready and delayed job.
func (q *queue) applyPurge() int {
	n := 0
	for _, t := range []*btree.BTreeG[*job]{q.ready, q.delayed} {
		t.Scan(func(j *job) bool {
			if q.indexAll {
				delete(q.byID, j.id)
			}
			q.forget(j)
			n++
			return true
		})
		t.Clear()
	}
	q.shrink()
	q.b.counters.purged.Add(int64(n))
	return n
}

// applyDelete drops the queue with its jobs, dead letters and settings.
// Lock should be held (Broker.mu for writing and the queue's).
func (b *Broker) applyDelete(name string) {
	q := b.queues[name]
	if q == nil {
		return
	}
	b.liveJobs.Add(-int64(q.size()))
	for _, t := range []*btree.BTreeG[*job]{q.ready, q.delayed, q.inflight, q.dead, q.completed} {
		t.Clear()
	}
	q.results = nil
	q.byID, q.peak, q.indexAll = make(map[uint64]*job), 0, false
	if q.replayed != nil {
		q.replayed = make(map[uint64]*job)
	}
	q.dedup, q.dedupPeak = make(map[string]*job), 0
	q.extras, q.extrasPeak = nil, 0
	q.repeats, q.repeatAt = nil, 0
	q.progress = nil
	q.overrides = make(map[string]string)
	q.settings = b.cfg.Defaults
	q.paused, q.declared = false, false
	q.retryAt = 0
	q.stats = queueCounters{}
	if q.waiters.head == nil {
		// Blocked consumers keep the object: they wait for jobs under
		// this name, which a later push creates again.
		q.deleted = true
		delete(b.queues, name)
	}
	q.reschedule()
}

// applyConfig sets or (with an empty value) clears overrides.
func (q *queue) applyConfig(r *configRec) error {
	q.declared = true
	for _, kv := range r.params {
		if kv[1] == "" {
			delete(q.overrides, kv[0])
			continue
		}
		q.overrides[kv[0]] = kv[1]
	}
	s, err := q.b.effective(q.overrides)
	if err != nil {
		return err
	}
	q.settings = s
	q.trimDead()
	q.trim(q.completed, q.settings.KeepCompleted)
	return nil
}

// effective is the defaults with overrides applied.
func (b *Broker) effective(overrides map[string]string) (Settings, error) {
	s := b.cfg.Defaults
	for _, name := range Params() {
		if v, ok := overrides[name]; ok {
			if err := s.Set(name, v); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}

func (q *queue) applyPause(paused bool) {
	q.declared = true
	q.paused = paused
}

// deadOf resolves the dead letters a record names: all of them, or those
// of ids that are dead letters of q.
func (q *queue) deadOf(all bool, ids []uint64) []*job {
	var out []*job
	if all {
		q.dead.Scan(func(j *job) bool {
			out = append(out, j)
			return true
		})
		return out
	}
	for _, id := range ids {
		if j := q.find(id); j != nil && j.state == Dead {
			out = append(out, j)
		}
	}
	return out
}

// applyRequeue moves dead letters of src to dst's ready jobs with a fresh
// set of attempts, and returns them; their failure history stays. A
// deduplication id already taken in dst is dropped from the moved job.
// Lock should be held (both queues').
func applyRequeue(src, dst *queue, r *requeueRec) []*job {
	moved := src.deadOf(r.all, r.ids)
	for _, j := range moved {
		src.detach(j)
		src.leave(j)
		x := src.takeExtra(j)
		if x != nil && x.dedup != "" && dst.dedup[x.dedup] != nil {
			x.dedup = ""
		}
		dst.setExtra(j, x)
		j.attempts = 0
		dst.makeReady(j, r.at)
		dst.adopt(j)
	}
	dst.declared = true
	src.b.counters.requeued.Add(int64(len(moved)))
	return moved
}

func (q *queue) applyDeadPurge(r *deadPurgeRec) int {
	dead := q.deadOf(r.all, r.ids)
	for _, j := range dead {
		q.detach(j)
		q.forget(j)
	}
	return len(dead)
}

func (q *queue) applySnapQueue(r *snapQueueRec) error {
	q.paused = r.paused
	return q.applyConfig(&configRec{queue: r.queue, params: r.params})
}

func (q *queue) applySnapJob(j *job, x *jobExtra, result []byte) {
	q.declared = true
	q.setExtra(j, x)
	q.place(j)
	if len(result) > 0 {
		if q.results == nil {
			q.results = make(map[uint64][]byte)
		}
		q.results[j.id] = result
	}
	q.adopt(j)
	q.b.bumpID(j.id)
}

// replaying returns the named queue for replay, with its replay index.
func (b *Broker) replaying(name string) *queue {
	q := b.queueFor(name)
	if q.replayed == nil {
		q.replayed = make(map[uint64]*job)
	}
	return q
}

// replay applies one record of the log at Open. No lock is needed: nothing
// else runs yet.
func (b *Broker) replay(rec []byte) error {
	r, err := decode(rec)
	if err != nil {
		return err
	}
	b.logRecords.Add(1)
	switch r := r.(type) {
	case *pushRec:
		b.replaying(r.queue).applyPush(r)
		b.bumpID(r.firstID + uint64(len(r.payloads)) - 1)
	case *takeRec:
		q := b.replaying(r.queue)
		q.applyTake(r, q.findAll(r.ids))
	case *ackRec:
		q := b.replaying(r.queue)
		q.applyAck(q.findAll(r.ids))
	case *completeRec:
		q := b.replaying(r.queue)
		q.applyComplete(r, q.findAll(r.ids))
	case *failRec:
		q := b.replaying(r.queue)
		q.applyFail(r, q.findAll(r.ids))
	case *touchRec:
		q := b.replaying(r.queue)
		q.applyTouch(r, q.find(r.id))
	case purgeRec:
		b.replaying(r.queue).applyPurge()
	case *cancelRec:
		q := b.replaying(r.queue)
		q.applyCancel(q.findAll(r.ids))
	case *agedRec:
		q := b.replaying(r.queue)
		q.applyAged(q.findAll(r.ids))
	case *promoteRec:
		q := b.replaying(r.queue)
		q.applyPromote(r.at, q.findAll(r.ids))
	case *repeatSetRec:
		s := r.s
		switch {
		case s.cron != "":
			spec, err := parseCron(s.cron, s.tz)
			if err != nil {
				return fmt.Errorf("%w: %v", errCorruptRecord, err)
			}
			s.spec = spec
		case s.every <= 0:
			return fmt.Errorf("%w: schedule %q has neither an interval nor a cron expression", errCorruptRecord, s.name)
		}
		b.replaying(r.queue).applyRepeatSet(&s)
	case *repeatDelRec:
		b.replaying(r.queue).applyRepeatDel(r.names)
	case *repeatFireRec:
		b.replaying(r.queue).applyRepeatFire(r)
		b.bumpID(r.id)
	case deleteRec:
		b.applyDelete(r.queue)
	case *configRec:
		return b.replaying(r.queue).applyConfig(r)
	case pauseRec:
		b.replaying(r.queue).applyPause(r.paused)
	case *requeueRec:
		applyRequeue(b.replaying(r.source), b.replaying(r.target), r)
	case *deadPurgeRec:
		b.replaying(r.queue).applyDeadPurge(r)
	case *snapQueueRec:
		return b.replaying(r.queue).applySnapQueue(r)
	case *snapJobRec:
		b.replaying(r.queue).applySnapJob(r.j, r.extra, r.result)
	case seqRec:
		b.bumpID(r.next - 1)
	case restartRec:
		b.releaseHeld()
	default:
		return fmt.Errorf("%w: %T", errUnknownRecord, r)
	}
	return nil
}

// recover finishes Open's replay: jobs in flight when the log ended are
// ready again in their old place, with their attempts kept; the replay
// indexes are dropped; queues that only existed for records that are gone
// now are dropped; every deadline is scheduled. It returns how many jobs
// were in flight.
func (b *Broker) recover() int {
	released := b.releaseHeld()
	for name, q := range b.queues {
		q.replayed = nil
		if !q.declared && q.size() == 0 {
			delete(b.queues, name)
			continue
		}
		q.reschedule()
	}
	return released
}

// releaseHeld makes every job in flight ready again in its old place, with
// its attempts kept, as a restart does, and returns how many were.
func (b *Broker) releaseHeld() int {
	released := 0
	for _, q := range b.queues {
		var held []*job
		q.inflight.Scan(func(j *job) bool {
			held = append(held, j)
			return true
		})
		for _, j := range held {
			q.detach(j)
			q.makeReady(j, j.readyAt)
		}
		released += len(held)
	}
	return released
}

// checkName refuses names a queue cannot have.
func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return ErrInvalidName
	}
	return nil
}

// canonicalParam returns the setting's documented name.
func canonicalParam(name string) (string, error) {
	p := findParam(name)
	if p == nil {
		return "", fmt.Errorf("%w %q", ErrUnknownParam, name)
	}
	return p.name, nil
}

// isDefault reports whether a Configure value restores the default.
func isDefault(v string) bool { return strings.EqualFold(v, "default") }
