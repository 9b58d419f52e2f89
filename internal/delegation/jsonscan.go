package delegation

import "strings"

// A minimal structural scanner over JSON text that encoding/json has already
// validated (the proxy decodes the body's top level before delegation runs). It
// finds the spans of values without decoding them; on malformed input it
// reports failure instead of panicking.

// span is s[start:end]; start < 0 when absent.
type span struct{ start, end int }

var noSpan = span{-1, -1}

// skipJSONSpace skips JSON white space.
func skipJSONSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// isString reports whether sp holds a JSON string.
func isString(s string, sp span) bool {
	return sp.start >= 0 && sp.end-sp.start >= 2 && s[sp.start] == '"' && s[sp.end-1] == '"'
}

// valueEnd returns the index just after the JSON value starting at s[i].
func valueEnd(s string, i int) (int, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch s[i] {
	case '"':
		return stringEnd(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				e, ok := stringEnd(s, j)
				if !ok {
					return 0, false
				}
				j = e - 1
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
	for j < len(s) && isScalarByte(s[j]) {
		j++
	}
	return j, j > i
}

// eachElement calls fn for every element of the array opening at s[i] with its
// index and span; it stops at fn's first error.
func eachElement(s string, i int, fn func(n, start, end int) error) error {
	j := skipJSONSpace(s, i+1)
	if j < len(s) && s[j] == ']' {
		return nil
	}
	for n := 0; ; n++ {
		end, ok := valueEnd(s, j)
		if !ok {
			return errMessages(j)
		}
		if err := fn(n, j, end); err != nil {
			return err
		}
		j = skipJSONSpace(s, end)
		switch {
		case j < len(s) && s[j] == ',':
			j = skipJSONSpace(s, j+1)
		case j < len(s) && s[j] == ']':
			return nil
		default:
			return errMessages(j)
		}
	}
}

// fields are the spans of two members of an object.
type fields struct{ spans [2]span }

// objectFields finds members k1 and k2 of the object s[at:end] (the last
// occurrence of a repeated key wins, as in encoding/json and the providers'
// JSON readers). A malformed object yields absent spans.
func objectFields(s string, at, end int, k1, k2 string) fields {
	f := fields{spans: [2]span{noSpan, noSpan}}
	s = s[:end]
	j := skipJSONSpace(s, at+1)
	if j < len(s) && s[j] == '}' {
		return f
	}
	for j < len(s) && s[j] == '"' {
		ke, ok := stringEnd(s, j)
		if !ok {
			break
		}
		key := s[j+1 : ke-1]
		if strings.IndexByte(key, '\\') >= 0 {
			key = unescape(key)
		}
		j = skipJSONSpace(s, ke)
		if j == len(s) || s[j] != ':' {
			break
		}
		j = skipJSONSpace(s, j+1)
		ve, ok := valueEnd(s, j)
		if !ok {
			break
		}
		switch key {
		case k1:
			f.spans[0] = span{j, ve}
		case k2:
			f.spans[1] = span{j, ve}
		}
		j = skipJSONSpace(s, ve)
		if j == len(s) || s[j] != ',' {
			return f
		}
		j = skipJSONSpace(s, j+1)
	}
	return fields{spans: [2]span{noSpan, noSpan}}
}
