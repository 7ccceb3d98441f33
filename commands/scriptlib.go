package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The libraries Redis's Lua gives scripts beside Lua's own that scripts
// for strings and hashes use: cjson (JSON in values) and bit (flags).

// maxJSONDepth bounds the nesting cjson encodes and decodes, as lua-cjson's
// default does, so that a table that contains itself fails instead of
// recursing without end.
const maxJSONDepth = 1000

// jsonNumberDigits is how lua-cjson prints a number that is not an integer.
const jsonNumberDigits = 14

// bit operates on 32-bit integers: numbers are taken modulo bitModulus,
// and shift counts modulo 32 (bitShiftMask), as LuaBitOp does.
const (
	bitModulus   = 1 << 32
	bitShiftMask = 31
)

// jsonIntegerLimit is the magnitude below which cjson.encode writes an
// integral number without a fraction or exponent.
const jsonIntegerLimit = 1e15

// bitHexDigits is what bit.tohex prints without a count: a 32-bit value.
const bitHexDigits = 8

// openScriptLibs adds cjson and bit to the globals of L.
func openScriptLibs(L *lua.LState) {
	null := L.NewUserData()
	cjson := L.NewTable()
	L.SetFuncs(cjson, map[string]lua.LGFunction{
		"encode": func(L *lua.LState) int {
			var b bytes.Buffer
			if err := encodeJSON(&b, L.CheckAny(1), null, 0); err != nil {
				L.RaiseError("%s", err.Error())
			}
			L.Push(lua.LString(b.String()))
			return 1
		},
		"decode": func(L *lua.LState) int {
			dec := json.NewDecoder(bytes.NewReader([]byte(L.CheckString(1))))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				L.RaiseError("Expected value but found invalid token: %s", err.Error())
			}
			if dec.More() {
				L.RaiseError("Expected the end but found trailing data")
			}
			lv, err := decodedJSON(L, v, null, 0)
			if err != nil {
				L.RaiseError("%s", err.Error())
			}
			L.Push(lv)
			return 1
		},
	})
	cjson.RawSetString("null", null)
	L.G.Global.RawSetString("cjson", cjson)

	bit := L.NewTable()
	L.SetFuncs(bit, map[string]lua.LGFunction{
		"tobit": func(L *lua.LState) int { return pushBit(L, toBit(L, 1)) },
		"bnot":  func(L *lua.LState) int { return pushBit(L, ^toBit(L, 1)) },
		"band":  bitFold(func(a, b int32) int32 { return a & b }),
		"bor":   bitFold(func(a, b int32) int32 { return a | b }),
		"bxor":  bitFold(func(a, b int32) int32 { return a ^ b }),
		"lshift": func(L *lua.LState) int {
			return pushBit(L, int32(uint32(toBit(L, 1))<<(uint32(toBit(L, 2))&bitShiftMask)))
		},
		"rshift": func(L *lua.LState) int {
			return pushBit(L, int32(uint32(toBit(L, 1))>>(uint32(toBit(L, 2))&bitShiftMask)))
		},
		"arshift": func(L *lua.LState) int { return pushBit(L, toBit(L, 1)>>(uint32(toBit(L, 2))&bitShiftMask)) },
		"tohex": func(L *lua.LState) int {
			n, upper := bitHexDigits, false
			if L.GetTop() >= 2 {
				if n = L.CheckInt(2); n < 0 {
					n, upper = -n, true
				}
			}
			hex := fmt.Sprintf("%0*x", bitHexDigits, uint32(toBit(L, 1)))[bitHexDigits-min(n, bitHexDigits):]
			if upper {
				hex = strings.ToUpper(hex)
			}
			L.Push(lua.LString(hex))
			return 1
		},
	})
	L.G.Global.RawSetString("bit", bit)
}

// toBit is argument i as LuaBitOp normalises it: the number modulo 2^32,
// as a signed 32-bit integer.
func toBit(L *lua.LState, i int) int32 {
	f := float64(L.CheckNumber(i))
	return int32(uint32(int64(math.Mod(math.Trunc(f), bitModulus))))
}

func pushBit(L *lua.LState, v int32) int {
	L.Push(lua.LNumber(v))
	return 1
}

