package queue

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Defaults of the per-queue settings.
const (
	// DefaultVisibility is how long a taken job stays invisible to other
	// consumers before it returns to the queue (SQS's default).
	DefaultVisibility = 30 * time.Second
	// DefaultMaxAttempts is how many deliveries a job gets before it
	// becomes a dead letter.
	DefaultMaxAttempts = 5
	// DefaultBackoff is the retry delay strategy.
	DefaultBackoff = Exponential
	// DefaultBackoffDelay is the first retry delay (and every retry delay
	// with the fixed strategy).
	DefaultBackoffDelay = time.Second
	// DefaultBackoffMax caps the exponential retry delay.
	DefaultBackoffMax = time.Hour
	// DefaultBackoffJitter is the share of a retry delay that is random:
	// with 0.2 the delay is between 80% and 100% of the computed value.
	DefaultBackoffJitter = 0.2
	// DefaultDeadLetterMax bounds the dead letters kept per queue; past it
	// the oldest is dropped.
	DefaultDeadLetterMax = 10000
	// DefaultReleaseOnDisconnect returns the jobs of a consumer whose
	// connection closes to the queue at once.
	DefaultReleaseOnDisconnect = true
	// DefaultRateLimit is how many jobs a queue hands out per rate window;
	// 0 = no limit.
	DefaultRateLimit = 0
	// DefaultRateWindow is the window of the rate limit (BullMQ's limiter
	// duration).
	DefaultRateWindow = time.Second
	// DefaultMaxInFlight is how many jobs of a queue may be in flight at
	// once, across consumers; 0 = no limit.
	DefaultMaxInFlight = 0
	// DefaultEvents: a queue does not publish its job events.
	DefaultEvents = false
	// DefaultKeepCompleted: a completed job is removed at once.
	DefaultKeepCompleted = 0
	// DefaultKeepCompletedAge: completed jobs are kept whatever their age.
	DefaultKeepCompletedAge = 0

	// MaxDuration bounds every delay, timeout and backoff setting, so that
	// deadlines computed from them cannot overflow.
	MaxDuration = 10 * 365 * 24 * time.Hour
)

// Backoff is a retry delay strategy.
type Backoff uint8

// Retry delay strategies.
const (
	// Fixed waits BackoffDelay before every retry.
	Fixed Backoff = iota
	// Exponential waits BackoffDelay × 2^(attempt-1), capped at BackoffMax.
	Exponential
)

func (k Backoff) String() string {
	if k == Fixed {
		return "fixed"
	}
	return "exponential"
}

// Settings are the behaviour of one queue. The broker has defaults; each
// queue can override any of them (Configure).
type Settings struct {
	Visibility          time.Duration // how long a taken job stays invisible
	MaxAttempts         int           // deliveries before a job becomes a dead letter; 0 = unlimited
	Backoff             Backoff
	BackoffDelay        time.Duration
	BackoffMax          time.Duration // cap of the exponential delay; 0 = no cap
	BackoffJitter       float64       // 0..1: the random share of a retry delay
	DeadLetterMax       int           // dead letters kept; 0 = none
	ReleaseOnDisconnect bool          // a closed connection's jobs return to the queue at once
	RateLimit           int           // jobs handed out per RateWindow, across consumers; 0 = no limit
	RateWindow          time.Duration
	MaxInFlight         int  // jobs in flight at once, across consumers; 0 = no limit
	Events              bool // the queue's job events are told to the broker's notifier
	KeepCompleted       int  // completed jobs kept, with their results, newest first; 0 = none
	// KeepCompletedAge drops a kept completed job this long after its
	// completion; 0 = no age bound.
	KeepCompletedAge time.Duration
}

// DefaultSettings returns the built-in defaults.
func DefaultSettings() Settings {
	return Settings{
		Visibility:          DefaultVisibility,
		MaxAttempts:         DefaultMaxAttempts,
		Backoff:             DefaultBackoff,
		BackoffDelay:        DefaultBackoffDelay,
		BackoffMax:          DefaultBackoffMax,
		BackoffJitter:       DefaultBackoffJitter,
		DeadLetterMax:       DefaultDeadLetterMax,
		ReleaseOnDisconnect: DefaultReleaseOnDisconnect,
		RateLimit:           DefaultRateLimit,
		RateWindow:          DefaultRateWindow,
		MaxInFlight:         DefaultMaxInFlight,
		Events:              DefaultEvents,
		KeepCompleted:       DefaultKeepCompleted,
		KeepCompletedAge:    DefaultKeepCompletedAge,
	}
}

