package commands

import (
	"slices"
	"strings"
)

func (s *Server) registerCommandCommand() {
	s.table.add(&Command{Name: "command", Arity: -1, Flags: Loading | Stale, Group: "server", Since: "0.1.0",
		Summary: "Returns detailed information about all commands.", Syntax: "[subcommand [argument ...]]", Handler: cmdCommand})
	for _, sub := range []*Command{
		{Name: "command|count", Arity: 2, Summary: "Returns a count of commands.", Handler: cmdCommandCount},
		{Name: "command|info", Arity: -2, Summary: "Returns information about one, multiple or all commands.", Syntax: "[command-name [command-name ...]]", Handler: cmdCommandInfo},
		{Name: "command|docs", Arity: -2, Summary: "Returns documentary information about one, multiple or all commands.", Syntax: "[command-name [command-name ...]]", Handler: cmdCommandDocs},
		{Name: "command|list", Arity: -2, Summary: "Returns a list of command names.", Handler: cmdCommandList},
		{Name: "command|help", Arity: 2, Summary: "Returns helpful text about the different subcommands.", Handler: cmdCommandHelp},
	} {
		sub.Flags |= Loading | Stale
		sub.Group, sub.Since = "server", "0.1.0"
		s.table.add(sub)
	}
}

func cmdCommand(c *Client, args [][]byte) {
	if len(args) > 1 {
		c.replyError(unknownSubcommand("command", args[1]))
		return
	}
	cmds := c.srv.table.all()
	c.w.Array(len(cmds))
	for _, cmd := range cmds {
		c.writeCommandInfo(cmd)
	}
}

func cmdCommandCount(c *Client, _ [][]byte) { c.w.Int(int64(len(c.srv.table.byName))) }

func cmdCommandList(c *Client, args [][]byte) {
	if len(args) > 2 {
		c.replyError(errSyntax)
		return
	}
	cmds := c.srv.table.all()
	c.w.Array(len(cmds))
	for _, cmd := range cmds {
		c.w.BulkString(cmd.Name)
	}
}

var commandHelp = []string{
	"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"(no subcommand)", "    Return details about all commands.",
	"COUNT", "    Return the total number of commands in this server.",
	"LIST", "    Return a list of all commands in this server.",
	"INFO [<command-name> ...]", "    Return details about multiple commands.",
	"DOCS [<command-name> ...]", "    Return documentation details about multiple commands.",
	"HELP", "    Print this help.",
}

func cmdCommandHelp(c *Client, _ [][]byte) { c.helpReply(commandHelp) }

// namedCommands resolves COMMAND INFO/DOCS arguments: every command when
// there are none, else each name ("parent|sub" for a subcommand) or nil.
func (s *Server) namedCommands(names [][]byte) []*Command {
	if len(names) == 0 {
		cmds := s.table.all()
		slices.SortFunc(cmds, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) })
		return cmds
	}
	out := make([]*Command, len(names))
	for i, n := range names {
		parent, sub, isSub := strings.Cut(strings.ToLower(string(n)), "|")
		cmd := s.table.byName[parent]
		if isSub && cmd != nil {
			cmd = cmd.Subcommands[sub]
		}
		out[i] = cmd
	}
	return out
}

func cmdCommandInfo(c *Client, args [][]byte) {
	cmds := c.srv.namedCommands(args[2:])
	c.w.Array(len(cmds))
	for _, cmd := range cmds {
		if cmd == nil {
			c.w.NullArray()
			continue
		}
		c.writeCommandInfo(cmd)
	}
}

// writeCommandInfo writes the ten-element entry of COMMAND INFO.
func (c *Client) writeCommandInfo(cmd *Command) {
	c.w.Array(commandInfoFields)
	c.w.BulkString(cmd.Name)
	c.w.Int(int64(cmd.Arity))
	flags := cmd.Flags.names()
	c.w.Set(len(flags))
	for _, f := range flags {
		c.w.Simple(f)
	}
	c.w.Int(int64(cmd.FirstKey))
	c.w.Int(int64(cmd.LastKey))
	c.w.Int(int64(cmd.Step))
	cats := cmd.aclCategories()
	c.w.Set(len(cats))
	for _, cat := range cats {
		c.w.Simple(cat)
	}
	c.w.Set(0)   // tips
	c.w.Array(0) // key specs
	subs := cmd.sortedSubcommands()
	c.w.Array(len(subs))
	for _, sub := range subs {
		c.writeCommandInfo(sub)
	}
}

