// Package crashimage copies the files of a running broker as a kill -9
// would leave them, for the brokers' restart tests.
package crashimage

import (
	"os"
	"testing"
)

// Of copies dir, the directory of a running broker, to a new temporary
// directory of t and returns it: what the broker's logs wrote, nothing it
// holds in memory. The caller makes sure that no compaction rewrites
// files during the copy, which no crash could leave half done.
func Of(t testing.TB, dir string) string {
	t.Helper()
	image := t.TempDir()
	if err := os.CopyFS(image, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return image
}
