package stream_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nexo/engine/stream"
	"nexo/internal/crashimage"
	"nexo/wal"
)

const (
	// blockTimeout bounds a blocking read that a test expects to be served.
	blockTimeout = 10 * time.Second
	// sessionTimeout is the group session timeout of the tests.
	sessionTimeout = 10 * time.Second
	// testSegmentSize keeps partition logs in several small segments.
	testSegmentSize = 4 << 10
	// sweepInterval keeps the real-time retention sweep out of the tests,
	// which apply retention through the facade with an injected clock.
	sweepInterval = time.Hour
	// sweepTestInterval is the retention sweep of the test of the sweep.
	sweepTestInterval = 50 * time.Millisecond
	// sweepMargin is added to the sweep interval before a test expects its
	// effect, to let the sweep run under the race detector on a loaded
	// machine.
	sweepMargin = 500 * time.Millisecond
)

// clock is an injectable clock that only moves when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a broker on a temporary directory with a fake clock.
type fixture struct {
	t     *testing.T
	clock *clock
	cfg   stream.Config
	b     *stream.Broker
}

func newFixture(t *testing.T, edit ...func(*stream.Config)) *fixture {
	t.Helper()
	c := newClock()
	cfg := stream.Config{
		Dir:               t.TempDir(),
		WAL:               wal.Options{Fsync: wal.FsyncAlways, SegmentSize: testSegmentSize},
		SessionTimeout:    sessionTimeout,
		RetentionInterval: sweepInterval,
		Now:               c.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	f := &fixture{t: t, clock: c, cfg: cfg}
	f.open()
	t.Cleanup(func() { f.b.Close() })
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	b, err := stream.Open(f.cfg)
	if err != nil {
		f.t.Fatalf("open: %v", err)
	}
	f.b = b
}

// restart closes the broker and opens it again on the same directory.
func (f *fixture) restart() {
	f.t.Helper()
	if err := f.b.Close(); err != nil {
		f.t.Fatalf("close: %v", err)
	}
	f.open()
}

// to is the change of Alter that sets every setting to set.
func to(set stream.Settings) func(*stream.Settings) {
	return func(s *stream.Settings) { *s = set }
}

// newTailFixture returns a fixture whose stream s has one partition holding
// "a" and "b" on disk, and an image of that partition for crashTo.
func newTailFixture(t *testing.T) (*fixture, string) {
	f := newFixture(t)
	f.create("s", stream.Settings{Partitions: 1})
	f.append("s", "", "a", "b")
	f.restart()
	return f, f.partitionImage("s", 0)
}

// partitionImage copies the files of a partition's log, as a crash of the
// machine would leave them if nothing written after this call reached the
// disk.
func (f *fixture) partitionImage(name string, partition int) string {
	f.t.Helper()
	return crashimage.Of(f.t, f.partitionDir(name, partition))
}

// crashTo closes the broker, puts image (from partitionImage) in place of
// the partition's log and opens the broker again: a crash of the machine
// that lost what the partition's log wrote after the image was taken.
func (f *fixture) crashTo(name string, partition int, image string) {
	f.t.Helper()
	if err := f.b.Close(); err != nil {
		f.t.Fatalf("close: %v", err)
	}
	dir := f.partitionDir(name, partition)
	if err := os.RemoveAll(dir); err != nil {
		f.t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(image)); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

func (f *fixture) partitionDir(name string, partition int) string {
	return filepath.Join(f.cfg.Dir, hex.EncodeToString([]byte(name)), strconv.Itoa(partition))
}

func (f *fixture) create(name string, set stream.Settings) {
	f.t.Helper()
	tok, err := f.b.Create(name, set)
	f.wait(tok, err)
}

// notifyMargin bounds the wait for the log's committer to fsync an append
// and call its notifier back, under the race detector on a loaded machine.
const notifyMargin = 500 * time.Millisecond

// notifier receives Notify's calls.
type notifier chan struct{}

func (n notifier) Notify() { n <- struct{}{} }

func (f *fixture) wait(tok stream.Token, err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("unexpected error: %v", err)
	}
	if err := f.b.Wait(tok); err != nil {
		f.t.Fatalf("wait: %v", err)
	}
}

// append appends payloads with key and waits for durability.
func (f *fixture) append(name, key string, payloads ...string) stream.AppendResult {
	f.t.Helper()
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	vs := make([][]byte, len(payloads))
	for i, p := range payloads {
		vs[i] = []byte(p)
	}
	res, err := f.b.Append(name, k, vs)
	f.wait(res.Token, err)
	return res
}

func (f *fixture) read(name string, partition int, from stream.From, count int) []stream.Message {
	f.t.Helper()
	msgs, err := f.b.Read(name, partition, from, count)
	if err != nil {
		f.t.Fatalf("read: %v", err)
	}
	return msgs
}

func (f *fixture) groupRead(name, group, member string, count int) []stream.Message {
	f.t.Helper()
	msgs, err := f.b.GroupRead(context.Background(), name, group, member, count, false)
	if err != nil {
		f.t.Fatalf("group read: %v", err)
	}
	return msgs
}

// info reads the stream's description and waits for the tokens it
// returns, as a reply does.
func (f *fixture) info(name string) stream.Info {
	f.t.Helper()
	info, toks, err := f.b.Info(name)
	if err != nil {
		f.t.Fatalf("info: %v", err)
	}
	for _, tok := range toks {
		f.wait(tok, nil)
	}
	return info
}

// groupInfo is info for a group.
func (f *fixture) groupInfo(name, group string) stream.GroupInfo {
	f.t.Helper()
	info, toks, err := f.b.GroupInfo(name, group)
	if err != nil {
		f.t.Fatalf("group info: %v", err)
	}
	for _, tok := range toks {
		f.wait(tok, nil)
	}
	return info
}

// values returns the values of msgs as strings.
// holdFirstLoad makes the first read of a log wait until release is called
// (defer it: a failed test must let the read go before the broker closes);
// entered is closed once that read waits. compacted receives (without
// blocking the compaction) once a partition's compaction is done. Call it
// before newFixture, so that the hooks are reset after the broker closes.
func holdFirstLoad(t *testing.T) (entered <-chan struct{}, release func(), compacted <-chan struct{}) {
	return holdLoad(t, 1)
}

// holdLoad is holdFirstLoad for the k-th read of a log (from 1).
func holdLoad(t *testing.T, k int64) (entered <-chan struct{}, release func(), compacted <-chan struct{}) {
	in, out, done := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	var loads atomic.Int64
	var rel sync.Once
	release = func() { rel.Do(func() { close(out) }) }
	t.Cleanup(stream.SetTestHooks(func() {
		if loads.Add(1) == k {
			close(in)
			<-out
		}
	}, func() {
		select {
		case done <- struct{}{}:
		default:
		}
	}))
	return in, release, done
}

// readAsync reads on a goroutine of its own and hands over the messages.
func readAsync(t *testing.T, f *fixture, name string, partition int, from stream.From, count int) <-chan []stream.Message {
	got := make(chan []stream.Message, 1)
	go func() {
		msgs, err := f.b.Read(name, partition, from, count)
		if err != nil {
			t.Errorf("read: %v", err)
		}
		got <- msgs
	}()
	return got
}

// within fails the test unless fn returns within blockTimeout.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(blockTimeout):
		t.Fatalf("%s waited for a read of the log", what)
	}
}

func values(msgs []stream.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Value)
	}
	return out
}

// offsets returns the offsets of msgs.
func offsets(msgs []stream.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out
}

// assignment returns each member's partitions.
func assignment(info stream.GroupInfo) map[string][]int {
	out := make(map[string][]int)
	for _, m := range info.Members {
		out[m.ID] = m.Partitions
	}
	return out
}

