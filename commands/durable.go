package commands

// durableLog is what the command layer needs from a persistent broker: a
// wait until a log index is durable under the fsync policy, and a check
// that never waits behind another writer's batch but calls n.Notify back
// once the index is durable (wal.Log.Notify).
type durableLog interface {
	Wait(index uint64) error
	Notify(index uint64, n interface{ Notify() }) (bool, error)
}

// durableWait is the highest index of one log that a connection's buffered
// replies acknowledge.
type durableWait struct {
	log   durableLog
	index uint64
}

// needDurable holds the pipeline's replies until index of log is durable.
// Handlers call it after a broker changed state; the replies of the whole
// pipeline then wait once, for the highest index, so a pipeline of writes
// costs one fsync, shared with every other connection waiting for the same
// batch (group commit).
func (c *Client) needDurable(log durableLog, index uint64) {
	if index == 0 {
		return
	}
	for i := range c.durable {
		if c.durable[i].log == log {
			c.durable[i].index = max(c.durable[i].index, index)
			return
		}
	}
	c.durable = append(c.durable, durableWait{log: log, index: index})
}

// durableNow reports whether every record the buffered replies acknowledge
// is durable, without waiting behind another writer's batch; when one is
// not, n.Notify is called once it is (or its log failed). On error the replies must not be sent, as for
// awaitDurable.
func (c *Client) durableNow(n interface{ Notify() }) (bool, error) {
	for _, d := range c.durable {
		durable, err := d.log.Notify(d.index, n)
		switch {
		case err != nil:
			c.logNotDurable(err)
			return false, err
		case !durable:
			return false, nil
		}
	}
	c.durable = c.durable[:0]
	return true, nil
}

// awaitDurable waits until every record the buffered replies acknowledge
// is durable. On error the replies must not be sent: the caller closes the
// connection instead. The pending waits are kept then, so that a later
// call fails again (a failed log stays failed) and nothing unacknowledged
// is ever flushed.
func (c *Client) awaitDurable() error {
	for _, d := range c.durable {
		if err := d.log.Wait(d.index); err != nil {
			c.logNotDurable(err)
			return err
		}
	}
	c.durable = c.durable[:0]
	return nil
}

// logNotDurable logs why c is closed without its replies.
func (c *Client) logNotDurable(err error) {
	c.srv.log.Error("closing client: its replies acknowledge records that are not durable",
		"id", c.id, "addr", c.addr, "err", err)
}
