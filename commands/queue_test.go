package commands

import (
	"testing"
	"unsafe"

	"nexo/engine/queue"
)

// nameRuns is how many conversions of a repeated name the allocation check
// averages over.
const nameRuns = 100

func TestQueueCommandBuffers(t *testing.T) {
	t.Run("a connection naming one queue again converts its name once", func(t *testing.T) {
		c := &Client{}
		jobs, other := []byte("jobs"), []byte("other")
		first := c.queueName(jobs)
		if allocs := testing.AllocsPerRun(nameRuns, func() { c.queueName(jobs) }); allocs != 0 {
			t.Fatalf("%v allocations per name repeated", allocs)
		}
		if again := c.queueName(jobs); unsafe.StringData(again) != unsafe.StringData(first) {
			t.Fatal("the repeated name is a new string")
		}
		if got := c.queueName(other); got != "other" {
			t.Fatalf("a new name gave %q", got)
		}
		jobs[0] = 'J' // the argument buffer is reused for the next command
		if got := c.queueName(jobs); got != "Jobs" || c.queueName(other) != "other" {
			t.Fatalf("names %q and %q after the buffer changed", got, c.lastQueue)
		}
	})
	t.Run("the room kept for the next take is emptied and bounded", func(t *testing.T) {
		taken := append(make([]queue.Job, 0, maxKeptJobs), queue.Job{ID: 1, Payload: []byte("p")})
		kept := keepJobs(taken)
		if len(kept) != 0 || cap(kept) != maxKeptJobs || taken[0].Payload != nil {
			t.Fatalf("kept %d jobs of room %d, first payload %q", len(kept), cap(kept), taken[0].Payload)
		}
		if kept := keepJobs(make([]queue.Job, maxKeptJobs+1)); kept != nil {
			t.Fatalf("kept room for %d jobs past maxKeptJobs", cap(kept))
		}
	})
}
