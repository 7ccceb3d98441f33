package stream

// SetTestHooks makes load call beforeLoad before it reads a log, and a
// partition's compaction call compacted once it is done, until restore.
func SetTestHooks(beforeLoad, compacted func()) (restore func()) {
	testHookLoad, testHookCompacted = beforeLoad, compacted
	return func() { testHookLoad, testHookCompacted = func() {}, func() {} }
}