// param is one named setting: how it reads and parses. Durations are
// whole milliseconds.
type param struct {
	name string
	get  func(s *Settings) string
	set  func(s *Settings, v string) error
}

var params = []param{
	{"visibility-timeout",
		func(s *Settings) string { return formatMs(s.Visibility) },
		func(s *Settings, v string) error { return parseMs(&s.Visibility, v, 1) }},
	{"max-attempts",
		func(s *Settings) string { return strconv.Itoa(s.MaxAttempts) },
		func(s *Settings, v string) error { return parseCount(&s.MaxAttempts, v) }},
	{"backoff",
		func(s *Settings) string { return s.Backoff.String() },
		func(s *Settings, v string) error {
			switch strings.ToLower(v) {
			case "fixed":
				s.Backoff = Fixed
			case "exponential":
				s.Backoff = Exponential
			default:
				return fmt.Errorf("%w: %q is not fixed or exponential", ErrInvalidValue, v)
			}
			return nil
		}},
	{"backoff-delay",
		func(s *Settings) string { return formatMs(s.BackoffDelay) },
		func(s *Settings, v string) error { return parseMs(&s.BackoffDelay, v, 0) }},
	{"backoff-max",
		func(s *Settings) string { return formatMs(s.BackoffMax) },
		func(s *Settings, v string) error { return parseMs(&s.BackoffMax, v, 0) }},
	{"backoff-jitter",
		func(s *Settings) string { return strconv.FormatFloat(s.BackoffJitter, 'g', -1, 64) },
		func(s *Settings, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
				return fmt.Errorf("%w: %q is not a number between 0 and 1", ErrInvalidValue, v)
			}
			s.BackoffJitter = f
			return nil
		}},
	{"dead-letter-max",
		func(s *Settings) string { return strconv.Itoa(s.DeadLetterMax) },
		func(s *Settings, v string) error { return parseCount(&s.DeadLetterMax, v) }},
	{"release-on-disconnect",
		func(s *Settings) string { return yesNo(s.ReleaseOnDisconnect) },
		func(s *Settings, v string) error { return parseYesNo(&s.ReleaseOnDisconnect, v) }},
	{"rate-limit",
		func(s *Settings) string { return strconv.Itoa(s.RateLimit) },
		func(s *Settings, v string) error { return parseCount(&s.RateLimit, v) }},
	{"rate-window",
		func(s *Settings) string { return formatMs(s.RateWindow) },
		func(s *Settings, v string) error { return parseMs(&s.RateWindow, v, 1) }},
	{"max-in-flight",
		func(s *Settings) string { return strconv.Itoa(s.MaxInFlight) },
		func(s *Settings, v string) error { return parseCount(&s.MaxInFlight, v) }},
	{"events",
		func(s *Settings) string { return yesNo(s.Events) },
		func(s *Settings, v string) error { return parseYesNo(&s.Events, v) }},
	{"keep-completed",
		func(s *Settings) string { return strconv.Itoa(s.KeepCompleted) },
		func(s *Settings, v string) error { return parseCount(&s.KeepCompleted, v) }},
	{"keep-completed-age",
		func(s *Settings) string { return formatMs(s.KeepCompletedAge) },
		func(s *Settings, v string) error { return parseMs(&s.KeepCompletedAge, v, 0) }},
}

// Params lists the setting names in documentation order.
func Params() []string {
	out := make([]string, len(params))
	for i, p := range params {
		out[i] = p.name
	}
	return out
}

func findParam(name string) *param {
	for i := range params {
		if strings.EqualFold(params[i].name, name) {
			return &params[i]
		}
	}
	return nil
}

// Get returns the value of the named setting as text, as Set accepts it.
func (s Settings) Get(name string) (string, error) {
	p := findParam(name)
	if p == nil {
		return "", fmt.Errorf("%w %q", ErrUnknownParam, name)
	}
	return p.get(&s), nil
}

