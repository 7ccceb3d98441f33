package commands

import (
	"fmt"

	"nexo/engine/pubsub"
	"nexo/engine/store"
)

// Keyspace notifications, as Redis's notify-keyspace-events: the store's
// events are published on the pub/sub broker's channels, on
// __keyspace@0__:<key> with the event as the message (K) and on
// __keyevent@0__:<event> with the key as the message (E), for the classes
// the setting's letters choose.

// Channel prefixes of keyspace notifications (database 0).
const (
	keyspaceChannel = "__keyspace@0__:"
	keyeventChannel = "__keyevent@0__:"
)

// keyspaceEventLetters are the letters notify-keyspace-events accepts, as
// Redis lists them in its error.
const keyspaceEventLetters = "Ag$lshzxeKEtmdn"

// KeyspaceEvents is a parsed notify-keyspace-events setting.
type KeyspaceEvents struct {
	Classes  store.EventClass
	Keyspace bool // K: __keyspace@0__ channels
	Keyevent bool // E: __keyevent@0__ channels
}

// enabled reports whether any event is published: a class and a kind of
// channel are both chosen.
func (k KeyspaceEvents) enabled() bool { return k.Classes != 0 && (k.Keyspace || k.Keyevent) }

// ParseKeyspaceEvents parses Redis's notify-keyspace-events letters. The
// letters of types NEXO does not have (lists, sets, sorted sets, Redis
// streams, modules) and of the key-miss and new-key events are accepted
// and choose nothing.
func ParseKeyspaceEvents(flags string) (KeyspaceEvents, error) {
	var k KeyspaceEvents
	for _, c := range flags {
		switch class, ok := keyspaceEventClasses[c]; {
		case c == 'K':
			k.Keyspace = true
		case c == 'E':
			k.Keyevent = true
		case ok:
			k.Classes |= class
		default:
			return KeyspaceEvents{}, fmt.Errorf("invalid event class character %q: use letters of %q", c, keyspaceEventLetters)
		}
	}
	return k, nil
}

// keyspaceEventClasses are the class letters of notify-keyspace-events and
// the store's events they choose; the letters of what NEXO does not have
// choose none.
var keyspaceEventClasses = map[rune]store.EventClass{
	'A': store.EventAll,
	'g': store.EventGeneric,
	'$': store.EventString,
	'h': store.EventHash,
	'x': store.EventExpired,
	'e': store.EventEvicted,
	'l': 0, 's': 0, 'z': 0, 't': 0, 'm': 0, 'd': 0, 'n': 0,
}

// followStore has the server told every change the store makes: the
// watchers of the key are marked dirty (WATCH, multi.go), and the events
// of the chosen classes are published (see above). Called by NewServer.
func (s *Server) followStore(k KeyspaceEvents) {
	b := s.cfg.PubSub
	publish := k.enabled() && b != nil
	s.cfg.Store.SetNotifier(store.EventAll, func(class store.EventClass, event string, key []byte) {
		s.watches.touch(key)
		if !publish || k.Classes&class == 0 {
			return
		}
		if k.Keyspace {
			b.Publish([]byte(keyspaceChannel+string(key)), []byte(event), wakeAtOnce{})
		}
		if k.Keyevent {
			b.Publish([]byte(keyeventChannel+event), key, wakeAtOnce{})
		}
	})
}

// wakeAtOnce wakes a subscriber's writer as soon as a notification is
// queued for it: the store tells events from inside a command, and from
// its expiry cycle, where no connection's pipeline end wakes them.
type wakeAtOnce struct{}

// Touch implements pubsub.Batch.
func (wakeAtOnce) Touch(s pubsub.Subscriber) { s.(*outbox).signal() }
