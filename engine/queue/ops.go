package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

const (
	// failBatch bounds the jobs one failure record lists; a larger set
	// (a consumer with many jobs gone) is split into several records
	// appended together.
	failBatch = 4096
	// MaxErrorMessage bounds the error text kept with a failed attempt;
	// longer text is cut.
	MaxErrorMessage = 4096
	// maxScratch bounds the payload list a queue keeps for its next push.
	maxScratch = 1024
)

// JobError names the job an error is about.
type JobError struct {
	ID  uint64
	Err error
}

func (e *JobError) Error() string { return fmt.Sprintf("job %d: %v", e.ID, e.Err) }
func (e *JobError) Unwrap() error { return e.Err }

// PushOptions are the options of Push.
type PushOptions struct {
	Delay    time.Duration // the jobs become ready after it
	Priority int64         // higher first
	Dedup    string        // deduplication id; needs a single payload
}

// PopOptions are the options of Pop and PopWait.
type PopOptions struct {
	Count      int           // most jobs to take; 0 = 1
	Visibility time.Duration // 0 = the queue's visibility-timeout
}

// NackOptions are the options of Nack.
type NackOptions struct {
	Delay    time.Duration // with HasDelay: the retry delay instead of the backoff
	HasDelay bool
	Message  string // the error, kept in the job's history
}

// lockQueue returns the named queue with Broker.mu read-locked and the
// queue locked, creating it when create is set; nil, with nothing locked,
// when it does not exist.
func (b *Broker) lockQueue(name string, create bool) *queue {
	for {
		b.mu.RLock()
		if q := b.queues[name]; q != nil {
			q.mu.Lock()
			return q
		}
		b.mu.RUnlock()
		if !create {
			return nil
		}
		b.mu.Lock()
		b.queueFor(name)
		b.mu.Unlock()
	}
}

// unlockQueue hands ready jobs to waiting consumers, updates the timer,
// then unlocks what lockQueue locked.
func (b *Broker) unlockQueue(q *queue) {
	q.settle()
	idle := q.idle()
	q.mu.Unlock()
	b.mu.RUnlock()
	if idle {
		// Created for a change that failed before its record was logged.
		b.dropIdle(q)
	}
	b.maybeCompact()
}

// settle serves waiters and schedules the queue's next deadline.
// Lock should be held.
func (q *queue) settle() {
	if q.waiters.head != nil && !q.paused && q.ready.Len() > 0 {
		q.serve(q.b.now())
	}
	q.reschedule()
}

// expire does what time asks of the queue: schedules that are due push
// their jobs, delayed jobs that are due become ready, and jobs whose
// visibility timeout passed fail with the reason TimedOut. Lock should be
// held.
func (q *queue) expire(now int64) {
	q.fireRepeats(now)
	for {
		j, ok := q.delayed.Min()
		if !ok || j.due > now {
			break
		}
		q.delayed.PopMin()
		q.makeReady(j, j.due)
	}
	if err := q.dropAged(now); err != nil {
		q.retryAt = now + retryInterval.Milliseconds()
	}
	if j, ok := q.inflight.Min(); !ok || j.due > now {
		return
	}
	var late []*job
	q.inflight.Scan(func(j *job) bool {
		if j.due > now {
			return false
		}
		late = append(late, j)
		return true
	})
	if _, err := q.failJobs(now, late, TimedOut, "", nil); err != nil {
		q.retryAt = now + retryInterval.Milliseconds()
	}
}

// take hands up to count ready jobs to consumer, appended to dst.
// Lock should be held.
func (q *queue) take(dst []Job, now int64, consumer int64, count int, visibility int64) ([]Job, uint64, error) {
	if q.paused || q.ready.Len() == 0 {
		return dst, 0, nil
	}
	n := min(count, q.ready.Len(), q.room(now))
	if n == 0 {
		return dst, 0, nil
	}
	if visibility == 0 {
		visibility = q.settings.Visibility.Milliseconds()
	}
	rec := takeRec{queue: q.name, deadline: now + visibility, ids: make([]uint64, 0, n), attempts: make([]int, 0, n)}
	picked := make([]*job, 0, n)
	q.ready.Scan(func(j *job) bool {
		picked = append(picked, j)
		rec.ids = append(rec.ids, j.id)
		rec.attempts = append(rec.attempts, int(j.attempts)+1)
		return len(picked) < n
	})
	idx, err := q.b.appendRecs(q.enc.take(&rec))
	if err != nil {
		return dst, 0, err
	}
	q.applyTake(&rec, picked)
	for _, j := range picked {
		q.notify(Event{Kind: EventActive, ID: j.id, Attempt: int(j.attempts)})
	}
	if q.settings.RateLimit > 0 {
		q.rateUsed += len(picked)
	}
	for _, j := range picked {
		j.owner, j.visibility = consumer, visibility
		dst = append(dst, j.view(q.name))
	}
	q.b.noteConsumer(consumer, q.name)
	return dst, idx, nil
}