// waitBlocked returns once member is blocked in a GroupRead of group g
// of stream s: the goroutine that calls it takes the stream's lock, which
// this test cannot observe otherwise.
func waitBlocked(t *testing.T, f *fixture, member string) {
	t.Helper()
	deadline := time.Now().Add(blockTimeout)
	for time.Now().Before(deadline) {
		for _, m := range f.groupInfo("s", "g").Members {
			if m.ID == member && m.Blocked {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatalf("member %s never blocked", member)
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func TestStream(t *testing.T) {
	t.Run("append and read", func(t *testing.T) {
		f := newFixture(t)
		res := f.append("s", "", "a", "b", "c")
		if res.Partition != 0 || res.First != 0 {
			t.Fatalf("append at %d/%d, want 0/0", res.Partition, res.First)
		}
		if res = f.append("s", "", "d"); res.First != 3 {
			t.Fatalf("second append at offset %d, want 3", res.First)
		}
		msgs := f.read("s", 0, stream.FromOffset(1), 2)
		if got := values(msgs); !slices.Equal(got, []string{"b", "c"}) {
			t.Fatalf("read %v", got)
		}
		if !msgs[0].Time.Equal(f.clock.Now()) || msgs[0].Offset != 1 || msgs[0].Partition != 0 {
			t.Fatalf("message %+v", msgs[0])
		}
		info := f.info("s")
		if p := info.Partitions[0]; p.First != 0 || p.Next != 4 || p.Messages != 4 || p.Bytes == 0 {
			t.Fatalf("partition info %+v", p)
		}
		if got := f.b.List(); !slices.Equal(got, []string{"s"}) {
			t.Fatalf("list %v", got)
		}
		if st := f.b.Stats(); st.Streams != 1 || st.Partitions != 1 || st.Messages != 4 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("a token's log reports the append durable at once or calls back once it is", func(t *testing.T) {
		f := newFixture(t)
		res, err := f.b.Append("s", nil, [][]byte{[]byte("a")})
		if err != nil {
			t.Fatal(err)
		}
		log, index := res.Token.Durable()
		n := make(notifier, 1)
		durable, err := log.Notify(index, n)
		if err != nil {
			t.Fatal(err)
		}
		if !durable {
			select {
			case <-n:
			case <-time.After(notifyMargin):
				t.Fatal("no notification")
			}
		}
		if durable, err := log.Notify(index, n); !durable || err != nil {
			t.Fatalf("after the notification: durable %v, %v", durable, err)
		}
	})

	t.Run("messages are served from the log: a message read stays the same while the log moves on", func(t *testing.T) {
		f := newFixture(t, func(c *stream.Config) { c.CompactMinBytes = 1 })
		f.create("s", stream.Settings{Partitions: 1, MaxMessages: 10})
		f.append("s", "k", "a")
		first := f.read("s", 0, stream.FromEarliest(), 1)
		// Enough messages for many segments; retention drops the first
		// ones and the log is compacted past them.
		const more = 200
		for i := range more {
			f.append("s", "", fmt.Sprint(i))
		}
		if got := offsets(f.read("s", 0, stream.FromEarliest(), more)); len(got) != 10 || got[0] != more-9 {
			t.Fatalf("retained %v", got)
		}
		f.restart() // waits for the compactions and closes the log
		if string(first[0].Key) != "k" || string(first[0].Value) != "a" {
			t.Fatalf("the first message read became %+v", first[0])
		}
	})

	t.Run("a read ends with the message whose record reaches MaxReadBytes, whatever its count", func(t *testing.T) {
		// Records of 100-byte values take a little more than 100 bytes:
		// the third reaches 250.
		const value, budget = 100, 250
		f := newFixture(t, func(c *stream.Config) { c.MaxReadBytes = budget })
		v := strings.Repeat("v", value)
		f.append("s", "", v, v, v, v, strings.Repeat("w", 4*budget))
		if got := offsets(f.read("s", 0, stream.FromEarliest(), 10)); !slices.Equal(got, []int64{0, 1, 2}) {
			t.Fatalf("read offsets %v, want 0 to 2", got)
		}
		if got := offsets(f.read("s", 0, stream.FromOffset(4), 10)); !slices.Equal(got, []int64{4}) {
			t.Fatalf("a message larger than the bound: offsets %v, want it alone", got)
		}
		// Appends go round-robin: one message to partition 0, four to 1. A
		// group read takes partition 0's, then partition 1's to the bound.
		f.create("t", stream.Settings{Partitions: 2})
		f.wait(f.b.CreateGroup("t", "g", stream.FromEarliest()))
		f.append("t", "", v)
		f.append("t", "", v, v, v, v)
		msgs, err := f.b.GroupRead(context.Background(), "t", "g", "m", 10, false)
		if err != nil {
			t.Fatal(err)
		}
		var parts []int
		for _, m := range msgs {
			parts = append(parts, m.Partition)
		}
		if !slices.Equal(parts, []int{0, 1, 1}) {
			t.Fatalf("a group read took from partitions %v, want 0, 1 and 1", parts)
		}
	})

	t.Run("ReadBatches hands the messages in batches as the log reads them, after their number", func(t *testing.T) {
		// Records of 100-byte values take a little more than 100 bytes:
		// every third one reaches 250.
		const value, batchBytes = 100, 250
		f := newFixture(t)
		v := strings.Repeat("v", value)
		f.append("s", "", v, v, v, v, v, v, v, v, v, v)
		var sizes []int
		var got []stream.Message
		err := f.b.ReadBatches("s", 0, stream.FromOffset(1), 100, batchBytes, func(n int) {
			sizes = append(sizes, -n)
		}, func(msgs []stream.Message) {
			sizes = append(sizes, len(msgs))
			got = append(got, msgs...)
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sizes, []int{-9, 3, 3, 3}) {
			t.Fatalf("start and batches %v, want -9 (the count) then 3, 3, 3", sizes)
		}
		if want := f.read("s", 0, stream.FromOffset(1), 100); !slices.Equal(offsets(got), offsets(want)) {
			t.Fatalf("batches hold offsets %v, Read %v", offsets(got), offsets(want))
		}
		empty := 0
		if err := f.b.ReadBatches("s", 0, stream.FromLatest(), 100, batchBytes, func(n int) { empty = n + 1 },
			func(msgs []stream.Message) { empty += len(msgs) }); err != nil || empty != 1 {
			t.Fatalf("a read with nothing to return: %v, start and messages %d", err, empty)
		}
	})

	t.Run("a read from the log holds up neither appends nor reads of other partitions", func(t *testing.T) {
		entered, release, _ := holdFirstLoad(t)
		defer release()
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 2})
		f.append("s", "", "a") // partition 0
		f.append("s", "", "b") // partition 1
		got := readAsync(t, f, "s", 0, stream.FromEarliest(), 10)
		<-entered
		within(t, "an append", func() {
			if _, err := f.b.Append("s", nil, [][]byte{[]byte("c")}); err != nil {
				t.Errorf("append: %v", err)
			}
		})
		within(t, "a read of another partition", func() {
			if msgs, err := f.b.Read("s", 1, stream.FromEarliest(), 10); err != nil || !slices.Equal(values(msgs), []string{"b"}) {
				t.Errorf("partition 1: %v, %v", values(msgs), err)
			}
		})
		release()
		if v := values(<-got); !slices.Equal(v, []string{"a", "c"}) && !slices.Equal(v, []string{"a"}) {
			t.Fatalf("partition 0 read %v", v)
		}
	})

	t.Run("create with settings; alter grows partitions and changes retention", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 2, MaxMessages: 10})
		wantErr(t, func() error { _, err := f.b.Create("s", stream.Settings{Partitions: 1}); return err }(), stream.ErrStreamExists)
		tok, err := f.b.Alter("s", to(stream.Settings{Partitions: 3, MaxMessages: 5}))
		f.wait(tok, err)
		info := f.info("s")
		if len(info.Partitions) != 3 || info.Settings.MaxMessages != 5 {
			t.Fatalf("info %+v", info)
		}
		_, err = f.b.Alter("s", to(stream.Settings{Partitions: 2}))
		wantErr(t, err, stream.ErrShrink)
	})

	t.Run("a key always maps to the same partition; no key goes round-robin", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 4})
		for _, key := range []string{"alpha", "beta", "gamma", "delta"} {
			first := f.append("s", key, "x").Partition
			for range 3 {
				if p := f.append("s", key, "y").Partition; p != first {
					t.Fatalf("key %q went to %d then %d", key, first, p)
				}
			}
		}
		var parts []int
		for range 8 {
			parts = append(parts, f.append("s", "", "z").Partition)
		}
		if !slices.Equal(parts, []int{0, 1, 2, 3, 0, 1, 2, 3}) {
			t.Fatalf("round-robin partitions %v", parts)
		}
	})

	t.Run("edge: an empty key is a key: it picks the same partition each time and reads back empty, not null", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 4})
		var parts []int
		for range 4 {
			res, err := f.b.Append("s", []byte{}, [][]byte{[]byte("v")})
			f.wait(res.Token, err)
			parts = append(parts, res.Partition)
		}
		if len(slices.Compact(slices.Clone(parts))) != 1 {
			t.Fatalf("an empty key went to partitions %v", parts)
		}
		noKey := f.append("s", "", "no key")
		for _, restarted := range []bool{false, true} {
			if restarted {
				f.restart()
			}
			for _, m := range f.read("s", parts[0], stream.FromEarliest(), 10) {
				switch {
				case m.Offset == noKey.First && m.Partition == noKey.Partition:
					if m.Key != nil {
						t.Fatalf("restarted %v: no key read back as %#v", restarted, m.Key)
					}
				case m.Key == nil || len(m.Key) != 0:
					t.Fatalf("restarted %v: the empty key read back as %#v", restarted, m.Key)
				}
			}
			if m := f.read("s", noKey.Partition, stream.FromOffset(noKey.First), 1); len(m) != 1 || m[0].Key != nil {
				t.Fatalf("restarted %v: the message without a key read back as %+v", restarted, m)
			}
		}
	})

	t.Run("replay from offset, earliest, latest and time", func(t *testing.T) {
		f := newFixture(t)
		f.append("s", "", "a", "b")
		f.clock.Advance(time.Second)
		mark := f.clock.Now()
		f.append("s", "", "c")
		f.clock.Advance(time.Second)
		f.append("s", "", "d")
		for _, tc := range []struct {
			name string
			from stream.From
			want []string
		}{
			{"offset", stream.FromOffset(2), []string{"c", "d"}},
			{"earliest", stream.FromEarliest(), []string{"a", "b", "c", "d"}},
			{"latest", stream.FromLatest(), []string{}},
			{"time", stream.FromTime(mark), []string{"c", "d"}},
			{"time between messages", stream.FromTime(mark.Add(time.Millisecond)), []string{"d"}},
			{"time after every message", stream.FromTime(f.clock.Now().Add(time.Hour)), []string{}},
			{"end offset", stream.FromOffset(4), []string{}},
		} {
			if got := values(f.read("s", 0, tc.from, 10)); !slices.Equal(got, tc.want) {
				t.Fatalf("%s: read %v, want %v", tc.name, got, tc.want)
			}
		}
	})

	t.Run("a blocking read is woken by an append; it ends empty with its context", func(t *testing.T) {
		f := newFixture(t)
		f.append("s", "", "a")
		got := make(chan []stream.Message, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
			defer cancel()
			msgs, err := f.b.ReadWait(ctx, "s", 0, stream.FromOffset(1), 10)
			if err != nil {
				t.Errorf("read wait: %v", err)
			}
			got <- msgs
		}()
		f.append("s", "", "b")
		if msgs := <-got; !slices.Equal(values(msgs), []string{"b"}) {
			t.Fatalf("woken with %v", values(msgs))
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		msgs, err := f.b.ReadWait(ctx, "s", 0, stream.FromLatest(), 10)
		if err != nil || len(msgs) != 0 {
			t.Fatalf("cancelled wait: %v %v", msgs, err)
		}
		msgs, err = f.b.ReadWait(ctx, "s", 0, stream.FromEarliest(), 1)
		if err != nil || values(msgs)[0] != "a" {
			t.Fatalf("wait with messages there: %v %v", values(msgs), err)
		}
	})

	t.Run("retention by message count", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1, MaxMessages: 3})
		for i := range 5 {
			f.append("s", "", fmt.Sprint(i))
		}
		if got := values(f.read("s", 0, stream.FromEarliest(), 10)); !slices.Equal(got, []string{"2", "3", "4"}) {
			t.Fatalf("retained %v", got)
		}
		if p := f.info("s").Partitions[0]; p.First != 2 || p.Next != 5 || p.Messages != 3 {
			t.Fatalf("partition %+v", p)
		}
	})

	t.Run("retention by bytes", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1})
		f.append("s", "", "0123456789")
		one := f.info("s").Partitions[0].Bytes
		tok, err := f.b.Alter("s", to(stream.Settings{Partitions: 1, MaxBytes: 2 * one}))
		f.wait(tok, err)
		for range 4 {
			f.append("s", "", "0123456789")
		}
		if p := f.info("s").Partitions[0]; p.Messages != 2 || p.Bytes != 2*one || p.First != 3 {
			t.Fatalf("partition %+v, one message is %d bytes", p, one)
		}
	})

	t.Run("retention by age follows the clock", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1, MaxAge: time.Minute})
		f.append("s", "", "old")
		f.clock.Advance(30 * time.Second)
		f.append("s", "", "new")
		f.clock.Advance(30 * time.Second)
		if p := f.info("s").Partitions[0]; p.Messages != 2 {
			t.Fatalf("at exactly the age limit: %+v", p)
		}
		f.clock.Advance(time.Millisecond)
		if got := values(f.read("s", 0, stream.FromEarliest(), 10)); !slices.Equal(got, []string{"new"}) {
			t.Fatalf("retained %v", got)
		}
		f.clock.Advance(30 * time.Second)
		if p := f.info("s").Partitions[0]; p.Messages != 0 || p.First != 2 || p.Next != 2 {
			t.Fatalf("all expired: %+v", p)
		}
	})

	t.Run("edge: while the clock is frozen, appends share its instant and nothing ages", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1, MaxAge: time.Minute})
		f.append("s", "", "old")
		f.clock.Advance(time.Minute / 2)
		thaw := f.b.FreezeClock()
		frozenAt := f.clock.Now()
		f.clock.Advance(time.Minute/2 + time.Millisecond)
		f.append("s", "", "new")
		msgs := f.read("s", 0, stream.FromEarliest(), 10)
		if got := values(msgs); !slices.Equal(got, []string{"old", "new"}) || !msgs[1].Time.Equal(frozenAt) {
			t.Fatalf("frozen: %v, the second stamped %v, want %v", got, msgs[1].Time, frozenAt)
		}
		thaw()
		if got := values(f.read("s", 0, stream.FromEarliest(), 10)); !slices.Equal(got, []string{"new"}) {
			t.Fatalf("thawed: %v", got)
		}
	})

	t.Run("the retention sweep removes expired messages of an idle stream", func(t *testing.T) {
		f := newFixture(t, func(c *stream.Config) { c.RetentionInterval = sweepTestInterval })
		f.create("s", stream.Settings{Partitions: 1, MaxAge: time.Minute})
		f.append("s", "", "a")
		f.clock.Advance(time.Minute + time.Millisecond)
		time.Sleep(sweepTestInterval + sweepMargin)
		if st := f.b.Stats(); st.Messages != 0 {
			t.Fatalf("after the sweep: %+v", st)
		}
	})

	t.Run("consumer group: range assignment, rebalance on join and leave", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 4})
		tok, err := f.b.CreateGroup("s", "g", stream.FromEarliest())
		f.wait(tok, err)
		f.groupRead("s", "g", "m1", 10)
		if got := assignment(f.groupInfo("s", "g")); !slices.Equal(got["m1"], []int{0, 1, 2, 3}) {
			t.Fatalf("one member: %v", got)
		}
		f.groupRead("s", "g", "m2", 10)
		f.groupRead("s", "g", "m3", 10)
		got := assignment(f.groupInfo("s", "g"))
		if !slices.Equal(got["m1"], []int{0, 1}) || !slices.Equal(got["m2"], []int{2}) || !slices.Equal(got["m3"], []int{3}) {
			t.Fatalf("three members: %v", got)
		}
		if err := f.b.Leave("s", "g", "m1"); err != nil {
			t.Fatal(err)
		}
		got = assignment(f.groupInfo("s", "g"))
		if !slices.Equal(got["m2"], []int{0, 1}) || !slices.Equal(got["m3"], []int{2, 3}) || len(got) != 2 {
			t.Fatalf("after leave: %v", got)
		}
		if info := f.info("s"); !slices.Equal(info.Groups, []string{"g"}) {
			t.Fatalf("groups %v", info.Groups)
		}
	})

	t.Run("consumer group: a member reads only its partitions and commits them", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 2})
		f.wait(f.b.CreateGroup("s", "g", stream.FromEarliest()))
		f.groupRead("s", "g", "a", 10)
		f.groupRead("s", "g", "b", 10)
		for i := range 4 {
			f.append("s", "", fmt.Sprint(i)) // partitions 0, 1, 0, 1
		}
		msgsA := f.groupRead("s", "g", "a", 10)
		msgsB := f.groupRead("s", "g", "b", 10)
		if !slices.Equal(values(msgsA), []string{"0", "2"}) || !slices.Equal(values(msgsB), []string{"1", "3"}) {
			t.Fatalf("a read %v, b read %v", values(msgsA), values(msgsB))
		}
		if more := f.groupRead("s", "g", "a", 10); len(more) != 0 {
			t.Fatalf("delivered twice: %v", values(more))
		}
		f.wait(f.b.Commit("s", "g", "a", 0, 2))
		_, err := f.b.Commit("s", "g", "a", 1, 1)
		wantErr(t, err, stream.ErrNotAssigned)
		info := f.groupInfo("s", "g")
		if p := info.Partitions[0]; p.Committed != 2 || p.Lag != 0 || p.Owner != "a" {
			t.Fatalf("partition 0 %+v", p)
		}
		if p := info.Partitions[1]; p.Committed != 0 || p.Lag != 2 || p.Owner != "b" {
			t.Fatalf("partition 1 %+v", p)
		}
	})

	t.Run("consumer group: uncommitted messages are redelivered after a rebalance", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1})
		f.append("s", "", "a", "b", "c")
		f.wait(f.b.CreateGroup("s", "g", stream.FromEarliest()))
		if got := values(f.groupRead("s", "g", "m1", 2)); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("m1 read %v", got)
		}
		f.wait(f.b.Commit("s", "g", "m1", 0, 1))
		if err := f.b.Leave("s", "g", "m1"); err != nil {
			t.Fatal(err)
		}
		if got := values(f.groupRead("s", "g", "m2", 10)); !slices.Equal(got, []string{"b", "c"}) {
			t.Fatalf("m2 read %v", got)
		}
	})

	t.Run("consumer group: a silent member times out; a blocked one does not", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 2})
		f.wait(f.b.CreateGroup("s", "g", stream.FromLatest()))
		f.groupRead("s", "g", "a", 1)
		f.groupRead("s", "g", "b", 1)
		f.clock.Advance(sessionTimeout)
		f.groupRead("s", "g", "b", 1)
		if got := assignment(f.groupInfo("s", "g")); len(got) != 2 {
			t.Fatalf("at exactly the timeout: %v", got)
		}
		f.clock.Advance(time.Millisecond)
		if got := assignment(f.groupInfo("s", "g")); len(got) != 1 || !slices.Equal(got["b"], []int{0, 1}) {
			t.Fatalf("after the timeout: %v", got)
		}

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := f.b.GroupRead(ctx, "s", "g", "b", 1, true)
			done <- err
		}()
		waitBlocked(t, f, "b")
		f.clock.Advance(2 * sessionTimeout)
		f.groupRead("s", "g", "c", 1)
		if got := assignment(f.groupInfo("s", "g")); len(got) != 2 || !slices.Equal(got["b"], []int{0}) {
			t.Fatalf("with b blocked: %v", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("blocked read: %v", err)
		}
	})

	t.Run("consumer group: seek, create at offset or time, delete", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1})
		f.append("s", "", "a", "b")
		f.clock.Advance(time.Second)
		mark := f.clock.Now()
		f.append("s", "", "c")
		f.wait(f.b.CreateGroup("s", "at-offset", stream.FromOffset(1)))
		f.wait(f.b.CreateGroup("s", "at-time", stream.FromTime(mark)))
		f.wait(f.b.CreateGroup("s", "at-latest", stream.FromLatest()))
		if got := values(f.groupRead("s", "at-offset", "m", 10)); !slices.Equal(got, []string{"b", "c"}) {
			t.Fatalf("from offset: %v", got)
		}
		if got := values(f.groupRead("s", "at-time", "m", 10)); !slices.Equal(got, []string{"c"}) {
			t.Fatalf("from time: %v", got)
		}
		if got := values(f.groupRead("s", "at-latest", "m", 10)); len(got) != 0 {
			t.Fatalf("from latest: %v", got)
		}
		f.wait(f.b.Seek("s", "at-latest", stream.AllPartitions, stream.FromEarliest()))
		if got := values(f.groupRead("s", "at-latest", "m", 10)); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("after seek: %v", got)
		}
		if c := f.groupInfo("s", "at-latest").Partitions[0].Committed; c != 0 {
			t.Fatalf("seek committed %d", c)
		}
		f.wait(f.b.Seek("s", "at-latest", 0, stream.FromOffset(2)))
		if got := values(f.groupRead("s", "at-latest", "m", 10)); !slices.Equal(got, []string{"c"}) {
			t.Fatalf("after seeking partition 0: %v", got)
		}
		_, err := f.b.Seek("s", "at-latest", 1, stream.FromEarliest())
		wantErr(t, err, stream.ErrPartitionOutOfRange)
		_, err = f.b.Seek("s", "at-latest", 0, stream.FromOffset(4))
		wantErr(t, err, stream.ErrOffsetOutOfRange)
		f.wait(f.b.DeleteGroup("s", "at-time"))
		_, _, err = f.b.GroupInfo("s", "at-time")
		wantErr(t, err, stream.ErrUnknownGroup)
	})

	t.Run("consumer group: a blocked member is woken by an append to its partition", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1})
		f.wait(f.b.CreateGroup("s", "g", stream.FromLatest()))
		f.groupRead("s", "g", "m", 1)
		got := make(chan []stream.Message, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
			defer cancel()
			msgs, err := f.b.GroupRead(ctx, "s", "g", "m", 1, true)
			if err != nil {
				t.Errorf("group read: %v", err)
			}
			got <- msgs
		}()
		f.append("s", "", "x")
		if msgs := <-got; !slices.Equal(values(msgs), []string{"x"}) {
			t.Fatalf("woken with %v", values(msgs))
		}
	})

	t.Run("edge: a removed offset reads from the earliest retained", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1, MaxMessages: 2})
		f.append("s", "", "a", "b", "c", "d")
		if got := offsets(f.read("s", 0, stream.FromOffset(0), 10)); !slices.Equal(got, []int64{2, 3}) {
			t.Fatalf("read from a removed offset: %v", got)
		}
		f.wait(f.b.CreateGroup("s", "g", stream.FromOffset(0)))
		if got := offsets(f.groupRead("s", "g", "m", 10)); !slices.Equal(got, []int64{2, 3}) {
			t.Fatalf("group from a removed offset: %v", got)
		}
		if lag := f.groupInfo("s", "g").Partitions[0].Lag; lag != 2 {
			t.Fatalf("lag %d", lag)
		}
	})

	t.Run("edge: a read whose messages retention and a compaction remove meanwhile reads from the earliest retained", func(t *testing.T) {
		entered, release, compacted := holdFirstLoad(t)
		defer release()
		f := newFixture(t, func(c *stream.Config) { c.CompactMinBytes = 1 })
		f.create("s", stream.Settings{Partitions: 1, MaxMessages: 5})
		for i := range 5 {
			f.append("s", "", fmt.Sprint(i))
		}
		got := readAsync(t, f, "s", 0, stream.FromEarliest(), 3)
		<-entered
		// Retention removes offsets 0 to 9 and the log is compacted past
		// them while the read waits.
		for i := 5; i < 15; i++ {
			f.append("s", "", fmt.Sprint(i))
		}
		<-compacted
		release()
		if o := offsets(<-got); !slices.Equal(o, []int64{10, 11, 12}) {
			t.Fatalf("read offsets %v, want the earliest retained, 10 to 12", o)
		}
	})

	t.Run("edge: ReadBatches overtaken by retention: begun again from the earliest, or cut once started", func(t *testing.T) {
		const value, batchBytes = 100, 250
		v := strings.Repeat("v", value)
		for _, tc := range []struct {
			name string
			held int64 // the load retention overtakes
			want []int64
			cut  bool
		}{
			{"before its first batch", 1, []int64{10, 11, 12, 13, 14}, false},
			{"after its first batch", 2, []int64{0, 1, 2}, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				entered, release, compacted := holdLoad(t, tc.held)
				defer release()
				f := newFixture(t, func(c *stream.Config) { c.CompactMinBytes = 1 })
				f.create("s", stream.Settings{Partitions: 1, MaxMessages: 5})
				f.append("s", "", v, v, v, v, v)
				type result struct {
					n   int
					got []int64
					err error
				}
				done := make(chan result, 1)
				go func() {
					var r result
					r.err = f.b.ReadBatches("s", 0, stream.FromEarliest(), 100, batchBytes, func(n int) { r.n = n },
						func(msgs []stream.Message) { r.got = append(r.got, offsets(msgs)...) })
					done <- r
				}()
				<-entered
				// Retention removes offsets 0 to 9 and the log is compacted
				// past them while the read waits.
				f.append("s", "", v, v, v, v, v, v, v, v, v, v)
				<-compacted
				release()
				r := <-done
				switch {
				case tc.cut && (!errors.Is(r.err, stream.ErrReadCut) || r.n != 5):
					t.Fatalf("error %v after a start of %d, want ErrReadCut after 5", r.err, r.n)
				case !tc.cut && (r.err != nil || r.n != len(tc.want)):
					t.Fatalf("error %v after a start of %d, want none after %d", r.err, r.n, len(tc.want))
				case !slices.Equal(r.got, tc.want):
					t.Fatalf("offsets %v, want %v", r.got, tc.want)
				}
			})
		}
	})

	t.Run("edge: a member whose cursor moves while its messages are read gets them from the new cursor", func(t *testing.T) {
		entered, release, _ := holdFirstLoad(t)
		defer release()
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1})
		f.wait(f.b.CreateGroup("s", "g", stream.FromEarliest()))
		for i := range 5 {
			f.append("s", "", fmt.Sprint(i))
		}
		got := make(chan []stream.Message, 1)
		go func() {
			msgs, err := f.b.GroupRead(context.Background(), "s", "g", "m", 10, false)
			if err != nil {
				t.Errorf("group read: %v", err)
			}
			got <- msgs
		}()
		<-entered
		within(t, "a seek", func() { f.wait(f.b.Seek("s", "g", 0, stream.FromOffset(3))) })
		release()
		if v := values(<-got); !slices.Equal(v, []string{"3", "4"}) {
			t.Fatalf("delivered %v, want 3 and 4", v)
		}
		if v := values(f.groupRead("s", "g", "m", 10)); len(v) != 0 {
			t.Fatalf("delivered again %v", v)
		}
	})

	t.Run("edge: a record damaged on disk fails the read instead of serving it", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1})
		payload := string(make([]byte, testSegmentSize/4))
		for range 12 {
			f.append("s", "", payload)
		}
		part := filepath.Join(f.cfg.Dir, hex.EncodeToString([]byte("s")), "0")
		segs, err := filepath.Glob(filepath.Join(part, "[0-9]*"))
		if err != nil || len(segs) < 2 {
			t.Fatalf("segments %v, %v", segs, err)
		}
		// Damage the last byte of the first message's value in the first,
		// closed segment, which the log reads from the file.
		fh, err := os.OpenFile(segs[0], os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		at := int64(len(payload))
		if _, err := fh.WriteAt([]byte{1}, at); err != nil {
			t.Fatal(err)
		}
		fh.Close()
		_, err = f.b.Read("s", 0, stream.FromOffset(0), 1)
		wantErr(t, err, stream.ErrFailed)
		f.wait(f.b.CreateGroup("s", "g", stream.FromEarliest()))
		_, err = f.b.GroupRead(context.Background(), "s", "g", "m", 1, false)
		wantErr(t, err, stream.ErrFailed)
		if got := offsets(f.read("s", 0, stream.FromOffset(11), 1)); !slices.Equal(got, []int64{11}) {
			t.Fatalf("an intact record reads %v", got)
		}
	})

	t.Run("edge: a member that leaves while blocked gets nothing; only members commit", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 2})
		f.wait(f.b.CreateGroup("s", "g", stream.FromLatest()))
		f.groupRead("s", "g", "m", 1)
		done := make(chan []stream.Message, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
			defer cancel()
			msgs, err := f.b.GroupRead(ctx, "s", "g", "m", 1, true)
			if err != nil {
				t.Errorf("group read: %v", err)
			}
			done <- msgs
		}()
		waitBlocked(t, f, "m")
		if err := f.b.Leave("s", "g", "m"); err != nil {
			t.Fatal(err)
		}
		f.append("s", "", "x")
		if msgs := <-done; len(msgs) != 0 {
			t.Fatalf("a member that left read %v", values(msgs))
		}
		_, err := f.b.Commit("s", "g", "", 0, 0)
		wantErr(t, err, stream.ErrNotAssigned)
		_, err = f.b.Commit("s", "g", "m", 0, 0)
		wantErr(t, err, stream.ErrNotAssigned)
		if info := f.groupInfo("s", "g"); len(info.Members) != 0 || info.Partitions[0].Owner != "" {
			t.Fatalf("group %+v", info)
		}
	})

	t.Run("edge: a deleted group wakes its blocked members with ErrUnknownGroup", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1})
		f.wait(f.b.CreateGroup("s", "g", stream.FromLatest()))
		f.groupRead("s", "g", "m", 1)
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
			defer cancel()
			_, err := f.b.GroupRead(ctx, "s", "g", "m", 1, true)
			done <- err
		}()
		waitBlocked(t, f, "m")
		f.wait(f.b.DeleteGroup("s", "g"))
		wantErr(t, <-done, stream.ErrUnknownGroup)
	})

	t.Run("edge: appends small and larger than the scratch buffer do not share bytes", func(t *testing.T) {
		f := newFixture(t)
		big := []string{strings.Repeat("a", 700<<10), strings.Repeat("b", 700<<10)}
		f.append("s", "", "first", "second")
		f.append("s", "", big...)
		f.append("s", "k", "after")
		f.append("s", "", "x")
		want := append(append([]string{"first", "second"}, big...), "after", "x")
		if got := values(f.read("s", 0, stream.FromEarliest(), 10)); !slices.Equal(got, want) {
			t.Fatalf("read back %d messages that differ from what was appended", len(got))
		}
	})

	t.Run("edge: bad input is refused and changes nothing", func(t *testing.T) {
		f := newFixture(t, func(c *stream.Config) { c.MaxPayload = 8 })
		f.create("s", stream.Settings{Partitions: 2})
		f.append("s", "", "a")
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			err  error
			want error
		}{
			{"read unknown stream", func() error { _, err := f.b.Read("nope", 0, stream.FromEarliest(), 1); return err }(), stream.ErrUnknownStream},
			{"partition out of range", func() error { _, err := f.b.Read("s", 2, stream.FromEarliest(), 1); return err }(), stream.ErrPartitionOutOfRange},
			{"negative partition", func() error { _, err := f.b.Read("s", -1, stream.FromEarliest(), 1); return err }(), stream.ErrPartitionOutOfRange},
			{"offset beyond the end", func() error { _, err := f.b.Read("s", 0, stream.FromOffset(2), 1); return err }(), stream.ErrOffsetOutOfRange},
			{"zero count", func() error { _, err := f.b.Read("s", 0, stream.FromEarliest(), 0); return err }(), stream.ErrInvalidValue},
			{"payload too big", func() error { _, err := f.b.Append("s", nil, [][]byte{[]byte("123456789")}); return err }(), stream.ErrPayloadTooBig},
			{"no payload", func() error { _, err := f.b.Append("s", nil, nil); return err }(), stream.ErrInvalidValue},
			{"empty name", func() error { _, err := f.b.Append("", nil, [][]byte{[]byte("x")}); return err }(), stream.ErrInvalidName},
			{"zero partitions", func() error { _, err := f.b.Create("t", stream.Settings{}); return err }(), stream.ErrInvalidValue},
			{"too many partitions", func() error {
				_, err := f.b.Create("t", stream.Settings{Partitions: stream.MaxPartitions + 1})
				return err
			}(), stream.ErrInvalidValue},
			{"unknown group", func() error { _, err := f.b.GroupRead(ctx, "s", "nope", "m", 1, false); return err }(), stream.ErrUnknownGroup},
			{"group offset beyond the end", func() error { _, err := f.b.CreateGroup("s", "g", stream.FromOffset(5)); return err }(), stream.ErrOffsetOutOfRange},
			{"commit to unknown group", func() error { _, err := f.b.Commit("s", "nope", "m", 0, 0); return err }(), stream.ErrUnknownGroup},
		} {
			if !errors.Is(tc.err, tc.want) {
				t.Errorf("%s: error %v, want %v", tc.name, tc.err, tc.want)
			}
		}
		f.wait(f.b.CreateGroup("s", "g", stream.FromEarliest()))
		_, err := f.b.CreateGroup("s", "g", stream.FromEarliest())
		wantErr(t, err, stream.ErrGroupExists)
		f.groupRead("s", "g", "m", 1)
		_, err = f.b.Commit("s", "g", "m", 0, 2)
		wantErr(t, err, stream.ErrOffsetOutOfRange)
		_, err = f.b.Commit("s", "g", "m", 2, 0)
		wantErr(t, err, stream.ErrPartitionOutOfRange)
		if got := f.b.List(); !slices.Equal(got, []string{"s"}) {
			t.Fatalf("streams %v", got)
		}
		if p := f.info("s").Partitions[0]; p.Next != 1 {
			t.Fatalf("partition %+v", p)
		}
		if c := f.groupInfo("s", "g").Partitions[0].Committed; c != 0 {
			t.Fatalf("committed %d", c)
		}
	})

	t.Run("edge: an append of more messages than the log takes at once is refused and creates nothing", func(t *testing.T) {
		const maxPending = 8
		f := newFixture(t, func(c *stream.Config) { c.WAL.MaxPending = maxPending })
		payloads := slices.Repeat([]string{"v"}, maxPending+1)
		_, err := f.b.Append("s", nil, slices.Repeat([][]byte{[]byte("v")}, maxPending+1))
		wantErr(t, err, stream.ErrTooManyMessages)
		if got := f.b.List(); len(got) != 0 {
			t.Fatalf("streams %v", got)
		}
		if res := f.append("s", "", payloads[:maxPending]...); res.First != 0 {
			t.Fatalf("the largest append took offset %d", res.First)
		}
	})

	t.Run("edge: BUSYGROUP and NOGROUP name the metadata log's last record, for the reply to wait for", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1})
		index := func(tok stream.Token) uint64 {
			_, i := tok.Durable()
			return i
		}
		created, err := f.b.CreateGroup("s", "g", stream.FromEarliest())
		if err != nil {
			t.Fatal(err)
		}
		tok, err := f.b.CreateGroup("s", "g", stream.FromEarliest())
		wantErr(t, err, stream.ErrGroupExists)
		if index(tok) != index(created) {
			t.Fatalf("BUSYGROUP names record %d, the creation is %d", index(tok), index(created))
		}
		deleted, err := f.b.DeleteGroup("s", "g")
		if err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() (stream.Token, error){
			"delete": func() (stream.Token, error) { return f.b.DeleteGroup("s", "g") },
			"seek":   func() (stream.Token, error) { return f.b.Seek("s", "g", 0, stream.FromEarliest()) },
			"commit": func() (stream.Token, error) { return f.b.Commit("s", "g", "m", 0, 0) },
		} {
			tok, err := call()
			wantErr(t, err, stream.ErrUnknownGroup)
			if index(tok) != index(deleted) {
				t.Fatalf("%s: NOGROUP names record %d, the deletion is %d", name, index(tok), index(deleted))
			}
		}
		f.wait(deleted, nil)
	})

	t.Run("edge: a read names the last record of every log it shows, for the reply to wait for", func(t *testing.T) {
		// Another connection's append, commit or group deletion may not be
		// durable yet when a read shows it.
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 2})
		f.wait(f.b.CreateGroup("s", "g", stream.FromEarliest()))
		f.wait(f.b.CreateGroup("s", "gone", stream.FromEarliest()))
		appended, err := f.b.Append("s", nil, [][]byte{[]byte("m")})
		if err != nil {
			t.Fatal(err)
		}
		f.groupRead("s", "g", "m", 1)
		committed, err := f.b.Commit("s", "g", "m", appended.Partition, appended.First+1)
		if err != nil {
			t.Fatal(err)
		}
		deleted, err := f.b.DeleteGroup("s", "gone")
		if err != nil {
			t.Fatal(err)
		}
		covers := func(read string, toks []stream.Token, want stream.Token) {
			t.Helper()
			log, index := want.Durable()
			for _, tok := range toks {
				if l, i := tok.Durable(); l == log && i >= index {
					return
				}
			}
			t.Fatalf("%s names no record of the log at or after %d", read, index)
		}
		_, toks, err := f.b.Info("s")
		if err != nil {
			t.Fatal(err)
		}
		covers("info", toks, appended.Token)
		covers("info", toks, deleted)
		_, toks, err = f.b.GroupInfo("s", "g")
		if err != nil {
			t.Fatal(err)
		}
		covers("group info", toks, appended.Token)
		covers("group info", toks, committed)
		_, toks, err = f.b.GroupInfo("s", "gone")
		wantErr(t, err, stream.ErrUnknownGroup)
		covers("NOGROUP of group info", toks, deleted)
	})

	t.Run("edge: a grown stream maps keys anew and groups read new partitions from the start", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1})
		f.wait(f.b.CreateGroup("s", "g", stream.FromLatest()))
		f.groupRead("s", "g", "m", 1)
		f.wait(f.b.Alter("s", to(stream.Settings{Partitions: 2})))
		f.append("s", "", "p0")
		f.append("s", "", "p1")
		if got := values(f.groupRead("s", "g", "m", 10)); len(got) != 2 {
			t.Fatalf("after growth read %v", got)
		}
		if got := assignment(f.groupInfo("s", "g")); !slices.Equal(got["m"], []int{0, 1}) {
			t.Fatalf("assignment %v", got)
		}
	})

	t.Run("race: concurrent alters each change only the setting they name", func(t *testing.T) {
		f := newFixture(t, func(c *stream.Config) { c.WAL.Fsync = wal.FsyncNo })
		f.create("s", stream.Settings{Partitions: 1})
		const each = 200
		var wg sync.WaitGroup
		for _, change := range []func(*stream.Settings, int){
			func(s *stream.Settings, i int) { s.MaxMessages = int64(i) },
			func(s *stream.Settings, i int) { s.MaxBytes = int64(i) },
			func(s *stream.Settings, i int) { s.MaxAge = time.Duration(i) * time.Millisecond },
		} {
			wg.Go(func() {
				for i := 1; i <= each; i++ {
					if _, err := f.b.Alter("s", func(s *stream.Settings) { change(s, i) }); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		want := stream.Settings{Partitions: 1, MaxAge: each * time.Millisecond, MaxBytes: each, MaxMessages: each}
		if got := f.info("s").Settings; got != want {
			t.Fatalf("settings %+v, want %+v", got, want)
		}
	})

	t.Run("race: concurrent appenders to one partition get dense unique offsets", func(t *testing.T) {
		f := newFixture(t, func(c *stream.Config) { c.WAL.Fsync = wal.FsyncNo })
		const writers, each = 8, 50
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					res, err := f.b.Append("s", []byte("k"), [][]byte{[]byte(fmt.Sprint(w, "-", i))})
					if err == nil {
						err = f.b.Wait(res.Token)
					}
					if err != nil {
						t.Errorf("append: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		msgs := f.read("s", 0, stream.FromEarliest(), writers*each+1)
		if len(msgs) != writers*each {
			t.Fatalf("%d messages", len(msgs))
		}
		seen := make(map[string]bool)
		for i, m := range msgs {
			if m.Offset != int64(i) || seen[string(m.Value)] {
				t.Fatalf("message %d: offset %d, value %q seen %v", i, m.Offset, m.Value, seen[string(m.Value)])
			}
			seen[string(m.Value)] = true
		}
		f.restart()
		if got := offsets(f.read("s", 0, stream.FromOffset(writers*each-1), 10)); !slices.Equal(got, []int64{writers*each - 1}) {
			t.Fatalf("after restart: %v", got)
		}
	})

	t.Run("race: group members, readers and appenders run together", func(t *testing.T) {
		f := newFixture(t, func(c *stream.Config) { c.WAL.Fsync = wal.FsyncNo })
		f.create("s", stream.Settings{Partitions: 4})
		f.wait(f.b.CreateGroup("s", "g", stream.FromEarliest()))
		const members, total = 3, 200
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := make(map[string]int)
		ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
		defer cancel()
		for m := range members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprint("m", m)
				for ctx.Err() == nil {
					mu.Lock()
					done := len(seen) == total
					mu.Unlock()
					if done {
						return
					}
					msgs, err := f.b.GroupRead(ctx, "s", "g", id, 10, false)
					if err != nil {
						t.Errorf("group read: %v", err)
						return
					}
					mu.Lock()
					for _, msg := range msgs {
						seen[string(msg.Value)]++
					}
					mu.Unlock()
					for _, msg := range msgs {
						_, err := f.b.Commit("s", "g", id, msg.Partition, msg.Offset+1)
						if err != nil && !errors.Is(err, stream.ErrNotAssigned) {
							t.Errorf("commit: %v", err)
						}
					}
				}
			}()
		}
		for i := range total {
			if _, err := f.b.Append("s", nil, [][]byte{[]byte(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		if len(seen) != total {
			t.Fatalf("%d of %d messages delivered", len(seen), total)
		}
	})

	t.Run("race: reads from the earliest while retention compacts the log", func(t *testing.T) {
		f := newFixture(t, func(c *stream.Config) {
			c.WAL.Fsync = wal.FsyncNo
			c.CompactMinBytes = 1
		})
		f.create("s", stream.Settings{Partitions: 1, MaxMessages: 20})
		const appends = 400
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range appends {
				if _, err := f.b.Append("s", nil, [][]byte{[]byte(fmt.Sprint(i))}); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
		for range 2 {
			wg.Go(func() {
				for range appends {
					msgs, err := f.b.Read("s", 0, stream.FromEarliest(), 20)
					if err != nil {
						t.Errorf("read: %v", err)
						return
					}
					for _, m := range msgs {
						if string(m.Value) != fmt.Sprint(m.Offset) {
							t.Errorf("offset %d holds %q", m.Offset, m.Value)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		if got := offsets(f.read("s", 0, stream.FromEarliest(), 100)); len(got) != 20 || got[19] != appends-1 {
			t.Fatalf("retained %v", got)
		}
	})

	t.Run("restart: messages, offsets, times and settings survive", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 2, MaxMessages: 100})
		at := f.clock.Now()
		keyed := f.append("s", "k", "a", "b")
		f.clock.Advance(time.Second)
		f.wait(f.b.Alter("s", to(stream.Settings{Partitions: 3, MaxMessages: 100})))
		f.restart()
		info := f.info("s")
		if len(info.Partitions) != 3 || info.Settings.MaxMessages != 100 {
			t.Fatalf("info %+v", info)
		}
		msgs := f.read("s", keyed.Partition, stream.FromEarliest(), 10)
		if !slices.Equal(values(msgs), []string{"a", "b"}) || !msgs[0].Time.Equal(at) || string(msgs[0].Key) != "k" {
			t.Fatalf("partition %d after restart: %+v", keyed.Partition, msgs)
		}
		if res := f.append("s", "k", "c"); res.Partition == keyed.Partition && res.First != 2 {
			t.Fatalf("append after restart at %+v", res)
		}
		if got := f.b.List(); !slices.Equal(got, []string{"s"}) {
			t.Fatalf("list %v", got)
		}
	})

	t.Run("restart: payloads over many segments are read back from the log", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1})
		const n = 64
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("%d-%s", i, make([]byte, testSegmentSize/8))
			f.append("s", "", want[i])
		}
		f.restart()
		if got := values(f.read("s", 0, stream.FromEarliest(), n+1)); !slices.Equal(got, want) {
			t.Fatalf("read back %d messages, want %d equal ones", len(got), n)
		}
		if got := values(f.read("s", 0, stream.FromOffset(n/2), 1)); !slices.Equal(got, want[n/2:n/2+1]) {
			t.Fatalf("read from the middle: %d bytes", len(got))
		}
	})

	t.Run("restart: committed offsets are kept and members resume from them", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1})
		f.append("s", "", "a", "b", "c")
		f.wait(f.b.CreateGroup("s", "g", stream.FromEarliest()))
		f.wait(f.b.CreateGroup("s", "h", stream.FromEarliest()))
		f.wait(f.b.DeleteGroup("s", "h"))
		f.groupRead("s", "g", "m", 3)
		f.wait(f.b.Commit("s", "g", "m", 0, 2))
		f.wait(f.b.Seek("s", "g", 0, stream.FromOffset(1)))
		f.wait(f.b.Commit("s", "g", "m", 0, 2))
		f.restart()
		if got := f.info("s").Groups; !slices.Equal(got, []string{"g"}) {
			t.Fatalf("groups %v", got)
		}
		info := f.groupInfo("s", "g")
		if len(info.Members) != 0 || info.Partitions[0].Committed != 2 {
			t.Fatalf("group after restart %+v", info)
		}
		if got := values(f.groupRead("s", "g", "m", 10)); !slices.Equal(got, []string{"c"}) {
			t.Fatalf("resumed with %v", got)
		}
	})

	t.Run("restart: a commit past the end of a partition whose log lost its tail is cut back to the end", func(t *testing.T) {
		f, synced := newTailFixture(t)
		f.append("s", "", "c")
		f.wait(f.b.CreateGroup("s", "g", stream.FromEarliest()))
		f.groupRead("s", "g", "m", 3)
		f.wait(f.b.Commit("s", "g", "m", 0, 3))
		// A crash of the machine kept the commit and lost "c".
		f.crashTo("s", 0, synced)
		if info := f.groupInfo("s", "g"); info.Partitions[0].Committed != 2 {
			t.Fatalf("committed %d after the restart, want the end 2", info.Partitions[0].Committed)
		}
		if res := f.append("s", "", "d"); res.First != 2 {
			t.Fatalf("the next message took offset %d", res.First)
		}
		if got := values(f.groupRead("s", "g", "m", 10)); !slices.Equal(got, []string{"d"}) {
			t.Fatalf("the group read %v", got)
		}
		// The commit stays cut back once the partition holds offset 3.
		f.append("s", "", "e")
		f.restart()
		if got := values(f.groupRead("s", "g", "m", 10)); !slices.Equal(got, []string{"d", "e"}) {
			t.Fatalf("after the next restart the group read %v", got)
		}
	})

	t.Run("restart: messages appended after a tail lost below the retention floor survive the next restart", func(t *testing.T) {
		f, synced := newTailFixture(t)
		f.append("s", "", "c", "d", "e")
		f.wait(f.b.Alter("s", to(stream.Settings{Partitions: 1, MaxMessages: 1})))
		// The next settings record notes the first retained offset, 4.
		f.wait(f.b.Alter("s", to(stream.Settings{Partitions: 1})))
		// A crash of the machine kept the settings and lost "c" to "e".
		f.crashTo("s", 0, synced)
		if p := f.info("s").Partitions[0]; p.Messages != 0 {
			t.Fatalf("after the crash %+v", p)
		}
		x := f.append("s", "", "x")
		f.restart()
		if got := values(f.read("s", 0, stream.FromEarliest(), 10)); !slices.Equal(got, []string{"x"}) {
			t.Fatalf("after the next restart %v, want [x] at offset %d", got, x.First)
		}
	})

	t.Run("restart: the metadata log is compacted and keeps every group", func(t *testing.T) {
		f := newFixture(t, func(c *stream.Config) { c.MetaCompactRecords = 4 })
		f.create("s", stream.Settings{Partitions: 2})
		f.append("s", "", "a", "b")
		f.wait(f.b.CreateGroup("s", "g", stream.FromEarliest()))
		f.groupRead("s", "g", "m", 10)
		for off := range int64(3) {
			f.wait(f.b.Commit("s", "g", "m", 0, off))
		}
		f.restart()
		info := f.groupInfo("s", "g")
		if info.Partitions[0].Committed != 2 || len(info.Partitions) != 2 {
			t.Fatalf("group after restart %+v", info)
		}
	})

	t.Run("restart: retention compacts the log; offsets continue even when all was removed", func(t *testing.T) {
		f := newFixture(t, func(c *stream.Config) { c.CompactMinBytes = 1 })
		f.create("s", stream.Settings{Partitions: 1, MaxAge: time.Minute})
		payload := string(make([]byte, 512))
		for range 40 {
			f.append("s", "", payload)
		}
		before := f.info("s").Partitions[0].DiskBytes
		f.clock.Advance(time.Minute + time.Millisecond)
		if p := f.info("s").Partitions[0]; p.Messages != 0 || p.First != 40 {
			t.Fatalf("expired %+v", p)
		}
		f.restart()
		p := f.info("s").Partitions[0]
		if p.First != 40 || p.Next != 40 || p.Messages != 0 || p.DiskBytes >= before {
			t.Fatalf("after restart %+v, disk bytes before %d", p, before)
		}
		if res := f.append("s", "", "x"); res.First != 40 {
			t.Fatalf("next offset %d", res.First)
		}
		f.restart()
		if got := offsets(f.read("s", 0, stream.FromEarliest(), 10)); !slices.Equal(got, []int64{40}) {
			t.Fatalf("after second restart %v", got)
		}
	})

	t.Run("restart: removed messages stay removed without a compaction", func(t *testing.T) {
		f := newFixture(t)
		f.create("s", stream.Settings{Partitions: 1, MaxMessages: 2})
		f.append("s", "", "a", "b", "c")
		f.restart()
		if got := values(f.read("s", 0, stream.FromEarliest(), 10)); !slices.Equal(got, []string{"b", "c"}) {
			t.Fatalf("after restart %v", got)
		}
	})

	t.Run("restart: messages retention removed stay removed once an alter lifts the limit", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			limit stream.Settings
			// age is how long the clock moves between the two appends.
			age time.Duration
		}{
			{"message count", stream.Settings{Partitions: 1, MaxMessages: 1}, 0},
			{"bytes", stream.Settings{Partitions: 1, MaxBytes: 1}, 0},
			{"age", stream.Settings{Partitions: 1, MaxAge: time.Minute}, time.Minute + time.Millisecond},
		} {
			for _, compacted := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s, metadata compacted %v", tc.name, compacted), func(t *testing.T) {
					f := newFixture(t, func(c *stream.Config) {
						if compacted {
							c.MetaCompactRecords = 1
						}
					})
					f.create("s", tc.limit)
					f.append("s", "", "a")
					f.clock.Advance(tc.age)
					f.append("s", "", "b")
					f.wait(f.b.Alter("s", to(stream.Settings{Partitions: 1})))
					if compacted {
						// A group change compacts the metadata log, whose
						// snapshot replaces the alter's settings record.
						f.wait(f.b.CreateGroup("s", "g", stream.FromEarliest()))
					}
					before := offsets(f.read("s", 0, stream.FromEarliest(), 10))
					f.restart()
					if got := offsets(f.read("s", 0, stream.FromEarliest(), 10)); !slices.Equal(got, before) {
						t.Fatalf("retained offsets %v after the restart, %v before", got, before)
					}
				})
			}
		}
	})

	t.Run("restart: a stream whose creation was cut by a crash is removed", func(t *testing.T) {
		f := newFixture(t)
		f.append("kept", "", "a")
		// The layout of the package comment: a stream directory named by
		// the hex of its name, holding an empty metadata log.
		ghost := filepath.Join(f.cfg.Dir, hex.EncodeToString([]byte("ghost")), "meta")
		if err := os.MkdirAll(ghost, 0o750); err != nil {
			t.Fatal(err)
		}
		f.restart()
		if got := f.b.List(); !slices.Equal(got, []string{"kept"}) {
			t.Fatalf("streams %v", got)
		}
		if _, err := os.Stat(filepath.Dir(ghost)); !os.IsNotExist(err) {
			t.Fatalf("the cut stream's directory is still there: %v", err)
		}
		if res := f.append("ghost", "", "b"); res.First != 0 {
			t.Fatalf("recreated at %+v", res)
		}
	})

	t.Run("restart: Close wakes blocked readers with ErrClosed", func(t *testing.T) {
		f := newFixture(t)
		f.append("s", "", "a")
		done := make(chan error, 1)
		b := f.b
		go func() {
			_, err := b.ReadWait(context.Background(), "s", 0, stream.FromLatest(), 1)
			done <- err
		}()
		f.restart()
		wantErr(t, <-done, stream.ErrClosed)
	})

	t.Run("restart: random operations leave the same state after every reopen and crash", func(t *testing.T) {
		for seed := range uint64(randomSeeds) {
			t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
				newRandomRun(t, seed).run()
			})
		}
	})
}

