package commands

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// protocolDocPath is docs/PROTOCOL.md seen from this package's directory.
const protocolDocPath = "../docs/PROTOCOL.md"

// noAuthListPrefix starts the line of PROTOCOL.md that lists the commands
// accepted before authentication.
const noAuthListPrefix = "Commands accepted before authentication:"

var (
	// groupHeading matches a "## Title (group `name`)" section heading.
	groupHeading = regexp.MustCompile("^## .*\\(group `([a-z]+)`\\)$")
	// codeSpan matches an inline code span.
	codeSpan = regexp.MustCompile("`([^`]+)`")
)

// docCommand is the documentation of one command: the section heading
// above it and its text up to the next heading.
type docCommand struct {
	group string // the group named by the enclosing "##" heading, "" if none
	body  string
}

// parseProtocolDoc returns the "### NAME" entries of the document by
// heading, and the headings that appear more than once. Fenced code blocks
// are skipped.
func parseProtocolDoc(text string) (map[string]*docCommand, []string) {
	entries := make(map[string]*docCommand)
	var dups []string
	var group string
	var cur *docCommand
	fenced := false
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		switch {
		case fenced:
		case strings.HasPrefix(line, "### "):
			name := strings.TrimSpace(strings.TrimPrefix(line, "### "))
			if _, dup := entries[name]; dup {
				dups = append(dups, name)
			}
			cur = &docCommand{group: group}
			entries[name] = cur
			continue
		case strings.HasPrefix(line, "## "):
			group = ""
			if m := groupHeading.FindStringSubmatch(line); m != nil {
				group = m[1]
			}
			cur = nil
			continue
		case strings.HasPrefix(line, "# "):
			cur = nil
			continue
		}
		if cur != nil {
			cur.body += line + "\n"
		}
	}
	return entries, dups
}

// docName is the heading PROTOCOL.md gives a command: its name in upper
// case, a subcommand after its parent ("CLIENT SETNAME").
func docName(cmd *Command) string {
	return strings.ToUpper(strings.ReplaceAll(cmd.Name, "|", " "))
}

// protocolTable builds the command table as NewServer does, without a
// listener or a store.
func protocolTable() *Table {
	s := &Server{table: newTable()}
	s.registerCommands()
	return s.table
}

// tableCommands lists every command and subcommand of t by doc name.
func tableCommands(t *Table) map[string]*Command {
	out := make(map[string]*Command)
	for _, cmd := range t.all() {
		out[docName(cmd)] = cmd
		for _, sub := range cmd.Subcommands {
			out[docName(sub)] = sub
		}
	}
	return out
}

func TestProtocolDoc(t *testing.T) {
	raw, err := os.ReadFile(protocolDocPath)
	if err != nil {
		t.Fatalf("read %s: %v", protocolDocPath, err)
	}
	text := string(raw)
	entries, dups := parseProtocolDoc(text)
	cmds := tableCommands(protocolTable())

	t.Run("every command has a heading", func(t *testing.T) {
		for _, name := range slices.Sorted(maps.Keys(cmds)) {
			if _, ok := entries[name]; !ok {
				t.Errorf("PROTOCOL.md has no heading %q", "### "+name)
			}
		}
	})

	t.Run("every heading is a command", func(t *testing.T) {
		for _, name := range slices.Sorted(maps.Keys(entries)) {
			if _, ok := cmds[name]; !ok {
				t.Errorf("PROTOCOL.md documents %q, which the command table does not have ('###' headings are for commands only)", name)
			}
		}
	})

	t.Run("headings are unique", func(t *testing.T) {
		for _, name := range dups {
			t.Errorf("PROTOCOL.md has the heading %q more than once", "### "+name)
		}
	})

	t.Run("commands sit in their group's section", func(t *testing.T) {
		for _, name := range slices.Sorted(maps.Keys(cmds)) {
			doc, ok := entries[name]
			if !ok {
				continue
			}
			if want := cmds[name].Group; doc.group != want {
				t.Errorf("%s is under the section of group %q, want a \"## … (group `%s`)\" section", name, doc.group, want)
			}
		}
	})

	t.Run("syntax lines match the table", func(t *testing.T) {
		for _, name := range slices.Sorted(maps.Keys(cmds)) {
			doc, ok := entries[name]
			if !ok {
				continue
			}
			syntax := name
			if s := cmds[name].Syntax; s != "" {
				syntax += " " + s
			}
			if !strings.Contains(doc.body, "`"+syntax+"`") {
				t.Errorf("the section of %s lacks the syntax line `%s`", name, syntax)
			}
		}
	})

	t.Run("commands accepted before authentication", func(t *testing.T) {
		var want []string
		for name, cmd := range cmds {
			if cmd.Flags&NoAuth != 0 {
				want = append(want, name)
			}
		}
		slices.Sort(want)
		var got []string
		found := false
		for line := range strings.Lines(text) {
			if rest, ok := strings.CutPrefix(line, noAuthListPrefix); ok {
				found = true
				for _, m := range codeSpan.FindAllStringSubmatch(rest, -1) {
					got = append(got, m[1])
				}
			}
		}
		if !found {
			t.Fatalf("PROTOCOL.md has no line starting with %q", noAuthListPrefix)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("PROTOCOL.md lists %v as accepted before authentication, the table flags %v", got, want)
		}
	})
}
