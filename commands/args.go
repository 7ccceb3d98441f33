package commands

import "strings"

// is reports whether an argument is the option word (any letter case).
func is(arg []byte, word string) bool {
	return len(arg) == len(word) && strings.EqualFold(string(arg), word)
}

// eachOption walks args as options, each a name and at least one value:
// set parses the option named name whose values start rest[0] and returns
// how many values it used (1 for a plain NAME value pair) and an error
// reply, "" when the option is accepted. A name without a value is a
// syntax error. It returns the first error reply, or "".
func eachOption(args [][]byte, set func(name []byte, rest [][]byte) (used int, msg string)) string {
	for i := 0; i < len(args); {
		if i+1 >= len(args) {
			return errSyntax
		}
		used, msg := set(args[i], args[i+1:])
		if msg != "" {
			return msg
		}
		i += 1 + used
	}
	return ""
}

// eachPair walks args as NAME value pairs (see eachOption).
func eachPair(args [][]byte, set func(name, value []byte) string) string {
	return eachOption(args, func(name []byte, rest [][]byte) (int, string) {
		return 1, set(name, rest[0])
	})
}
