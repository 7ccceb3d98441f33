package commands

import (
	"nexo/engine/pubsub"
	"nexo/resp"
)

// Commands of the PUBSUB broker: Redis's SUBSCRIBE family on the shared
// topic namespace, and NEXO's topic filters (PSUB) with retained values.
// Delivery to subscribed connections is in push.go.

// pubsubSince is the first NEXO version with the pub/sub commands.
const pubsubSince = "0.2.0"

// Reply kinds of subscription confirmations, as Redis names them.
const (
	kindSubscribe    = "subscribe"
	kindUnsubscribe  = "unsubscribe"
	kindPSubscribe   = "psubscribe"
	kindPUnsubscribe = "punsubscribe"
)

// confirmationSize is the number of elements of a confirmation:
// kind, name, the connection's subscription count.
const confirmationSize = 3

// retainedEntrySize is the number of elements of a PRETAINED entry:
// topic, payload, age in milliseconds.
const retainedEntrySize = 3

const errNoPubSub = "ERR pub/sub is not available on this server"

func (s *Server) registerPubSub() {
	const (
		sub  = PubSub | Loading | Stale | SubscriberOK | NoMulti // subscription commands
		pub  = PubSub | Loading | Stale | Fast                   // publishing
		info = PubSub | Loading | Stale                          // introspection
	)
	s.table.addAll("pubsub", pubsubSince, []*Command{
		{Name: "subscribe", Arity: -2, Flags: sub, Summary: "Listens for messages published to channels.",
			Syntax: "channel [channel ...]", Handler: subscribeHandler(pubsub.Channel, kindSubscribe)},
		{Name: "unsubscribe", Arity: -1, Flags: sub, Summary: "Stops listening to messages posted to channels.",
			Syntax: "[channel [channel ...]]", Handler: unsubscribeHandler(pubsub.Channel, kindUnsubscribe)},
		{Name: "psubscribe", Arity: -2, Flags: sub, Summary: "Listens for messages published to channels that match glob patterns.",
			Syntax: "pattern [pattern ...]", Handler: subscribeHandler(pubsub.Pattern, kindPSubscribe)},
		{Name: "punsubscribe", Arity: -1, Flags: sub, Summary: "Stops listening to messages published to channels that match glob patterns.",
			Syntax: "[pattern [pattern ...]]", Handler: unsubscribeHandler(pubsub.Pattern, kindPUnsubscribe)},
		{Name: "publish", Arity: 3, Flags: pub, Summary: "Posts a message to a channel.",
			Syntax: "channel message", Handler: cmdPublish},
		{Name: "psub", Arity: -2, Flags: sub, Summary: "Subscribes to topics matching MQTT topic filters and receives their retained values.",
			Syntax: "filter [filter ...]", Handler: subscribeHandler(pubsub.Filter, kindPSubscribe)},
		{Name: "punsub", Arity: -1, Flags: sub, Summary: "Removes topic filter subscriptions.",
			Syntax: "[filter [filter ...]]", Handler: cmdPUnsub},
		{Name: "ppub", Arity: -3, Flags: pub | Write, Summary: "Publishes a payload on a topic, optionally as the topic's retained value.",
			Syntax: "topic payload [RETAIN]", Handler: cmdPPub},
		{Name: "pretained", Arity: 2, Flags: info | ReadOnly, Summary: "Lists the retained values of the topics matching a topic filter, with their age.",
			Syntax: "filter", Handler: cmdPRetained},
		{Name: "pdelretained", Arity: 2, Flags: PubSub | Write, Summary: "Deletes the retained values of the topics matching a topic filter.",
			Syntax: "filter", Handler: cmdPDelRetained},
		{Name: "pubsub", Arity: -2, Flags: info, Summary: "A container for Pub/Sub commands.",
			Syntax: "subcommand [argument ...]", Handler: cmdPubSubUnknown},
	})
	for _, sub := range []*Command{
		{Name: "pubsub|channels", Arity: -2, Summary: "Returns the active channels.", Syntax: "[pattern]", Handler: cmdPubSubChannels},
		{Name: "pubsub|numsub", Arity: -2, Summary: "Returns a count of subscribers to channels.", Syntax: "[channel [channel ...]]", Handler: cmdPubSubNumSub},
		{Name: "pubsub|numpat", Arity: 2, Summary: "Returns a count of unique pattern subscriptions.", Handler: cmdPubSubNumPat},
		{Name: "pubsub|help", Arity: 2, Summary: "Returns helpful text about the different subcommands.", Handler: cmdPubSubHelp},
	} {
		sub.Flags = info
		sub.Group, sub.Since = "pubsub", pubsubSince
		s.table.add(sub)
	}
}

// pubsub returns the PUBSUB broker, or answers an error when the server
// has none.
func (c *Client) pubsub() *pubsub.Broker {
	b := c.srv.cfg.PubSub
	if b == nil {
		c.replyError(errNoPubSub)
	}
	return b
}

