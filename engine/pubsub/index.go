package pubsub

import (
	"slices"
	"strings"
	"sync/atomic"

	"nexo/internal/glob"
)

// node is one level of the filter trie: literal children by level, and the
// '+' child and '#' subscribers apart, so that matching follows at most
// three edges per level.
type node struct {
	parent   *node
	level    string // this node's key in parent.children; "+" for a plus child
	children map[string]*node
	plus     *node
	hash     *subset // subscribers of the filter that ends with '#' below this node
	subs     *subset // subscribers of the filter that ends at this node
}

func (n *node) empty() bool {
	return len(n.children) == 0 && n.plus == nil && n.hash == nil && n.subs == nil
}

// subset is the subscribers of one filter, channel or pattern.
type subset struct {
	kind    Kind
	name    string
	members map[Subscriber]struct{}
	// snap lists members for publishers, who read it without Broker.mu;
	// it is nil after a change and rebuilt by the next publish.
	snap atomic.Pointer[[]Subscriber]
	node *node  // the filter trie node holding this subset (filters only)
	glob []byte // the pattern as bytes (patterns only)
}

// snapshot returns the members as an immutable slice.
// Broker.mu should be held (read or write).
func (ss *subset) snapshot() []Subscriber {
	if p := ss.snap.Load(); p != nil {
		return *p
	}
	list := make([]Subscriber, 0, len(ss.members))
	for s := range ss.members {
		list = append(list, s)
	}
	ss.snap.Store(&list)
	return list
}

// subscriber is the broker's record of one Subscriber's subscriptions.
type subscriber struct {
	sets   map[subKey]*subset
	counts Counts
}

type subKey struct {
	kind Kind
	name string
}

// match is one matching subscription set and its members at publish time.
type match struct {
	ss   *subset
	subs []Subscriber
}

// Subscribe subscribes s to name, a filter, channel or pattern by kind, and
// returns the subscriptions s has then. Subscribing twice to the same name
// keeps one subscription. A filter subscription, new or repeated, then
// receives the retained value of every matching topic in topic order, marked
// Retained (MQTT-3.8.4-3), each delivered with batch.
func (b *Broker) Subscribe(s Subscriber, kind Kind, name string, batch Batch) (Counts, error) {
	if kind == Filter {
		if err := CheckFilter([]byte(name)); err != nil {
			return Counts{}, err
		}
	}
	b.mu.Lock()
	sub := b.subscribers[s]
	if sub == nil {
		sub = &subscriber{sets: make(map[subKey]*subset)}
		b.subscribers[s] = sub
	}
	key := subKey{kind, name}
	if _, ok := sub.sets[key]; !ok {
		ss := b.subsetFor(kind, name)
		ss.members[s] = struct{}{}
		ss.snap.Store(nil)
		sub.sets[key] = ss
		sub.counts.add(kind, 1)
	}
	counts := sub.counts
	b.mu.Unlock()
	if kind == Filter {
		b.sendRetained(s, name, batch)
	}
	return counts, nil
}

// Unsubscribe removes the subscription of s to name and returns whether
// there was one and the subscriptions s has then.
func (b *Broker) Unsubscribe(s Subscriber, kind Kind, name string) (Counts, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sub := b.subscribers[s]
	if sub == nil {
		return Counts{}, false
	}
	key := subKey{kind, name}
	ss, ok := sub.sets[key]
	if !ok {
		return sub.counts, false
	}
	b.removeMember(ss, s)
	delete(sub.sets, key)
	sub.counts.add(kind, -1)
	counts := sub.counts
	if counts.Total() == 0 {
		delete(b.subscribers, s)
	}
	return counts, true
}

// UnsubscribeAll removes every subscription of s.
func (b *Broker) UnsubscribeAll(s Subscriber) {
	b.mu.Lock()
	b.dropLocked(s)
	b.mu.Unlock()
}

// Evict drops every subscription of s and counts a slow consumer: its
// caller disconnected it for being over its output limit. The broker calls
// it when Deliver returns false; a caller that disconnects a subscriber
// for another reason of the same kind calls it once itself.
func (b *Broker) Evict(s Subscriber) {
	b.mu.Lock()
	b.dropLocked(s)
	b.mu.Unlock()
	b.counters.slow.Add(1)
}

