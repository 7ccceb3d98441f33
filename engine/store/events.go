package store

// Keyspace events: the store tells a Notifier about each change to a key,
// named and classed as Redis's keyspace notifications name them, so that
// the server can publish them. Nothing is told while no class is chosen,
// which costs each change one comparison.

// EventClass is a class of keyspace events, a letter of Redis's
// notify-keyspace-events.
type EventClass uint8

// The classes of the store's events.
const (
	EventGeneric EventClass = 1 << iota // g: del, expire, persist, rename_from, rename_to, copy_to
	EventString                         // $: set, setrange, incrby, incrbyfloat, append
	EventHash                           // h: hset, hdel, hincrby, hincrbyfloat
	EventExpired                        // x: expired
	EventEvicted                        // e: evicted

	// EventAll is every class: every change the store makes.
	EventAll = EventGeneric | EventString | EventHash | EventExpired | EventEvicted
)

// Names of the store's events, as Redis names them.
const (
	eventDel          = "del"
	eventExpire       = "expire"
	eventPersist      = "persist"
	eventRenameFrom   = "rename_from"
	eventRenameTo     = "rename_to"
	eventCopyTo       = "copy_to"
	eventSet          = "set"
	eventSetRange     = "setrange"
	eventSetBit       = "setbit"
	eventIncrBy       = "incrby"
	eventIncrByFloat  = "incrbyfloat"
	eventAppend       = "append"
	eventHSet         = "hset"
	eventHDel         = "hdel"
	eventHIncrBy      = "hincrby"
	eventHIncrByFloat = "hincrbyfloat"
	eventExpired      = "expired"
	eventEvicted      = "evicted"
)

// A Notifier is told each event of the chosen classes, once the change is
// made, with the key's shard locked: it must not call the store, should
// return quickly, and must copy key to keep it.
type Notifier func(class EventClass, event string, key []byte)

// notifier is a Notifier and the classes it is told.
type notifier struct {
	classes EventClass
	fn      Notifier
}

// SetNotifier has fn told the events of classes from now on. It may be
// called while the store is in use (its expiry cycle already runs).
func (s *Store) SetNotifier(classes EventClass, fn Notifier) {
	s.notifier.Store(&notifier{classes: classes, fn: fn})
}

// notify tells the notifier about event on key if its class is chosen.
// Lock held.
func (s *Store) notify(class EventClass, event string, key []byte) {
	if n := s.notifier.Load(); n != nil && n.classes&class != 0 {
		n.fn(class, event, key)
	}
}

// reclaim deletes e, found expired at bucket b. Lock held.
func (sh *shard) reclaim(e *entry, b int) {
	sh.store.notify(EventExpired, eventExpired, e.key())
	sh.removeAt(e, b)
	sh.expired.Add(1)
}

// delete deletes e for a command, which the event names. Lock held.
func (sh *shard) delete(e *entry) {
	sh.store.notify(EventGeneric, eventDel, e.key())
	sh.remove(e)
}
