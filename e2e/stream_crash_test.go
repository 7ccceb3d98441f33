package e2e

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

const (
	// streamCrashPartitions is the partition count of the stream under load.
	streamCrashPartitions = 4
	// streamCrashFetch is the COUNT of each XFETCH of the final check.
	streamCrashFetch = 1000
	// streamCrashSeed draws the kill moments of the stream's crash test.
	streamCrashSeed = 20261126
	// streamCrashStream is the stream under load.
	streamCrashStream = "crash"
)

// streamPosition is where XAPPEND put a message.
type streamPosition struct {
	partition, offset int64
}

// streamCrashLedger is what the producers know for certain about each
// message: the payload is the message's identity (each is appended once).
type streamCrashLedger struct {
	mu       sync.Mutex
	sent     map[string]bool           // XAPPEND sent
	acked    map[string]streamPosition // XAPPEND answered
	perRound []int                     // answered appends per round
}

// streamCrashPayload names message seq of a producer in a round.
func streamCrashPayload(round, producer, seq int) string {
	return fmt.Sprintf("r%d-p%d-%d", round, producer, seq)
}

// produce pipelines single-payload XAPPEND until the connection fails (the kill).
func (l *streamCrashLedger) produce(t *testing.T, port, round, producer int) {
	c, err := dialRESP(port)
	if err != nil {
		t.Errorf("producer %d: %v", producer, err)
		return
	}
	defer c.Close()
	for seq := 0; ; seq += crashPipeline {
		batch := make([]string, crashPipeline)
		for i := range batch {
			batch[i] = streamCrashPayload(round, producer, seq+i)
			c.Send("XAPPEND", streamCrashStream, batch[i])
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
			pos, ok := v.([]any)
			if !ok || len(pos) != 1 {
				t.Errorf("XAPPEND %s: %v", p, v)
				return
			}
			pair, ok := pos[0].([]any)
			if !ok || len(pair) != 2 {
				t.Errorf("XAPPEND %s: %v", p, v)
				return
			}
			l.mu.Lock()
			l.acked[p] = streamPosition{partition: pair[0].(int64), offset: pair[1].(int64)}
			l.perRound[round]++
			l.mu.Unlock()
		}
	}
}

// streamCrashMessage is one message read back after the last restart.
type streamCrashMessage struct {
	payload              string
	round, producer, seq int
	partition, offset    int64
}

// fetchPartition reads every message of a partition from offset 0.
func fetchPartition(t *testing.T, c *respClient, partition int) []streamCrashMessage {
	t.Helper()
	var out []streamCrashMessage
	for {
		v, err := c.DoValue("XFETCH", streamCrashStream, "PARTITION", strconv.Itoa(partition),
			"FROM", strconv.Itoa(len(out)), "COUNT", strconv.Itoa(streamCrashFetch))
		if err != nil {
			t.Fatal(err)
		}
		msgs, ok := v.([]any)
		if !ok {
			t.Fatalf("XFETCH partition %d from %d: %v", partition, len(out), v)
		}
		if len(msgs) == 0 {
			return out
		}
		for _, raw := range msgs {
			f := fields(raw)
			m := streamCrashMessage{payload: f["value"].(string), partition: f["partition"].(int64), offset: f["offset"].(int64)}
			if _, err := fmt.Sscanf(m.payload, "r%d-p%d-%d", &m.round, &m.producer, &m.seq); err != nil {
				t.Fatalf("message %v at partition %d offset %d: %v", m.payload, m.partition, m.offset, err)
			}
			if m.partition != int64(partition) || m.offset != int64(len(out)) {
				t.Fatalf("partition %d: message %q is at partition %d offset %d, want offset %d (offsets must be dense)",
					partition, m.payload, m.partition, m.offset, len(out))
			}
			out = append(out, m)
		}
	}
}

// TestStreamCrash runs the real binary, under each policy of crashPolicies,
// under a pipelined XAPPEND load of several producers, kills it with SIGKILL
// at random moments, restarts it on the same data directory and checks that
// every answered append is at the partition and offset it was given with its
// payload, that offsets are dense, that nothing unsent appears, and that
// each partition keeps the order of the rounds and of each producer's
// appends.
func TestStreamCrash(t *testing.T) {
	for _, policy := range crashPolicies {
		t.Run("fsync "+policy, func(t *testing.T) {
			dir := t.TempDir()
			l := &streamCrashLedger{sent: map[string]bool{}, acked: map[string]streamPosition{}, perRound: make([]int, crashRounds)}
			killUnderLoad(t, dir, policy, streamCrashSeed, func(round int, s *server, wg *sync.WaitGroup) {
				if round == 0 {
					c, err := dialRESP(s.port)
					if err != nil {
						t.Fatal(err)
					}
					// No retention: every durable message must still be there.
					v, err := c.DoValue("XCREATE", streamCrashStream, "PARTITIONS", strconv.Itoa(streamCrashPartitions),
						"MAXAGE", "0", "MAXBYTES", "0", "MAXMSGS", "0")
					c.Close()
					if err != nil || v != "OK" {
						t.Fatalf("XCREATE: %v %v", v, err)
					}
				}
				for p := range crashProducers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						l.produce(t, s.port, round, p)
					}()
				}
			}, func(round int, after time.Duration) {
				l.mu.Lock()
				t.Logf("round %d: killed after %v; this round %d appends answered; so far %d sent, %d answered",
					round, after, l.perRound[round], len(l.sent), len(l.acked))
				l.mu.Unlock()
			})

			c := restartForCheck(t, dir, policy)
			present := map[string]streamPosition{}
			unanswered := 0
			for p := range streamCrashPartitions {
				msgs := fetchPartition(t, c, p)
				// lastSeq is, per round and producer, the seq of its last message
				// in this partition: one connection's appends keep their order.
				lastSeq := map[[2]int]int{}
				lastRound := 0
				for _, m := range msgs {
					pos := streamPosition{partition: m.partition, offset: m.offset}
					if _, dup := present[m.payload]; dup {
						t.Errorf("message %q is present twice", m.payload)
					}
					present[m.payload] = pos
					if !l.sent[m.payload] {
						t.Errorf("message %q at partition %d offset %d was never sent", m.payload, m.partition, m.offset)
					}
					if at, ok := l.acked[m.payload]; ok && at != pos {
						t.Errorf("message %q is at %+v, XAPPEND answered %+v", m.payload, pos, at)
					}
					if _, ok := l.acked[m.payload]; !ok {
						unanswered++
					}
					if m.round < lastRound {
						t.Errorf("partition %d offset %d: a message of round %d after one of round %d", p, m.offset, m.round, lastRound)
					}
					lastRound = m.round
					k := [2]int{m.round, m.producer}
					if last, ok := lastSeq[k]; ok && m.seq <= last {
						t.Errorf("partition %d offset %d: %q after seq %d of the same producer", p, m.offset, m.payload, last)
					}
					lastSeq[k] = m.seq
				}
			}
			lost := 0
			for p, at := range l.acked {
				if _, ok := present[p]; !ok {
					lost++
					if lost <= 10 {
						t.Errorf("message %q was acknowledged at %+v and is gone", p, at)
					}
				}
			}
			t.Logf("after %d kills: %d appends sent, %d answered (per round %v), %d present (%d of them sent but unanswered at a kill), %d answered appends lost",
				crashRounds, len(l.sent), len(l.acked), l.perRound, len(present), unanswered, lost)
			if len(l.acked) == 0 {
				t.Fatal("the load did nothing: no append answered")
			}
		})
	}
}