// commandInfoFields is the length of a COMMAND INFO entry in Redis 7.
const commandInfoFields = 10

func (cmd *Command) aclCategories() []string {
	var cats []string
	switch {
	case cmd.Flags&Write != 0:
		cats = append(cats, "@write")
	case cmd.Flags&ReadOnly != 0:
		cats = append(cats, "@read")
	}
	if cmd.Group != "" && cmd.Group != "generic" {
		cats = append(cats, "@"+cmd.Group)
	} else {
		cats = append(cats, "@keyspace")
	}
	if cmd.Flags&Fast != 0 {
		cats = append(cats, "@fast")
	} else {
		cats = append(cats, "@slow")
	}
	if cmd.Flags&Admin != 0 {
		cats = append(cats, "@admin", "@dangerous")
	}
	return cats
}

func (cmd *Command) sortedSubcommands() []*Command {
	subs := make([]*Command, 0, len(cmd.Subcommands))
	for _, sub := range cmd.Subcommands {
		subs = append(subs, sub)
	}
	slices.SortFunc(subs, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) })
	return subs
}

func cmdCommandDocs(c *Client, args [][]byte) {
	cmds := c.srv.namedCommands(args[2:])
	n := 0
	for _, cmd := range cmds {
		if cmd != nil {
			n++
		}
	}
	c.w.Map(n)
	for _, cmd := range cmds {
		if cmd != nil {
			c.w.BulkString(cmd.Name)
			c.writeCommandDocs(cmd)
		}
	}
}

func (c *Client) writeCommandDocs(cmd *Command) {
	args := parseSyntax(cmd.Syntax)
	subs := cmd.sortedSubcommands()
	fields := 4
	if len(args) > 0 {
		fields++
	}
	if len(subs) > 0 {
		fields++
	}
	c.w.Map(fields)
	c.w.BulkString("summary")
	c.w.BulkString(cmd.Summary)
	c.w.BulkString("since")
	c.w.BulkString(cmd.Since)
	c.w.BulkString("group")
	c.w.BulkString(cmd.Group)
	c.w.BulkString("complexity")
	if cmd.Flags&Fast != 0 {
		c.w.BulkString("O(1)")
	} else {
		c.w.BulkString("O(N)")
	}
	if len(args) > 0 {
		c.w.BulkString("arguments")
		c.writeDocArgs(args)
	}
	if len(subs) > 0 {
		c.w.BulkString("subcommands")
		c.w.Map(len(subs))
		for _, sub := range subs {
			c.w.BulkString(sub.Name)
			c.writeCommandDocs(sub)
		}
	}
}

func (c *Client) writeDocArgs(args []docArg) {
	c.w.Array(len(args))
	for _, a := range args {
		fields := 2
		if a.token != "" {
			fields++
		}
		if a.optional || a.multiple {
			fields++
		}
		if len(a.args) > 0 {
			fields++
		}
		if a.typ == "key" || a.typ == "string" || a.typ == "integer" {
			fields++
		}
		c.w.Map(fields)
		c.w.BulkString("name")
		c.w.BulkString(a.name)
		c.w.BulkString("type")
		c.w.BulkString(a.typ)
		if a.typ == "key" || a.typ == "string" || a.typ == "integer" {
			c.w.BulkString("display_text")
			c.w.BulkString(a.name)
		}
		if a.token != "" {
			c.w.BulkString("token")
			c.w.BulkString(a.token)
		}
		if a.optional || a.multiple {
			var flags []string
			if a.optional {
				flags = append(flags, "optional")
			}
			if a.multiple {
				flags = append(flags, "multiple")
			}
			c.w.BulkString("flags")
			c.w.Array(len(flags))
			for _, f := range flags {
				c.w.Simple(f)
			}
		}
		if len(a.args) > 0 {
			c.w.BulkString("arguments")
			c.writeDocArgs(a.args)
		}
	}
}
