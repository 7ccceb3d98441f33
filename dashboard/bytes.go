package dashboard

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// bytesView is user data (a key, a value, a field) as the page shows it.
// Text is the bytes themselves when they are UTF-8 text, or an escaped form
// when they are binary; the page always inserts it as text, never as markup.
type bytesView struct {
	Text      string `json:"text"`
	Binary    bool   `json:"binary,omitempty"`
	Len       int64  `json:"len"` // full length, of which Text shows a prefix when Truncated
	Truncated bool   `json:"truncated,omitempty"`
	// Base64 holds the bytes shown, for views that offer a hex dump.
	Base64 string `json:"base64,omitempty"`
}

// viewBytes describes b, a prefix of a value of full bytes.
func viewBytes(b []byte, full int64) bytesView {
	v := bytesView{Len: full, Truncated: int64(len(b)) < full}
	if v.Truncated {
		b = trimPartialRune(b)
	}
	if isText(b) {
		v.Text = string(b)
	} else {
		v.Text, v.Binary = escapeBytes(b), true
	}
	return v
}

// cut describes b, showing at most n of its bytes.
func cut(b []byte, n int) bytesView { return viewBytes(b[:min(len(b), n)], int64(len(b))) }

// viewBytesWithData is viewBytes plus the bytes themselves in Base64.
func viewBytesWithData(b []byte, full int64) bytesView {
	v := viewBytes(b, full)
	v.Base64 = base64.StdEncoding.EncodeToString(b)
	return v
}

// trimPartialRune drops the start of a UTF-8 sequence that a cut left at
// the end of b, so that a cut text value is still recognised as text.
func trimPartialRune(b []byte) []byte {
	for k := 1; k < utf8.UTFMax && k <= len(b); k++ {
		tail := b[len(b)-k:]
		if utf8.RuneStart(tail[0]) {
			if !utf8.FullRune(tail) {
				return b[:len(b)-k]
			}
			return b
		}
	}
	return b
}

// isText reports whether b is valid UTF-8 without control characters other
// than tab, line feed and carriage return.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r < ' ' || r == utf8.RuneSelf-1 || (r >= 0x80 && r < 0xa0):
			return false
		}
	}
	return true
}

// escapeBytes renders binary data as redis-cli does: printable ASCII as
// itself, \\ and \" escaped, \n \r \t \a \b by name, other bytes as \xHH.
func escapeBytes(b []byte) string {
	const hexDigits = "0123456789abcdef"
	out := make([]byte, 0, len(b)+len(b)/2)
	for _, c := range b {
		switch c {
		case '\\', '"':
			out = append(out, '\\', c)
		case '\n':
			out = append(out, `\n`...)
		case '\r':
			out = append(out, `\r`...)
		case '\t':
			out = append(out, `\t`...)
		case '\a':
			out = append(out, `\a`...)
		case '\b':
			out = append(out, `\b`...)
		default:
			if c >= ' ' && c < utf8.RuneSelf-1 {
				out = append(out, c)
			} else {
				out = append(out, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			}
		}
	}
	return string(out)
}

// formatCursor renders a cursor as a string: JavaScript numbers cannot
// hold every uint64.
func formatCursor(c uint64) string { return strconv.FormatUint(c, 10) }