// bitFold is a bit operation over one or more arguments.
func bitFold(op func(a, b int32) int32) lua.LGFunction {
	return func(L *lua.LState) int {
		acc := toBit(L, 1)
		for i := 2; i <= L.GetTop(); i++ {
			acc = op(acc, toBit(L, i))
		}
		return pushBit(L, acc)
	}
}

// encodeJSON writes v as lua-cjson does: a table whose keys are exactly 1..n
// is an array (an empty table an object), any other an object whose keys
// are strings or numbers.
func encodeJSON(b *bytes.Buffer, v lua.LValue, null *lua.LUserData, depth int) error {
	if depth > maxJSONDepth {
		return errJSON("Cannot serialise, excessive nesting (" + strconv.Itoa(maxJSONDepth) + ")")
	}
	switch v := v.(type) {
	case *lua.LNilType:
		b.WriteString("null")
	case lua.LBool:
		b.WriteString(strconv.FormatBool(bool(v)))
	case lua.LNumber:
		f := float64(v)
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			return errJSON("Cannot serialise number: must not be NaN or Inf")
		case f == math.Trunc(f) && math.Abs(f) < jsonIntegerLimit:
			b.WriteString(strconv.FormatInt(int64(f), 10))
		default:
			b.WriteString(strconv.FormatFloat(f, 'g', jsonNumberDigits, 64))
		}
	case lua.LString:
		s, _ := json.Marshal(string(v))
		b.Write(s)
	case *lua.LUserData:
		if v != null {
			return errJSON("Cannot serialise userdata: type not supported")
		}
		b.WriteString("null")
	case *lua.LTable:
		return encodeJSONTable(b, v, null, depth)
	default:
		return errJSON("Cannot serialise " + v.Type().String() + ": type not supported")
	}
	return nil
}

func encodeJSONTable(b *bytes.Buffer, t *lua.LTable, null *lua.LUserData, depth int) error {
	n, keys, isArray := 0, []string{}, true
	values := map[string]lua.LValue{}
	var failed error
	t.ForEach(func(k, v lua.LValue) {
		switch k := k.(type) {
		case lua.LNumber:
			if f := float64(k); f >= 1 && f == math.Trunc(f) {
				n = max(n, int(f))
			} else {
				isArray = false
			}
			key := strconv.FormatFloat(float64(k), 'g', jsonNumberDigits, 64)
			keys, values[key] = append(keys, key), v
		case lua.LString:
			isArray = false
			keys, values[string(k)] = append(keys, string(k)), v
		default:
			failed = errJSON("Cannot serialise table: table key must be a number or string")
		}
	})
	if failed != nil {
		return failed
	}
	if isArray && n > 0 && n == len(keys) {
		b.WriteByte('[')
		for i := 1; i <= n; i++ {
			if i > 1 {
				b.WriteByte(',')
			}
			if err := encodeJSON(b, t.RawGetInt(i), null, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	slices.Sort(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(k)
		b.Write(name)
		b.WriteByte(':')
		if err := encodeJSON(b, values[k], null, depth+1); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// decodedJSON converts what encoding/json decoded to Lua: objects and
// arrays to tables, null to cjson.null.
func decodedJSON(L *lua.LState, v any, null *lua.LUserData, depth int) (lua.LValue, error) {
	if depth > maxJSONDepth {
		return nil, errJSON("Found too many nested data structures (" + strconv.Itoa(maxJSONDepth) + ")")
	}
	switch v := v.(type) {
	case nil:
		return null, nil
	case bool:
		return lua.LBool(v), nil
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return nil, errJSON("Expected value but found invalid number " + v.String())
		}
		return lua.LNumber(f), nil
	case string:
		return lua.LString(v), nil
	case []any:
		t := L.CreateTable(len(v), 0)
		for i, item := range v {
			lv, err := decodedJSON(L, item, null, depth+1)
			if err != nil {
				return nil, err
			}
			t.RawSetInt(i+1, lv)
		}
		return t, nil
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, item := range v {
			lv, err := decodedJSON(L, item, null, depth+1)
			if err != nil {
				return nil, err
			}
			t.RawSetString(k, lv)
		}
		return t, nil
	}
	return nil, errJSON("unexpected JSON value")
}

// errJSON is an error of cjson, raised in the script.
type errJSON string

func (e errJSON) Error() string { return string(e) }
