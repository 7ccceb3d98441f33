package e2e

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

const (
	// crashConsumers take and ack jobs while crashProducers push them.
	crashConsumers = 2
	// crashPopCount is the COUNT of a consumer's QPOP.
	crashPopCount = 8
	// crashSeed draws the kill moments of the queue's crash test.
	crashSeed = 20261127
	// crashQueue is the queue under load.
	crashQueue = "crash"
)

// crashLedger is what the clients know for certain about each job: the
// payload is the job's identity (each is pushed once).
type crashLedger struct {
	mu         sync.Mutex
	sent       map[string]bool   // QPUSH sent
	pushed     map[string]string // QPUSH answered: payload -> id
	delivered  map[string]bool   // returned by a QPOP
	acked      map[string]bool   // QACK answered
	ackPending map[string]bool   // QACK sent, no answer before the kill
}

func newCrashLedger() *crashLedger {
	return &crashLedger{sent: map[string]bool{}, pushed: map[string]string{}, delivered: map[string]bool{},
		acked: map[string]bool{}, ackPending: map[string]bool{}}
}

// produce pipelines QPUSH until the connection fails (the kill).
func (l *crashLedger) produce(t *testing.T, port, round, client int) {
	c, err := dialRESP(port)
	if err != nil {
		t.Errorf("producer %d: %v", client, err)
		return
	}
	defer c.Close()
	for seq := 0; ; seq += crashPipeline {
		batch := make([]string, crashPipeline)
		for i := range batch {
			batch[i] = fmt.Sprintf("r%d-p%d-%d", round, client, seq+i)
			c.Send("QPUSH", crashQueue, batch[i])
		}
		l.mu.Lock()
		for _, p := range batch {
			l.sent[p] = true
		}
		l.mu.Unlock()
		if c.Flush() != nil {
			return
		}
		for _, p := range batch {
			v, err := c.ReadValue()
			if err != nil {
				return
			}
			ids, ok := v.([]any)
			if !ok || len(ids) != 1 {
				t.Errorf("QPUSH %s: %v", p, v)
				return
			}
			l.mu.Lock()
			l.pushed[p] = ids[0].(string)
			l.mu.Unlock()
		}
	}
}

// consume takes and acks jobs until the connection fails (the kill).
func (l *crashLedger) consume(t *testing.T, port, client int) {
	c, err := dialRESP(port)
	if err != nil {
		t.Errorf("consumer %d: %v", client, err)
		return
	}
	defer c.Close()
	for {
		v, err := c.DoValue("QPOP", crashQueue, "COUNT", strconv.Itoa(crashPopCount), "BLOCK", "100")
		if err != nil {
			return
		}
		jobs, _ := v.([]any)
		if len(jobs) == 0 {
			continue
		}
		// The first job of each batch stays in flight, unacked, so that
		// every kill finds jobs in flight.
		args := []string{"QACK", crashQueue}
		var payloads []string
		l.mu.Lock()
		for k, j := range jobs {
			f := fields(j)
			p := f["payload"].(string)
			l.delivered[p] = true
			if k == 0 {
				continue
			}
			l.ackPending[p] = true
			payloads = append(payloads, p)
			args = append(args, f["id"].(string))
		}
		l.mu.Unlock()
		if len(payloads) == 0 {
			continue
		}
		v, err = c.DoValue(args...)
		if err != nil {
			return
		}
		if v != int64(len(payloads)) {
			t.Errorf("QACK %v: %v", args[2:], v)
			return
		}
		l.mu.Lock()
		for _, p := range payloads {
			delete(l.ackPending, p)
			l.acked[p] = true
		}
		l.mu.Unlock()
	}
}