// Bounds of the random restart test.
const (
	// randomSeeds is how many sequences of random operations the random
	// restart test applies, each from its own seed.
	randomSeeds = 6
	// randomOps is how many operations each sequence applies.
	randomOps = 500
	// randomRestartOdds is one in how many operations is followed by a
	// restart.
	randomRestartOdds = 40
	// randomCompactingSeeds is one in how many seeds lets retention
	// compact the partition logs in the background; those restart only by
	// Close, which waits for the compactions, since an image of the files
	// taken in the middle of one is no state a crash leaves.
	randomCompactingSeeds = 2
	// randomNoCompaction is a CompactMinBytes no sequence reaches: the
	// other seeds never compact a partition log.
	randomNoCompaction = 1 << 50
	// randomCompactMinBytes is the CompactMinBytes of the compacting
	// seeds: a few removed messages.
	randomCompactMinBytes = 256
	// randomMetaCompactRecords keeps metadata compactions frequent; they
	// run inside the call that appends, so an image never sees half of one.
	randomMetaCompactRecords = 8
	// randomMaxAdvance bounds the clock's random steps, of the order of
	// the random maximum ages, so that messages age out between
	// operations.
	randomMaxAdvance = 3 * time.Second
	// randomLookBack bounds how far before now a random read from a time
	// starts: past the largest random maximum age.
	randomLookBack = 10 * time.Second
	// randomFromKinds is how many kinds of start a random read, group or
	// seek chooses from: earliest, latest, a time and an offset.
	randomFromKinds = 4
	// randomFew bounds the payloads of an append and the count of a read.
	randomFew = 3
	// randomKeys is how many keys random appends share.
	randomKeys = 4
	// randomMaxPad bounds the padding of a payload, so that records
	// differ in size and retention by bytes removes unequal counts.
	randomMaxPad = 48
	// randomMaxPartitions bounds the partitions of the random streams.
	randomMaxPartitions = 4
	// randomGrowOdds is one in how many alters grows the stream by one
	// partition.
	randomGrowOdds = 4
	// randomBadOdds is one in how many operations names a partition past
	// the end, shrinks a stream or appends nothing: input the broker
	// refuses.
	randomBadOdds = 10
)

