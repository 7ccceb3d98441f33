package queue

import (
	"maps"
	"math"
	"reflect"
	"time"
	"unsafe"

	"github.com/tidwall/btree"
)

// State is where a job is in its life.
type State uint8

// Job states.
const (
	Ready     State = iota // waiting to be taken
	Delayed                // waiting for its due time
	InFlight               // taken by a consumer, invisible until acked, nacked or timed out
	Dead                   // past its attempts: a dead letter
	Completed              // acked, kept with its result (the keep-completed setting)
)

var stateNames = [...]string{Ready: "ready", Delayed: "delayed", InFlight: "inflight", Dead: "dead", Completed: "completed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Reason is why a delivery failed.
type Reason uint8

// Failure reasons.
const (
	Nacked     Reason = iota // the consumer sent QNACK
	TimedOut                 // the visibility timeout passed
	WorkerGone               // the consumer's connection closed
)

var reasonNames = [...]string{Nacked: "nack", TimedOut: "timeout", WorkerGone: "worker-gone"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Job is a job as a consumer receives it.
type Job struct {
	ID       uint64
	Queue    string
	Payload  []byte // shared with the broker; never modify it
	Attempt  int    // deliveries so far, this one included
	Priority int64
	Enqueued time.Time
	Deadline time.Time // when the visibility timeout ends
}

// Failure is one failed delivery in a job's history.
type Failure struct {
	At      time.Time
	Attempt int
	Reason  Reason
	Message string // the consumer's error text (QNACK ERROR)
}

// JobInfo is everything the broker knows about a job, for inspection.
type JobInfo struct {
	Job
	State    State
	Due      time.Time // Delayed: when it becomes ready; Dead: when it died; Completed: when it was acked
	Dedup    string
	Result   []byte    // Completed: what its consumer returned (QACK RESULT); nil if nothing
	Failures []Failure // the most recent failures, oldest first, at most maxFailures
	// FailureCount counts every failure, including those Failures no
	// longer lists; FirstFailure is the time of the first of them.
	FailureCount int
	FirstFailure time.Time
	Progress     []byte // InFlight: the last progress its consumer told (Broker.Progress); nil if none
}

// job is the broker's record of one job. The tree keys (readyAt, due) only
// change while the job is outside its tree.
//
// Hot path: a queue holds one per job waiting, so its size is the broker's
// memory per job, and newJob allocates it together with the payload that
// follows it: one allocation, which the collector never scans, since the
// record holds no pointer (checked at init). A job of 100 bytes takes 176
// bytes in all, against 96 and 112 for a record with a payload slice and
// its payload apart. The dedup id and the failure history, which few jobs
// have, are in the queue's extras map (queue.extra).
type job struct {
	id         uint64
	priority   int64
	enqueued   int64 // unix ms of the push
	readyAt    int64 // unix ms: the order among ready jobs of one priority
	due        int64 // unix ms: Delayed due time, InFlight deadline, Dead time
	owner      int64 // InFlight: the consumer holding it
	visibility int64 // InFlight: ms granted at the take, reused by QTOUCH
	size       int   // payload bytes, which follow the record
	attempts   int32 // up to maxAttemptCount
	state      State
	hasExtra   bool // the queue's extras map holds the job's jobExtra
}

// jobRecordSize is where a job's payload starts in its allocation.
const jobRecordSize = unsafe.Sizeof(job{})

func init() {
	// newJob's allocation is a []byte, which the collector does not scan:
	// a pointer in the record would be invisible to it.
	for f := range reflect.TypeFor[job]().Fields() {
		switch f.Type.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint8, reflect.Uint64:
		default:
			panic("queue: the job record must hold no pointer, field " + f.Name)
		}
	}
}

// newJob allocates a job with a copy of payload.
func newJob(id uint64, payload []byte, priority, enqueued int64) *job {
	buf := make([]byte, int(jobRecordSize)+len(payload))
	copy(buf[jobRecordSize:], payload)
	// The allocation is at least jobRecordSize bytes, so never one of the
	// runtime's tiny ones, and its size classes keep it aligned for job.
	j := (*job)(unsafe.Pointer(unsafe.SliceData(buf)))
	j.id, j.priority, j.enqueued, j.size = id, priority, enqueued, len(payload)
	return j
}

// payload is the job's payload, in the job's allocation.
func (j *job) payload() []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(j), jobRecordSize)), j.size)
}

// maxAttemptCount is where a job's attempt count stops: a queue without
// max-attempts that takes one job again and again every millisecond
// reaches it after 24 days.
const maxAttemptCount = math.MaxInt32

