package commands

import (
	"bytes"
	"testing"

	"nexo/engine/pubsub"
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