var (
	randomStreams = []string{"a", "b", "c"}
	randomGroups  = []string{"g0", "g1", "g2"}
	randomMembers = []string{"m0", "m1", "m2"}
	// randomMaxAges, randomMaxBytes and randomMaxMessages are the
	// retention limits random creates and alters choose from; records
	// take about 20 to 70 bytes.
	randomMaxAges     = []time.Duration{0, 2 * time.Second, 6 * time.Second}
	randomMaxBytes    = []int64{0, 300, 1000}
	randomMaxMessages = []int64{0, 4, 12}
	// randomDefaults are the settings of the streams random appends create.
	randomDefaults = stream.Settings{Partitions: 2, MaxBytes: 1000}
)

// randomRun applies random operations to three streams with three groups
// of three members, moving a fake clock, and after every few restarts the
// broker, by a clean close or from an image of its files taken as a kill -9
// would leave them, and compares what it holds with what it held, less the
// members, which a restart drops. An operation that fails must change
// nothing.
type randomRun struct {
	*fixture
	r          *rand.Rand
	compacting bool
	// delivered is what the last GroupRead of each stream, group and
	// member returned, which commits choose from.
	delivered map[string][]stream.Message
	// since describes the operations since the last restart.
	since []string
}

func newRandomRun(t *testing.T, seed uint64) *randomRun {
	compacting := seed%randomCompactingSeeds == 1
	f := newFixture(t, func(c *stream.Config) {
		// A Wait returns once the record is written to the OS: all that an
		// image of the files needs, without an fsync per operation.
		c.WAL.Fsync = wal.FsyncNo
		c.Defaults = randomDefaults
		c.MetaCompactRecords = randomMetaCompactRecords
		c.CompactMinBytes = randomNoCompaction
		if compacting {
			c.CompactMinBytes = randomCompactMinBytes
		}
	})
	return &randomRun{fixture: f, r: rand.New(rand.NewPCG(seed, seed)), compacting: compacting,
		delivered: map[string][]stream.Message{}}
}

