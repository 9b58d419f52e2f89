package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMembers(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // key=value pairs, in order
		ok   bool
	}{
		{"empty object", ` { } `, nil, true},
		{"scalars", `{"a":1,"b":-2.5e+3,"c":true,"d":null,"e":false}`,
			[]string{"a=1", "b=-2.5e+3", "c=true", "d=null", "e=false"}, true},
		{"spaces", "{ \"a\" :\t[1, 2] ,\n\"b\":{\"c\":\"}\"} }", []string{`a=[1, 2]`, `b={"c":"}"}`}, true},
		{"escaped quotes and backslashes", `{"a":"x\"}\\","b":"\\\\"}`, []string{`a="x\"}\\"`, `b="\\\\"`}, true},
		{"escaped key", `{"mo\u0064el":"m","\"q\"":1}`, []string{`model="m"`, `"q"=1`}, true},
		{"nested brackets in strings", `{"a":[{"b":"]}["}],"c":2}`, []string{`a=[{"b":"]}["}]`, "c=2"}, true},
		{"repeated key kept twice", `{"a":1,"a":2}`, []string{"a=1", "a=2"}, true},
		{"not an object", `[1]`, nil, false},
		{"empty", ``, nil, false},
		{"unterminated string", `{"a":"x`, nil, false},
		{"unterminated object", `{"a":1`, []string{"a=1"}, false},
		{"missing colon", `{"a" 1}`, nil, false},
		{"trailing garbage", `{"a":1} x`, []string{"a=1"}, false},
		{"unclosed nested", `{"a":[1,2}`, []string{"a=[1,2}"}, false}, // brackets are counted, not matched
		{"missing value", `{"a":}`, nil, false},
		{"bare key", `{a:1}`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			ok := Members([]byte(tt.in), func(k string, v []byte) { got = append(got, k+"="+string(v)) })
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Members(%s) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		in, key, want string
		ok            bool
	}{
		{`{"usage":{"prompt_tokens":3},"x":1}`, "usage", `{"prompt_tokens":3}`, true},
		{`{"choices":[{"usage":1}],"usage":null}`, "usage", `null`, true},
		{`{"usage":1,"usage":2}`, "usage", `2`, true}, // the last wins, as in encoding/json
		{`{"us\u0061ge":7}`, "usage", `7`, true},
		{`{"choices":[]}`, "usage", ``, false},
		{`{"usage":1,`, "usage", ``, false}, // not an object to its end
		{`"usage"`, "usage", ``, false},
	}
	for _, tt := range tests {
		got, ok := Lookup([]byte(tt.in), tt.key)
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("Lookup(%s, %q) = %q, %v; want %q, %v", tt.in, tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

// TestValueCapacity checks that a value cannot grow into the bytes after it.
func TestValueCapacity(t *testing.T) {
	b := []byte(`{"a":[1],"b":2}`)
	orig := string(b)
	Members(b, func(k string, v []byte) {
		if cap(v) != len(v) {
			t.Errorf("value of %q has capacity %d beyond its length %d", k, cap(v), len(v))
		}
		_ = append(v, "xxxxxxxx"...)
	})
	if string(b) != orig {
		t.Fatalf("input changed: %s", b)
	}
}

// FuzzMembers checks Members against encoding/json: on every valid JSON object
// it succeeds and yields what json.Unmarshal into a map of raw messages holds
// (the last of repeated keys); on anything else it does not panic.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"model":"m","messages":[{"role":"user","content":"hi \"x\""}]}`,
		`{"a":{"b":[1,{"c":"]"}]},"d":"\\"}`, `{"\u00e9":1}`, `[1]`, `{"a":"`, `{"a":1}}`, `{"a":[}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := map[string]json.RawMessage{}
		ok := Members(b, func(k string, v []byte) { got[k] = v })
		if !json.Valid(b) || !utf8.Valid(b) {
			return // no panic is all that is asked
		}
		var want map[string]json.RawMessage
		if json.Unmarshal(b, &want) != nil {
			if ok {
				t.Fatalf("Members accepted %q, which is valid JSON but not an object", b)
			}
			return
		}
		if want == nil { // null
			return
		}
		if !ok {
			t.Fatalf("Members refused the valid object %q", b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Members(%q) = %q, want %q", b, got, want)
		}
		for k, v := range want {
			if strings.ContainsRune(k, utf8.RuneError) {
				continue
			}
			if lv, lok := Lookup(b, k); !lok || !bytes.Equal(lv, v) {
				t.Fatalf("Lookup(%q, %q) = %q, %v; want %q", b, k, lv, lok, v)
			}
		}
	})
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name, in string
		edit     func(m map[string]json.RawMessage)
		want     string
		ok       bool
	}{
		{"unchanged keeps bytes", `{ "b" : 1, "a":"<x>" }`, func(map[string]json.RawMessage) {}, `{"b":1,"a":"<x>"}`, true},
		{"replace in place", `{"model":"alias","messages":[{"content":"a&b"}]}`,
			func(m map[string]json.RawMessage) { m["model"] = json.RawMessage(`"gpt-x"`) },
			`{"model":"gpt-x","messages":[{"content":"a&b"}]}`, true},
		{"drop", `{"x_app_id":"a","model":"m"}`, func(m map[string]json.RawMessage) { delete(m, "x_app_id") }, `{"model":"m"}`, true},
		{"append sorted", `{"model":"m"}`, func(m map[string]json.RawMessage) {
			m["stream_options"] = json.RawMessage(`{"include_usage":true}`)
			m["a"] = json.RawMessage(`1`)
		}, `{"model":"m","a":1,"stream_options":{"include_usage":true}}`, true},
		{"repeated key once", `{"a":1,"b":2,"a":3}`, func(map[string]json.RawMessage) {}, `{"a":3,"b":2}`, true},
		{"escaped key kept as written", `{"mo\u0064el":"m"}`, func(m map[string]json.RawMessage) { m["model"] = json.RawMessage(`"n"`) },
			`{"mo\u0064el":"n"}`, true},
		{"invalid new value", `{"a":1}`, func(m map[string]json.RawMessage) { m["a"] = json.RawMessage(`{`) }, ``, false},
		{"nil new value", `{"a":1}`, func(m map[string]json.RawMessage) { m["b"] = nil }, ``, false},
		{"not an object", `[1]`, func(map[string]json.RawMessage) {}, ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]json.RawMessage{}
			Members([]byte(tt.in), func(k string, v []byte) { m[k] = v })
			tt.edit(m)
			got, ok := Rewrite([]byte(tt.in), m)
			if ok != tt.ok || string(got) != tt.want {
				t.Fatalf("Rewrite = %s, %v; want %s, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzRewrite checks that Rewrite means what encoding/json's re-encoding of
// the edited map means: on a valid object, with a member dropped, one changed
// and one added (chosen by the fuzzer), both decode to the same value.
func FuzzRewrite(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"<b>"}],"x":1}`), uint8(0), uint8(1), "stream_options")
	f.Add([]byte(`{"a":1,"a":2}`), uint8(0), uint8(0), "a")
	f.Fuzz(func(t *testing.T, b []byte, drop, change uint8, add string) {
		var m map[string]json.RawMessage
		if !json.Valid(b) || !utf8.Valid(b) || json.Unmarshal(b, &m) != nil || m == nil {
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(keys) > 0 {
			delete(m, keys[int(drop)%len(keys)])
			m[keys[int(change)%len(keys)]] = json.RawMessage(`{"changed":[1,"<&>"]}`)
		}
		if utf8.ValidString(add) {
			m[add] = json.RawMessage(`"added"`)
		}
		got, ok := Rewrite(b, m)
		if !ok {
			t.Fatalf("Rewrite refused %q", b)
		}
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("Rewrite(%q) = %q, not JSON: %v", b, got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("Rewrite(%q) = %q, want the meaning of %q", b, got, want)
		}
	})
}
