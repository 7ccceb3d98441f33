package wal

// IdleFlushDelay lets the tests wait for the committer's write of records
// nobody waits for.
const IdleFlushDelay = idleFlushDelay
