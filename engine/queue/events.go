package queue

// Job events, as BullMQ's QueueEvents: a queue whose events setting is on
// tells the broker's notifier what happens to each of its jobs, as it
// happens, and the progress their consumers tell. Changes that drop many
// jobs at once (QPURGE, QDEL, dead letters past their bound) tell nothing,
// nor does the replay of the log.

// EventKind is what happened to a job.
type EventKind uint8

// Job events.
const (
	EventWaiting   EventKind = iota // pushed ready, pushed by a schedule, or a dead letter requeued
	EventDelayed                    // pushed with a delay
	EventActive                     // taken by a consumer
	EventCompleted                  // acked
	EventFailed                     // a failed delivery: retried, or a dead letter (Event.Dead)
	EventRemoved                    // cancelled
	EventProgress                   // its consumer told its progress (Event.Progress)
)

var eventNames = [...]string{EventWaiting: "waiting", EventDelayed: "delayed", EventActive: "active",
	EventCompleted: "completed", EventFailed: "failed", EventRemoved: "removed", EventProgress: "progress"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one thing that happened to a job.
type Event struct {
	Queue   string
	Kind    EventKind
	ID      uint64
	Attempt int // deliveries so far
	// EventFailed: why, the consumer's error text (QNACK ERROR), and
	// whether the job became a dead letter.
	Reason Reason
	Error  string
	Dead   bool
	// EventProgress: what the consumer told.
	Progress []byte
	// EventCompleted: what the consumer returned (QACK RESULT); nil if nothing.
	Result []byte
}

// Notifier is told the events of the queues whose events setting is on. It
// is called with the queue's lock held, as each change is applied: it must
// return at once and must not call the broker.
type Notifier func(Event)

// SetNotifier has fn told the job events from now on.
func (b *Broker) SetNotifier(fn Notifier) {
	b.notifier.Store(&fn)
}

// notify tells the notifier about e when the queue publishes its events.
// Lock should be held.
func (q *queue) notify(e Event) {
	if !q.settings.Events {
		return
	}
	if fn := q.b.notifier.Load(); fn != nil {
		e.Queue = q.name
		(*fn)(e)
	}
}
