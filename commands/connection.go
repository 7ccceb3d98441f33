package commands

import (
	"bytes"
	"crypto/subtle"
	"strconv"
	"strings"
	"time"

	"nexo/engine/pubsub"
	"nexo/internal/number"
	"nexo/resp"
)

// defaultUser is the only user: NEXO has one password, like requirepass.
const defaultUser = "default"

// compatVersion is the Redis version whose behaviour NEXO's Redis
// commands follow; clients read it from HELLO and INFO to pick features.
const compatVersion = "7.2.0"

func (s *Server) registerConnection() {
	s.table.add(&Command{Name: "ping", Arity: -1, Flags: Fast | SubscriberOK, Group: "connection", Since: "0.1.0",
		Summary: "Returns the server's liveliness response.", Syntax: "[message]", Handler: cmdPing})
	s.table.add(&Command{Name: "echo", Arity: 2, Flags: Fast, Group: "connection", Since: "0.1.0",
		Summary: "Returns the given string.", Syntax: "message", Handler: cmdEcho})
	s.table.add(&Command{Name: "hello", Arity: -1, Flags: NoAuth | Fast | Loading | Stale | NoScript, Group: "connection", Since: "0.1.0",
		Summary: "Handshakes with the server: protocol version, authentication, client name.",
		Syntax:  "[protover [AUTH username password] [SETNAME clientname]]", Handler: cmdHello})
	s.table.add(&Command{Name: "auth", Arity: -2, Flags: NoAuth | Fast | Loading | Stale | NoScript, Group: "connection", Since: "0.1.0",
		Summary: "Authenticates the connection.", Syntax: "[username] password", Handler: cmdAuth})
	s.table.add(&Command{Name: "select", Arity: 2, Flags: Fast | Loading | Stale, Group: "connection", Since: "0.1.0",
		Summary: "Selects the database; NEXO has the single database 0.", Syntax: "index", Handler: cmdSelect})
	s.table.add(&Command{Name: "quit", Arity: -1, Flags: NoAuth | Fast | Loading | Stale | SubscriberOK | TxControl, Group: "connection", Since: "0.1.0",
		Summary: "Closes the connection.", Handler: cmdQuit})
	s.table.add(&Command{Name: "reset", Arity: 1, Flags: NoAuth | Fast | Loading | Stale | SubscriberOK | TxControl, Group: "connection", Since: "0.1.0",
		Summary: "Resets the connection: protocol 2, no name, not authenticated.", Handler: cmdReset})
	s.table.add(&Command{Name: "client", Arity: -2, Group: "connection", Since: "0.1.0",
		Summary: "A container for client connection commands.", Syntax: "subcommand [argument ...]", Handler: cmdClientUnknown})
	s.table.addAll("connection", "0.1.0", []*Command{
		{Name: "client|id", Arity: 2, Flags: Fast, Summary: "Returns the unique client ID of the connection.", Handler: cmdClientID},
		{Name: "client|setname", Arity: 3, Flags: Fast, Summary: "Sets the connection name.", Syntax: "connection-name", Handler: cmdClientSetName},
		{Name: "client|getname", Arity: 2, Flags: Fast, Summary: "Returns the name of the connection.", Handler: cmdClientGetName},
		{Name: "client|setinfo", Arity: 4, Flags: Fast, Summary: "Sets information about the client library.", Syntax: "LIB-NAME libname|LIB-VER libver", Handler: cmdClientSetInfo},
		{Name: "client|list", Arity: -2, Flags: Admin, Summary: "Lists open connections.", Syntax: "[TYPE NORMAL|PUBSUB] [ID client-id [client-id ...]]", Handler: cmdClientList},
		{Name: "client|info", Arity: 2, Summary: "Returns information about the connection.", Handler: cmdClientInfo},
		{Name: "client|kill", Arity: -3, Flags: Admin, Summary: "Terminates open connections.", Syntax: "ip:port | [ID client-id] [ADDR ip:port] [LADDR ip:port] [SKIPME yes|no]", Handler: cmdClientKill},
		{Name: "client|unblock", Arity: -3, Flags: Admin | Loading | Stale, Summary: "Unblocks a client blocked by a blocking command from a different connection.", Syntax: "client-id [TIMEOUT|ERROR]", Handler: cmdClientUnblock},
		{Name: "client|help", Arity: 2, Summary: "Returns helpful text about the different subcommands.", Handler: cmdClientHelp},
	})
}

