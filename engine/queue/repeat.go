package queue

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Repeatable jobs: a schedule of a queue pushes a job with its payload at
// every fire time, as BullMQ's repeatable jobs do: every fixed interval
// (aligned on multiples of it since the Unix epoch, so that every minute
// fires on the minute) or at the times a cron expression names, in a time
// zone (UTC unless given).
// A schedule fires from the queue's timer; each fire is one log record
// that pushes the job and moves the schedule to its next fire time, so a
// fire is never lost nor repeated by a crash. Fire times missed while the
// server was down are not made up: the first fire after a restart pushes
// one job, and the schedule goes on from there.

// Repeat is a schedule of a queue.
type Repeat struct {
	Name     string
	Every    time.Duration // the interval; 0 for a cron schedule
	Cron     string        // the cron expression; "" for an interval
	TZ       string        // the cron expression's IANA time zone; "" = UTC
	Priority int64
	Payload  []byte    // shared with the broker; never modify it
	Next     time.Time // the next fire time (set by the broker); zero when it fires no more
}

// schedule is a queue's record of a Repeat.
type schedule struct {
	name     string
	every    int64 // ms; 0 for cron
	cron     string
	tz       string
	spec     *cronSpec // parsed cron; nil for an interval
	priority int64
	payload  []byte
	next     int64 // unix ms of the next fire
}

// after returns the first fire time of s strictly after now (unix ms), or
// 0 when its cron expression never fires again.
func (s *schedule) after(now int64) int64 {
	if s.spec == nil {
		return (now/s.every + 1) * s.every
	}
	t, ok := s.spec.next(time.UnixMilli(now))
	if !ok {
		return 0
	}
	return t.UnixMilli()
}

func (s *schedule) view() Repeat {
	r := Repeat{Name: s.name, Every: time.Duration(s.every) * time.Millisecond, Cron: s.cron, TZ: s.tz,
		Priority: s.priority, Payload: s.payload}
	if s.next != 0 {
		r.Next = msTime(s.next)
	}
	return r
}

// newSchedule checks a Repeat and builds its schedule, parsing the cron
// expression.
func (b *Broker) newSchedule(r Repeat) (*schedule, error) {
	switch {
	case r.Name == "" || len(r.Name) > MaxNameLen:
		return nil, fmt.Errorf("%w: a schedule name has 1 to %d bytes", ErrInvalidValue, MaxNameLen)
	case (r.Every == 0) == (r.Cron == ""):
		return nil, fmt.Errorf("%w: a schedule has an interval or a cron expression, not both", ErrInvalidValue)
	case r.Every < 0 || r.Every > MaxDuration || r.Every%time.Millisecond != 0:
		return nil, fmt.Errorf("%w: interval %v", ErrInvalidValue, r.Every)
	case r.TZ != "" && r.Cron == "":
		return nil, fmt.Errorf("%w: a time zone applies to a cron expression", ErrInvalidValue)
	case len(r.Payload) > b.cfg.MaxPayload:
		return nil, ErrPayloadTooBig
	}
	s := &schedule{name: r.Name, every: r.Every.Milliseconds(), cron: r.Cron, tz: r.TZ, priority: r.Priority, payload: r.Payload}
	if r.Cron != "" {
		spec, err := parseCron(r.Cron, r.TZ)
		if err != nil {
			return nil, err
		}
		s.spec = spec
	}
	return s, nil
}

// SetRepeat creates or replaces the queue's schedule of that name, creating
// the queue; its first fire is the first fire time after now. A schedule
// it replaces that is due fires first.
func (b *Broker) SetRepeat(name string, r Repeat) (uint64, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	r.Payload = slices.Clone(r.Payload)
	s, err := b.newSchedule(r)
	if err != nil {
		return 0, err
	}
	if s.next = s.after(b.now()); s.next == 0 {
		return 0, fmt.Errorf("%w: cron expression %q never fires", ErrInvalidValue, r.Cron)
	}
	q := b.lockQueue(name, true)
	defer b.unlockQueue(q)
	q.expire(b.now())
	idx, err := b.appendRecs(q.enc.repeatSet(q.name, s))
	if err != nil {
		return 0, err
	}
	q.applyRepeatSet(s)
	return idx, nil
}

