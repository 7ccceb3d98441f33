package pubsub

import "bytes"

// Topic names and filters follow MQTT 3.1.1, section 4.7: levels are
// separated by '/', a level may be empty, '+' matches exactly one level and
// '#' any number of remaining levels, zero included.
const (
	// levelSep separates the levels of a topic or filter.
	levelSep = '/'
	// singleLevel is the wildcard level that matches exactly one level.
	singleLevel = "+"
	// multiLevel is the wildcard level that matches the rest of the topic.
	multiLevel = "#"
	// systemPrefix starts the topics that a wildcard in the first level
	// does not match (MQTT-4.7.2-1).
	systemPrefix = '$'
	// MaxTopicLen bounds a topic given to PublishRetained and a filter, as
	// MQTT bounds them (65,535 bytes, the largest UTF-8 encoded string).
	// Publish accepts any channel name, as Redis's PUBLISH does.
	MaxTopicLen = 65535
)

// CheckFilter reports whether f is a valid topic filter: not empty, at most
// MaxTopicLen bytes, '+' and '#' only as whole levels, '#' only as the last
// level (MQTT-4.7.1-1, 4.7.1-2, 4.7.1-3, 4.7.3-1).
func CheckFilter(f []byte) error {
	switch {
	case len(f) == 0:
		return ErrFilterEmpty
	case len(f) > MaxTopicLen:
		return ErrFilterTooLong
	}
	for rest := f; ; {
		level, more := nextLevel(rest)
		switch {
		case string(level) == multiLevel && more:
			return ErrFilterHashNotLast
		case string(level) == multiLevel, string(level) == singleLevel:
		case bytes.ContainsAny(level, singleLevel+multiLevel):
			return ErrFilterWildcard
		}
		if !more {
			return nil
		}
		rest = rest[len(level)+1:]
	}
}

// CheckTopic reports whether t is a valid topic name to publish a retained
// value on: not empty, at most MaxTopicLen bytes and without wildcards
// (MQTT-3.3.2-2, 4.7.3-1).
func CheckTopic(t []byte) error {
	switch {
	case len(t) == 0:
		return ErrTopicEmpty
	case len(t) > MaxTopicLen:
		return ErrTopicTooLong
	case bytes.ContainsAny(t, singleLevel+multiLevel):
		return ErrTopicWildcard
	}
	return nil
}

// nextLevel splits the first level off s and reports whether more levels
// follow it. An empty s is one empty level.
func nextLevel(s []byte) (level []byte, more bool) {
	if i := bytes.IndexByte(s, levelSep); i >= 0 {
		return s[:i], true
	}
	return s, false
}

// isSystem reports whether wildcards in the first level skip topic t.
func isSystem(t []byte) bool { return len(t) > 0 && t[0] == systemPrefix }

// isSystemLevel is isSystem for a first level held as a string.
func isSystemLevel(level string) bool { return len(level) > 0 && level[0] == systemPrefix }