// dropLocked removes every subscription of s. Lock should be held.
func (b *Broker) dropLocked(s Subscriber) {
	sub := b.subscribers[s]
	if sub == nil {
		return
	}
	for _, ss := range sub.sets {
		b.removeMember(ss, s)
	}
	delete(b.subscribers, s)
}

// Epoch counts the subscriptions removed so far. A message whose
// Message.Epoch is at least the Epoch read after a removal was matched
// against the index without the removed subscription; an older one may
// carry a subscription removed since.
func (b *Broker) Epoch() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.removals
}

// Subscribed reports whether s is subscribed to name.
func (b *Broker) Subscribed(s Subscriber, kind Kind, name string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	sub := b.subscribers[s]
	if sub == nil {
		return false
	}
	_, ok := sub.sets[subKey{kind, name}]
	return ok
}

// Counts returns the subscriptions of s.
func (b *Broker) Counts(s Subscriber) Counts {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if sub := b.subscribers[s]; sub != nil {
		return sub.counts
	}
	return Counts{}
}

// Subscriptions lists the names s is subscribed to with kind, sorted.
func (b *Broker) Subscriptions(s Subscriber, kind Kind) []string {
	b.mu.RLock()
	var out []string
	if sub := b.subscribers[s]; sub != nil {
		for key := range sub.sets {
			if key.kind == kind {
				out = append(out, key.name)
			}
		}
	}
	b.mu.RUnlock()
	slices.Sort(out)
	return out
}

// Channels lists the channels with at least one subscriber whose name
// matches the glob pattern (every channel when pattern is nil), sorted, as
// PUBSUB CHANNELS does.
func (b *Broker) Channels(pattern []byte) []string {
	b.mu.RLock()
	var out []string
	for name := range b.channels {
		if pattern == nil || glob.Match(pattern, []byte(name)) {
			out = append(out, name)
		}
	}
	b.mu.RUnlock()
	slices.Sort(out)
	return out
}

// NumSub is the number of subscribers of channel, as PUBSUB NUMSUB counts.
func (b *Broker) NumSub(channel string) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if ss := b.channels[channel]; ss != nil {
		return len(ss.members)
	}
	return 0
}

// NumPat is the number of distinct glob patterns subscribed to, as PUBSUB
// NUMPAT counts.
func (b *Broker) NumPat() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.patterns)
}

// subsetFor finds or creates the subscription set of name.
// Lock should be held.
func (b *Broker) subsetFor(kind Kind, name string) *subset {
	byName := b.byKind(kind)
	if ss := byName[name]; ss != nil {
		return ss
	}
	ss := &subset{kind: kind, name: name, members: make(map[Subscriber]struct{})}
	byName[name] = ss
	switch kind {
	case Filter:
		b.insertFilter(ss)
	case Pattern:
		ss.glob = []byte(name)
	}
	return ss
}

func (b *Broker) byKind(kind Kind) map[string]*subset {
	switch kind {
	case Channel:
		return b.channels
	case Pattern:
		return b.patterns
	default:
		return b.filters
	}
}

// insertFilter hangs a new filter's subset in the trie, creating the
// levels it needs. Lock should be held.
func (b *Broker) insertFilter(ss *subset) {
	n := b.root
	for rest := ss.name; ; {
		level, tail, more := strings.Cut(rest, string(levelSep))
		switch level {
		case multiLevel:
			n.hash = ss
			ss.node = n
			return
		case singleLevel:
			if n.plus == nil {
				n.plus = &node{parent: n, level: singleLevel}
			}
			n = n.plus
		default:
			child := n.children[level]
			if child == nil {
				if n.children == nil {
					n.children = make(map[string]*node)
				}
				child = &node{parent: n, level: level}
				n.children[level] = child
			}
			n = child
		}
		if !more {
			n.subs = ss
			ss.node = n
			return
		}
		rest = tail
	}
}