// room is how many jobs the queue's limits (max-in-flight, the rate limit)
// let it hand out at now. Lock should be held.
func (q *queue) room(now int64) int {
	room := q.rateRoom(now)
	if limit := q.settings.MaxInFlight; limit > 0 {
		room = min(room, max(limit-q.inflight.Len(), 0))
	}
	return room
}

// rateRoom is how many jobs the rate limit lets the queue hand out at now
// (math.MaxInt without a limit). A window opens at the first call after
// the last one ended, as BullMQ's limiter's does. Lock should be held.
func (q *queue) rateRoom(now int64) int {
	limit := q.settings.RateLimit
	if limit == 0 {
		return math.MaxInt
	}
	if now >= q.rateUntil {
		q.rateUntil, q.rateUsed = now+q.settings.RateWindow.Milliseconds(), 0
	}
	return max(limit-q.rateUsed, 0)
}

// rateHeld reports whether the rate limit holds back ready jobs that
// waiting consumers want, until rateUntil. Lock should be held.
func (q *queue) rateHeld() bool {
	return q.settings.RateLimit > 0 && q.rateUsed >= q.settings.RateLimit &&
		q.waiters.head != nil && !q.paused && q.ready.Len() > 0
}

// failJobs records failed deliveries: each job goes back to the queue
// after delay (nil: the backoff of its attempt), or becomes a dead letter
// when it has used its attempts. Lock should be held.
func (q *queue) failJobs(now int64, jobs []*job, reason Reason, message string, delay *time.Duration) (uint64, error) {
	var recs [][]byte
	var typed []*failRec
	var chunks [][]*job
	s := &q.settings
	for chunk := range slices.Chunk(jobs, failBatch) {
		r := &failRec{queue: q.name, at: now, reason: reason, message: message}
		for _, j := range chunk {
			dead := s.MaxAttempts > 0 && int(j.attempts) >= s.MaxAttempts
			var wait time.Duration
			switch {
			case dead:
			case delay != nil:
				wait = *delay
			default:
				wait = s.backoff(int(j.attempts), q.b.rand())
			}
			r.ids = append(r.ids, j.id)
			r.dead = append(r.dead, dead)
			r.due = append(r.due, now+wait.Milliseconds())
		}
		typed = append(typed, r)
		chunks = append(chunks, chunk)
		recs = append(recs, bytes.Clone(q.enc.fail(r)))
	}
	idx, err := q.b.appendRecs(recs...)
	if err != nil {
		return 0, err
	}
	for k, r := range typed {
		q.applyFail(r, chunks[k])
		for i, j := range chunks[k] {
			q.notify(Event{Kind: EventFailed, ID: j.id, Attempt: int(j.attempts), Reason: r.reason, Error: r.message, Dead: r.dead[i]})
		}
	}
	return idx, nil
}

// noteConsumer remembers that consumer holds jobs of the queue, for Release.
func (b *Broker) noteConsumer(consumer int64, name string) {
	b.consumersMu.Lock()
	set := b.consumers[consumer]
	if set == nil {
		set = make(map[string]struct{}, 1)
		b.consumers[consumer] = set
	}
	set[name] = struct{}{}
	b.consumersMu.Unlock()
}

