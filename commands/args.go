package commands

import "strings"

// is reports whether an argument is the option word (any letter case).
func is(arg []byte, word string) bool {
	return len(arg) == len(word) && strings.EqualFold(string(arg), word)
}
