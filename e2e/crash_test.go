package e2e

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// The crash tests of the persistent brokers run the same way, once per
// policy of crashPolicies: each round starts the server on one data
// directory, puts it under a pipelined load from several clients and kills
// it with SIGKILL at a random moment; then the server is restarted once
// more and the test checks what survived against what the clients were
// told. Under everysec a reply waits until its record is written to the
// operating system, so the kill of the process must not lose it either.
var crashPolicies = []string{"always", "everysec"}

const (
	// crashRounds is how many times the server is killed under load.
	crashRounds = 4
	// crashProducers is how many clients write at once.
	crashProducers = 4
	// crashPipeline is how many commands one producer sends per write.
	crashPipeline = 16
	// crashMinLoad and crashMaxLoad bound how long the load runs before
	// the kill; the moment is random in between.
	crashMinLoad = 200 * time.Millisecond
	crashMaxLoad = time.Second
)

// killUnderLoad runs crashRounds rounds on dir, the server under the fsync
// policy. load starts the round's
// clients on wg against the running server s; they must return once the
// kill breaks their connections. The kill moments come from seed, so they
// are the same on every run. report logs the round once its clients are
// done.
func killUnderLoad(t *testing.T, dir, policy string, seed uint64, load func(round int, s *server, wg *sync.WaitGroup),
	report func(round int, after time.Duration)) {
	t.Helper()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for round := range crashRounds {
		s, err := launch(dir, "--fsync", policy)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Cleanup(func() {
			if s.running() {
				s.kill()
			}
		})
		var wg sync.WaitGroup
		load(round, s, &wg)
		after := crashMinLoad + time.Duration(rng.Int64N(int64(crashMaxLoad-crashMinLoad)))
		time.Sleep(after)
		s.kill()
		wg.Wait()
		report(round, after.Round(time.Millisecond))
	}
}

// restartForCheck starts the server on dir under the fsync policy after the
// last kill, stopped when the test ends, and returns a connection to it.
func restartForCheck(t *testing.T, dir, policy string) *respClient {
	t.Helper()
	s, err := launch(dir, "--fsync", policy)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
	c, err := dialRESP(s.port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
