package pubsub

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// SubscriptionInfo is one subscribed filter, channel or pattern and how
// many subscribers it has.
type SubscriptionInfo struct {
	Kind        Kind
	Name        string
	Subscribers int
}

// SubscriptionList returns up to limit subscriptions (limit <= 0: all),
// sorted by name and then by kind, and how many there are in all. The index
// is read-locked only while the names and counts are copied.
func (b *Broker) SubscriptionList(limit int) ([]SubscriptionInfo, int) {
	b.mu.RLock()
	out := make([]SubscriptionInfo, 0, len(b.filters)+len(b.channels)+len(b.patterns))
	for kind := range numKinds {
		for name, ss := range b.byKind(kind) {
			out = append(out, SubscriptionInfo{Kind: kind, Name: name, Subscribers: len(ss.members)})
		}
	}
	b.mu.RUnlock()
	slices.SortFunc(out, func(x, y SubscriptionInfo) int {
		return cmp.Or(strings.Compare(x.Name, y.Name), cmp.Compare(x.Kind, y.Kind))
	})
	total := len(out)
	if limit > 0 && limit < total {
		out = out[:limit]
	}
	return out, total
}

// RetainedList returns up to limit retained values (limit <= 0: all) of
// every topic, '$' topics included, sorted by topic, and how many there
// are in all. The payloads are the broker's: callers must not modify them.
func (b *Broker) RetainedList(limit int) ([]Retained, int) {
	now := b.now()
	b.rmu.RLock()
	vals := collectAll(b.retained, make([]*retainedValue, 0, b.nret))
	b.rmu.RUnlock()
	slices.SortFunc(vals, func(x, y *retainedValue) int { return strings.Compare(x.topic, y.topic) })
	total := len(vals)
	if limit > 0 && limit < total {
		vals = vals[:limit]
	}
	out := make([]Retained, len(vals))
	for i, v := range vals {
		out[i] = Retained{Topic: v.topic, Payload: v.payload, Age: time.Duration(max(now-v.at, 0)) * time.Millisecond}
	}
	return out, total
}
