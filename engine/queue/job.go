package queue

import (
	"math"
	"time"

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
// A queue holds one per job waiting, so its size is the broker's memory per
// job: 96 bytes, an allocation size class. The dedup id and the failure
// history, which few jobs have, are held apart (more), and the attempt
// count is 32 bits: in place, at 64, they would take the 128-byte class.
type job struct {
	id         uint64
	payload    []byte
	priority   int64
	enqueued   int64 // unix ms of the push
	readyAt    int64 // unix ms: the order among ready jobs of one priority
	due        int64 // unix ms: Delayed due time, InFlight deadline, Dead time
	owner      int64 // InFlight: the consumer holding it
	visibility int64 // InFlight: ms granted at the take, reused by QTOUCH
	more       *jobMore
	attempts   int32 // up to maxAttemptCount
	state      State
}

// maxAttemptCount is where a job's attempt count stops: a queue without
// max-attempts that takes one job again and again every millisecond
// reaches it after 24 days.
const maxAttemptCount = math.MaxInt32

// attemptCount is the attempt count a record holds, stopped at
// maxAttemptCount.
func attemptCount(n int) int32 { return int32(min(n, maxAttemptCount)) }

// jobMore is what few jobs have: nil when a job has neither.
type jobMore struct {
	dedup string   // the deduplication id; "" for none
	fails failures // count is 0 until the first failure
}

// failures is a job's failure history.
type failures struct {
	count int
	first int64
	list  []failure // bounded by maxFailures, oldest first
}

// dedupID is the job's deduplication id, "" for none.
func (j *job) dedupID() string {
	if j.more == nil {
		return ""
	}
	return j.more.dedup
}

// setDedup sets the job's deduplication id; "" removes it.
func (j *job) setDedup(id string) {
	switch {
	case j.more != nil:
		j.more.dedup = id
		if id == "" && j.more.fails.count == 0 {
			j.more = nil
		}
	case id != "":
		j.more = &jobMore{dedup: id}
	}
}

// failures is the job's failure history, nil before its first failure.
func (j *job) failures() *failures {
	if j.more == nil || j.more.fails.count == 0 {
		return nil
	}
	return &j.more.fails
}

type failure struct {
	at      int64
	attempt int
	reason  Reason
	message string
}

func (j *job) addFailure(f failure) {
	if j.more == nil {
		j.more = &jobMore{}
	}
	fs := &j.more.fails
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
		Payload:  j.payload,
		Attempt:  int(j.attempts),
		Priority: j.priority,
		Enqueued: msTime(j.enqueued),
	}
	if j.state == InFlight {
		v.Deadline = msTime(j.due)
	}
	return v
}

func (j *job) info(queue string) JobInfo {
	in := JobInfo{Job: j.view(queue), State: j.state, Dedup: j.dedupID()}
	if j.state == Delayed || j.state == Dead || j.state == Completed {
		in.Due = msTime(j.due)
	}
	if fs := j.failures(); fs != nil {
		in.FailureCount = fs.count
		in.FirstFailure = msTime(fs.first)
		in.Failures = make([]Failure, len(fs.list))
		for i, f := range fs.list {
			in.Failures[i] = Failure{At: msTime(f.at), Attempt: f.attempt, Reason: f.reason, Message: f.message}
		}
	}
	return in
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
