package queue

import (
	"encoding/binary"
	"fmt"
)

// Log records. Each starts with its op byte; integers are varints, strings
// and payloads are length-prefixed. A record states the outcome of a
// change (ids, deadlines, due times chosen by the clock and the jitter), so
// that replaying it reproduces memory exactly.
const (
	opPush       byte = iota + 1 // queue at priority due dedup firstID n payload×n
	opTake                       // queue deadline n (id attempts)×n
	opAck                        // queue n id×n
	opFail                       // queue at reason message n (id dead due)×n
	opTouch                      // queue id deadline
	opPurge                      // queue: every ready and delayed job
	opDelete                     // queue
	opConfig                     // queue n (param value)×n; an empty value restores the default
	opPause                      // queue paused
	opRequeue                    // source target at all n id×n: dead letters back to work
	opDeadPurge                  // queue all n id×n
	opSnapQueue                  // queue paused n (param value)×n
	opSnapJob                    // queue id payload priority enqueued readyAt due attempts state dedup failures [result]
	opSnapSeq                    // next job id
	opCancel                     // queue n id×n: waiting jobs removed
	opRepeatSet                  // queue name every cron tz priority payload next
	opRepeatDel                  // queue n name×n
	opRepeatFire                 // queue name id at next: a schedule pushed a job
	opPromote                    // queue at n id×n: delayed jobs ready at once
	opComplete                   // queue at result n id×n: acked jobs kept as completed
	opRestart                    // the broker restarted: every job in flight is ready again
	opAged                       // queue n id×n: completed jobs past keep-completed-age dropped
)

// Typed records: the live path builds one, encodes it for the log and
// applies it; replay decodes and applies it.
type (
	pushRec struct {
		queue    string
		at       int64
		priority int64
		due      int64 // 0: ready at once
		dedup    string
		firstID  uint64
		payloads [][]byte
	}
	takeRec struct {
		queue    string
		deadline int64
		ids      []uint64
		attempts []int
	}
	ackRec struct {
		queue string
		ids   []uint64
	}
	completeRec struct {
		queue  string
		at     int64
		result []byte
		ids    []uint64
	}
	failRec struct {
		queue   string
		at      int64
		reason  Reason
		message string
		ids     []uint64
		dead    []bool
		due     []int64
	}
	touchRec struct {
		queue    string
		id       uint64
		deadline int64
	}
	configRec struct {
		queue  string
		params [][2]string
	}
	requeueRec struct {
		source, target string
		at             int64
		all            bool
		ids            []uint64
	}
	deadPurgeRec struct {
		queue string
		all   bool
		ids   []uint64
	}
	snapQueueRec struct {
		queue  string
		paused bool
		params [][2]string
	}
	snapJobRec struct {
		queue  string
		j      *job
		extra  *jobExtra // empty when the job has none (queue.setExtra)
		result []byte    // of a completed job
	}
)

// encoder appends a record to a reusable buffer.
type encoder struct{ b []byte }

func (e *encoder) reset(op byte) { e.b = append(e.b[:0], op) }
func (e *encoder) u(v uint64)    { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) i(v int64)     { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bytes(p []byte) {
	e.u(uint64(len(p)))
	e.b = append(e.b, p...)
}
func (e *encoder) str(s string) {
	e.u(uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) flag(v bool) {
	if v {
		e.b = append(e.b, 1)
		return
	}
	e.b = append(e.b, 0)
}

// decoder reads a record; the first malformed field sets err and every
// later read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) corrupt() {
	if d.err == nil {
		d.err = errCorruptRecord
	}
	d.b = nil
}

func (d *decoder) u() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.corrupt()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) i() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.corrupt()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items that each take at least one byte, so a
// corrupt count cannot make the decoder allocate more than the record.
func (d *decoder) count() int {
	n := d.u()
	if n > uint64(len(d.b)) {
		d.corrupt()
		return 0
	}
	return int(n)
}