// removeMember takes s out of ss, and ss out of the index once it is
// empty, pruning the trie levels nothing uses any more.
// Lock should be held.
func (b *Broker) removeMember(ss *subset, s Subscriber) {
	delete(ss.members, s)
	b.removals++
	ss.snap.Store(nil)
	if len(ss.members) > 0 {
		return
	}
	delete(b.byKind(ss.kind), ss.name)
	n := ss.node
	if n == nil {
		return
	}
	if n.hash == ss {
		n.hash = nil
	} else {
		n.subs = nil
	}
	for n.parent != nil && n.empty() {
		p := n.parent
		if p.plus == n {
			p.plus = nil
		} else {
			delete(p.children, n.level)
		}
		n = p
	}
}

// collect appends to out every subscription set that matches topic, with
// its members. Lock should be held (read).
func (b *Broker) collect(topic []byte, out []match) []match {
	if ss := b.channels[string(topic)]; ss != nil {
		out = append(out, match{ss, ss.snapshot()})
	}
	for _, ss := range b.patterns {
		if glob.Match(ss.glob, topic) {
			out = append(out, match{ss, ss.snapshot()})
		}
	}
	if len(b.filters) > 0 {
		out = matchTrie(b.root, topic, true, out)
	}
	return out
}

// matchTrie appends the filter subsets under n that match the levels of
// rest. It walks literal children in a loop and recurses only into '+'
// children. first says that rest is the whole topic, where wildcards skip
// '$' topics. Lock should be held (read).
func matchTrie(n *node, rest []byte, first bool, out []match) []match {
	wild := !first || !isSystem(rest)
	for {
		level, more := nextLevel(rest)
		var tail []byte
		if more {
			tail = rest[len(level)+1:]
		}
		if wild && n.hash != nil {
			out = append(out, match{n.hash, n.hash.snapshot()})
		}
		if wild && n.plus != nil {
			if more {
				out = matchTrie(n.plus, tail, false, out)
			} else {
				out = appendEnd(n.plus, out)
			}
		}
		child := n.children[string(level)]
		if child == nil {
			return out
		}
		if !more {
			return appendEnd(child, out)
		}
		n, rest, wild = child, tail, true
	}
}

// appendEnd appends the subsets that match a topic whose last level led to
// n: the filter ending at n, and the one ending with '#' below n, since '#'
// also matches zero levels (MQTT-4.7.1-2).
func appendEnd(n *node, out []match) []match {
	if n.subs != nil {
		out = append(out, match{n.subs, n.subs.snapshot()})
	}
	if n.hash != nil {
		out = append(out, match{n.hash, n.hash.snapshot()})
	}
	return out
}

// Publish delivers payload on topic to every matching subscription, once
// per subscription, and forgets it. Any topic is accepted, as Redis's
// PUBLISH accepts any channel. It returns the number of deliveries the
// subscribers accepted.
func (b *Broker) Publish(topic, payload []byte, batch Batch) int {
	b.counters.published.Add(1)
	return b.fanout(topic, payload, batch)
}

// fanout delivers one message to the subscriptions that match topic.
// Broker.mu is held only while the matches are collected.
func (b *Broker) fanout(topic, payload []byte, batch Batch) int {
	var buf [matchBuffer]match
	b.mu.RLock()
	matches := b.collect(topic, buf[:0])
	epoch := b.removals
	b.mu.RUnlock()
	if len(matches) == 0 {
		return 0
	}
	delivered := 0
	var refused []Subscriber
	m := Message{Topic: topic, Payload: payload, Epoch: epoch}
	for _, mt := range matches {
		m.Kind, m.Filter = mt.ss.kind, mt.ss.name
		for _, s := range mt.subs {
			switch {
			case len(refused) > 0 && slices.Contains(refused, s):
				// Dropped earlier in this publish.
			case s.Deliver(m, batch):
				delivered++
			default:
				refused = append(refused, s)
			}
		}
	}
	b.counters.delivered.Add(int64(delivered))
	for _, s := range refused {
		b.counters.refused.Add(1)
		b.Evict(s)
	}
	return delivered
}
