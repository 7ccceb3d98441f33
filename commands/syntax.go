package commands

import "strings"

// docArg is one argument of COMMAND DOCS, derived from a command's Syntax.
type docArg struct {
	name, typ, token   string
	optional, multiple bool
	args               []docArg
}

// integerArgs are the argument names whose values are integers.
var integerArgs = map[string]bool{
	"seconds": true, "milliseconds": true, "unix-time-seconds": true, "unix-time-milliseconds": true,
	"count": true, "increment": true, "decrement": true, "offset": true, "start": true, "end": true,
	"cursor": true, "index": true, "protover": true, "client-id": true, "numkeys": true,
}

// keyArgs are the argument names that are keys.
var keyArgs = map[string]bool{"key": true, "source": true, "destination": true, "newkey": true}

// parseSyntax turns Redis's documentation notation ("key value [EX
// seconds|PX milliseconds] [key ...]") into the argument tree of COMMAND
// DOCS: [..] is optional, a|b is one of, "..." repeats what precedes it,
// an upper-case word is a token and names the lower-case word after it.
func parseSyntax(syntax string) []docArg {
	p := syntaxParser{toks: tokenizeSyntax(syntax)}
	alts := p.alternatives()
	if len(alts) > 1 {
		return []docArg{oneOf(alts)}
	}
	return alts[0]
}

type syntaxParser struct {
	toks []string
	pos  int
}

func tokenizeSyntax(s string) []string {
	var toks []string
	for _, f := range strings.Fields(s) {
		for f != "" {
			switch {
			case strings.HasPrefix(f, "..."):
				toks, f = append(toks, "..."), f[3:]
			case f[0] == '[' || f[0] == ']' || f[0] == '|':
				toks, f = append(toks, f[:1]), f[1:]
			default:
				end := strings.IndexAny(f, "[]|")
				if end < 0 {
					end = len(f)
				}
				if dots := strings.Index(f[:end], "..."); dots >= 0 {
					end = dots
				}
				toks, f = append(toks, f[:end]), f[end:]
			}
		}
	}
	return toks
}

func (p *syntaxParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

// alternatives parses sequences separated by '|' up to ']' or the end.
func (p *syntaxParser) alternatives() [][]docArg {
	alts := [][]docArg{p.sequence()}
	for p.peek() == "|" {
		p.pos++
		alts = append(alts, p.sequence())
	}
	return alts
}

func (p *syntaxParser) sequence() []docArg {
	var seq []docArg
	for {
		switch t := p.peek(); t {
		case "", "]", "|":
			return seq
		case "...":
			p.pos++
			if len(seq) > 0 {
				seq[len(seq)-1].multiple = true
			}
		case "[":
			p.pos++
			alts := p.alternatives()
			if p.peek() == "]" {
				p.pos++
			}
			var a docArg
			switch {
			case len(alts) > 1:
				a = oneOf(alts)
			case len(alts[0]) == 1:
				a = alts[0][0]
			default:
				a = block(alts[0])
			}
			a.optional = true
			if p.peek() == "..." {
				p.pos++
				a.multiple = true
			}
			seq = append(seq, a)
		default:
			p.pos++
			seq = append(seq, p.word(t))
		}
	}
}

// word turns a token into an argument; an upper-case token followed by a
// lower-case word is that word introduced by the token.
func (p *syntaxParser) word(t string) docArg {
	if t != strings.ToUpper(t) {
		return docArg{name: t, typ: argType(t)}
	}
	next := p.peek()
	if next != "" && next != "[" && next != "]" && next != "|" && next != "..." && next != strings.ToUpper(next) {
		p.pos++
		return docArg{name: next, typ: argType(next), token: t}
	}
	return docArg{name: strings.ToLower(t), typ: "pure-token", token: t}
}

func argType(name string) string {
	switch {
	case keyArgs[name]:
		return "key"
	case integerArgs[name]:
		return "integer"
	}
	return "string"
}

func oneOf(alts [][]docArg) docArg {
	a := docArg{typ: "oneof"}
	names := make([]string, 0, len(alts))
	for _, alt := range alts {
		if len(alt) == 1 {
			a.args = append(a.args, alt[0])
		} else {
			a.args = append(a.args, block(alt))
		}
		names = append(names, a.args[len(a.args)-1].name)
	}
	a.name = strings.Join(names, "-or-")
	return a
}

func block(seq []docArg) docArg {
	names := make([]string, 0, len(seq))
	for _, s := range seq {
		names = append(names, s.name)
	}
	return docArg{name: strings.Join(names, "-"), typ: "block", args: seq}
}