func cmdPing(c *Client, args [][]byte) {
	switch {
	case c.subscriberMode() && len(args) <= 2:
		// In RESP2 subscriber mode Redis answers ["pong", message].
		c.w.Array(2)
		c.w.BulkString("pong")
		if len(args) == 2 {
			c.w.Bulk(args[1])
		} else {
			c.w.BulkString("")
		}
	case len(args) == 1:
		c.w.Simple("PONG")
	case len(args) == 2:
		c.w.Bulk(args[1])
	default:
		c.replyError("ERR wrong number of arguments for 'ping' command")
	}
}

func cmdEcho(c *Client, args [][]byte) { c.w.Bulk(args[1]) }

// checkPassword compares in constant time so that timing does not reveal
// how much of a guess was right.
func (c *Client) checkPassword(user, pass []byte) bool {
	want := c.srv.cfg.Password
	if want == "" {
		return string(user) == defaultUser
	}
	return string(user) == defaultUser && subtle.ConstantTimeCompare(pass, []byte(want)) == 1
}

func (c *Client) setAuthenticated(v bool) {
	c.authed = v
	c.rd.SetAuthenticated(v)
}

func cmdAuth(c *Client, args [][]byte) {
	user, pass := []byte(defaultUser), args[1]
	switch len(args) {
	case 2:
		if c.srv.cfg.Password == "" {
			c.replyError(errNoPassword)
			return
		}
	case 3:
		user, pass = args[1], args[2]
	default:
		c.replyError(errSyntax)
		return
	}
	if !c.checkPassword(user, pass) {
		c.replyError(errWrongPass)
		return
	}
	c.setAuthenticated(true)
	c.w.OK()
}

func cmdHello(c *Client, args [][]byte) {
	proto := c.w.Proto()
	if len(args) > 1 {
		v, err := strconv.ParseInt(string(args[1]), 10, 64)
		if err != nil {
			c.replyError("ERR Protocol version is not an integer or out of range")
			return
		}
		if v != resp.RESP2 && v != resp.RESP3 {
			c.replyError(errNoProto)
			return
		}
		proto = int(v)
	}
	var name []byte
	authed := false
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch {
		case strings.EqualFold(string(args[i]), "AUTH") && more >= 2:
			if !c.checkPassword(args[i+1], args[i+2]) {
				c.replyError(errWrongPass)
				return
			}
			authed = true
			i += 2
		case strings.EqualFold(string(args[i]), "SETNAME") && more >= 1:
			if !validClientName(args[i+1]) {
				c.replyError(errClientName)
				return
			}
			name = args[i+1]
			i++
		default:
			c.replyError("ERR Syntax error in HELLO option '" + sanitize(args[i]) + "'")
			return
		}
	}
	if !c.authed && !authed {
		c.replyError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if authed {
		c.setAuthenticated(true)
	}
	if name != nil {
		c.setName(string(name))
	}
	c.w.SetProto(proto)
	c.proto.Store(int32(proto))
	c.w.Map(hello7Fields)
	c.w.BulkString("server")
	c.w.BulkString("nexo")
	c.w.BulkString("version")
	c.w.BulkString(compatVersion)
	c.w.BulkString("proto")
	c.w.Int(int64(proto))
	c.w.BulkString("id")
	c.w.Int(c.id)
	c.w.BulkString("mode")
	c.w.BulkString("standalone")
	c.w.BulkString("role")
	c.w.BulkString("master")
	c.w.BulkString("modules")
	c.w.Array(0)
	c.w.BulkString("nexo_version")
	c.w.BulkString(c.srv.cfg.Version)
}

// hello7Fields is the number of fields in the HELLO reply.
const hello7Fields = 8

