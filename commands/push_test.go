package commands

import (
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
		o.cut(pubsub.Channel, "ch")
		m.Payload = []byte("after")
		if !o.Deliver(m, nil) || o.queued != queued {
			t.Fatalf("after the cut: %d bytes queued, want %d", o.queued, queued)
		}
		o.admit(pubsub.Pattern, "c*")
		o.cutAll()
		m.Kind, m.Filter = pubsub.Pattern, "c*"
		if !o.Deliver(m, nil) || o.queued != queued {
			t.Fatalf("after cutting all: %d bytes queued, want %d", o.queued, queued)
		}
	})
}
