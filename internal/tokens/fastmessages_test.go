package tokens

import (
	"reflect"
	"testing"
)

var fastCases = []struct {
	name string
	raw  string
	fast bool // whether fastMessages takes it
}{
	{"empty", `[]`, true},
	{"plain chat", `[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]`, true},
	{"white space", " [ { \"role\" : \"user\" , \"content\" : \"hi\" } ,\n{\"role\":\"assistant\",\"content\":null} ] ", true},
	{"escapes and unicode", `[{"role":"user","content":"a\"b\\c\n\u00e9 é 😀"}]`, true},
	{"escaped key", `[{"r\u006fle":"user","content":"hi"}]`, true},
	{"invalid UTF-8 in a string", "[{\"role\":\"user\",\"content\":\"a\xffb\"}]", true},
	{"name and nulls", `[{"role":"user","name":"ann","content":"hi","refusal":null,"tool_call_id":null}]`, true},
	{"parts", `[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}]`, true},
	{"tool calls", `[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"42"}]`, true},
	{"function call", `[{"role":"assistant","function_call":{"name":"f","arguments":"{}"}}]`, true},
	{"audio", `[{"role":"assistant","audio":{"id":"a1"}}]`, true},
	{"unknown keys", `[{"role":"user","content":"hi","x":[1,{"y":2}],"x":3}]`, true},
	{"role null", `[{"role":null,"content":"hi"}]`, true},

	{"capitalised key", `[{"Role":"user","content":"hi"}]`, false},
	{"folded key", `[{"role":"user","tool_callſ":[]}]`, false},
	{"duplicate key", `[{"role":"user","role":"assistant","content":"hi"}]`, false},
	{"role of the wrong type", `[{"role":1,"content":"hi"}]`, false},
	{"name of the wrong type", `[{"role":"user","name":true,"content":"hi"}]`, false},
	{"content of the wrong type", `[{"role":"user","content":5}]`, false},
	{"tool call of the wrong shape", `[{"role":"assistant","tool_calls":[{"id":5}]}]`, false},
	{"tool calls not an array", `[{"role":"assistant","tool_calls":{}}]`, false},
	{"null element", `[null]`, false},
	{"string element", `["hi"]`, false},
	{"invalid JSON", `[{"role":"user",}]`, false},
	{"trailing garbage", `[{"role":"user"}] x`, false},
}

// TestFastMessages: the fast path takes the usual shapes, leaves the rest to
// encoding/json, and gives what encoding/json gives where it takes one.
func TestFastMessages(t *testing.T) {
	for _, tc := range fastCases {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			for len(raw) > 0 && raw[0] == ' ' {
				raw = raw[1:] // DecodeMessages trims before the fast path
			}
			got, ok := fastMessages(raw)
			if ok != tc.fast {
				t.Fatalf("fast path took it: %v, want %v", ok, tc.fast)
			}
			want, err := decodeMessagesJSON(raw)
			if ok && (err != nil || !reflect.DeepEqual(got, want)) {
				t.Errorf("fast path\n got %#v\nwant %#v (err %v)", got, want, err)
			}
			all, allErr := DecodeMessages([]byte(tc.raw))
			if !reflect.DeepEqual(all, want) || !sameError(allErr, err) {
				t.Errorf("DecodeMessages = %#v, %v; encoding/json path %#v, %v", all, allErr, want, err)
			}
		})
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// FuzzFastMessages holds the fast path to the encoding/json path: wherever it
// takes an input, the messages are the same.
func FuzzFastMessages(f *testing.F) {
	for _, tc := range fastCases {
		f.Add([]byte(tc.raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) == 0 || raw[0] != '[' {
			return
		}
		got, ok := fastMessages(raw)
		if !ok {
			return
		}
		want, err := decodeMessagesJSON(raw)
		if err != nil {
			t.Fatalf("fast path took %q, encoding/json fails: %v", raw, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nfast %#v\njson %#v", raw, got, want)
		}
	})
}

// BenchmarkDecodeMessages compares the two paths on a short multi-turn chat.
func BenchmarkDecodeMessages(b *testing.B) {
	raw := []byte(`[{"role":"system","content":"You are a helpful assistant. Answer briefly."},{"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"Paris."},{"role":"user","content":"And of Italy?"}]`)
	for _, p := range []struct {
		name string
		fn   func([]byte) ([]Message, error)
	}{{"fast", func(r []byte) ([]Message, error) { return DecodeMessages(r) }}, {"encoding_json", func(r []byte) ([]Message, error) { return decodeMessagesJSON(r) }}} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.fn(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
