package proxy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func TestDecodeUsage(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want upstreamUsage
	}{
		{`{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}`, true, upstreamUsage{PromptTokens: 12, CompletionTokens: 3}},
		{`{"prompt_tokens":1,"prompt_tokens_details":{"cached_tokens":1,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":7}}`, true,
			upstreamUsage{PromptTokens: 1, PromptTokensDetails: &struct {
				CachedTokens int64 `json:"cached_tokens"`
			}{1}, CompletionTokensDetails: &struct {
				ReasoningTokens int64 `json:"reasoning_tokens"`
			}{7}}},
		{`{"prompt_tokens":null,"prompt_tokens_details":null}`, true, upstreamUsage{}},
		{`{"prompt_tokens":-0}`, true, upstreamUsage{}},
		{`{"prompt_tokens":9223372036854775807}`, true, upstreamUsage{PromptTokens: 1<<63 - 1}},
		{`{"prompt_tokens":9223372036854775808}`, false, upstreamUsage{}},
		{`{"prompt_tokens":1.5}`, false, upstreamUsage{}},
		{`{"prompt_tokens":1e3}`, false, upstreamUsage{}},
		{`{"prompt_tokens":"3"}`, false, upstreamUsage{}},
		{`{"prompt_tokens":01}`, false, upstreamUsage{}},
		{`{"prompt_tokens_details":3}`, false, upstreamUsage{}},
		{`{"prompt_tokens_details":{"cached_tokens":4},"prompt_tokens_details":{}}`, true, upstreamUsage{PromptTokensDetails: &struct {
			CachedTokens int64 `json:"cached_tokens"`
		}{4}}},
		{`null`, false, upstreamUsage{}},
		{``, false, upstreamUsage{}},
		{`[1]`, false, upstreamUsage{}},
	}
	for _, tt := range tests {
		got, ok := decodeUsage([]byte(tt.in))
		if ok != tt.ok || ok && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("decodeUsage(%s) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzDecodeUsage checks decodeUsage against encoding/json on the inputs
// where they must agree: JSON objects in lower-case ASCII (encoding/json also
// matches keys case-insensitively, which no provider relies on).
func FuzzDecodeUsage(f *testing.F) {
	f.Add([]byte(`{"prompt_tokens":12,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}`))
	f.Add([]byte(`{"prompt_tokens":-5,"completion_tokens":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeUsage(b) // never panics
		if !json.Valid(b) || !bytes.Equal(b, bytes.ToLower(b)) || bytes.ContainsFunc(b, func(r rune) bool { return r >= 0x80 }) {
			return
		}
		var want upstreamUsage
		err := json.Unmarshal(b, &want)
		if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' {
			if ok {
				t.Fatalf("decodeUsage accepted %q, not an object", b)
			}
			return
		}
		if (err == nil) != ok {
			t.Fatalf("decodeUsage(%q): ok %v, encoding/json: %v", b, ok, err)
		}
		if ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeUsage(%q) = %+v, encoding/json %+v", b, got, want)
		}
	})
}

// TestDecodeUsageAllocations pins decodeUsage's allocations on a typical
// OpenAI usage object: the two details objects and nothing per key.
func TestDecodeUsageAllocations(t *testing.T) {
	raw := []byte(`{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`)
	n := testing.AllocsPerRun(100, func() {
		if _, ok := decodeUsage(raw); !ok {
			t.Fatal("not decoded")
		}
	})
	if n > 2 {
		t.Fatalf("decodeUsage allocates %v times, want at most 2 (the details objects)", n)
	}
}