// Push adds one job per payload and returns their ids and the log index to
// wait for. With a deduplication id already used by a ready, delayed or
// in-flight job of the queue, it adds nothing and returns that job's id.
func (b *Broker) Push(name string, payloads [][]byte, opts PushOptions) ([]uint64, uint64, error) {
	if err := checkName(name); err != nil {
		return nil, 0, err
	}
	switch {
	case len(payloads) == 0:
		return nil, 0, fmt.Errorf("%w: no payload", ErrInvalidValue)
	case opts.Dedup != "" && len(payloads) > 1:
		return nil, 0, ErrDedupMulti
	case opts.Delay < 0 || opts.Delay > MaxDuration:
		return nil, 0, fmt.Errorf("%w: delay %v", ErrInvalidValue, opts.Delay)
	}
	for _, p := range payloads {
		if len(p) > b.cfg.MaxPayload {
			return nil, 0, ErrPayloadTooBig
		}
	}
	q := b.lockQueue(name, true)
	defer b.unlockQueue(q)
	if opts.Dedup != "" {
		// A job whose last visibility timeout ran out frees its id as a
		// dead letter once the queue has done what time asks of it, which
		// the timer may not have done yet.
		q.expire(b.now())
		if j := q.dedup[opts.Dedup]; j != nil {
			// The first push may not be durable yet.
			return []uint64{j.id}, b.unchanged(), nil
		}
	}
	at := max(b.now(), q.lastAt)
	rec := pushRec{queue: q.name, at: at, priority: opts.Priority, dedup: opts.Dedup, payloads: q.scratch[:0]}
	if opts.Delay > 0 {
		rec.due = at + opts.Delay.Milliseconds()
	}
	// The jobs copy the payloads (newJob) and the log frames the record,
	// so the arguments need no copy of their own.
	rec.payloads = append(rec.payloads, payloads...)
	n := uint64(len(payloads))
	rec.firstID = b.nextID.Add(n) - n
	idx, err := b.appendRecs(q.enc.push(&rec))
	if err == nil {
		q.applyPush(&rec)
		kind := EventWaiting
		if rec.due > rec.at {
			kind = EventDelayed
		}
		for k := range rec.payloads {
			q.notify(Event{Kind: kind, ID: rec.firstID + uint64(k)})
		}
	}
	// Hot path: the payload list is scratch space of the queue, reused by
	// the next push; it must not keep the caller's buffers.
	clear(rec.payloads)
	q.scratch = rec.payloads[:0]
	if cap(q.scratch) > maxScratch {
		q.scratch = nil
	}
	if err != nil {
		return nil, 0, err
	}
	ids := make([]uint64, n)
	for k := range ids {
		ids[k] = rec.firstID + uint64(k)
	}
	return ids, idx, nil
}

func (o *PopOptions) check() error {
	switch {
	case o.Count < 0:
		return fmt.Errorf("%w: count %d", ErrInvalidValue, o.Count)
	case o.Visibility < 0 || o.Visibility > MaxDuration:
		return fmt.Errorf("%w: visibility %v", ErrInvalidValue, o.Visibility)
	case o.Count == 0:
		o.Count = 1
	}
	return nil
}

// Pop takes up to opts.Count ready jobs for consumer, highest priority
// first, then in the order they became ready. Each stays invisible to other
// consumers until it is acked, nacked, or its visibility timeout passes.
// No job (none ready, the queue paused or unknown) is not an error.
func (b *Broker) Pop(name string, consumer int64, opts PopOptions) ([]Job, uint64, error) {
	return b.PopAppend(nil, name, consumer, opts)
}

// PopAppend is Pop that appends the jobs to dst and returns the extended
// slice (dst itself when it takes none), as strconv's Append functions do:
// a caller that takes jobs over and over reuses one slice.
func (b *Broker) PopAppend(dst []Job, name string, consumer int64, opts PopOptions) ([]Job, uint64, error) {
	if err := opts.check(); err != nil {
		return dst, 0, err
	}
	if err := checkName(name); err != nil {
		return dst, 0, err
	}
	q := b.lockQueue(name, false)
	if q == nil {
		return dst, 0, nil
	}
	defer b.unlockQueue(q)
	now := b.now()
	q.expire(now)
	return q.take(dst, now, consumer, opts.Count, opts.Visibility.Milliseconds())
}

// PopWait is Pop that waits until a job is ready or ctx is done (which
// returns no job and no error). Waiting consumers are served first come,
// first served.
func (b *Broker) PopWait(ctx context.Context, name string, consumer int64, opts PopOptions) ([]Job, uint64, error) {
	if err := opts.check(); err != nil {
		return nil, 0, err
	}
	if err := checkName(name); err != nil {
		return nil, 0, err
	}
	q := b.lockQueue(name, true)
	now := b.now()
	q.expire(now)
	if q.waiters.head == nil {
		jobs, idx, err := q.take(nil, now, consumer, opts.Count, opts.Visibility.Milliseconds())
		if err != nil || len(jobs) > 0 {
			b.unlockQueue(q)
			return jobs, idx, err
		}
	}
	w := &waiter{consumer: consumer, count: opts.Count, visibility: opts.Visibility.Milliseconds(), done: make(chan struct{})}
	q.waiters.push(w)
	b.blocked.Add(1)
	b.unlockQueue(q)
	select {
	case <-w.done:
		return w.jobs, w.index, w.err
	case <-ctx.Done():
	}
	q.mu.Lock()
	if w.queued {
		q.waiters.remove(w)
		b.blocked.Add(-1)
		q.mu.Unlock()
		b.dropIdle(q)
		return nil, 0, nil
	}
	q.mu.Unlock()
	// Served while the wait ended: the jobs are this consumer's.
	return w.jobs, w.index, w.err
}