// queueReplies moves the buffered replies into the outbox ahead of what
// comes next; replies that acknowledge durable records wait for them first.
// It returns false when they cannot be sent (the log failed, or the
// connection is gone): the connection is then closing.
func (c *Client) queueReplies() bool {
	// Both may wait: the command gate is released meanwhile (multi.go).
	g := c.leaveGate()
	defer c.enterGate(g)
	if err := c.awaitDurable(); err != nil {
		c.closing = true
		return false
	}
	if err := c.w.Flush(); err != nil {
		c.closing = true
		return false
	}
	return true
}

// testHookRetained is called on the goroutine that queues a topic
// filter's retained values, before it does.
var testHookRetained = func(*Client) {}

// subscribeHandler runs SUBSCRIBE, PSUBSCRIBE and PSUB. Each name is
// confirmed with [kind, name, count] (a push in RESP3), and the
// confirmation is queued before the subscription takes effect, so that it
// reaches the client before any message for it; a filter's retained values
// follow its confirmation. The writer is held meanwhile (see outbox.hold).
func subscribeHandler(kind pubsub.Kind, reply string) Handler {
	return func(c *Client, args [][]byte) {
		b := c.pubsub()
		if b == nil {
			return
		}
		if kind == pubsub.Filter {
			for _, f := range args[1:] {
				if err := pubsub.CheckFilter(f); err != nil {
					c.replyErr(err)
					return
				}
			}
			// A filter may match many retained values, which take time in
			// proportion to queue; on an event loop, every other connection
			// of the loop would wait for them. The subscription leaves the
			// loop anyway.
			if c.handOffForWait() {
				return
			}
		}
		if !c.queueReplies() {
			return
		}
		o := c.startOutbox()
		o.hold()
		defer o.release()
		for _, a := range args[1:] {
			name := string(a)
			count := b.Counts(o).Total()
			if !b.Subscribed(o, kind, name) {
				count++
			}
			c.w.Push(confirmationSize)
			c.w.BulkString(reply)
			c.w.Bulk(a)
			c.w.Int(int64(count))
			if !c.queueReplies() {
				return
			}
			o.admit(kind, name)
			if kind == pubsub.Filter {
				// Its retained values come before its live messages.
				o.retainFirst(kind, name)
				testHookRetained(c)
			}
			counts, err := b.Subscribe(o, kind, name, c)
			o.releasePending()
			c.ps.frames.reset()
			if err != nil {
				if !b.Subscribed(o, kind, name) {
					o.cut(kind, name, b.Epoch())
				}
				c.replyErr(err)
				return
			}
			c.setCounts(counts)
		}
	}
}

// unsubscribeHandler runs UNSUBSCRIBE and PUNSUBSCRIBE, and PUNSUB in
// RESP2: one confirmation per name, or per current subscription when no
// name is given, or [kind, null, count] when there is none.
func unsubscribeHandler(kind pubsub.Kind, reply string) Handler {
	return func(c *Client, args [][]byte) {
		b := c.pubsub()
		if b == nil {
			return
		}
		names := c.unsubscribeNames(b, kind, args[1:])
		if len(names) == 0 {
			c.w.Push(confirmationSize)
			c.w.BulkString(reply)
			c.w.Null()
			c.w.Int(int64(c.ps.count))
			return
		}
		for _, name := range names {
			c.unsubscribe(b, kind, name)
			c.w.Push(confirmationSize)
			c.w.BulkString(reply)
			c.w.BulkString(name)
			c.w.Int(int64(c.ps.count))
		}
	}
}

// punsubRESP2 is PUNSUB for RESP2 connections.
var punsubRESP2 = unsubscribeHandler(pubsub.Filter, kindPUnsubscribe)

// unsubscribeNames lists the names an unsubscribe command removes: its
// arguments, or without any every name of kind the connection has.
func (c *Client) unsubscribeNames(b *pubsub.Broker, kind pubsub.Kind, args [][]byte) []string {
	if len(args) == 0 {
		if c.ps.out == nil {
			return nil
		}
		return b.Subscriptions(c.ps.out, kind)
	}
	names := make([]string, len(args))
	for i, a := range args {
		names[i] = string(a)
	}
	return names
}

// cmdPUnsub removes filter subscriptions. RESP2 connections get PUNSUBSCRIBE's
// confirmations (subscriber mode expects them); RESP3 connections get one
// ordinary reply, the number of subscriptions left, because a
// "punsubscribe" push answering a command named otherwise is taken by
// ioredis for an unsolicited one.
func cmdPUnsub(c *Client, args [][]byte) {
	if c.w.Proto() == resp.RESP2 {
		punsubRESP2(c, args)
		return
	}
	b := c.pubsub()
	if b == nil {
		return
	}
	for _, name := range c.unsubscribeNames(b, pubsub.Filter, args[1:]) {
		c.unsubscribe(b, pubsub.Filter, name)
	}
	c.w.Int(int64(c.ps.count))
}

// unsubscribe removes one subscription of the connection, if it has an
// outbox, and makes the outbox drop the messages still coming for it (see
// cut).
func (c *Client) unsubscribe(b *pubsub.Broker, kind pubsub.Kind, name string) {
	if o := c.ps.out; o != nil {
		counts, _ := b.Unsubscribe(o, kind, name)
		o.cut(kind, name, b.Epoch())
		c.setCounts(counts)
	}
}

