package queue

import "fmt"

// Jobs returns up to count jobs of the queue in state (count <= 0: all):
// ready jobs in the order Pop would take them, delayed jobs by due time,
// jobs in flight by deadline, dead letters and completed jobs oldest first,
// and the log index to wait for before showing them (read). It takes
// nothing; an unknown queue has no job.
func (b *Broker) Jobs(name string, state State, count int) ([]JobInfo, uint64, error) {
	if state > Completed {
		return nil, 0, fmt.Errorf("%w: job state %d", ErrInvalidValue, state)
	}
	var out []JobInfo
	idx := b.read(name, func(q *queue) {
		trees := [...]func(func(*job) bool){Ready: q.ready.Scan, Delayed: q.delayed.Scan, InFlight: q.inflight.Scan,
			Dead: q.dead.Scan, Completed: q.completed.Scan}
		out = scanInfo(q, trees[state], count)
	})
	return out, idx, nil
}

// ParseState reads a job state by its name ("ready", "delayed",
// "inflight", "dead", "completed").
func ParseState(s string) (State, error) {
	for st, name := range stateNames {
		if name == s {
			return State(st), nil
		}
	}
	return 0, fmt.Errorf("%w: job state %q", ErrInvalidValue, s)
}