// unchanged is the log index a change that finds nothing to do answers
// with: what it found (a queue paused, emptied or deleted, a job pushed
// with the same deduplication id) may rest on another connection's record
// that is not durable yet, and its reply must not promise what a crash
// could undo. So it waits, as a change's reply does, for every record
// appended so far. Call it after reading that state.
func (b *Broker) unchanged() uint64 { return b.log.LastIndex() }

// idle reports whether q is a queue object no record declared that holds
// nothing and nobody waits on: one created for waiters that left, or for a
// change that failed. Lock should be held.
func (q *queue) idle() bool {
	return !q.declared && q.size() == 0 && q.waiters.head == nil
}

// dropIdle removes q if it is idle.
func (b *Broker) dropIdle(q *queue) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.deleted && q.idle() && b.queues[q.name] == q {
		q.deleted = true
		delete(b.queues, q.name)
	}
}

// held returns the job if consumer holds it: it is in flight, taken by
// consumer, its visibility timeout not passed. Otherwise (an unknown id, a
// job settled, timed out, waiting, dead or held by another) the error is
// ErrNotHeld. Lock should be held.
func (q *queue) held(consumer int64, id uint64) (*job, error) {
	j := q.byID[id]
	if j == nil || j.state != InFlight || j.owner != consumer {
		return nil, &JobError{ID: id, Err: ErrNotHeld}
	}
	return j, nil
}

// Ack completes jobs consumer holds, with what their consumer returned
// (result, nil if nothing): they are removed, or kept as completed with the
// result under the queue's keep-completed setting. Every id must be held
// by consumer (its visibility timeout not passed), or nothing is acked.
func (b *Broker) Ack(name string, consumer int64, ids []uint64, result []byte) (int, uint64, error) {
	if len(result) > b.cfg.MaxPayload {
		return 0, 0, ErrPayloadTooBig
	}
	if len(ids) == 0 {
		return 0, 0, nil
	}
	q := b.lockQueue(name, false)
	if q == nil {
		return 0, 0, &JobError{ID: ids[0], Err: ErrNotHeld}
	}
	defer b.unlockQueue(q)
	now := b.now()
	q.expire(now)
	// A repeated id is acked once.
	uniq := uniqueIDs(ids)
	jobs := make([]*job, len(uniq))
	for k, id := range uniq {
		j, err := q.held(consumer, id)
		if err != nil {
			return 0, 0, err
		}
		jobs[k] = j
	}
	// The command's arguments are reused once it returns; an empty result
	// is no result.
	result = bytes.Clone(result)
	if len(result) == 0 {
		result = nil
	}
	var idx uint64
	var err error
	switch {
	case q.settings.KeepCompleted > 0:
		r := completeRec{queue: q.name, at: now, result: result, ids: uniq}
		if idx, err = b.appendRecs(q.enc.complete(&r)); err == nil {
			q.applyComplete(&r, jobs)
		}
	default:
		if idx, err = b.appendRecs(q.enc.ids(opAck, q.name, uniq)); err == nil {
			q.applyAck(jobs)
		}
	}
	if err != nil {
		return 0, 0, err
	}
	for _, j := range jobs {
		q.notify(Event{Kind: EventCompleted, ID: j.id, Attempt: int(j.attempts), Result: result})
	}
	return len(uniq), idx, nil
}