// attemptCount is the attempt count a record holds, stopped at
// maxAttemptCount.
func attemptCount(n int) int32 { return int32(min(n, maxAttemptCount)) }

// jobExtra is what few jobs have: a queue keeps one for a job with either.
type jobExtra struct {
	dedup string   // the deduplication id; "" for none
	fails failures // count is 0 until the first failure
}

// failures is a job's failure history.
type failures struct {
	count int
	first int64
	list  []failure // bounded by maxFailures, oldest first
}

// extra is j's jobExtra, nil when it has none.
func (q *queue) extra(j *job) *jobExtra {
	if !j.hasExtra {
		return nil
	}
	return q.extras[j.id]
}

// setExtra gives j x, or takes its jobExtra away when x is nil or holds
// nothing.
func (q *queue) setExtra(j *job, x *jobExtra) {
	switch {
	case x == nil || (x.dedup == "" && x.fails.count == 0):
		if j.hasExtra {
			delete(q.extras, j.id)
			j.hasExtra = false
			q.shrinkExtras()
		}
	default:
		if q.extras == nil {
			q.extras = make(map[uint64]*jobExtra)
		}
		q.extras[j.id] = x
		q.extrasPeak = max(q.extrasPeak, len(q.extras))
		j.hasExtra = true
	}
}

// takeExtra removes j's jobExtra from the queue and returns it, nil when
// it has none.
func (q *queue) takeExtra(j *job) *jobExtra {
	x := q.extra(j)
	q.setExtra(j, nil)
	return x
}

// shrinkExtras rebuilds the extras map once it holds far fewer entries
// than at its peak (Go maps keep their peak size).
func (q *queue) shrinkExtras() {
	if q.extrasPeak >= shrinkMin && len(q.extras)*shrinkRatio <= q.extrasPeak {
		q.extras = maps.Clone(q.extras)
		q.extrasPeak = len(q.extras)
	}
}

// dedupID is j's deduplication id, "" for none.
func (q *queue) dedupID(j *job) string {
	if x := q.extra(j); x != nil {
		return x.dedup
	}
	return ""
}

// setDedup sets j's deduplication id; "" removes it.
func (q *queue) setDedup(j *job, id string) {
	x := q.extra(j)
	switch {
	case x != nil:
		x.dedup = id
		q.setExtra(j, x)
	case id != "":
		q.setExtra(j, &jobExtra{dedup: id})
	}
}

// failures is j's failure history, nil before its first failure.
func (q *queue) failures(j *job) *failures {
	if x := q.extra(j); x != nil && x.fails.count > 0 {
		return &x.fails
	}
	return nil
}

type failure struct {
	at      int64
	attempt int
	reason  Reason
	message string
}

func (q *queue) addFailure(j *job, f failure) {
	x := q.extra(j)
	if x == nil {
		x = &jobExtra{}
	}
	x.addFailure(f)
	q.setExtra(j, x)
}

func (x *jobExtra) addFailure(f failure) {
	fs := &x.fails
	if fs.count == 0 {
		fs.first = f.at
	}
	fs.count++
	if len(fs.list) == maxFailures {
		copy(fs.list, fs.list[1:])
		fs.list = fs.list[:maxFailures-1]
	}
	fs.list = append(fs.list, f)
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms) }

func (j *job) view(queue string) Job {
	v := Job{
		ID:       j.id,
		Queue:    queue,
		Payload:  j.payload(),
		Attempt:  int(j.attempts),
		Priority: j.priority,
		Enqueued: msTime(j.enqueued),
	}
	if j.state == InFlight {
		v.Deadline = msTime(j.due)
	}
	return v
}

// Orders of the job trees; ids break ties, so no two jobs compare equal.

// readyLess: higher priority first, then earlier readyAt (FIFO).
func readyLess(a, b *job) bool {
	switch {
	case a.priority != b.priority:
		return a.priority > b.priority
	case a.readyAt != b.readyAt:
		return a.readyAt < b.readyAt
	}
	return a.id < b.id
}

// dueLess orders delayed jobs by due time, in-flight ones by deadline and
// dead letters by time of death.
func dueLess(a, b *job) bool {
	if a.due != b.due {
		return a.due < b.due
	}
	return a.id < b.id
}

func newJobTree(less func(a, b *job) bool) *btree.BTreeG[*job] {
	return btree.NewBTreeGOptions(less, btree.Options{NoLocks: true})
}