// TestQueueCrash runs the real binary, under each policy of crashPolicies,
// under a pipelined load of several producers and consumers, kills it with
// SIGKILL at random moments, restarts it on the same data directory and
// checks that every job whose QPUSH was answered is there exactly once,
// unless its QACK was answered, and that no acked job came back.
func TestQueueCrash(t *testing.T) {
	for _, policy := range crashPolicies {
		t.Run("fsync "+policy, func(t *testing.T) {
			dir := t.TempDir()
			l := newCrashLedger()
			killUnderLoad(t, dir, policy, crashSeed, func(round int, s *server, wg *sync.WaitGroup) {
				for p := range crashProducers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						l.produce(t, s.port, round, p)
					}()
				}
				for c := range crashConsumers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						l.consume(t, s.port, c)
					}()
				}
			}, func(round int, after time.Duration) {
				l.mu.Lock()
				t.Logf("round %d: killed after %v; so far %d pushes sent, %d answered, %d delivered, %d acks answered, %d acks unanswered",
					round, after, len(l.sent), len(l.pushed), len(l.delivered), len(l.acked), len(l.ackPending))
				l.mu.Unlock()
			})

			c := restartForCheck(t, dir, policy)
			counts, err := c.DoValue("QLEN", crashQueue)
			if err != nil {
				t.Fatal(err)
			}
			n := fields(counts)
			if n["delayed"] != int64(0) || n["inflight"] != int64(0) || n["dead"] != int64(0) {
				t.Fatalf("after the last restart every job must be ready: %v", n)
			}
			v, err := c.DoValue("QPEEK", crashQueue, "COUNT", strconv.FormatInt(n["ready"].(int64)+1, 10))
			if err != nil {
				t.Fatal(err)
			}
			present := map[string]map[string]any{}
			ids := map[string]bool{}
			for _, j := range v.([]any) {
				f := fields(j)
				p, id := f["payload"].(string), f["id"].(string)
				if present[p] != nil {
					t.Errorf("job %q is present twice", p)
				}
				if ids[id] {
					t.Errorf("id %s is present twice", id)
				}
				present[p], ids[id] = f, true
				if !l.sent[p] {
					t.Errorf("job %q was never pushed", p)
				}
				if l.acked[p] {
					t.Errorf("job %q came back after its QACK was answered", p)
				}
				if l.delivered[p] && f["attempt"].(int64) < 1 {
					t.Errorf("job %q was delivered but its attempt count is %v", p, f["attempt"])
				}
			}
			lost := 0
			for p, id := range l.pushed {
				if present[p] == nil && !l.acked[p] && !l.ackPending[p] {
					lost++
					if lost <= 10 {
						t.Errorf("job %q (id %s) was acknowledged by QPUSH and is gone", p, id)
					}
				}
				if f := present[p]; f != nil && f["id"] != id {
					t.Errorf("job %q has id %v, QPUSH answered %s", p, f["id"], id)
				}
			}
			redelivered := 0
			for p := range present {
				if l.delivered[p] {
					redelivered++
				}
			}
			t.Logf("after %d kills: %d pushes sent, %d answered, %d acks answered (all gone), %d acks unanswered, "+
				"%d jobs present (%d of them delivered before a kill, attempt kept), %d answered pushes lost",
				crashRounds, len(l.sent), len(l.pushed), len(l.acked), len(l.ackPending), len(present), redelivered, lost)
			if len(l.pushed) == 0 || len(l.acked) == 0 {
				t.Fatalf("the load did nothing: %d pushes, %d acks answered", len(l.pushed), len(l.acked))
			}
		})
	}
}

// TestTransactionDurableUnderKill checks that EXEC's and EVAL's replies,
// like any reply under fsync always, leave only once the records they
// acknowledge are on disk: a SIGKILL right after them loses none.
func TestTransactionDurableUnderKill(t *testing.T) {
	dir := t.TempDir()
	s, err := launch(dir, "--fsync", "always")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.running() {
			s.kill()
		}
	})
	c := dialDurable(t, s.port)
	c.Send("MULTI")
	c.Send("QPUSH", "tx", "a")
	c.Send("QPUSH", "tx", "b")
	c.Send("EXEC")
	if err := c.Drain(4); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do("EVAL", "return redis.call('qpush', KEYS[1], 'c')", "1", "tx"); err != nil {
		t.Fatal(err)
	}
	s.kill()
	after := restartForCheck(t, dir, "always")
	v, err := after.Do("QLEN", "tx")
	if err != nil {
		t.Fatal(err)
	}
	if ready := fields(v)["ready"]; ready != int64(3) {
		t.Fatalf("QLEN after the kill: %v, want the 3 jobs acknowledged", v)
	}
}