func cmdSelect(c *Client, args [][]byte) {
	db, ok := number.ParseInt(args[1])
	switch {
	case !ok:
		c.replyError(errNotInteger)
	case db != 0:
		c.replyError(errDBIndex + " (NEXO has the single database 0)")
	default:
		c.w.OK()
	}
}

func cmdQuit(c *Client, _ [][]byte) {
	c.w.OK()
	c.closing = true
}

func cmdReset(c *Client, _ [][]byte) {
	c.resetTransaction()
	c.stopMonitoring()
	if o := c.ps.out; o != nil && c.srv.cfg.PubSub != nil {
		c.srv.cfg.PubSub.UnsubscribeAll(o)
		o.cutAll(c.srv.cfg.PubSub.Epoch())
		c.setCounts(pubsub.Counts{})
	}
	c.w.SetProto(resp.RESP2)
	c.proto.Store(resp.RESP2)
	c.setName("")
	c.setAuthenticated(c.srv.cfg.Password == "")
	c.w.Simple("RESET")
}

func cmdClientUnknown(c *Client, args [][]byte) {
	c.replyError(unknownSubcommand("client", args[1]))
}

func cmdClientID(c *Client, _ [][]byte) { c.w.Int(c.id) }

const errClientName = "ERR Client names cannot contain spaces, newlines or special characters."

// validClientName accepts printable ASCII without spaces, as Redis does.
func validClientName(name []byte) bool {
	for _, b := range name {
		if b < '!' || b > '~' {
			return false
		}
	}
	return true
}

func (c *Client) setName(name string) {
	c.mu.Lock()
	c.name = name
	c.mu.Unlock()
}

func cmdClientSetName(c *Client, args [][]byte) {
	if !validClientName(args[2]) {
		c.replyError(errClientName)
		return
	}
	c.setName(string(args[2]))
	c.w.OK()
}

func cmdClientGetName(c *Client, _ [][]byte) {
	c.mu.Lock()
	name := c.name
	c.mu.Unlock()
	c.w.StringOrNull(name)
}

func cmdClientSetInfo(c *Client, args [][]byte) {
	value := string(args[3])
	if strings.ContainsAny(value, " \r\n") {
		c.replyError("ERR " + strings.ToUpper(string(args[2])) + " cannot contain spaces, newlines or special characters.")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch strings.ToLower(string(args[2])) {
	case "lib-name":
		c.libName = value
	case "lib-ver":
		c.libVer = value
	default:
		c.replyError("ERR Unrecognized option '" + sanitize(args[2]) + "'")
		return
	}
	c.w.OK()
}

func cmdClientList(c *Client, args [][]byte) {
	var ids map[int64]bool
	typ := ""
	for i := 2; i < len(args); i++ {
		switch {
		case strings.EqualFold(string(args[i]), "TYPE") && i+1 < len(args):
			t := strings.ToLower(string(args[i+1]))
			if t != "normal" && t != "pubsub" && t != "master" && t != "replica" && t != "slave" {
				c.replyError("ERR Unknown client type '" + sanitize(args[i+1]) + "'")
				return
			}
			if t != "normal" && t != "pubsub" {
				c.w.Verbatim("txt", nil)
				return
			}
			typ = t
			i++
		case strings.EqualFold(string(args[i]), "ID") && i+1 < len(args):
			ids = make(map[int64]bool)
			for i++; i < len(args); i++ {
				id, err := strconv.ParseInt(string(args[i]), 10, 64)
				if err != nil || id <= 0 {
					c.replyError("ERR Invalid client ID")
					return
				}
				ids[id] = true
			}
		default:
			c.replyError(errSyntax)
			return
		}
	}
	now := time.Now()
	var b bytes.Buffer
	for _, other := range c.srv.clientsSnapshot() {
		sub := other.ps.channels.Load()+other.ps.patterns.Load() > 0
		if ids != nil && !ids[other.id] || typ == "normal" && sub || typ == "pubsub" && !sub {
			continue
		}
		b.WriteString(other.info(now))
		b.WriteByte('\n')
	}
	c.w.Verbatim("txt", b.Bytes())
}

func cmdClientInfo(c *Client, _ [][]byte) {
	c.w.Verbatim("txt", []byte(c.info(time.Now())+"\n"))
}

func cmdClientKill(c *Client, args [][]byte) {
	if len(args) == 3 {
		for _, other := range c.srv.clientsSnapshot() {
			if other.addr == string(args[2]) {
				other.kill(c)
				c.w.OK()
				return
			}
		}
		c.replyError("ERR No such client")
		return
	}
	if len(args)%2 != 0 {
		c.replyError(errSyntax)
		return
	}
	var id int64
	var addr, laddr string
	skipMe := true
	typ := ""
	for i := 2; i < len(args); i += 2 {
		v := string(args[i+1])
		switch strings.ToLower(string(args[i])) {
		case "id":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				c.replyError("ERR client-id should be greater than 0")
				return
			}
			id = n
		case "addr":
			addr = v
		case "laddr":
			laddr = v
		case "skipme":
			switch strings.ToLower(v) {
			case "yes":
				skipMe = true
			case "no":
				skipMe = false
			default:
				c.replyError(errSyntax)
				return
			}
		case "user":
			if v != defaultUser {
				c.w.Int(0)
				return
			}
		case "type":
			typ = strings.ToLower(v)
			if typ != "normal" && typ != "pubsub" {
				c.w.Int(0)
				return
			}
		default:
			c.replyError(errSyntax)
			return
		}
	}
	killed := 0
	for _, other := range c.srv.clientsSnapshot() {
		sub := other.ps.channels.Load()+other.ps.patterns.Load() > 0
		switch {
		case id != 0 && other.id != id,
			addr != "" && other.addr != addr,
			laddr != "" && other.localAddr != laddr,
			typ == "normal" && sub, typ == "pubsub" && !sub,
			skipMe && other == c:
			continue
		}
		other.kill(c)
		killed++
	}
	c.w.Int(int64(killed))
}

