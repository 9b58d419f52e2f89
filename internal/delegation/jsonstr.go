package delegation

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the small JSON string primitives both the embedded-JSON parser
// and the messages scanner use. They never panic, whatever the input.

// unescape decodes the JSON escapes of s (the text between the quotes of a JSON
// string). It is lenient, because Dify pastes template variables into message
// content without escaping them: an invalid escape such as `\d` or `C:\x` is
// kept verbatim, a lone surrogate becomes U+FFFD (as encoding/json does), and
// raw quotes, newlines and control characters are kept as they are. For every
// valid JSON string body it returns exactly what encoding/json decodes, invalid
// UTF-8 aside (kept here, replaced there).
func unescape(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c != '\\' {
			j := strings.IndexByte(s[i:], '\\')
			if j < 0 {
				b.WriteString(s[i:])
				break
			}
			b.WriteString(s[i : i+j])
			i += j
			continue
		}
		if i+1 >= len(s) { // a trailing lone backslash
			b.WriteByte('\\')
			break
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			b.WriteByte(e)
			i += 2
		case 'b':
			b.WriteByte('\b')
			i += 2
		case 'f':
			b.WriteByte('\f')
			i += 2
		case 'n':
			b.WriteByte('\n')
			i += 2
		case 'r':
			b.WriteByte('\r')
			i += 2
		case 't':
			b.WriteByte('\t')
			i += 2
		case 'u':
			r, n := decodeU(s[i:])
			if n == 0 { // not four hex digits: keep verbatim
				b.WriteByte('\\')
				i++
				continue
			}
			b.WriteRune(r)
			i += n
		default: // an invalid escape: keep the backslash, the next byte follows as text
			b.WriteByte('\\')
			i++
		}
	}
	return b.String()
}

// decodeU decodes a \uXXXX escape at the start of s (and the low half of a
// surrogate pair right after it). n is the number of bytes consumed, 0 when s
// does not start with a valid \u escape.
func decodeU(s string) (r rune, n int) {
	r1, ok := hex4(s)
	if !ok {
		return 0, 0
	}
	if !utf16.IsSurrogate(r1) {
		return r1, 6
	}
	if r1 < 0xDC00 { // a high surrogate: look for its low half
		if r2, ok := hex4(s[6:]); ok {
			if c := utf16.DecodeRune(r1, r2); c != unicode.ReplacementChar {
				return c, 12
			}
		}
	}
	return unicode.ReplacementChar, 6
}

// hex4 parses `\uXXXX` at the start of s.
func hex4(s string) (rune, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[2:6]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipSpace returns the index of the first byte at or after i that does not
// start a white-space character. Besides JSON's four, any Unicode space (such as
// U+3000, the ideographic space of Japanese text) and the byte-order mark count.
func skipSpace(s string, i int) int {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
				i++
				continue
			}
			return i
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != '\uFEFF' && !unicode.IsSpace(r) {
			return i
		}
		i += size
	}
	return i
}

// trimSpaceRight drops trailing white space as skipSpace defines it.
func trimSpaceRight(s string) string {
	return strings.TrimRightFunc(s, func(r rune) bool { return r == '\uFEFF' || unicode.IsSpace(r) })
}
