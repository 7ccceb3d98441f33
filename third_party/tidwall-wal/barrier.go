package wal

// NEXO patch (PATCHES.md): durability barriers between the steps of a
// truncation.
//
// TruncateFront writes the new first segment as a START file, removes the
// segments it replaces, then renames it to its segment name (TruncateBack
// the same with an END file). After a crash the file names tell how far it
// got, and the next open finishes the truncation. That holds only if the
// directory changes reach the disk in that order, which a file system need
// not keep across a power cut: the removals without the START file loses the
// entries it holds, the rename without the removals leaves two segments
// holding the same entries. A barrier fsyncs the directory between steps.

// testHookBarrier is called with the log's directory before each barrier's
// fsync; tests replace it to see what the directory holds at that point.
var testHookBarrier = func(dir string) {}

// barrier makes the directory changes made so far durable.
func (l *Log) barrier() error {
	testHookBarrier(l.path)
	return syncDir(l.path)
}
