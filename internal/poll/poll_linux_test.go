//go:build linux

package poll

import (
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
)

const (
	// wakers goroutines call Wake wakesEach times while the poller closes.
	wakers    = 8
	wakesEach = 1000
	// gateRounds is how many times a test parks a Wait and ends it.
	gateRounds = 1000
)

// newDescriptors is how many descriptors New opens: two epoll instances
// and the two ends of the wake pipe.
const newDescriptors = 4

// lowestFree returns the n lowest descriptor numbers not in use, the ones
// the next descriptors opened get.
func lowestFree(t *testing.T, n int) []int {
	t.Helper()
	// Opened, then duplicated: each takes the lowest number free, and none
	// depends on a descriptor the test process may not have.
	first, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	fds := []int{first}
	for len(fds) < n {
		fd, err := syscall.Dup(first)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	for _, fd := range fds {
		syscall.Close(fd)
	}
	return fds
}

// socketPair returns two connected, non-blocking sockets, closed when the
// test ends.
func socketPair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
	})
	return fds[0], fds[1]
}

// addedPair returns a socket pair whose first socket p watches.
func addedPair(t *testing.T, p *Poller) (a, b int) {
	t.Helper()
	a, b = socketPair(t)
	if err := p.Add(a); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPoller(t *testing.T) {
	t.Run("reports a readable socket until it is drained", func(t *testing.T) {
		p := newPoller(t)
		a, b := addedPair(t, p)
		syscall.Write(b, []byte("x"))
		for range 2 {
			ready, woken, err := p.Wait(nil)
			if err != nil || woken || !slices.Equal(ready, []int{a}) {
				t.Fatalf("Wait = %v, %v, %v; want [%d]", ready, woken, err, a)
			}
		}
		var buf [1]byte
		syscall.Read(a, buf[:])
		p.Wake()
		if ready, woken, err := p.Wait(nil); err != nil || !woken || len(ready) != 0 {
			t.Fatalf("Wait after draining = %v, %v, %v; want only the wake", ready, woken, err)
		}
	})

	t.Run("a Wait that finds a socket ready allocates nothing", func(t *testing.T) {
		p := newPoller(t)
		a, b := addedPair(t, p)
		syscall.Write(b, []byte("x"))
		ready := make([]int, 0, 1)
		allocs := testing.AllocsPerRun(gateRounds, func() {
			ready, _, _ = p.Wait(ready)
		})
		if allocs != 0 || !slices.Equal(ready, []int{a}) {
			t.Fatalf("Wait = %v with %v allocations per call; want [%d] with none", ready, allocs, a)
		}
	})

	t.Run("reports the peer's close as readable", func(t *testing.T) {
		p := newPoller(t)
		a, b := addedPair(t, p)
		syscall.Shutdown(b, syscall.SHUT_WR)
		if ready, _, err := p.Wait(nil); err != nil || !slices.Equal(ready, []int{a}) {
			t.Fatalf("Wait = %v, %v; want [%d]", ready, err, a)
		}
	})

	t.Run("many wakes collapse into one", func(t *testing.T) {
		p := newPoller(t)
		for range 3 * wakeBufferSize {
			p.Wake()
		}
		if _, woken, err := p.Wait(nil); err != nil || !woken {
			t.Fatalf("Wait = %v, %v; want woken", woken, err)
		}
		a, b := addedPair(t, p)
		syscall.Write(b, []byte("x"))
		if ready, woken, err := p.Wait(nil); err != nil || woken || !slices.Equal(ready, []int{a}) {
			t.Fatalf("Wait after the wakes = %v, %v, %v; want [%d] alone", ready, woken, err, a)
		}
	})

	t.Run("a removed socket is not reported", func(t *testing.T) {
		p := newPoller(t)
		a, b := addedPair(t, p)
		if err := p.Remove(a); err != nil {
			t.Fatal(err)
		}
		syscall.Write(b, []byte("x"))
		p.Wake()
		if ready, _, err := p.Wait(nil); err != nil || len(ready) != 0 {
			t.Fatalf("Wait = %v, %v; want nothing but the wake", ready, err)
		}
	})

	t.Run("Wake from another goroutine ends a Wait", func(t *testing.T) {
		p := newPoller(t)
		done := make(chan bool)
		go func() {
			_, woken, _ := p.Wait(nil)
			done <- woken
		}()
		p.Wake()
		if !<-done {
			t.Fatal("Wait returned without the wake")
		}
	})

	t.Run("input from another goroutine ends a Wait, round after round", func(t *testing.T) {
		// Each round's Wait finds nothing, arms the gate and parks; the
		// input written then must end it.
		parking := make(chan struct{}, 1)
		testHookPark = func() { parking <- struct{}{} }
		t.Cleanup(func() { testHookPark = func() {} })
		p := newPoller(t)
		a, b := addedPair(t, p)
		var buf [1]byte
		for round := range gateRounds {
			done := make(chan []int)
			go func() {
				ready, _, _ := p.Wait(nil)
				done <- ready
			}()
			<-parking
			syscall.Write(b, []byte("x"))
			if ready := <-done; !slices.Equal(ready, []int{a}) {
				t.Fatalf("round %d: Wait = %v; want [%d]", round, ready, a)
			}
			syscall.Read(a, buf[:])
		}
	})

	t.Run("edge: New fails cleanly when descriptors run out", func(t *testing.T) {
		// A first poller makes the runtime open its own poller's
		// descriptors, so that only New's count below.
		warm, err := New()
		if err != nil {
			t.Fatal(err)
		}
		warm.Close()
		var limit syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit) })
		for allowed := range newDescriptors {
			free := lowestFree(t, allowed+1)
			capped := limit
			capped.Cur = uint64(free[allowed])
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &capped); err != nil {
				t.Fatal(err)
			}
			p, err := New()
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
				t.Fatal(err)
			}
			if err == nil {
				p.Close()
				t.Fatalf("New with %d descriptors to spare succeeded", allowed)
			}
			if after := lowestFree(t, allowed+1); !slices.Equal(after, free) {
				t.Fatalf("New with %d descriptors to spare left descriptors open: free %v, then %v", allowed, free, after)
			}
		}
	})

	t.Run("edge: a Wake after Close writes to no descriptor", func(t *testing.T) {
		p, err := New()
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
		// The lowest free descriptors are the three Close released: two
		// socket pairs take their numbers.
		a, b := socketPair(t)
		c, d := socketPair(t)
		p.Wake()
		var buf [1]byte
		for _, fd := range []int{a, b, c, d} {
			if n, _ := syscall.Read(fd, buf[:]); n > 0 {
				t.Fatalf("descriptor %d reused after Close received the wake", fd)
			}
		}
	})

	t.Run("race: Wake from many goroutines while Close runs", func(t *testing.T) {
		p, err := New()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range wakers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range wakesEach {
					p.Wake()
				}
			}()
		}
		p.Close()
		wg.Wait()
	})

	t.Run("Read and Write move bytes on a non-blocking socket; an empty one answers EAGAIN", func(t *testing.T) {
		a, b := socketPair(t)
		if n, err := Write(a, []byte("hello")); n != 5 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		buf := make([]byte, 16)
		if n, err := Read(b, buf); n != 5 || err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("Read = %d %q, %v", n, buf[:max(n, 0)], err)
		}
		if _, err := Read(b, buf); err != syscall.EAGAIN {
			t.Fatalf("Read of an empty socket = %v, want EAGAIN", err)
		}
		if n, err := Write(a, nil); n != 0 || err != nil {
			t.Fatalf("empty Write = %d, %v", n, err)
		}
		if n, err := Read(b, nil); n != 0 || err != nil {
			t.Fatalf("empty Read = %d, %v", n, err)
		}
		syscall.Shutdown(a, syscall.SHUT_WR)
		if n, err := Read(b, buf); n != 0 || err != nil {
			t.Fatalf("Read after the peer's shutdown = %d, %v; want the end (0)", n, err)
		}
	})
}