func cmdClientUnblock(c *Client, args [][]byte) {
	if len(args) > 4 {
		c.replyError("ERR unknown subcommand or wrong number of arguments for '" + sanitize(args[1]) + "'. Try CLIENT HELP.")
		return
	}
	cause := errUnblockTimeout
	if len(args) == 4 {
		switch strings.ToLower(string(args[3])) {
		case "timeout":
		case "error":
			cause = errUnblockError
		default:
			c.replyError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
			return
		}
	}
	id, ok := number.ParseInt(args[2])
	if !ok {
		c.replyError(errNotInteger)
		return
	}
	c.srv.mu.Lock()
	other := c.srv.clients[id]
	c.srv.mu.Unlock()
	if other != nil && other.unblock(cause) {
		c.w.Int(1)
		return
	}
	c.w.Int(0)
}

// kill closes another client's connection; its goroutine ends on the next
// read. Killing oneself answers this command first.
func (c *Client) kill(by *Client) {
	if c == by {
		c.closing = true
		return
	}
	c.nc.Conn.Close()
}

var clientHelp = []string{
	"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GETNAME", "    Return the name of the current connection.",
	"ID", "    Return the ID of the current connection.",
	"INFO", "    Return information about the current client connection.",
	"KILL <ip:port>", "    Kill connection made from <ip:port>.",
	"KILL <option> <value> [<option> <value> [...]]", "    Kill connections. Options are: ID <client-id>, ADDR <ip:port>, LADDR <ip:port>, TYPE NORMAL, USER default, SKIPME yes|no.",
	"LIST [TYPE NORMAL] [ID <id> [<id> ...]]", "    Return information about client connections.",
	"SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client library name or version.",
	"SETNAME <name>", "    Assign the name <name> to the current connection.",
	"UNBLOCK <clientid> [TIMEOUT|ERROR]", "    Unblock the specified blocked client.",
	"HELP", "    Print this help.",
}

func cmdClientHelp(c *Client, _ [][]byte) { c.helpReply(clientHelp) }

func (c *Client) helpReply(lines []string) {
	c.w.Array(len(lines))
	for _, l := range lines {
		c.w.Simple(l)
	}
}