// Set parses value into the named setting; on error s is unchanged.
func (s *Settings) Set(name, value string) error {
	p := findParam(name)
	if p == nil {
		return fmt.Errorf("%w %q", ErrUnknownParam, name)
	}
	c := *s
	if err := p.set(&c, value); err != nil {
		return err
	}
	*s = c
	return nil
}

// validate reports the first setting out of its range.
func (s Settings) validate() error {
	switch {
	case s.Visibility <= 0 || s.Visibility > MaxDuration:
		return fmt.Errorf("%w: visibility-timeout %v", ErrInvalidValue, s.Visibility)
	case s.MaxAttempts < 0:
		return fmt.Errorf("%w: max-attempts %d", ErrInvalidValue, s.MaxAttempts)
	case s.Backoff != Fixed && s.Backoff != Exponential:
		return fmt.Errorf("%w: backoff %d", ErrInvalidValue, s.Backoff)
	case s.BackoffDelay < 0 || s.BackoffDelay > MaxDuration:
		return fmt.Errorf("%w: backoff-delay %v", ErrInvalidValue, s.BackoffDelay)
	case s.BackoffMax < 0 || s.BackoffMax > MaxDuration:
		return fmt.Errorf("%w: backoff-max %v", ErrInvalidValue, s.BackoffMax)
	case math.IsNaN(s.BackoffJitter) || s.BackoffJitter < 0 || s.BackoffJitter > 1:
		return fmt.Errorf("%w: backoff-jitter %v", ErrInvalidValue, s.BackoffJitter)
	case s.DeadLetterMax < 0:
		return fmt.Errorf("%w: dead-letter-max %d", ErrInvalidValue, s.DeadLetterMax)
	case s.KeepCompleted < 0:
		return fmt.Errorf("%w: keep-completed %d", ErrInvalidValue, s.KeepCompleted)
	case s.KeepCompletedAge < 0 || s.KeepCompletedAge > MaxDuration:
		return fmt.Errorf("%w: keep-completed-age %v", ErrInvalidValue, s.KeepCompletedAge)
	case s.MaxInFlight < 0:
		return fmt.Errorf("%w: max-in-flight %d", ErrInvalidValue, s.MaxInFlight)
	case s.RateLimit < 0:
		return fmt.Errorf("%w: rate-limit %d", ErrInvalidValue, s.RateLimit)
	case s.RateWindow <= 0 || s.RateWindow > MaxDuration:
		return fmt.Errorf("%w: rate-window %v", ErrInvalidValue, s.RateWindow)
	}
	return nil
}

// backoff is the retry delay after the given failed attempt (1 = the first
// delivery failed). r is a random number in [0, 1).
func (s *Settings) backoff(attempt int, r float64) time.Duration {
	d := s.BackoffDelay
	if s.Backoff == Exponential && d > 0 {
		limit := MaxDuration
		if s.BackoffMax > 0 && s.BackoffMax < limit {
			limit = s.BackoffMax
		}
		for i := 1; i < attempt && d < limit; i++ {
			d *= 2
		}
		d = min(d, limit)
	}
	return d - time.Duration(float64(d)*s.BackoffJitter*r)
}

func formatMs(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// parseMs reads whole milliseconds, at least min and at most MaxDuration.
func parseMs(dst *time.Duration, v string, min int64) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > MaxDuration.Milliseconds() {
		return fmt.Errorf("%w: %q is not a number of milliseconds between %d and %d", ErrInvalidValue, v, min, MaxDuration.Milliseconds())
	}
	*dst = time.Duration(n) * time.Millisecond
	return nil
}

func parseCount(dst *int, v string) error {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return fmt.Errorf("%w: %q is not an integer, 0 or more", ErrInvalidValue, v)
	}
	*dst = int(n)
	return nil
}

func parseYesNo(dst *bool, v string) error {
	switch strings.ToLower(v) {
	case "yes":
		*dst = true
	case "no":
		*dst = false
	default:
		return fmt.Errorf("%w: %q is not yes or no", ErrInvalidValue, v)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
