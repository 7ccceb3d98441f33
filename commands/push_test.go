package commands

import (
	"bytes"
	"sync"
	"testing"

	"nexo/engine/pubsub"
	"nexo/wal"
)

func TestOutbox(t *testing.T) {
	t.Run("edge: a message delivered after its subscription is cut is dropped", func(t *testing.T) {
		// A publisher collects the subscribers of a channel, then delivers
		// to each without the broker's lock: it may deliver after the
		// subscriber unsubscribed and queued its confirmation, where in
		// RESP2 the message would be read as the reply to the next command.
		o := &outbox{c: &Client{}, wake: make(chan struct{}, 1)}
		o.admit(pubsub.Channel, "ch")
		m := pubsub.Message{Kind: pubsub.Channel, Filter: "ch", Topic: []byte("ch"), Payload: []byte("before")}
		if !o.Deliver(m, nil) || o.queued == 0 {
			t.Fatalf("a live subscription's message: %d bytes queued", o.queued)
		}
		queued := o.queued
		// The message was matched at epoch 0; the removal made it 1.
		o.cut(pubsub.Channel, "ch", 1)
		m.Payload = []byte("after")
		if !o.Deliver(m, nil) || o.queued != queued {
			t.Fatalf("after the cut: %d bytes queued, want %d", o.queued, queued)
		}
		m.Epoch = 1
		o.admit(pubsub.Channel, "ch")
		if !o.Deliver(m, nil) || o.queued == queued {
			t.Fatalf("subscribed again, a message matched after the cut: %d bytes queued", o.queued)
		}
		queued = o.queued
		o.admit(pubsub.Pattern, "c*")
		o.cutAll(3)
		for _, m.Epoch = range []uint64{1, 2} {
			m.Kind, m.Filter = pubsub.Pattern, "c*"
			if !o.Deliver(m, nil) || o.queued != queued {
				t.Fatalf("matched at %d, after cutting all at 3: %d bytes queued, want %d", m.Epoch, o.queued, queued)
			}
		}
		m.Epoch = 3
		if !o.Deliver(m, nil) || o.queued == queued {
			t.Fatalf("a message matched after cutting all is a subscription made since: %d bytes queued", o.queued)
		}
	})

	t.Run("edge: a new filter's live messages wait for its retained values", func(t *testing.T) {
		// A publish may reach a topic filter subscription while the broker
		// is still queuing the filter's retained values: its message must
		// come after them, or an old retained value would follow it.
		o := &outbox{c: &Client{}, wake: make(chan struct{}, 1)}
		o.hold()
		o.admit(pubsub.Channel, "other")
		o.admit(pubsub.Filter, "t/#")
		o.retainFirst(pubsub.Filter, "t/#")
		for _, m := range []pubsub.Message{
			{Kind: pubsub.Filter, Filter: "t/#", Topic: []byte("t/a"), Payload: []byte("live-new")},
			{Kind: pubsub.Channel, Filter: "other", Topic: []byte("other"), Payload: []byte("other-channel")},
			{Kind: pubsub.Filter, Filter: "t/#", Topic: []byte("t/a"), Payload: []byte("retained-old"), Retained: true},
		} {
			if !o.Deliver(m, nil) {
				t.Fatalf("refused %+v", m)
			}
		}
		o.releasePending()
		var out []byte
		for _, ch := range o.chunks {
			out = append(out, ch.b...)
		}
		order := []int{bytes.Index(out, []byte("other-channel")), bytes.Index(out, []byte("retained-old")), bytes.Index(out, []byte("live-new"))}
		if order[0] < 0 || order[0] > order[1] || order[1] > order[2] {
			t.Fatalf("queued in the order %v (other channel, retained, live): %q", order, out)
		}
		if o.queued != len(out) {
			t.Fatalf("queued %d bytes, counted %d", len(out), o.queued)
		}
	})
}

func TestSubscribe(t *testing.T) {
	t.Run("edge: PSUB queues its filter's retained values off the event loop", func(t *testing.T) {
		// A filter may match many retained values; queuing them on an
		// event loop would hold up every other connection of the loop.
		// The hook holds the queuing until another connection of the
		// same loop, the only one, has had its answer.
		pb, err := pubsub.Open(pubsub.Config{Dir: t.TempDir(), WAL: wal.Options{Fsync: wal.FsyncNo}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pb.Close() })
		// Set before the server starts and reset once it stopped (cleanups
		// run last first), so that no connection's goroutine races with it.
		queuing, answered := make(chan struct{}), make(chan struct{})
		testHookRetained = func(*Client) {
			close(queuing)
			<-answered
		}
		t.Cleanup(func() { testHookRetained = func(*Client) {} })
		addr := startTestServer(t, func(cfg *Config) {
			cfg.PubSub = pb
			cfg.Loops = 1
		})
		release := sync.OnceFunc(func() { close(answered) })
		t.Cleanup(release) // before the server stops, should the test fail
		subscriber, other := dialTest(t, addr), dialTest(t, addr)
		expect(t, other, "PONG", "PING") // on the loop before the PSUB
		subscriber.Send("PSUB", "t/#")
		if err := subscriber.Flush(); err != nil {
			t.Fatal(err)
		}
		<-queuing
		expect(t, other, "PONG", "PING")
		release()
		if _, err := subscriber.Read(); err != nil {
			t.Fatal(err)
		}
	})
}
