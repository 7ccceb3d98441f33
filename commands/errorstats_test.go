package commands

import (
	"strconv"
	"strings"
	"testing"
)

func TestErrorStats(t *testing.T) {
	t.Run("INFO errorstats counts error replies by code; CONFIG RESETSTAT clears them", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expect(t, c, int64(1), "HSET", "h", "f", "v")
		expectError(t, c, "WRONGTYPE", "GET", "h")
		expectError(t, c, "ERR unknown command", "NOSUCH")
		expectError(t, c, "ERR wrong number", "GET")
		expect(t, c, "# Errorstats\r\nerrorstat_ERR:count=2\r\nerrorstat_WRONGTYPE:count=1\r\n", "INFO", "errorstats")
		expect(t, c, "OK", "CONFIG", "RESETSTAT")
		expect(t, c, "# Errorstats\r\n", "INFO", "errorstats")
	})

	t.Run("edge: past the limit of distinct codes, new codes are not counted", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		for i := range errorStatsLimit + 1 {
			expectError(t, c, "CODE"+strconv.Itoa(i), "EVAL", "return redis.error_reply(ARGV[1])", "0", "CODE"+strconv.Itoa(i)+" message")
		}
		v, err := c.Do("INFO", "errorstats")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(v.(string), "\r\n"), "\r\n")
		if len(lines) != 1+errorStatsLimit || strings.Contains(v.(string), "CODE"+strconv.Itoa(errorStatsLimit)+":") {
			t.Fatalf("%d lines:\n%s", len(lines), v)
		}
	})
}
