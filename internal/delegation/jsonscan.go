package delegation

import (
	"strings"

	"github.com/antigravity/gateway/internal/jsonscan"
)

// Object and array walks over JSON text that encoding/json has already
// validated (the proxy checks the body with json.Valid before delegation
// runs), on jsonscan's primitives. They find the spans of values without
// decoding them; on malformed input they report failure instead of panicking.

// span is s[start:end]; start < 0 when absent.
type span struct{ start, end int }

var noSpan = span{-1, -1}

// isString reports whether sp holds a JSON string.
func isString(s string, sp span) bool {
	return sp.start >= 0 && sp.end-sp.start >= 2 && s[sp.start] == '"' && s[sp.end-1] == '"'
}

// eachElement calls fn for every element of the array opening at s[i] with its
// index and span; it stops at fn's first error.
func eachElement(s string, i int, fn func(n, start, end int) error) error {
	j := jsonscan.SkipSpace(s, i+1)
	if j < len(s) && s[j] == ']' {
		return nil
	}
	for n := 0; ; n++ {
		end, ok := jsonscan.ValueEnd(s, j)
		if !ok {
			return errMessages(j)
		}
		if err := fn(n, j, end); err != nil {
			return err
		}
		j = jsonscan.SkipSpace(s, end)
		switch {
		case j < len(s) && s[j] == ',':
			j = jsonscan.SkipSpace(s, j+1)
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
	j := jsonscan.SkipSpace(s, at+1)
	if j < len(s) && s[j] == '}' {
		return f
	}
	for j < len(s) && s[j] == '"' {
		ke, ok := jsonscan.StringEnd(s, j)
		if !ok {
			break
		}
		key := s[j+1 : ke-1]
		if strings.IndexByte(key, '\\') >= 0 {
			key = unescape(key)
		}
		j = jsonscan.SkipSpace(s, ke)
		if j == len(s) || s[j] != ':' {
			break
		}
		j = jsonscan.SkipSpace(s, j+1)
		ve, ok := jsonscan.ValueEnd(s, j)
		if !ok {
			break
		}
		switch key {
		case k1:
			f.spans[0] = span{j, ve}
		case k2:
			f.spans[1] = span{j, ve}
		}
		j = jsonscan.SkipSpace(s, ve)
		if j == len(s) || s[j] != ',' {
			return f
		}
		j = jsonscan.SkipSpace(s, j+1)
	}
	return fields{spans: [2]span{noSpan, noSpan}}
}
