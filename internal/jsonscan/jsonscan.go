// Package jsonscan finds the members of a JSON object without decoding them:
// the value of each member is a subslice of the input, so reading the model
// of a 100 KB request or the usage of a reply costs one pass over the bytes,
// with no copy and no reflection. It assumes nothing about its input: on text
// that is not a JSON object it reports failure, never panics, but it does not
// validate what it skips (a number such as 01 passes). Callers that must
// reject invalid JSON check json.Valid first.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Members calls fn for every member of the JSON object b, in order, with the
// member's key (unescaped) and its value: a subslice of b whose capacity ends
// with it, so appending to it cannot overwrite b. It reports whether b was an
// object to its end; on false, fn has seen the members before the fault.
func Members(b []byte, fn func(key string, value []byte)) bool {
	return scan(b, func(key []byte, escaped bool, value []byte) {
		k := string(key)
		if escaped {
			k = unescapeKey(key)
		}
		fn(k, value)
	})
}

// Lookup returns the value of member key of the JSON object b (the last one
// when the key repeats, as encoding/json decodes it), and whether b is an
// object holding it.
func Lookup(b []byte, key string) ([]byte, bool) {
	var found []byte
	ok := scan(b, func(k []byte, escaped bool, value []byte) {
		if escaped && unescapeKey(k) == key || !escaped && string(k) == key {
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
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
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
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		ve, ok := valueEnd(b, i)
		if !ok {
			return false
		}
		fn(key, escaped, b[i:ve:ve])
		i = skipSpace(b, ve)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
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

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just after the string opening at b[i], and
// whether it holds a backslash.
func stringEnd(b []byte, i int) (end int, escaped, ok bool) {
	j := i + 1
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return 0, false, false
		}
		q += j
		// The quote closes the string unless an odd run of backslashes escapes it.
		n := 0
		for k := q - 1; k > i && b[k] == '\\'; k-- {
			n++
		}
		if !escaped {
			escaped = bytes.IndexByte(b[j:q], '\\') >= 0
		}
		if n%2 == 0 {
			return q + 1, escaped, true
		}
		j = q + 1
	}
}

// valueEnd returns the index just after the value starting at b[i].
func valueEnd(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		end, _, ok := stringEnd(b, i)
		return end, ok
	case '{', '[':
		// Brackets are counted, not matched: valid JSON (json.Valid) matches
		// them, and other input only needs not to panic.
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _, ok := stringEnd(b, j)
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
	for j < len(b) && isScalarByte(b[j]) {
		j++
	}
	return j, j > i
}

// isScalarByte reports whether c can be part of a number, true, false or null.
func isScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E'
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
	var seen []string
	valid := true
	ok := scan(b, func(key []byte, escaped bool, value []byte) {
		k := string(key)
		if escaped {
			k = unescapeKey(key)
		}
		v, keep := fields[k]
		if !keep || slices.Contains(seen, k) {
			return
		}
		seen = append(seen, k)
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
		if !slices.Contains(seen, k) {
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
