// Package jsonscan finds the members of a JSON object without decoding them:
// the value of each member is a subslice of the input, so reading the model
// of a 100 KB request or the usage of a reply costs one pass over the bytes,
// with no copy and no reflection. It assumes nothing about its input: on text
// that is not a JSON object it reports failure, never panics, but it does not
// validate what it skips (a number such as 01 passes). Callers that must
// reject invalid JSON check json.Valid first. AppendQuoted writes a JSON
// string, for the few places that write JSON by hand.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// Members calls fn for every member of the JSON object b, in order, with the
// member's key (unescaped) and its value: a subslice of b whose capacity ends
// with it, so appending to it cannot overwrite b. It reports whether b was an
// object to its end; on false, fn has seen the members before the fault.
func Members(b []byte, fn func(key string, value []byte)) bool {
	return scan(b, func(key []byte, escaped bool, value []byte) {
		fn(keyString(key, escaped), value)
	})
}

// Key is a member's key as written: its text between the quotes.
type Key struct {
	raw     []byte
	escaped bool
}

// Is reports whether the key, unescaped, is name. It allocates only for a key
// written with escapes.
func (k Key) Is(name string) bool {
	if !k.escaped {
		return string(k.raw) == name
	}
	return unescapeKey(k.raw) == name
}

// String is the key unescaped, as Members gives it.
func (k Key) String() string { return keyString(k.raw, k.escaped) }

// Each is Members without turning keys into strings: for readers that look
// for a few known keys on the hot path.
func Each(b []byte, fn func(key Key, value []byte)) bool {
	return scan(b, func(key []byte, escaped bool, value []byte) {
		fn(Key{key, escaped}, value)
	})
}

// Lookup returns the value of member key of the JSON object b (the last one
// when the key repeats, as encoding/json decodes it), and whether b is an
// object holding it.
func Lookup(b []byte, key string) ([]byte, bool) {
	var found []byte
	ok := Each(b, func(k Key, value []byte) {
		if k.Is(key) {
			found = value
		}
	})
	if !ok || found == nil {
		return nil, false
	}
	return found, true
}

// scan walks the members of the object b, passing each raw key (between its
// quotes, escapes left in) and value.
func scan(b []byte, fn func(key []byte, escaped bool, value []byte)) bool {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return SkipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		ke, escaped, ok := stringEnd(b, i)
		if !ok {
			return false
		}
		key := b[i+1 : ke-1]
		i = SkipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = SkipSpace(b, i+1)
		ve, ok := ValueEnd(b, i)
		if !ok {
			return false
		}
		fn(key, escaped, b[i:ve:ve])
		i = SkipSpace(b, ve)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case '}':
			return SkipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// keyString is the key whose raw text (between the quotes) is raw.
func keyString(raw []byte, escaped bool) string {
	if escaped {
		return unescapeKey(raw)
	}
	return string(raw)
}

// unescapeKey decodes a key holding escapes; an invalid one stays as written.
func unescapeKey(raw []byte) string {
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	var s string
	if json.Unmarshal(q, &s) != nil {
		return string(raw)
	}
	return s
}

// Text is what the scanning primitives read: the bytes of a request, or a
// string (the delegation parser scans strings).
type Text interface{ string | []byte }

// SkipSpace returns the index of the first byte at or after i that is not JSON
// white space.
func SkipSpace[T Text](s T, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// indexByte is bytes.IndexByte or strings.IndexByte (both vectorised).
func indexByte[T Text](s T, c byte) int {
	switch v := any(s).(type) {
	case string:
		return strings.IndexByte(v, c)
	case []byte:
		return bytes.IndexByte(v, c)
	}
	return -1
}

// StringEnd returns the index just after the JSON string opening at s[i] (its
// closing quote is the first one not escaped by an odd run of backslashes).
func StringEnd[T Text](s T, i int) (int, bool) {
	end, _, ok := stringEnd(s, i)
	return end, ok
}

// stringEnd is StringEnd, also reporting whether the string holds a backslash.
func stringEnd[T Text](s T, i int) (end int, escaped, ok bool) {
	j := i + 1
	for j <= len(s) {
		q := indexByte(s[j:], '"')
		if q < 0 {
			return 0, false, false
		}
		q += j
		n := 0
		for k := q - 1; k > i && s[k] == '\\'; k-- {
			n++
		}
		if !escaped {
			escaped = indexByte(s[j:q], '\\') >= 0
		}
		if n%2 == 0 {
			return q + 1, escaped, true
		}
		j = q + 1
	}
	return 0, false, false
}

// ValueEnd returns the index just after the JSON value starting at s[i]. It
// finds the end of a string, of a bracketed value (brackets are counted, not
// matched: valid JSON matches them, and other input only needs not to panic)
// or of a run of scalar bytes.
func ValueEnd[T Text](s T, i int) (int, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch s[i] {
	case '"':
		return StringEnd(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				end, ok := StringEnd(s, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(s) && IsScalarByte(s[j]) {
		j++
	}
	return j, j > i
}

// IsScalarByte reports whether c may be part of a number, true, false or null
// (leniently: any letter).
func IsScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '+' || c == '.'
}

// Rewrite returns the object b with the members of fields: a member of b whose
// key fields lacks is dropped, one whose value differs takes the value in
// fields, and the keys of fields that b lacks are appended in sorted order.
// Members that did not change keep their bytes and their place, so unknown
// fields pass through as the client wrote them (no re-encoding, no HTML
// escaping). A repeated key is written once, where it first appeared, with the
// value of fields. It reports false when b is not an object or a new value is
// not valid JSON (the caller falls back to encoding/json, which says why).
func Rewrite(b []byte, fields map[string]json.RawMessage) ([]byte, bool) {
	out := make([]byte, 0, len(b)+64)
	out = append(out, '{')
	seen := make(map[string]bool, len(fields)) // a map: a body may hold very many keys
	valid := true
	ok := scan(b, func(key []byte, escaped bool, value []byte) {
		k := keyString(key, escaped)
		v, keep := fields[k]
		if !keep || seen[k] {
			return
		}
		seen[k] = true
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(append(append(out, '"'), key...), '"', ':')
		if bytes.Equal(v, value) {
			out = append(out, value...)
		} else {
			valid = valid && json.Valid(v)
			out = append(out, v...)
		}
	})
	if !ok || !valid {
		return nil, false
	}
	var added []string
	for k := range fields {
		if !seen[k] {
			added = append(added, k)
		}
	}
	slices.Sort(added)
	for _, k := range added {
		if len(out) > 1 {
			out = append(out, ',')
		}
		v := fields[k]
		if !json.Valid(v) {
			return nil, false
		}
		q, _ := json.Marshal(k)
		out = append(append(append(out, q...), ':'), v...)
	}
	return append(out, '}'), true
}