// bytes returns a copy: records are only valid during the callback.
func (d *decoder) bytes() []byte {
	n := d.u()
	if n > uint64(len(d.b)) {
		d.corrupt()
		return nil
	}
	out := make([]byte, n)
	copy(out, d.b[:n])
	d.b = d.b[n:]
	return out
}

func (d *decoder) str() string {
	n := d.u()
	if n > uint64(len(d.b)) {
		d.corrupt()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) flag() bool {
	if len(d.b) == 0 {
		d.corrupt()
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		d.corrupt()
	}
	return v == 1
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.corrupt()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// done reports the decoding error, or trailing bytes as corruption.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorruptRecord
	}
	return d.err
}

func (e *encoder) push(r *pushRec) []byte {
	e.reset(opPush)
	e.str(r.queue)
	e.i(r.at)
	e.i(r.priority)
	e.i(r.due)
	e.str(r.dedup)
	e.u(r.firstID)
	e.u(uint64(len(r.payloads)))
	for _, p := range r.payloads {
		e.bytes(p)
	}
	return e.b
}

func (d *decoder) push() *pushRec {
	r := &pushRec{queue: d.str(), at: d.i(), priority: d.i(), due: d.i(), dedup: d.str(), firstID: d.u()}
	n := d.count()
	r.payloads = make([][]byte, 0, n)
	for range n {
		r.payloads = append(r.payloads, d.bytes())
	}
	return r
}

func (e *encoder) take(r *takeRec) []byte {
	e.reset(opTake)
	e.str(r.queue)
	e.i(r.deadline)
	e.u(uint64(len(r.ids)))
	for k, id := range r.ids {
		e.u(id)
		e.u(uint64(r.attempts[k]))
	}
	return e.b
}

func (d *decoder) take() *takeRec {
	r := &takeRec{queue: d.str(), deadline: d.i()}
	n := d.count()
	for range n {
		r.ids = append(r.ids, d.u())
		r.attempts = append(r.attempts, int(d.u()))
	}
	return r
}

func (e *encoder) complete(r *completeRec) []byte {
	e.reset(opComplete)
	e.str(r.queue)
	e.i(r.at)
	e.bytes(r.result)
	e.idList(r.ids)
	return e.b
}

func (e *encoder) ids(op byte, queue string, ids []uint64) []byte {
	e.reset(op)
	e.str(queue)
	e.idList(ids)
	return e.b
}

// idList writes a count and the ids, as decoder.idList reads them.
func (e *encoder) idList(ids []uint64) {
	e.u(uint64(len(ids)))
	for _, id := range ids {
		e.u(id)
	}
}

func (d *decoder) idList() []uint64 {
	n := d.count()
	ids := make([]uint64, 0, n)
	for range n {
		ids = append(ids, d.u())
	}
	return ids
}

func (e *encoder) fail(r *failRec) []byte {
	e.reset(opFail)
	e.str(r.queue)
	e.i(r.at)
	e.b = append(e.b, byte(r.reason))
	e.str(r.message)
	e.u(uint64(len(r.ids)))
	for k, id := range r.ids {
		e.u(id)
		e.flag(r.dead[k])
		e.i(r.due[k])
	}
	return e.b
}

func (d *decoder) failure() *failRec {
	r := &failRec{queue: d.str(), at: d.i(), reason: Reason(d.byte()), message: d.str()}
	if r.reason > WorkerGone {
		d.corrupt()
	}
	n := d.count()
	for range n {
		r.ids = append(r.ids, d.u())
		r.dead = append(r.dead, d.flag())
		r.due = append(r.due, d.i())
	}
	return r
}

func (e *encoder) touch(r *touchRec) []byte {
	e.reset(opTouch)
	e.str(r.queue)
	e.u(r.id)
	e.i(r.deadline)
	return e.b
}

func (e *encoder) name(op byte, queue string) []byte {
	e.reset(op)
	e.str(queue)
	return e.b
}

func (e *encoder) pause(queue string, paused bool) []byte {
	e.reset(opPause)
	e.str(queue)
	e.flag(paused)
	return e.b
}

