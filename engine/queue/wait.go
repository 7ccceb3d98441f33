package queue

// waiter is a consumer blocked in PopWait. The queue serves it under its
// lock: it takes the jobs for it, stores the result and closes done.
type waiter struct {
	consumer   int64
	count      int
	visibility int64 // ms; 0 = the queue's setting

	prev, next *waiter
	queued     bool

	done  chan struct{}
	jobs  []Job
	index uint64
	err   error
}

// waitList is the FIFO of a queue's waiters, doubly linked so that a
// waiter that gives up leaves in constant time.
type waitList struct {
	head, tail *waiter
	n          int
}

func (l *waitList) push(w *waiter) {
	w.prev, w.next, w.queued = l.tail, nil, true
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.next = w
	}
	l.tail = w
	l.n++
}

func (l *waitList) remove(w *waiter) {
	if w.prev == nil {
		l.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		l.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	l.n--
}

// serve hands ready jobs to waiters in arrival order. A full log leaves
// the rest waiting and asks the timer to try again; any other error is the
// answer of every waiter. Lock should be held.
func (q *queue) serve(now int64) {
	for w := q.waiters.head; w != nil && !q.paused && q.ready.Len() > 0 && q.room(now) > 0; w = q.waiters.head {
		jobs, idx, err := q.take(nil, now, w.consumer, w.count, w.visibility)
		if err == ErrOverload {
			q.retryAt = now + retryInterval.Milliseconds()
			return
		}
		q.waiters.remove(w)
		q.b.blocked.Add(-1)
		w.jobs, w.index, w.err = jobs, idx, err
		close(w.done)
	}
}
