package pubsub

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nexo/internal/crashimage"
	"nexo/wal"
)

// testStart is the fake clock's start.
var testStart = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// clock is a fake time source tests advance by hand.
type clock struct{ ms atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ms.Store(testStart.UnixMilli())
	return c
}

func (c *clock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// open opens a broker in dir on the fake clock.
func open(t testing.TB, dir string, clk *clock, compactMin int) *Broker {
	t.Helper()
	b, err := Open(Config{Dir: dir, Now: clk.now, CompactMinRecords: compactMin, WAL: wal.Options{Fsync: wal.FsyncNo}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return b
}

// newBroker opens a broker in a fresh directory, closed at the end of the test.
func newBroker(t testing.TB) (*Broker, *clock) {
	t.Helper()
	clk := newClock()
	b := open(t, t.TempDir(), clk, 0)
	t.Cleanup(func() { b.Close() })
	return b, clk
}

// got is one message as a recorder saw it.
type got struct {
	kind     Kind
	filter   string
	topic    string
	payload  string
	retained bool
}

// recorder is a Subscriber that keeps what it receives. With a limit it
// refuses the first message past that many, as a connection over its
// output buffer limit does, and discards the rest.
type recorder struct {
	mu      sync.Mutex
	msgs    []got
	batches []Batch
	limit   int
	refused int
}

func (r *recorder) Deliver(m Message, batch Batch) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limit > 0 && len(r.msgs) >= r.limit {
		r.refused++
		return r.refused > 1
	}
	r.msgs = append(r.msgs, got{m.Kind, m.Filter, string(m.Topic), string(m.Payload), m.Retained})
	r.batches = append(r.batches, batch)
	return true
}

// take returns the messages received so far and forgets them.
func (r *recorder) take() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs, r.batches = nil, nil
	return out
}

// topics returns the topics of msgs.
func topics(msgs []got) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.topic
	}
	return out
}

// batchTag is a Batch that tests recognise by its name.
type batchTag string

func (batchTag) Touch(Subscriber) {}

func subscribe(t testing.TB, b *Broker, s Subscriber, kind Kind, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := b.Subscribe(s, kind, name, nil); err != nil {
			t.Fatalf("Subscribe(%v, %q): %v", kind, name, err)
		}
	}
}

// notifier receives Notify's calls.
type notifier chan struct{}

func (n notifier) Notify() { n <- struct{}{} }

func retain(t testing.TB, b *Broker, topic, payload string) {
	t.Helper()
	_, index, err := b.PublishRetained([]byte(topic), []byte(payload), nil)
	if err != nil {
		t.Fatalf("PublishRetained(%q): %v", topic, err)
	}
	if err := b.Wait(index); err != nil {
		t.Fatalf("Wait(%d): %v", index, err)
	}
}

func retainedTopics(t testing.TB, b *Broker, filter string) []string {
	t.Helper()
	vals, _, err := b.Retained([]byte(filter))
	if err != nil {
		t.Fatalf("Retained(%q): %v", filter, err)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v.Topic + "=" + string(v.Payload)
	}
	return out
}

// matchCases is the table of filters against topics, after MQTT 3.1.1
// section 4.7 and its examples.
var matchCases = []struct {
	filter string
	topic  string
	match  bool
}{
	{"a", "a", true},
	{"a", "b", false},
	{"a", "A", false},
	{"a", "a/b", false},
	{"a/b", "a", false},
	{"a/b", "a/b/", false},
	{"a/+", "a/b", true},
	{"a/+", "a", false},
	{"a/+", "a/", true},
	{"a/+", "a/b/c", false},
	{"a/+/c", "a/b/c", true},
	{"a/+/c", "a//c", true},
	{"a/+/c", "a/b/d", false},
	{"a/#", "a", true},
	{"a/#", "a/", true},
	{"a/#", "a/b", true},
	{"a/#", "a/b/c", true},
	{"a/#", "ab", false},
	{"a/#", "b/a", false},
	{"a/+/#", "a", false},
	{"a/+/#", "a/b", true},
	{"a/+/#", "a/b/c/d", true},
	{"+/+/#", "a", false},
	{"+/+/#", "a/b", true},
	{"#", "a", true},
	{"#", "a/b/c", true},
	{"#", "/", true},
	{"#", "", true},
	{"#", "$SYS", false},
	{"#", "$SYS/a", false},
	{"#", "$", false},
	{"+", "a", true},
	{"+", "", true},
	{"+", "/", false},
	{"+", "a/b", false},
	{"+", "$SYS", false},
	{"+/#", "a", true},
	{"+/#", "$SYS", false},
	{"+/+", "/", true},
	{"+/", "a/", true},
	{"+/", "a", false},
	{"/+", "/a", true},
	{"/+", "a", false},
	{"/", "/", true},
	{"/", "", false},
	{"//", "//", true},
	{"/#", "/", true},
	{"/#", "/a/b", true},
	{"/#", "a", false},
	{"+/a", "$SYS/a", false},
	{"$SYS/#", "$SYS", true},
	{"$SYS/#", "$SYS/a/b", true},
	{"$SYS/+", "$SYS/a", true},
	{"$", "$", true},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"a/$x", "a/$x", true},
	{"a/+", "a/$x", true},
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/#", "sport", true},
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"é/+", "é/x", true},
	{"a\x00b/+", "a\x00b/c", true},
}