func (e *encoder) pairs(p [][2]string) {
	e.u(uint64(len(p)))
	for _, kv := range p {
		e.str(kv[0])
		e.str(kv[1])
	}
}

func (d *decoder) pairs() [][2]string {
	n := d.count()
	out := make([][2]string, 0, n)
	for range n {
		out = append(out, [2]string{d.str(), d.str()})
	}
	return out
}

func (e *encoder) config(r *configRec) []byte {
	e.reset(opConfig)
	e.str(r.queue)
	e.pairs(r.params)
	return e.b
}

func (e *encoder) requeue(r *requeueRec) []byte {
	e.reset(opRequeue)
	e.str(r.source)
	e.str(r.target)
	e.i(r.at)
	e.flag(r.all)
	e.idList(r.ids)
	return e.b
}

func (e *encoder) deadPurge(r *deadPurgeRec) []byte {
	e.reset(opDeadPurge)
	e.str(r.queue)
	e.flag(r.all)
	e.idList(r.ids)
	return e.b
}

func (e *encoder) snapQueue(r *snapQueueRec) []byte {
	e.reset(opSnapQueue)
	e.str(r.queue)
	e.flag(r.paused)
	e.pairs(r.params)
	return e.b
}

func (e *encoder) snapJob(queue string, j *job, x *jobExtra, result []byte) []byte {
	e.reset(opSnapJob)
	e.str(queue)
	e.u(j.id)
	e.bytes(j.payload())
	e.i(j.priority)
	e.i(j.enqueued)
	e.i(j.readyAt)
	e.i(j.due)
	e.u(uint64(j.attempts))
	// A job in flight stays in flight: the records after the snapshot were
	// written against it so (a QPURGE leaves it alone), and a replay
	// releases it where the broker did, at the next restart record or at
	// the end.
	e.b = append(e.b, byte(j.state))
	var dedup string
	var fs *failures
	if x != nil {
		dedup, fs = x.dedup, &x.fails
	}
	e.str(dedup)
	if fs == nil || fs.count == 0 {
		e.u(0)
	} else {
		e.u(uint64(fs.count))
		e.i(fs.first)
		e.u(uint64(len(fs.list)))
		for _, f := range fs.list {
			e.i(f.at)
			e.u(uint64(f.attempt))
			e.b = append(e.b, byte(f.reason))
			e.str(f.message)
		}
	}
	if j.state == Completed {
		e.bytes(result)
	}
	return e.b
}

func (d *decoder) snapJob() *snapJobRec {
	r := &snapJobRec{queue: d.str()}
	id, payload, priority, enqueued := d.u(), d.bytes(), d.i(), d.i()
	j := newJob(id, payload, priority, enqueued)
	j.readyAt, j.due = d.i(), d.i()
	j.attempts = int32(min(d.u(), maxAttemptCount))
	j.state = State(d.byte())
	x := &jobExtra{dedup: d.str()}
	if j.state > Completed {
		d.corrupt()
	}
	if count := int(d.u()); count > 0 {
		fs := &x.fails
		fs.count, fs.first = count, d.i()
		n := d.count()
		for range n {
			f := failure{at: d.i(), attempt: int(d.u()), reason: Reason(d.byte()), message: d.str()}
			if f.reason > WorkerGone || len(fs.list) == maxFailures {
				d.corrupt()
			}
			fs.list = append(fs.list, f)
		}
	}
	if j.state == Completed {
		r.result = d.bytes()
	}
	r.j = j
	r.extra = x
	return r
}

func (e *encoder) seq(next uint64) []byte {
	e.reset(opSnapSeq)
	e.u(next)
	return e.b
}

func (e *encoder) restart() []byte {
	e.reset(opRestart)
	return e.b
}

func (e *encoder) repeatSet(queue string, s *schedule) []byte {
	e.reset(opRepeatSet)
	e.str(queue)
	e.str(s.name)
	e.i(s.every)
	e.str(s.cron)
	e.str(s.tz)
	e.i(s.priority)
	e.bytes(s.payload)
	e.i(s.next)
	return e.b
}