// DeleteRepeats removes schedules of the queue by name and returns how
// many existed. Jobs they pushed stay; a schedule that is due fires first.
func (b *Broker) DeleteRepeats(name string, names []string) (int, uint64, error) {
	q := b.lockQueue(name, false)
	if q == nil {
		return 0, b.unchanged(), nil
	}
	defer b.unlockQueue(q)
	q.expire(b.now())
	var known []string
	for _, n := range names {
		if q.repeats[n] != nil && !slices.Contains(known, n) {
			known = append(known, n)
		}
	}
	if len(known) == 0 {
		return 0, b.unchanged(), nil
	}
	idx, err := b.appendRecs(q.enc.repeatDel(q.name, known))
	if err != nil {
		return 0, 0, err
	}
	q.applyRepeatDel(known)
	return len(known), idx, nil
}

// Repeats returns the queue's schedules by name and the log index to wait
// for before showing them (read).
func (b *Broker) Repeats(name string) ([]Repeat, uint64) {
	var out []Repeat
	idx := b.read(name, func(q *queue) {
		out = make([]Repeat, 0, len(q.repeats))
		for _, s := range q.repeats {
			out = append(out, s.view())
		}
	})
	slices.SortFunc(out, func(a, b Repeat) int { return strings.Compare(a.Name, b.Name) })
	return out, idx
}

// fireRepeats pushes a job for each schedule due at now, earliest first.
// A record the log refuses is retried by the timer. Lock should be held.
func (q *queue) fireRepeats(now int64) {
	for q.repeatAt != 0 && q.repeatAt <= now {
		var due *schedule
		for _, s := range q.repeats {
			if s.next <= now && (due == nil || s.next < due.next || s.next == due.next && s.name < due.name) {
				due = s
			}
		}
		r := repeatFireRec{queue: q.name, name: due.name, at: max(now, q.lastAt), next: due.after(now)}
		r.id = q.b.nextID.Add(1) - 1
		if _, err := q.b.appendRecs(q.enc.repeatFire(&r)); err != nil {
			q.retryAt = now + retryInterval.Milliseconds()
			return
		}
		q.applyRepeatFire(&r)
		q.notify(Event{Kind: EventWaiting, ID: r.id})
	}
}

// updateRepeatAt sets repeatAt to the earliest fire time of the queue's
// schedules (0: none). Lock should be held.
func (q *queue) updateRepeatAt() {
	q.repeatAt = 0
	for _, s := range q.repeats {
		if s.next != 0 && (q.repeatAt == 0 || s.next < q.repeatAt) {
			q.repeatAt = s.next
		}
	}
}

func (q *queue) applyRepeatSet(s *schedule) {
	q.declared = true
	if q.repeats == nil {
		q.repeats = make(map[string]*schedule)
	}
	q.repeats[s.name] = s
	q.updateRepeatAt()
}

func (q *queue) applyRepeatDel(names []string) {
	for _, n := range names {
		delete(q.repeats, n)
	}
	q.updateRepeatAt()
}

// applyRepeatFire pushes the job of a fire, ready at once, and moves the
// schedule to its next fire time (0: a cron expression without a fire time
// left, which stays listed and fires no more).
func (q *queue) applyRepeatFire(r *repeatFireRec) {
	s := q.repeats[r.name]
	if s == nil {
		return
	}
	q.lastAt = max(q.lastAt, r.at)
	j := newJob(r.id, s.payload, s.priority, r.at)
	q.makeReady(j, r.at)
	q.adopt(j)
	s.next = r.next
	q.updateRepeatAt()
	q.stats.pushed++
	q.b.counters.pushed.Add(1)
	q.b.counters.repeated.Add(1)
}