func (x *randomRun) run() {
	for op := range randomOps {
		before := x.dump()
		what, tok, err := x.apply(op)
		x.since = append(x.since, fmt.Sprintf("%d: %s: %v", op, what, err))
		switch {
		case errors.Is(err, stream.ErrOverload), errors.Is(err, stream.ErrFailed), errors.Is(err, stream.ErrClosed),
			errors.Is(err, stream.ErrReadCut):
			x.t.Fatalf("op %d, %s: %v", op, what, err)
		case err != nil:
			if d := dumpDiff(x.dump(), before); d != "" {
				x.t.Fatalf("op %d, %s failed (%v) and changed the state: %s", op, what, err, d)
			}
			continue
		}
		if err := x.b.Wait(tok); err != nil {
			x.t.Fatalf("op %d, %s: wait: %v", op, what, err)
		}
		if x.r.IntN(randomRestartOdds) == 0 {
			x.restart(op)
		}
	}
	x.restart(randomOps)
}

// randomOp is one kind of random operation, with its weight: its share of
// the operations a sequence applies. apply says what it did and returns
// the token of its change (the zero Token when it changes nothing
// durable).
type randomOp struct {
	weight int
	apply  func(x *randomRun, op int, name string) (what string, tok stream.Token, err error)
}

// randomOpTable lists the operations; appends and group reads dominate so
// that the partitions hold messages that retention removes and groups
// consume.
var randomOpTable = []randomOp{
	{24, (*randomRun).append},
	{10, (*randomRun).groupRead},
	{8, (*randomRun).commit},
	{4, (*randomRun).read},
	{3, (*randomRun).createGroup},
	{3, (*randomRun).seek},
	{1, func(x *randomRun, _ int, name string) (string, stream.Token, error) {
		group := pick(x, randomGroups)
		tok, err := x.b.DeleteGroup(name, group)
		return fmt.Sprintf("delete group %s %s", name, group), tok, err
	}},
	{2, func(x *randomRun, _ int, name string) (string, stream.Token, error) {
		group, member := pick(x, randomGroups), pick(x, randomMembers)
		err := x.b.Leave(name, group, member)
		return fmt.Sprintf("leave %s %s %s", name, group, member), stream.Token{}, err
	}},
	{2, func(x *randomRun, _ int, name string) (string, stream.Token, error) {
		set := x.settings(1 + x.r.IntN(randomMaxPartitions))
		tok, err := x.b.Create(name, set)
		return fmt.Sprintf("create %s %+v", name, set), tok, err
	}},
	{3, (*randomRun).alter},
	{6, func(x *randomRun, _ int, _ string) (string, stream.Token, error) {
		d := time.Duration(x.r.Int64N(randomMaxAdvance.Milliseconds())) * time.Millisecond
		x.clock.Advance(d)
		return fmt.Sprintf("advance %v", d), stream.Token{}, nil
	}},
}

