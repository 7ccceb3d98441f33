package queue

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronSpec is a parsed cron expression: a set of allowed values per field,
// one bit per value. Expressions have five fields (minute hour
// day-of-month month day-of-week) or six, with seconds first, as the
// cron-parser library of BullMQ reads them; times are UTC.
type cronSpec struct {
	second, minute, hour, dom, month, dow uint64
	// anyDay: the day of month or the day of week is "*", so a day must
	// match both; otherwise (Vixie cron) it matches when either does.
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
	// Day of week 7 is Sunday too, as in every cron; parse folds it onto 0.
	cronDow = cronField{name: "day of week", min: 0, max: 7,
		names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}
)

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

// parseCron parses a cron expression.
func parseCron(expr string) (*cronSpec, error) {
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
	var s cronSpec
	var err error
	for i, field := range []struct {
		def *cronField
		out *uint64
	}{{&cronSecond, &s.second}, {&cronMinute, &s.minute}, {&cronHour, &s.hour}, {&cronDom, &s.dom}, {&cronMonth, &s.month}, {&cronDow, &s.dow}} {
		if *field.out, err = field.def.parse(f[i]); err != nil {
			return nil, fmt.Errorf("%w: cron expression %q: %v", ErrInvalidValue, expr, err)
		}
	}
	if s.dow&(1<<7) != 0 {
		s.dow = s.dow&^(1<<7) | 1
	}
	s.anyDay = strings.HasPrefix(f[3], "*") || strings.HasPrefix(f[5], "*")
	return &s, nil
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
// expression never fires (such as 30 February).
func (s *cronSpec) next(t time.Time) (time.Time, bool) {
	t = t.UTC().Truncate(time.Second).Add(time.Second)
	limit := t.Year() + cronSearchYears
	for t.Year() <= limit {
		switch {
		case s.month&(1<<uint(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !s.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		case s.hour&(1<<uint(t.Hour())) == 0:
			t = t.Truncate(time.Hour).Add(time.Hour)
		case s.minute&(1<<uint(t.Minute())) == 0:
			t = t.Truncate(time.Minute).Add(time.Minute)
		case s.second&(1<<uint(t.Second())) == 0:
			t = t.Add(time.Second)
		default:
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *cronSpec) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.anyDay {
		return dom && dow
	}
	return dom || dow
}