// Nack fails a job consumer holds: it goes back to the queue after the
// backoff of its attempt (or opts.Delay), or becomes a dead letter when
// it has used its attempts. It returns the job's new state.
func (b *Broker) Nack(name string, consumer int64, id uint64, opts NackOptions) (State, uint64, error) {
	if opts.HasDelay && (opts.Delay < 0 || opts.Delay > MaxDuration) {
		return 0, 0, fmt.Errorf("%w: delay %v", ErrInvalidValue, opts.Delay)
	}
	q := b.lockQueue(name, false)
	if q == nil {
		return 0, 0, &JobError{ID: id, Err: ErrNotHeld}
	}
	defer b.unlockQueue(q)
	now := b.now()
	q.expire(now)
	j, err := q.held(consumer, id)
	if err != nil {
		return 0, 0, err
	}
	var delay *time.Duration
	if opts.HasDelay {
		delay = &opts.Delay
	}
	msg := opts.Message
	if len(msg) > MaxErrorMessage {
		msg = msg[:MaxErrorMessage]
	}
	idx, err := q.failJobs(now, []*job{j}, Nacked, msg, delay)
	if err != nil {
		return 0, 0, err
	}
	return j.state, idx, nil
}

// Touch extends the visibility timeout of a job consumer holds to ext
// from now (0: the visibility it was taken with) and returns the new deadline.
func (b *Broker) Touch(name string, consumer int64, id uint64, ext time.Duration) (time.Time, uint64, error) {
	if ext < 0 || ext > MaxDuration {
		return time.Time{}, 0, fmt.Errorf("%w: visibility %v", ErrInvalidValue, ext)
	}
	q := b.lockQueue(name, false)
	if q == nil {
		return time.Time{}, 0, &JobError{ID: id, Err: ErrNotHeld}
	}
	defer b.unlockQueue(q)
	now := b.now()
	q.expire(now)
	j, err := q.held(consumer, id)
	if err != nil {
		return time.Time{}, 0, err
	}
	vis := ext.Milliseconds()
	if ext == 0 {
		vis = j.visibility
	}
	rec := touchRec{queue: q.name, id: id, deadline: now + vis}
	idx, err := b.appendRecs(q.enc.touch(&rec))
	if err != nil {
		return time.Time{}, 0, err
	}
	q.applyTouch(&rec, j)
	return msTime(rec.deadline), idx, nil
}

// MaxProgress bounds what a consumer tells of a job's progress.
const MaxProgress = 64 << 10

// Progress records what consumer tells of the progress of a job it holds
// (BullMQ's job.updateProgress), shown with the job until it leaves flight
// and published as an event. It is not logged: after a restart the job
// starts over, and so does its progress.
func (b *Broker) Progress(name string, consumer int64, id uint64, value []byte) error {
	if len(value) > MaxProgress {
		return ErrTooLong
	}
	q := b.lockQueue(name, false)
	if q == nil {
		return &JobError{ID: id, Err: ErrNotHeld}
	}
	defer b.unlockQueue(q)
	q.expire(b.now())
	j, err := q.held(consumer, id)
	if err != nil {
		return err
	}
	if q.progress == nil {
		q.progress = make(map[uint64][]byte)
	}
	value = slices.Clone(value)
	q.progress[id] = value
	q.notify(Event{Kind: EventProgress, ID: id, Attempt: int(j.attempts), Progress: value})
	return nil
}

// Release is called when consumer's connection closes: in every queue
// whose release-on-disconnect is on, the jobs it holds fail at once with
// the reason WorkerGone (an attempt, with the backoff). Elsewhere they
// stay in flight until their visibility timeout. It returns once the
// failures are durable, as the timer does for the jobs it fails: there is
// no one left to answer, but other clients see the failures at once (a
// dead letter, a new attempt), and the log's idle flush would leave them in
// memory for up to its delay, where a kill -9 undoes them.
func (b *Broker) Release(consumer int64) error {
	b.consumersMu.Lock()
	names := b.consumers[consumer]
	delete(b.consumers, consumer)
	b.consumersMu.Unlock()
	var errs []error
	var last uint64
	for name := range names {
		q := b.lockQueue(name, false)
		if q == nil {
			continue
		}
		now := b.now()
		q.expire(now)
		if q.settings.ReleaseOnDisconnect {
			var held []*job
			q.inflight.Scan(func(j *job) bool {
				if j.owner == consumer {
					held = append(held, j)
				}
				return true
			})
			if len(held) > 0 {
				idx, err := q.failJobs(now, held, WorkerGone, "", nil)
				if err != nil {
					errs = append(errs, fmt.Errorf("queue %q: %w", name, err))
				}
				last = max(last, idx)
			}
		}
		b.unlockQueue(q)
	}
	if last > 0 {
		errs = append(errs, b.Wait(last))
	}
	return errors.Join(errs...)
}
