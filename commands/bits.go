package commands

import (
	"nexo/engine/store"
	"nexo/internal/number"
)

// Errors of the bitmap commands, worded as Redis's.
const (
	errBitOffset = "ERR bit offset is not an integer or out of range"
	errBitValue  = "ERR bit is not an integer or out of range"
	errBitArg    = "ERR The bit argument must be 1 or 0."
	errBitOpNot  = "ERR BITOP NOT must be called with a single source key."
)

func (s *Server) registerBitmaps() {
	s.registerStore("bitmap", []*Command{
		{Name: "getbit", Arity: 3, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns a bit value by offset.", Syntax: "key offset", Handler: cmdGetBit},
		{Name: "setbit", Arity: 4, Flags: wf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Sets or clears the bit at offset of the string value; creates the key if needed.", Syntax: "key offset value", Handler: cmdSetBit},
		{Name: "bitcount", Arity: -2, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Counts the number of set bits (population counting) in a string.", Syntax: "key [start end [BYTE|BIT]]", Handler: cmdBitCount},
		{Name: "bitpos", Arity: -3, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Finds the first set (1) or clear (0) bit in a string.", Syntax: "key bit [start [end [BYTE|BIT]]]", Handler: cmdBitPos},
		{Name: "bitop", Arity: -4, Flags: wf, FirstKey: 2, LastKey: -1, Step: 1, Summary: "Performs bitwise operations on multiple strings, and stores the result.", Syntax: "AND|OR|XOR|NOT destkey key [key ...]", Handler: cmdBitOp},
	})
}

// parseBitOffset reads a bit offset: 0 to store.MaxBitOffset.
func parseBitOffset(arg []byte) (int64, bool) {
	n, ok := number.ParseInt(arg)
	return n, ok && n >= 0 && n <= store.MaxBitOffset
}

// parseBitRange reads the optional [start [end [BYTE|BIT]]] of BITCOUNT
// (needEnd: a start needs its end) and BITPOS.
func parseBitRange(args [][]byte, needEnd bool) (store.BitRange, string) {
	r := store.BitRange{Whole: len(args) == 0}
	if r.Whole {
		return r, ""
	}
	var ok bool
	if r.Start, ok = number.ParseInt(args[0]); !ok {
		return r, errNotInteger
	}
	switch {
	case len(args) == 1 && needEnd:
		return r, errSyntax
	case len(args) == 1:
		r.NoEnd = true
		return r, ""
	case len(args) > 3:
		return r, errSyntax
	}
	if r.End, ok = number.ParseInt(args[1]); !ok {
		return r, errNotInteger
	}
	if len(args) == 3 {
		switch {
		case is(args[2], "BIT"):
			r.Bits = true
		case !is(args[2], "BYTE"):
			return r, errSyntax
		}
	}
	return r, ""
}

func cmdGetBit(c *Client, args [][]byte) {
	off, ok := parseBitOffset(args[2])
	if !ok {
		c.replyError(errBitOffset)
		return
	}
	v, err := c.store().GetBit(args[1], off)
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(int64(v))
}

func cmdSetBit(c *Client, args [][]byte) {
	off, ok := parseBitOffset(args[2])
	if !ok {
		c.replyError(errBitOffset)
		return
	}
	if len(args[3]) != 1 || (args[3][0] != '0' && args[3][0] != '1') {
		c.replyError(errBitValue)
		return
	}
	old, err := c.store().SetBit(args[1], off, args[3][0] == '1')
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(int64(old))
}

func cmdBitCount(c *Client, args [][]byte) {
	r, msg := parseBitRange(args[2:], true)
	if msg != "" {
		c.replyError(msg)
		return
	}
	n, err := c.store().BitCount(args[1], r)
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(n)
}

func cmdBitPos(c *Client, args [][]byte) {
	bit, ok := number.ParseInt(args[2])
	switch {
	case !ok:
		c.replyError(errNotInteger)
		return
	case bit != 0 && bit != 1:
		c.replyError(errBitArg)
		return
	}
	r, msg := parseBitRange(args[3:], false)
	if msg != "" {
		c.replyError(msg)
		return
	}
	n, err := c.store().BitPos(args[1], int(bit), r)
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(n)
}

// bitOps are BITOP's operations by name.
var bitOps = map[string]store.BitOp{"and": store.BitAnd, "or": store.BitOr, "xor": store.BitXor, "not": store.BitNot}

func cmdBitOp(c *Client, args [][]byte) {
	op, ok := bitOps[lower(args[1])]
	switch {
	case !ok:
		c.replyError(errSyntax)
		return
	case op == store.BitNot && len(args) != 4:
		c.replyError(errBitOpNot)
		return
	}
	n, err := c.store().BitOpStore(op, args[2], args[3:])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(int64(n))
}