func cmdPublish(c *Client, args [][]byte) {
	if b := c.pubsub(); b != nil {
		n := b.Publish(args[1], args[2], c)
		c.ps.frames.reset()
		c.w.Int(int64(n))
	}
}

func cmdPPub(c *Client, args [][]byte) {
	b := c.pubsub()
	if b == nil {
		return
	}
	retain := false
	switch {
	case len(args) == 4 && is(args[3], "RETAIN"):
		retain = true
	case len(args) > 3:
		c.replyError(errSyntax)
		return
	}
	if err := pubsub.CheckTopic(args[1]); err != nil {
		c.replyErr(err)
		return
	}
	if !retain {
		n := b.Publish(args[1], args[2], c)
		c.ps.frames.reset()
		c.w.Int(int64(n))
		return
	}
	n, index, err := b.PublishRetained(args[1], args[2], c)
	c.ps.frames.reset()
	if err != nil {
		c.replyErr(err)
		return
	}
	c.needDurable(b, index)
	c.w.Int(int64(n))
}

func cmdPRetained(c *Client, args [][]byte) {
	b := c.pubsub()
	if b == nil {
		return
	}
	vals, index, err := b.Retained(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.needDurable(b, index)
	c.w.Array(len(vals))
	for _, v := range vals {
		c.w.Array(retainedEntrySize)
		c.w.BulkString(v.Topic)
		c.w.Bulk(v.Payload)
		c.w.Int(v.Age.Milliseconds())
	}
}

func cmdPDelRetained(c *Client, args [][]byte) {
	b := c.pubsub()
	if b == nil {
		return
	}
	n, index, err := b.DeleteRetained(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.needDurable(b, index)
	c.w.Int(int64(n))
}

func cmdPubSubUnknown(c *Client, args [][]byte) {
	c.replyError(unknownSubcommand("pubsub", args[1]))
}

func cmdPubSubChannels(c *Client, args [][]byte) {
	if len(args) > 3 {
		c.replyError("ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP.")
		return
	}
	b := c.pubsub()
	if b == nil {
		return
	}
	var pattern []byte
	if len(args) == 3 {
		pattern = args[2]
	}
	names := b.Channels(pattern)
	c.w.Array(len(names))
	for _, n := range names {
		c.w.BulkString(n)
	}
}

func cmdPubSubNumSub(c *Client, args [][]byte) {
	b := c.pubsub()
	if b == nil {
		return
	}
	c.w.Array(2 * (len(args) - 2))
	for _, ch := range args[2:] {
		c.w.Bulk(ch)
		c.w.Int(int64(b.NumSub(string(ch))))
	}
}

func cmdPubSubNumPat(c *Client, _ [][]byte) {
	if b := c.pubsub(); b != nil {
		c.w.Int(int64(b.NumPat()))
	}
}

var pubsubHelp = []string{
	"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"CHANNELS [<pattern>]", "    Return the currently active channels matching a <pattern> (default: '*').",
	"NUMPAT", "    Return number of subscriptions to patterns.",
	"NUMSUB [<channel> ...]", "    Return the number of subscribers for the specified channels, excluding",
	"    pattern subscriptions(default: no channels).",
	"HELP", "    Prints this help.",
}

func cmdPubSubHelp(c *Client, _ [][]byte) { c.helpReply(pubsubHelp) }

// subscriberModeError is Redis's reply to a command a RESP2 connection
// in subscriber mode may not run.
func subscriberModeError(cmd *Command) string {
	return "ERR Can't execute '" + cmd.Name + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
}

// writePubSubInfo writes the pubsub section of INFO.
func (s *Server) writePubSubInfo(w infoWriter) {
	b := s.cfg.PubSub
	if b == nil {
		w.int("pubsub_enabled", 0)
		return
	}
	st := b.Stats()
	w.int("pubsub_enabled", 1)
	w.int("pubsub_clients", int64(st.Subscribers))
	w.int("pubsub_subscriptions", int64(st.Subscriptions))
	w.int("pubsub_channels", int64(st.Channels))
	w.int("pubsub_patterns", int64(st.Patterns))
	w.int("pubsub_filters", int64(st.Filters))
	w.int("pubsub_retained", int64(st.Retained))
	w.int("pubsub_retained_bytes", st.RetainedBytes)
	w.int("pubsub_messages_in", st.Published)
	w.int("pubsub_messages_out", st.Delivered)
	w.int("pubsub_messages_refused", st.Refused)
	w.int("pubsub_slow_consumer_disconnects", st.SlowConsumers)
	lim := s.cfg.PubSubLimit
	w.int("pubsub_output_buffer_hard_limit", lim.Hard)
	w.int("pubsub_output_buffer_soft_limit", lim.Soft)
	w.int("pubsub_output_buffer_soft_seconds", int64(lim.SoftFor.Seconds()))
	w.int("pubsub_retained_overload_rejections", st.Overload)
	w.int("pubsub_retained_read_only", boolInt(st.ReadOnly))
	w.int("pubsub_retained_log_records", st.LogRecords)
	w.int("pubsub_retained_compactions", st.Compactions)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