// apply applies one random operation and says what it was.
func (x *randomRun) apply(op int) (string, stream.Token, error) {
	total := 0
	for _, o := range randomOpTable {
		total += o.weight
	}
	name := pick(x, randomStreams)
	n := x.r.IntN(total)
	for _, o := range randomOpTable {
		if n < o.weight {
			return o.apply(x, op, name)
		}
		n -= o.weight
	}
	panic("unreachable: n is below the total weight")
}

func (x *randomRun) append(op int, name string) (string, stream.Token, error) {
	var key []byte
	if x.coin() {
		key = []byte("key " + strconv.Itoa(x.r.IntN(randomKeys)))
	}
	payloads := make([][]byte, x.few())
	if x.bad() {
		payloads = nil
	}
	for i := range payloads {
		payloads[i] = fmt.Appendf(nil, "%d.%d %s", op, i, strings.Repeat("p", x.r.IntN(randomMaxPad)))
	}
	res, err := x.b.Append(name, key, payloads)
	return fmt.Sprintf("append %s key %q, %d payloads = partition %d offset %d", name, key, len(payloads), res.Partition, res.First),
		res.Token, err
}

func (x *randomRun) read(_ int, name string) (string, stream.Token, error) {
	p := x.partition(name)
	from, desc := x.from(name, p)
	count := x.few()
	msgs, err := x.b.Read(name, p, from, count)
	return fmt.Sprintf("read %s partition %d from %s count %d = %v", name, p, desc, count, positions(msgs)), stream.Token{}, err
}

