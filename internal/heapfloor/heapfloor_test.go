package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// finalizerTimeout bounds the wait for the finalizer goroutine to run the
// sentinel's finalizer after a forced collection.
const finalizerTimeout = 10 * time.Second

const testFloor = 64 << 20

func currentPercent(t *testing.T) int {
	t.Helper()
	s := []metrics.Sample{{Name: percentMetric}}
	metrics.Read(s)
	return int(int32(s[0].Value.Uint64()))
}

// keepPercent restores the GOGC percentage when the test ends.
func keepPercent(t *testing.T) {
	before := currentPercent(t)
	t.Cleanup(func() { debug.SetGCPercent(before) })
}

func TestHeapFloor(t *testing.T) {
	t.Run("percentFor raises a small heap's goal to live plus the floor", func(t *testing.T) {
		if got := percentFor(16<<20, testFloor, 100); got != 400 {
			t.Fatalf("16 MiB live: got %d, want 400", got)
		}
		if got := percentFor(10<<20, testFloor, 100); got != 640 {
			t.Fatalf("10 MiB live: got %d, want 640", got)
		}
	})
	t.Run("percentFor keeps the configured percentage for a large heap", func(t *testing.T) {
		if got := percentFor(1<<30, testFloor, 100); got != 100 {
			t.Fatalf("got %d, want 100", got)
		}
		if got := percentFor(testFloor, testFloor, 100); got != 100 {
			t.Fatalf("live = floor: got %d, want 100", got)
		}
		if got := percentFor(16<<20, testFloor, 500); got != 500 {
			t.Fatalf("GOGC=500: got %d, want 500", got)
		}
	})
	t.Run("after a collection the percentage follows the live heap", func(t *testing.T) {
		keepPercent(t)
		adjusted := make(chan int, 1)
		stop := start(testFloor, func(p int) {
			select {
			case adjusted <- p:
			default:
			}
		})
		defer stop()
		runtime.GC()
		select {
		case p := <-adjusted:
			if p <= 100 {
				t.Fatalf("percentage %d for a test binary's small heap, want above 100", p)
			}
			if got := currentPercent(t); got != p {
				t.Fatalf("runtime percentage %d, tuner set %d", got, p)
			}
		case <-time.After(finalizerTimeout):
			t.Fatal("no adjustment after a collection")
		}
	})

	t.Run("percentFor never overflows the runtime's percentage", func(t *testing.T) {
		if got := percentFor(0, 1<<40, 100); got != maxPercent {
			t.Fatalf("got %d, want %d", got, maxPercent)
		}
	})
	t.Run("a zero floor or GOGC=off leaves the collector alone", func(t *testing.T) {
		keepPercent(t)
		debug.SetGCPercent(100)
		Start(0)()
		if got := currentPercent(t); got != 100 {
			t.Fatalf("zero floor: percentage %d", got)
		}
		debug.SetGCPercent(-1)
		stop := Start(testFloor)
		runtime.GC()
		stop()
		if got := currentPercent(t); got != -1 {
			t.Fatalf("GOGC=off: percentage %d", got)
		}
	})
	t.Run("stop restores the percentage and ends the adjustments", func(t *testing.T) {
		keepPercent(t)
		debug.SetGCPercent(150)
		tu := &tuner{floor: testFloor, base: 150, samples: []metrics.Sample{{Name: liveMetric}, {Name: percentMetric}}}
		if !tu.adjust() {
			t.Fatal("adjust before stop reported stopped")
		}
		tu.stop()
		if got := currentPercent(t); got != 150 {
			t.Fatalf("after stop: percentage %d, want 150", got)
		}
		if tu.adjust() {
			t.Fatal("adjust after stop reported running")
		}
		if got := currentPercent(t); got != 150 {
			t.Fatalf("adjust after stop changed the percentage to %d", got)
		}
	})
}
