package queue

import "fmt"

// Jobs returns up to count jobs of the queue in state (count <= 0: all):
// ready jobs in the order Pop would take them, delayed jobs by due time,
// jobs in flight by deadline, dead letters and completed jobs oldest first. It takes
// nothing and changes nothing; an unknown queue has no job.
func (b *Broker) Jobs(name string, state State, count int) ([]JobInfo, error) {
	if state > Completed {
		return nil, fmt.Errorf("%w: job state %d", ErrInvalidValue, state)
	}
	q := b.lockQueue(name, false)
	if q == nil {
		return nil, nil
	}
	defer b.unlockQueue(q)
	q.expire(b.now())
	trees := [...]func(func(*job) bool){Ready: q.ready.Scan, Delayed: q.delayed.Scan, InFlight: q.inflight.Scan,
		Dead: q.dead.Scan, Completed: q.completed.Scan}
	return scanInfo(q, trees[state], count), nil
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
