// Package heapfloor keeps the Go garbage collector from running after every
// few megabytes of allocation while the live heap is small.
//
// With GOGC=100 the collector runs once the heap has grown by as much as
// was live after the last cycle. A broker whose live heap is a few
// megabytes but which allocates a log's worth of buffers every second (a
// stream taking 1 KiB messages) then collects dozens of times a second, and
// the pages it returns to the OS between cycles are faulted in again by
// the next buffers. After every cycle, Start raises the GOGC percentage just
// enough for the next goal to be at least the live heap plus a floor, and
// leaves it at its configured value once the live heap alone exceeds the
// floor. The price is resident memory, at most the floor (a heap that
// started small may keep the pages it grew into). GOMEMLIMIT still caps the
// heap, and GOGC=off is left alone.
package heapfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Metric names read after each cycle.
const (
	liveMetric    = "/gc/heap/live:bytes"
	percentMetric = "/gc/gogc:percent"
)

// percentScale is GOGC's unit: a goal of live × (1 + percent / 100).
const percentScale = 100

// tuner adjusts the GOGC percentage after every cycle until stopped.
type tuner struct {
	floor uint64
	base  int // the GOGC percentage in force at Start

	mu      sync.Mutex
	stopped bool
	samples []metrics.Sample

	onAdjust func(percent int) // run after each adjustment when set
}

// sentinel is garbage as soon as it is made: its finalizer runs after the
// cycle that found it unreachable, adjusts the percentage and arms a new
// one for the next cycle.
type sentinel struct{ t *tuner }

// Start makes every collection goal at least the live heap plus floor
// bytes, until the returned function is called, which restores the GOGC
// percentage in force at Start. It does nothing when floor is 0 or the
// collector is off.
func Start(floor uint64) (stop func()) {
	return start(floor, nil)
}

// start is Start with a function to run after each adjustment.
func start(floor uint64, onAdjust func(percent int)) (stop func()) {
	t := &tuner{floor: floor, onAdjust: onAdjust,
		samples: []metrics.Sample{{Name: liveMetric}, {Name: percentMetric}}}
	metrics.Read(t.samples)
	if floor == 0 || t.samples[1].Value.Kind() != metrics.KindUint64 {
		return func() {}
	}
	// GOGC=off reads as the uint64 of -1.
	t.base = int(int32(t.samples[1].Value.Uint64()))
	if t.base < 0 {
		return func() {}
	}
	t.arm()
	return t.stop
}

func (t *tuner) arm() {
	runtime.SetFinalizer(&sentinel{t: t}, cycleEnded)
}

func cycleEnded(s *sentinel) {
	if s.t.adjust() {
		s.t.arm()
	}
}

// adjust sets the percentage for the live heap measured by the last cycle.
// It reports whether the tuner is still running.
func (t *tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.samples)
	p := percentFor(t.samples[0].Value.Uint64(), t.floor, t.base)
	debug.SetGCPercent(p)
	if t.onAdjust != nil {
		t.onAdjust(p)
	}
	return true
}

func (t *tuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		debug.SetGCPercent(t.base)
	}
}

// percentFor is the GOGC percentage that makes the goal after a cycle that
// left live bytes at least live + floor, and never below base.
func percentFor(live, floor uint64, base int) int {
	live = max(live, 1)
	need := (floor*percentScale + live - 1) / live
	if need <= uint64(base) {
		return base
	}
	return int(min(need, uint64(maxPercent)))
}

// maxPercent is the largest percentage the runtime takes (it keeps an
// int32).
const maxPercent = math.MaxInt32