func TestBroker(t *testing.T) {
	t.Run("matching", func(t *testing.T) {
		t.Run("every filter against every topic of the table", func(t *testing.T) {
			b, _ := newBroker(t)
			recs := map[string]*recorder{}
			for _, c := range matchCases {
				if recs[c.filter] == nil {
					recs[c.filter] = &recorder{}
					subscribe(t, b, recs[c.filter], Filter, c.filter)
				}
			}
			for _, c := range matchCases {
				b.Publish([]byte(c.topic), []byte("x"), nil)
				msgs := recs[c.filter].take()
				for _, r := range recs {
					r.take()
				}
				if matched := len(msgs) == 1; matched != c.match {
					t.Errorf("filter %q, topic %q: delivered %d, want match=%v", c.filter, c.topic, len(msgs), c.match)
				}
				if len(msgs) == 1 && (msgs[0].filter != c.filter || msgs[0].topic != c.topic || msgs[0].kind != Filter || msgs[0].retained) {
					t.Errorf("filter %q, topic %q: delivered %+v", c.filter, c.topic, msgs[0])
				}
			}
		})

		t.Run("retained listing follows the same rules", func(t *testing.T) {
			b, _ := newBroker(t)
			for _, c := range matchCases {
				if CheckTopic([]byte(c.topic)) == nil {
					retain(t, b, c.topic, "v")
				}
			}
			for _, c := range matchCases {
				if CheckTopic([]byte(c.topic)) != nil {
					continue
				}
				listed := slices.Contains(retainedTopics(t, b, c.filter), c.topic+"=v")
				if listed != c.match {
					t.Errorf("Retained(%q) lists %q: %v, want %v", c.filter, c.topic, listed, c.match)
				}
			}
		})

		t.Run("a topic reaches every matching filter once", func(t *testing.T) {
			b, _ := newBroker(t)
			r := &recorder{}
			subscribe(t, b, r, Filter, "home/#", "home/+/temp", "home/kitchen/temp", "+/+/+", "#", "home/+", "office/#")
			if n := b.Publish([]byte("home/kitchen/temp"), []byte("21.5"), nil); n != 5 {
				t.Fatalf("Publish reached %d subscriptions, want 5", n)
			}
			var filters []string
			for _, m := range r.take() {
				filters = append(filters, m.filter)
				if m.topic != "home/kitchen/temp" || m.payload != "21.5" {
					t.Errorf("message %+v", m)
				}
			}
			slices.Sort(filters)
			if want := []string{"#", "+/+/+", "home/#", "home/+/temp", "home/kitchen/temp"}; !slices.Equal(filters, want) {
				t.Errorf("filters %v, want %v", filters, want)
			}
		})

		t.Run("invalid filters and topics", func(t *testing.T) {
			for filter, want := range map[string]error{
				"":                                 ErrFilterEmpty,
				"a/#/b":                            ErrFilterHashNotLast,
				"#/":                               ErrFilterHashNotLast,
				"#/#":                              ErrFilterHashNotLast,
				"a+/b":                             ErrFilterWildcard,
				"a/+b":                             ErrFilterWildcard,
				"a/b#":                             ErrFilterWildcard,
				"##":                               ErrFilterWildcard,
				"++":                               ErrFilterWildcard,
				"$+":                               ErrFilterWildcard,
				strings.Repeat("a", MaxTopicLen+1): ErrFilterTooLong,
			} {
				if err := CheckFilter([]byte(filter)); !errors.Is(err, want) {
					t.Errorf("CheckFilter(%.20q) = %v, want %v", filter, err, want)
				}
			}
			for _, filter := range []string{"+", "#", "/", "a//b", "+/+", "/#", "$SYS/#", strings.Repeat("a", MaxTopicLen)} {
				if err := CheckFilter([]byte(filter)); err != nil {
					t.Errorf("CheckFilter(%.20q) = %v, want nil", filter, err)
				}
			}
			for topic, want := range map[string]error{
				"":                                 ErrTopicEmpty,
				"a/+":                              ErrTopicWildcard,
				"a/#":                              ErrTopicWildcard,
				"a+":                               ErrTopicWildcard,
				strings.Repeat("a", MaxTopicLen+1): ErrTopicTooLong,
			} {
				if err := CheckTopic([]byte(topic)); !errors.Is(err, want) {
					t.Errorf("CheckTopic(%.20q) = %v, want %v", topic, err, want)
				}
			}
			b, _ := newBroker(t)
			r := &recorder{}
			if _, err := b.Subscribe(r, Filter, "a/#/b", nil); !errors.Is(err, ErrFilterHashNotLast) {
				t.Errorf("Subscribe(a/#/b) = %v", err)
			}
			if _, _, err := b.PublishRetained([]byte("a/+"), []byte("v"), nil); !errors.Is(err, ErrTopicWildcard) {
				t.Errorf("PublishRetained(a/+) = %v", err)
			}
			if _, _, err := b.Retained([]byte("a+")); !errors.Is(err, ErrFilterWildcard) {
				t.Errorf("Retained(a+) = %v", err)
			}
			if _, _, err := b.DeleteRetained([]byte("")); !errors.Is(err, ErrFilterEmpty) {
				t.Errorf("DeleteRetained(\"\") = %v", err)
			}
			if st := b.Stats(); st.Subscriptions != 0 || st.Retained != 0 || st.WAL.AppendedRecords != 0 {
				t.Errorf("refused calls changed the broker: %+v", st)
			}
		})
	})

	t.Run("subscriptions", func(t *testing.T) {
		t.Run("counts, duplicates and unsubscribing", func(t *testing.T) {
			b, _ := newBroker(t)
			r := &recorder{}
			subscribe(t, b, r, Channel, "news", "sport")
			subscribe(t, b, r, Pattern, "n*")
			counts, err := b.Subscribe(r, Filter, "home/#", nil)
			if err != nil || counts != (Counts{Channels: 2, Patterns: 1, Filters: 1}) || counts.Total() != 4 {
				t.Fatalf("counts %+v %v", counts, err)
			}
			if counts, _ := b.Subscribe(r, Channel, "news", nil); counts.Total() != 4 {
				t.Errorf("subscribing twice counted twice: %+v", counts)
			}
			if !b.Subscribed(r, Channel, "news") || b.Subscribed(r, Pattern, "news") || b.Subscribed(&recorder{}, Channel, "news") {
				t.Error("Subscribed disagrees with the subscriptions")
			}
			if got := b.Subscriptions(r, Channel); !slices.Equal(got, []string{"news", "sport"}) {
				t.Errorf("Subscriptions(Channel) = %v", got)
			}
			if counts, ok := b.Unsubscribe(r, Channel, "news"); !ok || counts.Channels != 1 {
				t.Errorf("Unsubscribe(news) = %+v %v", counts, ok)
			}
			if counts, ok := b.Unsubscribe(r, Channel, "news"); ok || counts.Total() != 3 {
				t.Errorf("second Unsubscribe(news) = %+v %v", counts, ok)
			}
			if n := b.Publish([]byte("news"), []byte("x"), nil); n != 1 {
				t.Errorf("after unsubscribing the channel, news reached %d subscriptions, want 1 (the pattern)", n)
			}
			b.UnsubscribeAll(r)
			if b.Counts(r).Total() != 0 || b.Publish([]byte("home/a"), nil, nil) != 0 {
				t.Error("UnsubscribeAll left subscriptions")
			}
			if st := b.Stats(); st.Subscribers != 0 || st.Subscriptions != 0 || st.Filters != 0 || st.Channels != 0 || st.Patterns != 0 {
				t.Errorf("index not empty after UnsubscribeAll: %+v", st)
			}
		})

		t.Run("the subscription list counts subscribers per name and kind", func(t *testing.T) {
			b, _ := newBroker(t)
			r1, r2 := &recorder{}, &recorder{}
			subscribe(t, b, r1, Filter, "home/+/temp", "home/#")
			subscribe(t, b, r2, Filter, "home/#")
			subscribe(t, b, r2, Channel, "home/#", "news")
			subscribe(t, b, r1, Pattern, "n*")
			list, total := b.SubscriptionList(0)
			want := []SubscriptionInfo{
				{Filter, "home/#", 2}, {Channel, "home/#", 1}, {Filter, "home/+/temp", 1}, {Pattern, "n*", 1}, {Channel, "news", 1},
			}
			if total != len(want) || !slices.Equal(list, want) {
				t.Fatalf("SubscriptionList(0) = %+v, %d", list, total)
			}
			if list, total := b.SubscriptionList(2); total != len(want) || !slices.Equal(list, want[:2]) {
				t.Fatalf("SubscriptionList(2) = %+v, %d", list, total)
			}
			b.UnsubscribeAll(r1)
			b.UnsubscribeAll(r2)
			if list, total := b.SubscriptionList(0); total != 0 || len(list) != 0 {
				t.Fatalf("after UnsubscribeAll: %+v, %d", list, total)
			}
		})

		t.Run("the batch reaches Deliver untouched", func(t *testing.T) {
			b, _ := newBroker(t)
			r := &recorder{}
			subscribe(t, b, r, Filter, "a/#")
			retain(t, b, "a/r", "v")
			b.Subscribe(r, Filter, "a/#", batchTag("subscriber"))
			b.Publish([]byte("a/b"), nil, batchTag("publisher"))
			r.mu.Lock()
			defer r.mu.Unlock()
			if want := []Batch{nil, batchTag("subscriber"), batchTag("publisher")}; !slices.Equal(r.batches, want) {
				t.Errorf("batches %v, want %v", r.batches, want)
			}
		})

		t.Run("unsubscribing what was never subscribed", func(t *testing.T) {
			b, _ := newBroker(t)
			r := &recorder{}
			if counts, ok := b.Unsubscribe(r, Filter, "a/#"); ok || counts.Total() != 0 {
				t.Errorf("Unsubscribe = %+v %v", counts, ok)
			}
			b.UnsubscribeAll(r)
			if st := b.Stats(); st.SlowConsumers != 0 || st.Subscribers != 0 {
				t.Errorf("stats %+v", st)
			}
		})

		t.Run("the trie keeps the levels other filters still use", func(t *testing.T) {
			b, _ := newBroker(t)
			r1, r2 := &recorder{}, &recorder{}
			subscribe(t, b, r1, Filter, "a/+/c", "a/#")
			subscribe(t, b, r2, Filter, "a/+/c/d", "a/b")
			b.Unsubscribe(r1, Filter, "a/+/c")
			b.Unsubscribe(r1, Filter, "a/#")
			b.Publish([]byte("a/x/c/d"), nil, nil)
			b.Publish([]byte("a/b"), nil, nil)
			b.Publish([]byte("a/x/c"), nil, nil)
			if got := topics(r2.take()); !slices.Equal(got, []string{"a/x/c/d", "a/b"}) {
				t.Errorf("r2 got %v", got)
			}
			if got := r1.take(); len(got) != 0 {
				t.Errorf("r1 got %v after unsubscribing", got)
			}
		})
	})

	t.Run("redis compatibility", func(t *testing.T) {
		t.Run("channels, patterns and filters share one namespace", func(t *testing.T) {
			b, _ := newBroker(t)
			ch, pat, filt := &recorder{}, &recorder{}, &recorder{}
			subscribe(t, b, ch, Channel, "a/b")
			subscribe(t, b, pat, Pattern, "a/*")
			subscribe(t, b, filt, Filter, "a/+")
			if n := b.Publish([]byte("a/b"), []byte("p1"), nil); n != 3 {
				t.Errorf("Publish reached %d, want 3", n)
			}
			if n, _, err := b.PublishRetained([]byte("a/b"), []byte("p2"), nil); err != nil || n != 3 {
				t.Errorf("PublishRetained reached %d (%v), want 3", n, err)
			}
			want := map[*recorder][]got{
				ch:   {{Channel, "a/b", "a/b", "p1", false}, {Channel, "a/b", "a/b", "p2", false}},
				pat:  {{Pattern, "a/*", "a/b", "p1", false}, {Pattern, "a/*", "a/b", "p2", false}},
				filt: {{Filter, "a/+", "a/b", "p1", false}, {Filter, "a/+", "a/b", "p2", false}},
			}
			for r, w := range want {
				if g := r.take(); !slices.Equal(g, w) {
					t.Errorf("got %+v, want %+v", g, w)
				}
			}
		})

		t.Run("glob patterns match as Redis matches them", func(t *testing.T) {
			b, _ := newBroker(t)
			r := &recorder{}
			subscribe(t, b, r, Pattern, "h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h\\*llo")
			for topic, want := range map[string]int{"hello": 3, "hallo": 4, "hxllo": 3, "heeello": 1, "h*llo": 4, "hllo": 1, "world": 0} {
				if n := b.Publish([]byte(topic), nil, nil); n != want {
					t.Errorf("Publish(%q) reached %d patterns, want %d", topic, n, want)
				}
			}
		})

		t.Run("any channel name is published, wildcards are plain characters", func(t *testing.T) {
			b, _ := newBroker(t)
			ch, filt := &recorder{}, &recorder{}
			subscribe(t, b, ch, Channel, "a/+", "")
			subscribe(t, b, filt, Filter, "a/+")
			if n := b.Publish([]byte("a/+"), nil, nil); n != 2 {
				t.Errorf("Publish(a/+) reached %d, want the channel and the filter", n)
			}
			if n := b.Publish(nil, nil, nil); n != 1 {
				t.Errorf("Publish(\"\") reached %d, want the empty channel", n)
			}
		})

		t.Run("PUBSUB CHANNELS, NUMSUB and NUMPAT", func(t *testing.T) {
			b, _ := newBroker(t)
			r1, r2 := &recorder{}, &recorder{}
			subscribe(t, b, r1, Channel, "news.tech", "news.art", "sport")
			subscribe(t, b, r2, Channel, "news.tech")
			subscribe(t, b, r1, Pattern, "a*", "b*")
			subscribe(t, b, r2, Pattern, "a*")
			subscribe(t, b, r2, Filter, "news/#")
			if got := b.Channels(nil); !slices.Equal(got, []string{"news.art", "news.tech", "sport"}) {
				t.Errorf("Channels(nil) = %v", got)
			}
			if got := b.Channels([]byte("news.*")); !slices.Equal(got, []string{"news.art", "news.tech"}) {
				t.Errorf("Channels(news.*) = %v", got)
			}
			if b.NumSub("news.tech") != 2 || b.NumSub("sport") != 1 || b.NumSub("none") != 0 || b.NumSub("news/#") != 0 {
				t.Error("NumSub wrong")
			}
			if n := b.NumPat(); n != 2 {
				t.Errorf("NumPat = %d, want 2 distinct patterns", n)
			}
		})
	})

	t.Run("retained", func(t *testing.T) {
		t.Run("set, replace and clear", func(t *testing.T) {
			b, clk := newBroker(t)
			retain(t, b, "home/kitchen/temp", "20")
			clk.advance(3 * time.Second)
			vals, _, _ := b.Retained([]byte("home/#"))
			if len(vals) != 1 || vals[0].Topic != "home/kitchen/temp" || string(vals[0].Payload) != "20" || vals[0].Age != 3*time.Second {
				t.Fatalf("Retained = %+v", vals)
			}
			retain(t, b, "home/kitchen/temp", "21")
			vals, _, _ = b.Retained([]byte("home/#"))
			if len(vals) != 1 || string(vals[0].Payload) != "21" || vals[0].Age != 0 {
				t.Fatalf("after replacing: %+v", vals)
			}
			if st := b.Stats(); st.Retained != 1 || st.RetainedBytes != int64(len("home/kitchen/temp")+2) {
				t.Errorf("stats %+v", st)
			}
			r := &recorder{}
			subscribe(t, b, r, Filter, "home/#")
			r.take()
			retain(t, b, "home/kitchen/temp", "")
			if msgs := r.take(); !slices.Equal(msgs, []got{{Filter, "home/#", "home/kitchen/temp", "", false}}) {
				t.Errorf("an empty retained payload is delivered live; got %+v", msgs)
			}
			if vals, _, _ := b.Retained([]byte("#")); len(vals) != 0 {
				t.Errorf("after clearing: %+v", vals)
			}
			if st := b.Stats(); st.Retained != 0 || st.RetainedBytes != 0 {
				t.Errorf("stats after clearing %+v", st)
			}
			// Clearing a topic without a value writes nothing and answers
			// once the last record, maybe a clearing that left nothing, is
			// durable.
			last := b.log.LastIndex()
			if _, index, err := b.PublishRetained([]byte("never/set"), nil, nil); err != nil || index != last || b.log.LastIndex() != last {
				t.Errorf("clearing a topic without a value: index %d (%v), log at %d, want %d", index, err, b.log.LastIndex(), last)
			}
		})

		t.Run("Notify reports a retained value durable once it is written (fsync no)", func(t *testing.T) {
			b, _ := newBroker(t)
			_, index, err := b.PublishRetained([]byte("home/temp"), []byte("20"), nil)
			if err != nil {
				t.Fatal(err)
			}
			n := make(notifier, 1)
			for _, i := range []uint64{index, 0} {
				if durable, err := b.Notify(i, n); !durable || err != nil {
					t.Fatalf("Notify(%d): durable %v, %v", i, durable, err)
				}
			}
			if len(n) != 0 {
				t.Fatal("the notifier was called")
			}
		})

		t.Run("a new filter subscription receives the matching values, marked retained", func(t *testing.T) {
			b, _ := newBroker(t)
			for _, topic := range []string{"s/2/status", "s/1/status", "s/1/temp", "$SYS/uptime", "other"} {
				retain(t, b, topic, "v-"+topic)
			}
			r := &recorder{}
			counts, err := b.Subscribe(r, Filter, "s/+/status", nil)
			if err != nil || counts.Filters != 1 {
				t.Fatal(counts, err)
			}
			want := []got{
				{Filter, "s/+/status", "s/1/status", "v-s/1/status", true},
				{Filter, "s/+/status", "s/2/status", "v-s/2/status", true},
			}
			if g := r.take(); !slices.Equal(g, want) {
				t.Errorf("got %+v, want %+v", g, want)
			}
			subscribe(t, b, r, Filter, "#")
			if g := topics(r.take()); !slices.Equal(g, []string{"other", "s/1/status", "s/1/temp", "s/2/status"}) {
				t.Errorf("# sent %v ($ topics excluded)", g)
			}
			subscribe(t, b, r, Filter, "s/+/status")
			if g := r.take(); len(g) != 2 {
				t.Errorf("subscribing again sends the retained values again, got %+v", g)
			}
			ch := &recorder{}
			subscribe(t, b, ch, Channel, "other")
			subscribe(t, b, ch, Pattern, "*")
			if g := ch.take(); len(g) != 0 {
				t.Errorf("Redis subscriptions receive no retained values, got %+v", g)
			}
			if st := b.Stats(); st.Delivered != 8 {
				t.Errorf("Delivered = %d, want the 8 retained deliveries", st.Delivered)
			}
		})

		t.Run("delete by filter", func(t *testing.T) {
			b, _ := newBroker(t)
			for _, topic := range []string{"sensors/1/status", "sensors/2/status", "sensors/2/temp", "sensors/status"} {
				retain(t, b, topic, "x")
			}
			n, index, err := b.DeleteRetained([]byte("sensors/+/status"))
			if err != nil || n != 2 || index == 0 {
				t.Fatalf("DeleteRetained = %d %d %v", n, index, err)
			}
			if err := b.Wait(index); err != nil {
				t.Fatal(err)
			}
			if got := retainedTopics(t, b, "#"); !slices.Equal(got, []string{"sensors/2/temp=x", "sensors/status=x"}) {
				t.Errorf("left %v", got)
			}
			last := b.log.LastIndex()
			if n, index, err := b.DeleteRetained([]byte("nothing/#")); n != 0 || index != last || err != nil || b.log.LastIndex() != last {
				t.Errorf("deleting nothing: %d %d %v, want the last record's index %d", n, index, err, last)
			}
		})

		t.Run("a listing names the log's last record, for the reply to wait for what it shows", func(t *testing.T) {
			// Another connection's retained publish may not be durable yet
			// when a listing shows it.
			b := open(t, t.TempDir(), newClock(), 0)
			defer b.Close()
			_, published, err := b.PublishRetained([]byte("a/1"), []byte("v"), nil)
			if err != nil {
				t.Fatal(err)
			}
			vals, index, err := b.Retained([]byte("a/#"))
			if err != nil || len(vals) != 1 || index != published {
				t.Fatalf("Retained = %d values, index %d, %v; want the publish's index %d", len(vals), index, err, published)
			}
		})

		t.Run("values survive a restart, ages included", func(t *testing.T) {
			dir, clk := t.TempDir(), newClock()
			b := open(t, dir, clk, 0)
			retain(t, b, "a/1", "one")
			retain(t, b, "a/2", "two")
			retain(t, b, "a/3", "three")
			retain(t, b, "a/2", "deux")
			retain(t, b, "a/1", "")
			b.DeleteRetained([]byte("a/3"))
			retain(t, b, "bin", "\x00\r\n\xff")
			clk.advance(time.Minute)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			b = open(t, dir, clk, 0)
			defer b.Close()
			if got := retainedTopics(t, b, "#"); !slices.Equal(got, []string{"a/2=deux", "bin=\x00\r\n\xff"}) {
				t.Errorf("after restart %q", got)
			}
			if vals, _, _ := b.Retained([]byte("a/2")); len(vals) != 1 || vals[0].Age != time.Minute {
				t.Errorf("age after restart %+v", vals)
			}
			if st := b.Stats(); st.Retained != 2 || st.LogRecords != 7 {
				t.Errorf("stats after restart %+v", st)
			}
		})

		t.Run("the log is compacted and the values survive it", func(t *testing.T) {
			const compactMin, writes = 16, 200
			dir, clk := t.TempDir(), newClock()
			b := open(t, dir, clk, compactMin)
			for i := range writes {
				retain(t, b, fmt.Sprintf("t/%d", i%3), fmt.Sprint(i))
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if st := b.Stats(); st.Compactions == 0 {
				t.Fatalf("no compaction after %d writes over 3 topics: %+v", writes, st)
			}
			b = open(t, dir, clk, compactMin)
			defer b.Close()
			if got := retainedTopics(t, b, "#"); !slices.Equal(got, []string{"t/0=198", "t/1=199", "t/2=197"}) {
				t.Errorf("after compaction and restart: %v", got)
			}
			if st := b.Stats(); st.LogRecords > compactMin+compactFactor*3 {
				t.Errorf("a restart replays %d records after compaction", st.LogRecords)
			}
		})

		t.Run("restart: random operations leave the same retained values after every reopen and crash", func(t *testing.T) {
			for seed := range uint64(randomSeeds) {
				t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
					newRandomRun(t, seed).run()
				})
			}
		})
	})

	t.Run("retained list", func(t *testing.T) {
		t.Run("every topic sorted, $ topics included, with ages and the total", func(t *testing.T) {
			b, clk := newBroker(t)
			retain(t, b, "b/x", "2")
			clk.advance(2 * time.Second)
			retain(t, b, "$SYS/up", "1")
			retain(t, b, "a", "\x00\xff")
			list, total := b.RetainedList(0)
			if total != 3 || len(list) != 3 || list[0].Topic != "$SYS/up" || list[1].Topic != "a" || string(list[1].Payload) != "\x00\xff" ||
				list[2].Topic != "b/x" || list[2].Age != 2*time.Second || list[0].Age != 0 {
				t.Fatalf("RetainedList(0) = %+v, %d", list, total)
			}
			if list, total := b.RetainedList(1); total != 3 || len(list) != 1 || list[0].Topic != "$SYS/up" {
				t.Fatalf("RetainedList(1) = %+v, %d", list, total)
			}
		})
		t.Run("edge: an empty broker lists nothing", func(t *testing.T) {
			b, _ := newBroker(t)
			if list, total := b.RetainedList(5); total != 0 || len(list) != 0 {
				t.Fatalf("RetainedList = %+v, %d", list, total)
			}
		})
		t.Run("race: lists while values and subscriptions change", func(t *testing.T) {
			b, _ := newBroker(t)
			const rounds = 200
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				r := &recorder{}
				for i := range rounds {
					topic := fmt.Sprintf("t/%d", i%10)
					if _, _, err := b.PublishRetained([]byte(topic), []byte(topic), nil); err != nil {
						t.Error(err)
						return
					}
					if _, err := b.Subscribe(r, Filter, topic, nil); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for range rounds {
					b.RetainedList(5)
					b.SubscriptionList(5)
				}
			}()
			wg.Wait()
			if _, total := b.RetainedList(0); total != 10 {
				t.Fatalf("%d retained topics, want 10", total)
			}
		})
	})

	t.Run("slow consumers", func(t *testing.T) {
		t.Run("a subscriber over its limit is dropped and counted", func(t *testing.T) {
			b, _ := newBroker(t)
			slow, fast := &recorder{limit: 2}, &recorder{}
			subscribe(t, b, slow, Filter, "a/#")
			subscribe(t, b, slow, Channel, "a/b")
			subscribe(t, b, fast, Filter, "a/#")
			if n := b.Publish([]byte("a/b"), []byte("1"), nil); n != 3 {
				t.Fatalf("first publish reached %d", n)
			}
			if n := b.Publish([]byte("a/b"), []byte("2"), nil); n != 1 {
				t.Errorf("second publish reached %d, want only the fast subscriber", n)
			}
			if n := b.Publish([]byte("a/b"), []byte("3"), nil); n != 1 {
				t.Errorf("third publish reached %d", n)
			}
			if slow.refused != 1 {
				t.Errorf("the dropped subscriber was asked %d times past its limit, want once", slow.refused)
			}
			if len(fast.take()) != 3 || b.Counts(slow).Total() != 0 {
				t.Error("the fast subscriber must keep receiving and the slow one lose its subscriptions")
			}
			st := b.Stats()
			if st.SlowConsumers != 1 || st.Refused != 1 || st.Delivered != 5 || st.Subscribers != 1 {
				t.Errorf("stats %+v", st)
			}
			b.Evict(fast)
			if st := b.Stats(); st.SlowConsumers != 2 || st.Subscribers != 0 {
				t.Errorf("a subscriber its caller evicts is dropped and counted: %+v", st)
			}
		})

		t.Run("retained values past the limit drop the new subscriber", func(t *testing.T) {
			b, _ := newBroker(t)
			for i := range 5 {
				retain(t, b, fmt.Sprintf("t/%d", i), "v")
			}
			r := &recorder{limit: 3}
			if _, err := b.Subscribe(r, Filter, "t/+", nil); err != nil {
				t.Fatal(err)
			}
			if len(r.take()) != 3 || r.refused != 1 || b.Counts(r).Total() != 0 || b.Stats().SlowConsumers != 1 {
				t.Errorf("refused %d, counts %+v, stats %+v", r.refused, b.Counts(r), b.Stats())
			}
		})
	})

	t.Run("races", func(t *testing.T) {
		t.Run("concurrent subscribe, unsubscribe and publish", func(t *testing.T) {
			const workers, rounds = 8, 300
			b, _ := newBroker(t)
			filters := []string{"a/#", "a/+/c", "+/b/+", "#", "a/b/c"}
			stable := &recorder{}
			subscribe(t, b, stable, Filter, "a/b/c")
			var wg sync.WaitGroup
			var onTopic atomic.Int64
			for w := range workers {
				wg.Add(2)
				go func() {
					defer wg.Done()
					r := &recorder{}
					for i := range rounds {
						f := filters[(w+i)%len(filters)]
						b.Subscribe(r, Filter, f, nil)
						b.Subscribe(r, Channel, "a/b/c", nil)
						b.Subscribe(r, Pattern, "a/*", nil)
						b.Unsubscribe(r, Filter, f)
						if i%10 == 0 {
							b.UnsubscribeAll(r)
						}
						r.take()
					}
					b.UnsubscribeAll(r)
				}()
				go func() {
					defer wg.Done()
					for i := range rounds {
						b.Publish([]byte("a/b/c"), []byte(fmt.Sprint(i)), nil)
						onTopic.Add(1)
						if i%50 == 0 {
							b.PublishRetained([]byte(fmt.Sprintf("a/b/%d", w)), []byte("v"), nil)
						}
						b.Stats()
					}
				}()
			}
			wg.Wait()
			if got := int64(len(stable.take())); got != onTopic.Load() {
				t.Errorf("the stable subscriber got %d messages, want every publish on a/b/c (%d)", got, onTopic.Load())
			}
			if st := b.Stats(); st.Subscribers != 1 || st.Subscriptions != 1 || st.Filters != 1 || st.Channels != 0 || st.Patterns != 0 {
				t.Errorf("index after the workers left: %+v", st)
			}
		})

		t.Run("a subscriber never sees a retained value older than one it saw", func(t *testing.T) {
			const versions = 2000
			b, _ := newBroker(t)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for v := 1; v <= versions; v++ {
					b.PublishRetained([]byte("t/x"), []byte(fmt.Sprintf("%06d", v)), nil)
				}
			}()
			for running := true; running; {
				select {
				case <-done:
					running = false
				default:
				}
				r := &recorder{}
				subscribe(t, b, r, Filter, "t/+")
				b.UnsubscribeAll(r)
				last := ""
				for _, m := range r.take() {
					if m.payload < last {
						t.Fatalf("received %s after %s", m.payload, last)
					}
					last = m.payload
				}
			}
		})
	})

	t.Run("restarts", func(t *testing.T) {
		t.Run("a subscriber that subscribes again after a restart gets the retained values again", func(t *testing.T) {
			dir, clk := t.TempDir(), newClock()
			b := open(t, dir, clk, 0)
			retain(t, b, "dev/1/state", "on")
			r := &recorder{}
			subscribe(t, b, r, Filter, "dev/+/state")
			if g := r.take(); len(g) != 1 || !g[0].retained {
				t.Fatalf("before restart: %+v", g)
			}
			b.Close()
			b = open(t, dir, clk, 0)
			defer b.Close()
			if b.Counts(r).Total() != 0 {
				t.Error("subscriptions must not survive a restart")
			}
			subscribe(t, b, r, Filter, "dev/+/state")
			if g := r.take(); !slices.Equal(g, []got{{Filter, "dev/+/state", "dev/1/state", "on", true}}) {
				t.Errorf("after restart: %+v", g)
			}
		})

		t.Run("a closed broker refuses retained writes", func(t *testing.T) {
			b, _ := newBroker(t)
			b.Close()
			if _, _, err := b.PublishRetained([]byte("t"), []byte("v"), nil); !errors.Is(err, ErrClosed) {
				t.Errorf("PublishRetained after Close = %v", err)
			}
			if err := b.Close(); err != nil {
				t.Errorf("second Close = %v", err)
			}
		})
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
	// randomCompactingSeeds is one in how many seeds compacts the log. A
	// compaction writes its snapshot and truncates the log in the
	// background, so once one started, a run restarts only by Close, which
	// waits for it: an image of the files taken in the middle of one is no
	// state a crash leaves.
	randomCompactingSeeds = 2
	// randomNoCompaction is a CompactMinRecords no sequence reaches: the
	// other seeds never compact.
	randomNoCompaction = math.MaxInt
	// randomCompactMinRecords is the CompactMinRecords of the compacting
	// seeds: past it, the log is compacted once it holds more than
	// compactFactor records per value, which a sequence reaches every few
	// dozen writes.
	randomCompactMinRecords = 8
	// randomSegmentSize keeps the log in several small segments, so that
	// compactions and images cross segment files.
	randomSegmentSize = 1 << 10
	// randomMaxAdvance bounds the clock's random steps, so that values
	// are published at different times.
	randomMaxAdvance = 3 * time.Second
	// randomEmptyOdds is one in how many retained publishes has an empty
	// payload, which deletes the topic's value.
	randomEmptyOdds = 5
	// randomMaxPad bounds the padding of a payload, so that payloads
	// differ in size.
	randomMaxPad = 48
	// randomLargeOdds is one in how many non-empty retained payloads is
	// padded by randomLargePad, so that its record is larger than a
	// segment of the log.
	randomLargeOdds = 25
	randomLargePad  = 3 << 10
	// randomFilterLevelKinds is how many kinds of level a random filter
	// chooses from: '+', '#' (in its last level; a name elsewhere) and
	// names, which take the other kinds' share.
	randomFilterLevelKinds = 4
	// randomMaxListLimit bounds the limit of a random RetainedList; 0
	// lists every value.
	randomMaxListLimit = 6
	// randomBadOdds is one in how many publishes, deletes and reads names
	// a topic or filter the broker refuses.
	randomBadOdds = 8
)

// refused is a topic or a filter the broker refuses, with its error.
type refused struct {
	name string
	err  error
}

var (
	// randomLevels are the names each level of a random topic chooses
	// from; a topic has one to len(randomLevels) levels. Wildcards in the
	// first level skip "$SYS" (MQTT-4.7.2-1); "" is an empty level.
	randomLevels = [][]string{{"home", "office", "$SYS"}, {"x", "y", ""}, {"t", "u"}}
	// randomPads are the bytes payloads are padded with: text, binary
	// bytes, and the separator and wildcards, which a payload may hold.
	randomPads = []string{"p", "\x00", "\xff", "/+#"}
	// randomBadTopics are the topics PublishRetained refuses.
	randomBadTopics = []refused{
		{"", ErrTopicEmpty},
		{"home/+", ErrTopicWildcard},
		{"home/x#", ErrTopicWildcard},
		{"#", ErrTopicWildcard},
		{strings.Repeat("h", MaxTopicLen+1), ErrTopicTooLong},
	}
	// randomBadFilters are the filters DeleteRetained and Retained refuse.
	randomBadFilters = []refused{
		{"", ErrFilterEmpty},
		{"home/#/t", ErrFilterHashNotLast},
		{"#/", ErrFilterHashNotLast},
		{"home/x+", ErrFilterWildcard},
		{"+#", ErrFilterWildcard},
		{strings.Repeat("h", MaxTopicLen+1), ErrFilterTooLong},
	}
)

// randomRun publishes and deletes retained values at random on a small
// tree of topics, reads them back, moves a fake clock, and after every few
// operations restarts the broker, by a clean close or from an image of its
// files taken as a kill -9 would leave them, and compares the retained
// values with those it held before. An operation that returns no log index
// (a refused one, a read, a change that found nothing to change, a wait, a
// clock step) must change nothing.
type randomRun struct {
	t   *testing.T
	r   *rand.Rand
	clk *clock
	cfg Config
	b   *Broker
	// before is the dump taken before the operation being applied, which
	// reads are checked against.
	before retainedDump
	// unwaited is the log index of the last change not waited for yet, 0
	// when there is none.
	unwaited uint64
	// compactionStarted says that a compaction started since Open; it may
	// still be writing its snapshot or truncating the log.
	compactionStarted bool
	// since describes the operations since the last restart.
	since []string
}

func newRandomRun(t *testing.T, seed uint64) *randomRun {
	x := &randomRun{t: t, r: rand.New(rand.NewPCG(seed, seed)), clk: newClock()}
	x.cfg = Config{
		Dir: t.TempDir(),
		// A Wait returns once the record is written to the OS: all that an
		// image of the files needs, without an fsync per operation.
		WAL:               wal.Options{Fsync: wal.FsyncNo, SegmentSize: randomSegmentSize},
		CompactMinRecords: randomNoCompaction,
		Now:               x.clk.now,
	}
	if seed%randomCompactingSeeds == 1 {
		x.cfg.CompactMinRecords = randomCompactMinRecords
	}
	x.open()
	t.Cleanup(func() { x.b.Close() })
	return x
}

func (x *randomRun) open() {
	x.t.Helper()
	b, err := Open(x.cfg)
	if err != nil {
		x.t.Fatalf("open: %v", err)
	}
	x.b = b
}

func (x *randomRun) run() {
	for op := range randomOps {
		x.before = x.dump()
		what, index, err := x.apply(op)
		x.since = append(x.since, fmt.Sprintf("%d: %s = index %d, %v", op, what, index, err))
		switch {
		case errors.Is(err, ErrOverload), errors.Is(err, ErrReadOnly), errors.Is(err, ErrClosed):
			x.t.Fatalf("op %d, %s: %v", op, what, err)
		case err != nil || index == 0:
			// A retained publish that changes nothing still starts a
			// compaction that is due: one that a write found due while
			// another compaction was running.
			got := x.dump()
			if d := dumpDiff(got, x.before); d != "" && dumpDiff(got, x.compacted(x.before)) != "" {
				x.t.Fatalf("op %d, %s returned index %d (%v) and changed the state: %s", op, what, index, err, d)
			}
		default:
			x.unwaited = index
		}
		// A compaction starts inside the call that finds it due, and
		// leaves one record per value to replay, fewer than the log held.
		if x.b.Stats().LogRecords < x.before.Stats.LogRecords {
			x.compactionStarted = true
		}
		if x.r.IntN(randomRestartOdds) == 0 {
			x.restart(op)
		}
	}
	x.restart(randomOps)
}

// randomOp is one kind of random operation, with its weight: its share of
// the operations a sequence applies. apply says what it did and returns
// the log index of its change (0 when it changed nothing).
type randomOp struct {
	weight int
	apply  func(x *randomRun, op int) (what string, index uint64, err error)
}

// randomOpTable lists the operations; retained publishes dominate so that
// most topics hold a value that deletes by filter and empty payloads
// remove.
var randomOpTable = []randomOp{
	{30, (*randomRun).publish},
	{5, (*randomRun).delete},
	{6, (*randomRun).read},
	{2, (*randomRun).list},
	{4, func(x *randomRun, _ int) (string, uint64, error) {
		what := fmt.Sprintf("wait %d", x.unwaited)
		x.wait()
		return what, 0, nil
	}},
	{6, func(x *randomRun, _ int) (string, uint64, error) {
		d := time.Duration(x.r.Int64N(randomMaxAdvance.Milliseconds())) * time.Millisecond
		x.clk.advance(d)
		return fmt.Sprintf("advance %v", d), 0, nil
	}},
}

// apply applies one random operation and says what it was.
func (x *randomRun) apply(op int) (string, uint64, error) {
	total := 0
	for _, o := range randomOpTable {
		total += o.weight
	}
	n := x.r.IntN(total)
	for _, o := range randomOpTable {
		if n < o.weight {
			return o.apply(x, op)
		}
		n -= o.weight
	}
	panic("unreachable: n is below the total weight")
}

// publish publishes a retained value, empty (a delete) once in
// randomEmptyOdds and otherwise padded to a random size, on a random topic
// or on one the broker refuses.
func (x *randomRun) publish(op int) (string, uint64, error) {
	topic, want := x.topic(), error(nil)
	if x.bad() {
		bad := pick(x, randomBadTopics)
		topic, want = bad.name, bad.err
	}
	var payload []byte
	if x.r.IntN(randomEmptyOdds) != 0 {
		pad := x.r.IntN(randomMaxPad)
		if x.r.IntN(randomLargeOdds) == 0 {
			pad = randomLargePad
		}
		payload = fmt.Appendf(nil, "%d %s", op, strings.Repeat(pick(x, randomPads), pad))
	}
	_, index, err := x.b.PublishRetained([]byte(topic), payload, nil)
	what := fmt.Sprintf("publish retained %.20q %d bytes", topic, len(payload))
	x.expect(what, err, want)
	return what, index, err
}

// delete deletes by a random filter, checking that it deletes as many
// values as the filter matches.
func (x *randomRun) delete(int) (string, uint64, error) {
	filter, want := x.filter()
	n, index, err := x.b.DeleteRetained([]byte(filter))
	what := fmt.Sprintf("delete retained %.20q = %d", filter, n)
	x.expect(what, err, want)
	if m := len(x.matching(filter)); err == nil && n != m {
		x.t.Fatalf("%s, want %d of %v", what, m, x.before.Values)
	}
	return what, index, err
}

// read reads the values of a random filter, checking them against the
// values the filter matches.
func (x *randomRun) read(int) (string, uint64, error) {
	filter, want := x.filter()
	vals, _, err := x.b.Retained([]byte(filter))
	what := fmt.Sprintf("retained %.20q = %d values", filter, len(vals))
	x.expect(what, err, want)
	if w := x.matching(filter); err == nil && !slices.Equal(x.dumped(vals), w) {
		x.t.Fatalf("%s: %v, want %v", what, x.dumped(vals), w)
	}
	return what, 0, err
}

// list lists the first values up to a random limit, checking them and the
// total against the dump.
func (x *randomRun) list(int) (string, uint64, error) {
	limit := x.r.IntN(randomMaxListLimit)
	vals, total := x.b.RetainedList(limit)
	what := fmt.Sprintf("retained list %d = %d of %d", limit, len(vals), total)
	w := x.before.Values
	if limit > 0 && limit < len(w) {
		w = w[:limit]
	}
	if total != len(x.before.Values) || !slices.Equal(x.dumped(vals), w) {
		x.t.Fatalf("%s: %v, want %v of %d", what, x.dumped(vals), w, len(x.before.Values))
	}
	return what, 0, nil
}

// expect fails the test unless err is want (nil included), or an error of
// the log, which the caller reports.
func (x *randomRun) expect(what string, err, want error) {
	x.t.Helper()
	if !errors.Is(err, want) && !errors.Is(err, ErrOverload) && !errors.Is(err, ErrReadOnly) && !errors.Is(err, ErrClosed) {
		x.t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

// wait waits for every change not waited for yet.
func (x *randomRun) wait() {
	x.t.Helper()
	if err := x.b.Wait(x.unwaited); err != nil {
		x.t.Fatalf("wait %d: %v", x.unwaited, err)
	}
	x.unwaited = 0
}

// topic returns a random topic of one to len(randomLevels) levels.
func (x *randomRun) topic() string {
	levels := make([]string, 1+x.r.IntN(len(randomLevels)))
	for i := range levels {
		levels[i] = pick(x, randomLevels[i])
	}
	return strings.Join(levels, "/")
}

// filter returns a random filter of one to len(randomLevels) levels, each
// a name or '+', its last possibly '#', or once in randomBadOdds a filter
// the broker refuses; with the error the broker answers.
func (x *randomRun) filter() (string, error) {
	if x.bad() {
		bad := pick(x, randomBadFilters)
		return bad.name, bad.err
	}
	levels := make([]string, 1+x.r.IntN(len(randomLevels)))
	for i := range levels {
		switch x.r.IntN(randomFilterLevelKinds) {
		case 0:
			levels[i] = singleLevel
		case 1:
			if i == len(levels)-1 {
				levels[i] = multiLevel
				break
			}
			fallthrough
		default:
			levels[i] = pick(x, randomLevels[i])
		}
	}
	return strings.Join(levels, "/"), nil
}

// matching returns the values of the dump before the operation that
// filter matches, by the reference matcher.
func (x *randomRun) matching(filter string) []dumpedValue {
	var out []dumpedValue
	for _, v := range x.before.Values {
		if refMatch(filter, v.Topic) {
			out = append(out, v)
		}
	}
	return out
}

func (x *randomRun) coin() bool { return x.r.IntN(2) == 0 }

// bad is true once in randomBadOdds.
func (x *randomRun) bad() bool { return x.r.IntN(randomBadOdds) == 0 }

// pick returns one of from.
func pick[T any](x *randomRun, from []T) T { return from[x.r.IntN(len(from))] }

// restart checks what the broker holds, restarts it, cleanly or from an
// image of its files, and checks that it holds the same.
func (x *randomRun) restart(op int) {
	x.t.Helper()
	kept := x.dump()
	want := x.compacted(kept)
	how := "reopen"
	switch {
	case x.compactionStarted || x.coin():
		// Close writes the records not waited for and waits for a
		// compaction in progress.
		if err := x.b.Close(); err != nil {
			x.t.Fatalf("close: %v", err)
		}
	default:
		// Once every change is waited for, the files hold them all, and
		// no compaction started since Open (one that ran before Close was
		// finished by it): the image is what a kill -9 leaves. The broker
		// whose files were copied is closed after the copy.
		how = "crash image"
		x.wait()
		image := crashimage.Of(x.t, x.cfg.Dir)
		if err := x.b.Close(); err != nil {
			x.t.Fatalf("close: %v", err)
		}
		x.cfg.Dir = image
	}
	x.unwaited = 0
	x.open()
	// Open starts the compaction that is due.
	x.compactionStarted = want.Stats != kept.Stats
	if d := dumpDiff(x.dump(), want); d != "" {
		x.t.Fatalf("after op %d, %s: %s\noperations since the last restart:\n%s", op, how, d, strings.Join(x.since, "\n"))
	}
	x.since = x.since[:0]
}

// retainedDump is what a restart must keep: every retained value, in
// RetainedList's order (by topic), and the durable figures of Stats.
type retainedDump struct {
	Values []dumpedValue
	Stats  durableStats
}

// durableStats are the figures of Stats that a restart keeps; the others
// count since Open (Published, Delivered, Compactions…) or describe the
// subscriptions, which a restart drops.
type durableStats struct {
	Retained      int
	RetainedBytes int64
	LogRecords    int64 // records a restart replays
}

// dumpedValue is a retained value as a dump holds it: a copy, with the
// time of its publish instead of its age, so that moving the clock changes
// no dump.
type dumpedValue struct {
	Topic, Payload string
	At             int64 // unix ms: the clock's time less the value's age
}

func (v dumpedValue) String() string { return fmt.Sprintf("%q=%.40q at %d", v.Topic, v.Payload, v.At) }

// dump lists every retained value and reads the durable figures of Stats,
// checking that they agree with the list.
func (x *randomRun) dump() retainedDump {
	x.t.Helper()
	vals, total := x.b.RetainedList(0)
	st := x.b.Stats()
	d := retainedDump{Values: x.dumped(vals),
		Stats: durableStats{Retained: st.Retained, RetainedBytes: st.RetainedBytes, LogRecords: st.LogRecords}}
	var size int64
	for _, v := range d.Values {
		size += int64(len(v.Topic) + len(v.Payload))
	}
	if total != len(vals) || st.Retained != total || st.RetainedBytes != size {
		x.t.Fatalf("RetainedList lists %d of %d values, %d bytes; Stats counts %d values, %d bytes",
			len(vals), total, size, st.Retained, st.RetainedBytes)
	}
	return d
}

// dumped copies vals as a dump holds them.
func (x *randomRun) dumped(vals []Retained) []dumpedValue {
	now := x.clk.now()
	out := make([]dumpedValue, len(vals))
	for i, v := range vals {
		out[i] = dumpedValue{Topic: v.Topic, Payload: string(v.Payload), At: now.Add(-v.Age).UnixMilli()}
	}
	return out
}

// compacted is what a dump becomes when the compaction that is due, if
// one is (compactDue), starts: the same values, with one record per value
// to replay. A restart keeps a dump and then starts that compaction.
func (x *randomRun) compacted(d retainedDump) retainedDump {
	if d.Stats.LogRecords > int64(x.cfg.CompactMinRecords) && d.Stats.LogRecords > compactFactor*int64(d.Stats.Retained) {
		d.Stats.LogRecords = int64(d.Stats.Retained)
	}
	return d
}

// dumpDiff describes the first difference between two dumps, "" when they
// are the same.
func dumpDiff(got, want retainedDump) string {
	for i := range max(len(got.Values), len(want.Values)) {
		switch {
		case i >= len(got.Values):
			return fmt.Sprintf("value %d: none, want %v", i, want.Values[i])
		case i >= len(want.Values):
			return fmt.Sprintf("value %d: %v, want none", i, got.Values[i])
		case got.Values[i] != want.Values[i]:
			return fmt.Sprintf("value %d: %v, want %v", i, got.Values[i], want.Values[i])
		}
	}
	if got.Stats != want.Stats {
		return fmt.Sprintf("stats %+v, want %+v", got.Stats, want.Stats)
	}
	return ""
}

// refMatch is a direct transcription of MQTT's matching rules, to check
// the trie against.
func refMatch(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && (f[0] == "+" || f[0] == "#") {
		return false
	}
	for i, level := range f {
		switch {
		case level == "#":
			return true
		case i >= len(t):
			return false
		case level != "+" && level != t[i]:
			return false
		}
	}
	return len(f) == len(t)
}

// refValidFilter is a direct transcription of MQTT's filter rules.
func refValidFilter(filter string) bool {
	if filter == "" || len(filter) > MaxTopicLen {
		return false
	}
	levels := strings.Split(filter, "/")
	for i, level := range levels {
		if level != "+" && level != "#" && strings.ContainsAny(level, "+#") {
			return false
		}
		if level == "#" && i != len(levels)-1 {
			return false
		}
	}
	return true
}

func FuzzFilterMatch(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.filter, c.topic)
	}
	b, _ := newBroker(f)
	f.Fuzz(func(t *testing.T, filter, topic string) {
		valid := CheckFilter([]byte(filter)) == nil
		if valid != refValidFilter(filter) {
			t.Fatalf("CheckFilter(%q) valid=%v, reference says %v", filter, valid, !valid)
		}
		if !valid {
			return
		}
		r := &recorder{}
		if _, err := b.Subscribe(r, Filter, filter, nil); err != nil {
			t.Fatal(err)
		}
		defer b.UnsubscribeAll(r)
		r.take()
		want := refMatch(filter, topic)
		if n := b.Publish([]byte(topic), nil, nil); (n == 1) != want || n > 1 {
			t.Fatalf("filter %q, topic %q: %d deliveries, reference match=%v", filter, topic, n, want)
		}
		if CheckTopic([]byte(topic)) != nil {
			return
		}
		retain(t, b, topic, "v")
		defer retain(t, b, topic, "")
		vals, _, err := b.Retained([]byte(filter))
		if err != nil {
			t.Fatal(err)
		}
		listed := slices.ContainsFunc(vals, func(v Retained) bool { return v.Topic == topic })
		if listed != want {
			t.Fatalf("Retained(%q) lists %q: %v, reference match=%v", filter, topic, listed, want)
		}
	})
}