func (x *randomRun) groupRead(_ int, name string) (string, stream.Token, error) {
	group, member, count := pick(x, randomGroups), pick(x, randomMembers), x.few()
	msgs, err := x.b.GroupRead(context.Background(), name, group, member, count, false)
	x.delivered[name+"/"+group+"/"+member] = msgs
	return fmt.Sprintf("group read %s %s %s count %d = %v", name, group, member, count, positions(msgs)), stream.Token{}, err
}

// commit commits, for a member, the offset of or after a message its last
// group read returned, or any offset of any partition.
func (x *randomRun) commit(_ int, name string) (string, stream.Token, error) {
	group, member := pick(x, randomGroups), pick(x, randomMembers)
	got := x.delivered[name+"/"+group+"/"+member]
	var p int
	var offset int64
	if len(got) == 0 || x.bad() {
		p = x.partition(name)
		offset = x.offset(name, p)
	} else {
		m := got[x.r.IntN(len(got))]
		p, offset = m.Partition, m.Offset
		if x.coin() {
			// The next offset to consume, as a consumer commits it.
			offset++
		}
	}
	tok, err := x.b.Commit(name, group, member, p, offset)
	return fmt.Sprintf("commit %s %s %s partition %d offset %d", name, group, member, p, offset), tok, err
}

