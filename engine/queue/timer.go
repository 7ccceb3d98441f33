package queue

import "time"

// schedEntry is a queue's earliest deadline in the broker's schedule.
type schedEntry struct {
	at int64 // unix ms
	q  *queue
}

func schedLess(a, b schedEntry) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.q.serial < b.q.serial
}

// reschedule registers the queue's earliest deadline (a delayed job's due
// time, a visibility timeout, a schedule's fire time, the age bound of a
// completed job), or its retry, with the timer. Lock should be held.
func (q *queue) reschedule() {
	next := q.repeatAt
	if j, ok := q.delayed.Min(); ok && (next == 0 || j.due < next) {
		next = j.due
	}
	if age := q.settings.KeepCompletedAge.Milliseconds(); age > 0 {
		if j, ok := q.completed.Min(); ok && (next == 0 || j.due+age < next) {
			next = j.due + age
		}
	}
	if j, ok := q.inflight.Min(); ok && (next == 0 || j.due < next) {
		next = j.due
	}
	if q.rateHeld() && (next == 0 || q.rateUntil < next) {
		next = q.rateUntil
	}
	if q.retryAt != 0 {
		// The log refused a record the timer wrote: nothing runs before
		// the retry, or the deadline already past would spin the timer.
		next = q.retryAt
	}
	if q.deleted {
		next = 0
	}
	if next == q.wake {
		return
	}
	b := q.b
	b.schedMu.Lock()
	if q.wake != 0 {
		b.sched.Delete(schedEntry{at: q.wake, q: q})
	}
	kick := false
	if next != 0 {
		b.sched.Set(schedEntry{at: next, q: q})
		kick = b.sleepUntil == 0 || next < b.sleepUntil
	}
	b.schedMu.Unlock()
	q.wake = next
	if kick {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// timerLoop sleeps until the earliest deadline of any queue, or until a
// queue registers an earlier one, and then lets the queues that are due
// do what time asks of them.
func (b *Broker) timerLoop() {
	defer close(b.done)
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		b.schedMu.Lock()
		e, ok := b.sched.Min()
		b.sleepUntil = 0
		if ok {
			b.sleepUntil = e.at
		}
		b.schedMu.Unlock()
		var wake <-chan time.Time // nil: nothing scheduled, wait for a kick
		if ok {
			wait := time.Duration(e.at-b.now()) * time.Millisecond
			if wait <= 0 {
				b.runDue()
				continue
			}
			if t == nil {
				t = time.NewTimer(wait)
			} else {
				t.Reset(wait)
			}
			wake = t.C
		}
		select {
		case <-b.stop:
			return
		case <-b.kick:
		case <-wake:
			b.runDue()
		}
	}
}

// runDue takes the due entries off the schedule and runs each queue's
// expiry; a queue reschedules itself as it unlocks. It then writes what
// they changed (jobs whose visibility timed out, dead letters, the jobs
// schedules pushed) itself, as a command's reply waits for its records:
// nobody waits for these, and the log's idle flush would leave them in
// memory for up to its delay, where a kill -9 loses them.
func (b *Broker) runDue() {
	now := b.now()
	var due []schedEntry
	b.schedMu.Lock()
	for {
		e, ok := b.sched.Min()
		if !ok || e.at > now {
			break
		}
		b.sched.PopMin()
		due = append(due, e)
	}
	b.schedMu.Unlock()
	for _, e := range due {
		q := e.q
		b.mu.RLock()
		q.mu.Lock()
		if q.wake == e.at {
			q.wake = 0 // the entry just taken off
		}
		if !q.deleted {
			if q.retryAt != 0 && q.retryAt <= now {
				q.retryAt = 0
			}
			q.expire(now)
		}
		b.unlockQueue(q)
	}
	if len(due) > 0 {
		// An error turns the broker read-only (Wait); the timer has
		// nobody to answer.
		b.Wait(b.log.LastIndex())
	}
}