func (e *encoder) repeatDel(queue string, names []string) []byte {
	e.reset(opRepeatDel)
	e.str(queue)
	e.u(uint64(len(names)))
	for _, n := range names {
		e.str(n)
	}
	return e.b
}

func (e *encoder) promote(r *promoteRec) []byte {
	e.reset(opPromote)
	e.str(r.queue)
	e.i(r.at)
	e.idList(r.ids)
	return e.b
}

func (e *encoder) repeatFire(r *repeatFireRec) []byte {
	e.reset(opRepeatFire)
	e.str(r.queue)
	e.str(r.name)
	e.u(r.id)
	e.i(r.at)
	e.i(r.next)
	return e.b
}

// decode turns a log record into its typed form.
func decode(rec []byte) (any, error) {
	if len(rec) == 0 {
		return nil, errCorruptRecord
	}
	d := &decoder{b: rec[1:]}
	var out any
	switch rec[0] {
	case opPush:
		out = d.push()
	case opTake:
		out = d.take()
	case opAck:
		out = &ackRec{queue: d.str(), ids: d.idList()}
	case opComplete:
		out = &completeRec{queue: d.str(), at: d.i(), result: d.bytes(), ids: d.idList()}
	case opCancel:
		out = &cancelRec{queue: d.str(), ids: d.idList()}
	case opAged:
		out = &agedRec{queue: d.str(), ids: d.idList()}
	case opRepeatSet:
		r := &repeatSetRec{queue: d.str()}
		r.s = schedule{name: d.str(), every: d.i(), cron: d.str(), tz: d.str(), priority: d.i(), payload: d.bytes(), next: d.i()}
		out = r
	case opRepeatDel:
		r := &repeatDelRec{queue: d.str()}
		n := d.count()
		for range n {
			r.names = append(r.names, d.str())
		}
		out = r
	case opPromote:
		out = &promoteRec{queue: d.str(), at: d.i(), ids: d.idList()}
	case opRepeatFire:
		out = &repeatFireRec{queue: d.str(), name: d.str(), id: d.u(), at: d.i(), next: d.i()}
	case opFail:
		out = d.failure()
	case opTouch:
		out = &touchRec{queue: d.str(), id: d.u(), deadline: d.i()}
	case opPurge:
		out = purgeRec{queue: d.str()}
	case opDelete:
		out = deleteRec{queue: d.str()}
	case opConfig:
		out = &configRec{queue: d.str(), params: d.pairs()}
	case opPause:
		out = pauseRec{queue: d.str(), paused: d.flag()}
	case opRequeue:
		out = &requeueRec{source: d.str(), target: d.str(), at: d.i(), all: d.flag(), ids: d.idList()}
	case opDeadPurge:
		out = &deadPurgeRec{queue: d.str(), all: d.flag(), ids: d.idList()}
	case opSnapQueue:
		out = &snapQueueRec{queue: d.str(), paused: d.flag(), params: d.pairs()}
	case opSnapJob:
		out = d.snapJob()
	case opSnapSeq:
		out = seqRec{next: d.u()}
	case opRestart:
		out = restartRec{}
	default:
		return nil, fmt.Errorf("%w: op %d", errUnknownRecord, rec[0])
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("%w (op %d)", err, rec[0])
	}
	return out, nil
}

type (
	promoteRec struct {
		queue string
		at    int64
		ids   []uint64
	}
	repeatSetRec struct {
		queue string
		s     schedule // without its parsed cron expression
	}
	repeatDelRec struct {
		queue string
		names []string
	}
	repeatFireRec struct {
		queue, name string
		id          uint64
		at, next    int64
	}
	cancelRec struct {
		queue string
		ids   []uint64
	}
	agedRec struct {
		queue string
		ids   []uint64
	}
	purgeRec  struct{ queue string }
	deleteRec struct{ queue string }
	pauseRec  struct {
		queue  string
		paused bool
	}
	seqRec     struct{ next uint64 }
	restartRec struct{}
)