func (x *randomRun) createGroup(_ int, name string) (string, stream.Token, error) {
	group := pick(x, randomGroups)
	from, desc := x.from(name, x.partition(name))
	tok, err := x.b.CreateGroup(name, group, from)
	return fmt.Sprintf("create group %s %s from %s", name, group, desc), tok, err
}

func (x *randomRun) seek(_ int, name string) (string, stream.Token, error) {
	group, p := pick(x, randomGroups), x.partition(name)
	from, desc := x.from(name, p)
	if x.coin() {
		p = stream.AllPartitions
	}
	tok, err := x.b.Seek(name, group, p, from)
	return fmt.Sprintf("seek %s %s partition %d to %s", name, group, p, desc), tok, err
}

// alter sets random retention limits and keeps the partition count, grows
// it by one, or (refused) shrinks it by one.
func (x *randomRun) alter(_ int, name string) (string, stream.Token, error) {
	n := x.partitions(name)
	switch {
	case x.bad():
		n--
	case n < randomMaxPartitions && x.r.IntN(randomGrowOdds) == 0:
		n++
	}
	set := x.settings(n)
	tok, err := x.b.Alter(name, to(set))
	return fmt.Sprintf("alter %s %+v", name, set), tok, err
}

// settings returns random retention limits with n partitions.
func (x *randomRun) settings(n int) stream.Settings {
	return stream.Settings{Partitions: n, MaxAge: pick(x, randomMaxAges), MaxBytes: pick(x, randomMaxBytes),
		MaxMessages: pick(x, randomMaxMessages)}
}

// partitions returns the partition count of stream name, randomMaxPartitions
// for a stream not created yet.
func (x *randomRun) partitions(name string) int {
	info, _, err := x.b.Info(name)
	if err != nil {
		return randomMaxPartitions
	}
	return len(info.Partitions)
}

// partition returns a partition of stream name, one in randomBadOdds the
// one past its last.
func (x *randomRun) partition(name string) int {
	n := x.partitions(name)
	if x.bad() {
		return n
	}
	return x.r.IntN(n)
}

// offset returns an offset of a partition from one before its first
// retained message to one past its end.
func (x *randomRun) offset(name string, partition int) int64 {
	info, _, err := x.b.Info(name)
	if err != nil || partition >= len(info.Partitions) {
		return int64(x.r.IntN(randomFew))
	}
	p := info.Partitions[partition]
	lo := max(p.First-1, 0)
	return lo + x.r.Int64N(p.Next+2-lo)
}

// from returns a random start in a partition and describes it.
func (x *randomRun) from(name string, partition int) (stream.From, string) {
	switch x.r.IntN(randomFromKinds) {
	case 0:
		return stream.FromEarliest(), "earliest"
	case 1:
		return stream.FromLatest(), "latest"
	case 2:
		at := x.clock.Now().Add(-time.Duration(x.r.Int64N(randomLookBack.Milliseconds())) * time.Millisecond)
		return stream.FromTime(at), fmt.Sprintf("time %d", at.UnixMilli())
	}
	off := x.offset(name, partition)
	return stream.FromOffset(off), fmt.Sprintf("offset %d", off)
}

func (x *randomRun) coin() bool { return x.r.IntN(2) == 0 }

// bad is true once in randomBadOdds.
func (x *randomRun) bad() bool { return x.r.IntN(randomBadOdds) == 0 }

// few returns 1 to randomFew.
func (x *randomRun) few() int { return 1 + x.r.IntN(randomFew) }

// pick returns one of from.
func pick[T any](x *randomRun, from []T) T { return from[x.r.IntN(len(from))] }

// restart checks what the broker holds, restarts it, cleanly or from an
// image of its files, and checks that it holds the same, without members:
// the groups keep their committed offsets and no partition has an owner.
func (x *randomRun) restart(op int) {
	x.t.Helper()
	want := restarted(x.dump())
	how := "reopen"
	switch {
	case x.compacting || x.coin():
		x.fixture.restart()
	default:
		// Each operation waited for its token, so the files hold every
		// change, and no compaction runs: the image is what a kill -9
		// leaves. The broker whose files were copied is closed after the
		// copy.
		how = "crash image"
		image := crashimage.Of(x.t, x.cfg.Dir)
		if err := x.b.Close(); err != nil {
			x.t.Fatalf("close: %v", err)
		}
		x.cfg.Dir = image
		x.open()
	}
	x.delivered = map[string][]stream.Message{}
	if d := dumpDiff(x.dump(), want); d != "" {
		x.t.Fatalf("after op %d, %s: %s\noperations since the last restart:\n%s", op, how, d, strings.Join(x.since, "\n"))
	}
	x.since = x.since[:0]
}

// brokerDump is what a restart must keep of the broker.
type brokerDump struct {
	Stats   stream.Stats
	Streams []streamDump
}

// streamDump is what a restart must keep of a stream: its Info but for
// the size of its logs on disk, which compactions and segment files
// decide, every retained message and its groups.
type streamDump struct {
	Info     stream.Info
	Messages [][]dumpedMessage // by partition
	Groups   []stream.GroupInfo
}

// dumpedMessage is a message as a dump holds it: a copy.
type dumpedMessage struct {
	Offset     int64
	Time       int64 // unix ms
	Key, Value string
}

// dump reads every stream, every retained message of its partitions and
// its groups, through the facade: which applies retention and expires
// silent members, at the clock's time.
func (x *randomRun) dump() brokerDump {
	x.t.Helper()
	var d brokerDump
	for _, name := range x.b.List() {
		info, _, err := x.b.Info(name)
		if err != nil {
			x.t.Fatal(err)
		}
		sd := streamDump{Info: info}
		for i := range sd.Info.Partitions {
			p := &sd.Info.Partitions[i]
			p.DiskBytes = 0
			msgs, err := x.b.Read(name, i, stream.FromEarliest(), int(p.Messages)+1)
			if err != nil {
				x.t.Fatalf("read %s partition %d: %v", name, i, err)
			}
			if int64(len(msgs)) != p.Messages || (len(msgs) > 0 && msgs[0].Offset != p.First) || p.First+p.Messages != p.Next {
				x.t.Fatalf("%s partition %+v reads offsets %v", name, *p, offsets(msgs))
			}
			dm := make([]dumpedMessage, len(msgs))
			for k, m := range msgs {
				dm[k] = dumpedMessage{Offset: m.Offset, Time: m.Time.UnixMilli(), Key: string(m.Key), Value: string(m.Value)}
			}
			sd.Messages = append(sd.Messages, dm)
		}
		for _, g := range info.Groups {
			gi, _, err := x.b.GroupInfo(name, g)
			if err != nil {
				x.t.Fatal(err)
			}
			sd.Groups = append(sd.Groups, gi)
		}
		d.Streams = append(d.Streams, sd)
	}
	d.Stats = x.b.Stats()
	return d
}

// restarted is what a dump becomes across a restart: members are not
// persisted, so the groups have none and their partitions no owner.
func restarted(d brokerDump) brokerDump {
	for i := range d.Streams {
		for j := range d.Streams[i].Groups {
			g := &d.Streams[i].Groups[j]
			g.Members = nil
			for k := range g.Partitions {
				g.Partitions[k].Owner = ""
			}
		}
	}
	return d
}

// dumpDiff describes the first difference between two dumps, "" when they
// are the same.
func dumpDiff(got, want brokerDump) string {
	if len(got.Streams) != len(want.Streams) {
		return fmt.Sprintf("streams %v, want %v", dumpNames(got), dumpNames(want))
	}
	for i := range got.Streams {
		g, w := got.Streams[i], want.Streams[i]
		if !reflect.DeepEqual(g.Info, w.Info) {
			return fmt.Sprintf("stream info\n%+v, want\n%+v", g.Info, w.Info)
		}
		for p := range g.Messages {
			gm, wm := g.Messages[p], w.Messages[p]
			for k := range max(len(gm), len(wm)) {
				switch {
				case k >= len(gm):
					return fmt.Sprintf("stream %s partition %d message %d: none, want %+v", g.Info.Name, p, k, wm[k])
				case k >= len(wm):
					return fmt.Sprintf("stream %s partition %d message %d: %+v, want none", g.Info.Name, p, k, gm[k])
				case gm[k] != wm[k]:
					return fmt.Sprintf("stream %s partition %d message %d: %+v, want %+v", g.Info.Name, p, k, gm[k], wm[k])
				}
			}
		}
		if !reflect.DeepEqual(g.Groups, w.Groups) {
			return fmt.Sprintf("stream %s groups\n%+v, want\n%+v", g.Info.Name, g.Groups, w.Groups)
		}
	}
	if got.Stats != want.Stats {
		return fmt.Sprintf("stats %+v, want %+v", got.Stats, want.Stats)
	}
	return ""
}

func dumpNames(d brokerDump) []string {
	out := make([]string, len(d.Streams))
	for i, s := range d.Streams {
		out[i] = s.Info.Name
	}
	return out
}

// positions describes where msgs are: partition/offset each.
func positions(msgs []stream.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = fmt.Sprintf("%d/%d", m.Partition, m.Offset)
	}
	return out
}
