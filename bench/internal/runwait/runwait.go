// Package runwait ends a benchmark run whose clients work on goroutines.
package runwait

import (
	"io"
	"sync"
	"time"
)

// Wait waits until finished is closed or a client reports an error on
// errs. It then closes conns, which ends the clients still waiting on
// them, and waits for the clients on wg. It returns the time from start
// to finished, or the first error a client reported. errs must have room
// for every client's error.
func Wait[C io.Closer](start time.Time, finished <-chan struct{}, errs chan error, wg *sync.WaitGroup, conns []C) (time.Duration, error) {
	var elapsed time.Duration
	select {
	case <-finished:
		elapsed = time.Since(start)
	case err := <-errs:
		closeAll(conns)
		return 0, err
	}
	closeAll(conns)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return elapsed, nil
}

func closeAll[C io.Closer](conns []C) {
	for _, c := range conns {
		c.Close()
	}
}
