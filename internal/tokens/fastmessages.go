package tokens

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/antigravity/gateway/internal/jsonscan"
)

// wireKeys are wireMessage's JSON keys, as encoding/json matches them.
var wireKeys = [...]string{"role", "name", "content", "tool_calls", "function_call", "tool_call_id", "refusal", "audio"}

// fastMessages decodes the usual messages array (objects of plain keys and
// values of the expected types) without encoding/json's reflection over the
// whole array, which was about 3 % of the gateway's CPU per request. It
// reports false for anything it does not handle exactly as
// json.Unmarshal into []*wireMessage would: invalid JSON, an element that is
// not an object, a key with non-ASCII characters or matching a known key
// only case-insensitively (encoding/json would take it), a known
// key twice, or a value of the wrong type. DecodeMessages then takes the
// encoding/json path, which also words the errors. FuzzFastMessages holds the
// two paths to the same result.
func fastMessages(raw []byte) ([]Message, bool) {
	if !json.Valid(raw) {
		return nil, false
	}
	msgs := make([]Message, 0, 4)
	var w wireMessage               // one for all: message copies its fields out
	i := jsonscan.SkipSpace(raw, 1) // raw[0] is '['
	if i < len(raw) && raw[i] == ']' {
		return []Message{}, true
	}
	for n := 0; ; n++ {
		end, ok := jsonscan.ValueEnd(raw, i)
		if !ok {
			return nil, false
		}
		w = wireMessage{}
		if !w.fastDecode(raw[i:end]) {
			return nil, false
		}
		msgs = append(msgs, Message{})
		if w.message(n, &msgs[n]) != nil {
			return nil, false // the encoding/json path words the error
		}
		i = jsonscan.SkipSpace(raw, end)
		if i >= len(raw) {
			return nil, false
		}
		if raw[i] == ']' {
			return msgs, true
		}
		i = jsonscan.SkipSpace(raw, i+1) // a ',' (the array is valid JSON)
	}
}

// fastDecode fills w from the JSON object obj, reporting false where
// encoding/json's result could differ (see fastMessages).
func (w *wireMessage) fastDecode(obj []byte) bool {
	if len(obj) == 0 || obj[0] != '{' {
		return false
	}
	var seen [len(wireKeys)]bool
	ok := true
	whole := jsonscan.Each(obj, func(key jsonscan.Key, v []byte) {
		if !ok {
			return
		}
		k := knownKey(key)
		if k < 0 {
			ok = !foldsToKnown(key.String())
			return
		}
		if seen[k] {
			ok = false
			return
		}
		seen[k] = true
		null := v[0] == 'n'
		switch wireKeys[k] {
		case "role":
			if !null {
				w.Role, ok = plainString(v)
			}
		case "name":
			w.Name, ok = stringPtr(v, null)
		case "tool_call_id":
			w.ToolCallID, ok = stringPtr(v, null)
		case "refusal":
			w.Refusal, ok = stringPtr(v, null)
		case "content":
			w.Content = json.RawMessage(v)
		case "audio":
			w.Audio = json.RawMessage(v)
		case "tool_calls":
			if !null {
				ok = v[0] == '[' && json.Unmarshal(v, &w.ToolCalls) == nil
			}
		case "function_call":
			if !null {
				ok = v[0] == '{' && json.Unmarshal(v, &w.FunctionCall) == nil
			}
		}
	})
	return ok && whole
}

// knownKey is the index of key in wireKeys, or -1.
func knownKey(key jsonscan.Key) int {
	for i, k := range wireKeys {
		if key.Is(k) {
			return i
		}
	}
	return -1
}

// foldsToKnown reports whether encoding/json could match key (unescaped, as
// Members gives it and encoding/json matches it) to a known key all the same:
// case-insensitively, or through Unicode folding (any non-ASCII key is left to
// encoding/json).
func foldsToKnown(key string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return true
		}
	}
	for _, k := range wireKeys {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

// plainString decodes the JSON string v, reporting false when v is not one.
func plainString(v []byte) (string, bool) {
	s, err := jsonString(v)
	return s, err == nil
}

// jsonString decodes the JSON value v into a string: directly when v is a
// string with no escapes and valid UTF-8, else through encoding/json, which
// also replaces invalid UTF-8 and words the error for a value that is not a
// string.
func jsonString(v []byte) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		body := v[1 : len(v)-1]
		if bytes.IndexByte(body, '\\') < 0 && bytes.IndexByte(body, '"') < 0 && utf8.Valid(body) {
			return string(body), nil
		}
	}
	var s string
	err := json.Unmarshal(v, &s)
	return s, err
}

// stringPtr decodes a *string member: nil for null.
func stringPtr(v []byte, null bool) (*string, bool) {
	if null {
		return nil, true
	}
	s, ok := plainString(v)
	if !ok {
		return nil, false
	}
	return &s, true
}
