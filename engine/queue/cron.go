package queue

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// The zone database in the binary: a schedule's time zone must load
	// on a machine without one (the container image has none).
	_ "time/tzdata"
)

// cronSpec is a parsed cron expression: a set of allowed values per field,
// one bit per value. Expressions have five fields (minute hour
// day-of-month month day-of-week) or six, with seconds first, as the
// cron-parser library of BullMQ reads them; times are those of a time zone,
// UTC unless given.
type cronSpec struct {
	loc                                   *time.Location
	second, minute, hour, dom, month, dow uint64
	// anyDay: the day of month or the day of week names every day, so a
	// day must match both; otherwise it matches when either does. Whether
	// a field names every day is read from its set, not its text, as
	// cron-parser does: "1-31" is every day, "*/2" is not.
	anyDay bool
}

// cronField describes one field of an expression.
type cronField struct {
	name     string
	min, max int
	names    []string // names of the values from min, or nil
}

var (
	cronSecond = cronField{name: "second", min: 0, max: 59}
	cronMinute = cronField{name: "minute", min: 0, max: 59}
	cronHour   = cronField{name: "hour", min: 0, max: 23}
	cronDom    = cronField{name: "day of month", min: 1, max: 31}
	cronMonth  = cronField{name: "month", min: 1, max: 12,
		names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}}
	// Day of week 7 is Sunday too, as in every cron; parseCron folds it
	// onto 0.
	cronDow = cronField{name: "day of week", min: 0, max: 7,
		names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}
)

// sundaySeven is day of week 7 in a field's set.
const sundaySeven = 1 << 7

// cronMacros are the shorthands cron accepts for common schedules.
var cronMacros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// cronSearchYears bounds the search for the next fire time: every
// expression that fires at all (29 February included) fires within it.
const cronSearchYears = 5

// parseCron parses a cron expression of the IANA time zone tz ("" = UTC).
func parseCron(expr, tz string) (*cronSpec, error) {
	loc, err := time.LoadLocation(tz)
	if err != nil || strings.EqualFold(tz, "local") {
		return nil, fmt.Errorf("%w: unknown time zone %q (an IANA name such as Europe/Paris)", ErrInvalidValue, tz)
	}
	src := strings.TrimSpace(expr)
	if m, ok := cronMacros[strings.ToLower(src)]; ok {
		src = m
	}
	f := strings.Fields(src)
	if len(f) == 5 {
		f = append([]string{"0"}, f...)
	}
	if len(f) != 6 {
		return nil, fmt.Errorf("%w: cron expression %q needs 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first)",
			ErrInvalidValue, expr)
	}
	s := cronSpec{loc: loc}
	for i, field := range []struct {
		def *cronField
		out *uint64
	}{{&cronSecond, &s.second}, {&cronMinute, &s.minute}, {&cronHour, &s.hour}, {&cronDom, &s.dom}, {&cronMonth, &s.month}, {&cronDow, &s.dow}} {
		if *field.out, err = field.def.parse(f[i]); err != nil {
			return nil, fmt.Errorf("%w: cron expression %q: %v", ErrInvalidValue, expr, err)
		}
	}
	if s.dow&sundaySeven != 0 {
		s.dow = s.dow&^sundaySeven | 1
	}
	s.anyDay = s.dom == cronDom.every() || s.dow == cronDow.every()&^sundaySeven
	return &s, nil
}

// every is the set of every value of the field.
func (c *cronField) every() uint64 {
	return (1<<(c.max+1) - 1) &^ (1<<c.min - 1)
}

// parse reads one field: a comma-separated list of "*", a value or a
// range "a-b", each optionally followed by "/step".
func (c *cronField) parse(field string) (uint64, error) {
	var set uint64
	for item := range strings.SplitSeq(field, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		lo, hi := c.min, c.max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = c.value(a); err != nil {
				return 0, err
			}
			if hi, err = c.value(b); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("%s range %q runs backwards", c.name, rng)
			}
		default:
			v, err := c.value(rng)
			if err != nil {
				return 0, err
			}
			lo = v
			if !hasStep {
				hi = v // "a/step" runs from a to the field's end
			}
		}
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > c.max {
				return 0, fmt.Errorf("%s step %q must be a number from 1 to %d", c.name, stepText, c.max)
			}
			step = n
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

// value reads a number or a name of the field.
func (c *cronField) value(s string) (int, error) {
	for i, name := range c.names {
		if strings.EqualFold(s, name) {
			return c.min + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < c.min || n > c.max {
		return 0, fmt.Errorf("%s %q must be a number from %d to %d", c.name, s, c.min, c.max)
	}
	return n, nil
}

// next returns the first fire time strictly after t, or false when the
// expression never fires (such as 30 February). It steps through the
// local times of the spec's zone: a time a DST change skips does not fire
// that day, and one it repeats fires once, at its first occurrence.
func (s *cronSpec) next(t time.Time) (time.Time, bool) {
	loc := s.loc
	t = t.In(loc).Truncate(time.Second).Add(time.Second)
	limit := t.Year() + cronSearchYears
	for t.Year() <= limit {
		var n time.Time
		switch {
		case s.month&(1<<uint(t.Month())) == 0:
			n = earliest(t, time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc))
		case !s.dayMatches(t):
			n = earliest(t, time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc))
		case s.hour&(1<<uint(t.Hour())) == 0:
			n = earliest(t, time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc))
		case s.minute&(1<<uint(t.Minute())) == 0:
			n = t.Truncate(time.Minute).Add(time.Minute)
		case s.second&(1<<uint(t.Second())) == 0:
			n = t.Add(time.Second)
		case repeatedWall(t):
			// Its first occurrence fired, or was before the search.
			n = t.Truncate(time.Minute).Add(time.Minute)
		default:
			return t, true
		}
		if !n.After(t) {
			n = t.Truncate(time.Minute).Add(time.Minute)
		}
		t = n
	}
	return time.Time{}, false
}

// dstShifts are the amounts by which DST changes move clocks: an hour,
// and Lord Howe Island's half hour.
var dstShifts = [...]time.Duration{time.Hour, 30 * time.Minute}

// sameWall reports whether a and b show the same local day and time.
func sameWall(a, b time.Time) bool {
	return a.Day() == b.Day() && a.Hour() == b.Hour() && a.Minute() == b.Minute() && a.Second() == b.Second()
}

// repeatedWall reports whether t's local time already happened, before a
// DST change set the clocks back.
func repeatedWall(t time.Time) bool {
	for _, d := range dstShifts {
		if sameWall(t.Add(-d), t) {
			return true
		}
	}
	return false
}

// earliest returns the first instant after t that shows n's local time:
// for a local time a DST change repeats, time.Date may answer the second.
func earliest(t, n time.Time) time.Time {
	for _, d := range dstShifts {
		if e := n.Add(-d); e.After(t) && sameWall(e, n) {
			return e
		}
	}
	return n
}

func (s *cronSpec) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.anyDay {
		return dom && dow
	}
	return dom || dow
}
