package validate

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/tokens"
)

// OpenAI cookbook examples ("How to count tokens with tiktoken"), with the
// prompt_tokens the API reported for them.
const (
	cookbookMessages = `[
 {"role":"system","content":"You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
 {"role":"system","name":"example_user","content":"New synergies will help drive top-line growth."},
 {"role":"system","name":"example_assistant","content":"Things working well together will increase revenue."},
 {"role":"system","name":"example_user","content":"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
 {"role":"system","name":"example_assistant","content":"Let's talk later when we're less busy about how to do better."},
 {"role":"user","content":"This late pivot means we don't have time to boil the ocean for the client deliverable."}
]`
	cookbookToolMessages = `[
 {"role":"system","content":"You are a helpful assistant that can answer to questions about the weather."},
 {"role":"user","content":"What's the weather like in San Francisco?"}
]`
	cookbookTools = `[{"type":"function","function":{
 "name":"get_current_weather",
 "description":"Get the current weather in a given location",
 "parameters":{"type":"object","properties":{
   "location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"},
   "unit":{"type":"string","description":"The unit of temperature to return","enum":["celsius","fahrenheit"]}
 },"required":["location"]}}}]`
)

// countingCounter records how often the prompt is counted.
type countingCounter struct {
	c     *tokens.Counter
	calls int
}

func (k *countingCounter) ChatMessages(model string, msgs []tokens.Message, tools, functions json.RawMessage) (int, error) {
	k.calls++
	return k.c.ChatMessages(model, msgs, tools, functions)
}

// TestContextBoundary puts the request at the context window minus one, at it,
// and plus one, for an o200k_base and a cl100k_base model, with and without a
// requested completion and with tools. The prompt sizes are OpenAI's own
// counts, so the boundary is OpenAI's.
func TestContextBoundary(t *testing.T) {
	cases := []struct {
		name, model, messages, tools string
		prompt                       int64 // OpenAI's prompt_tokens
	}{
		{"o200k gpt-4o", "gpt-4o", cookbookMessages, "", 124},
		{"cl100k gpt-4", "gpt-4", cookbookMessages, "", 129},
		{"o200k gpt-4o with tools", "gpt-4o", cookbookToolMessages, cookbookTools, 101},
		{"cl100k gpt-4 with tools", "gpt-4", cookbookToolMessages, cookbookTools, 105},
	}
	for _, c := range cases {
		for _, out := range []int64{0, 50} {
			for _, delta := range []int64{-1, 0, 1} { // requested tokens minus the window
				name := c.name + "/out=" + strconv.FormatInt(out, 10) + "/limit" + map[int64]string{-1: "-1", 0: "", 1: "+1"}[delta]
				t.Run(name, func(t *testing.T) {
					window := c.prompt + out - delta
					m := store.Model{Name: c.model, ContextWindow: window, MaxOutputTokens: 1000, Active: true}
					in := Input{Model: c.model, Messages: json.RawMessage(c.messages), Tools: json.RawMessage(c.tools), MaxOutput: out}
					k := &countingCounter{c: tokens.NewCounter()}
					res, err := Chat(in, m, k)
					if k.calls != 1 {
						t.Fatalf("counted %d times, want 1 (the byte bound cannot decide at the boundary)", k.calls)
					}
					if delta <= 0 {
						if err != nil {
							t.Fatalf("refused at the window %+d: %v", delta, err)
						}
						if !res.Counted || res.PromptTokens != c.prompt {
							t.Errorf("result = %+v, want counted %d", res, c.prompt)
						}
						return
					}
					w, p := strconv.FormatInt(window, 10), strconv.FormatInt(c.prompt, 10)
					msg := "This model's maximum context length is " + w + " tokens. However, your messages resulted in " + p +
						" tokens. Please reduce the length of the messages."
					if out > 0 {
						msg = "This model's maximum context length is " + w + " tokens. However, you requested " +
							strconv.FormatInt(c.prompt+out, 10) + " tokens (" + p + " in the messages, " +
							strconv.FormatInt(out, 10) + " in the completion). Please reduce the length of the messages or completion."
					}
					wantError(t, err, http.StatusBadRequest, CodeContextExceeded, "messages", msg)
				})
			}
		}
	}
}

func TestMaxOutputBoundary(t *testing.T) {
	const msgs = `[{"role":"user","content":"hi"}]`
	m := store.Model{Name: "gpt-4o", ContextWindow: 128_000, MaxOutputTokens: 16_384, Active: true}
	tests := []struct {
		name  string
		out   int64
		param string
		ok    bool
		msg   string
	}{
		{"absent", 0, "", true, ""},
		{"limit - 1", 16_383, "max_tokens", true, ""},
		{"limit", 16_384, "max_tokens", true, ""},
		{"limit + 1", 16_385, "max_tokens", false,
			"max_tokens is too large: 16385. This model supports at most 16384 completion tokens, whereas you provided 16385."},
		{"param defaults to max_tokens", 20_000, "", false,
			"max_tokens is too large: 20000. This model supports at most 16384 completion tokens, whereas you provided 20000."},
		{"max_completion_tokens", 32_000, "max_completion_tokens", false,
			"max_completion_tokens is too large: 32000. This model supports at most 16384 completion tokens, whereas you provided 32000."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Chat(Input{Model: "gpt-4o", Messages: json.RawMessage(msgs), MaxOutput: tt.out, MaxOutputParam: tt.param}, m, tokens.NewCounter())
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			param := tt.param
			if param == "" {
				param = "max_tokens"
			}
			wantError(t, err, http.StatusBadRequest, CodeInvalidValue, param, tt.msg)
		})
	}
	// No configured maximum: any completion limit passes that check.
	if _, err := Chat(Input{Model: "gpt-4o", Messages: json.RawMessage(msgs), MaxOutput: 1 << 40}, store.Model{Active: true}, tokens.NewCounter()); err != nil {
		t.Errorf("unlimited model refused: %v", err)
	}
}

// TestSkipNeverCounts: far below the window the prompt is not tokenized, the
// result is the byte bound, and the bound plus the completion fits the window.
func TestSkipNeverCounts(t *testing.T) {
	msgs := json.RawMessage(cookbookMessages)
	bound := int64(len(cookbookMessages))
	tests := []struct {
		name    string
		window  int64
		out     int64
		counted bool
	}{
		{"far below", 128_000, 4_000, false},
		{"bound exactly fits", bound + 100, 100, false},
		{"bound one over: counts", bound + 99, 100, true},
		{"no window configured", 0, 100, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &countingCounter{c: tokens.NewCounter()}
			m := store.Model{Name: "gpt-4o", ContextWindow: tt.window, Active: true}
			res, err := Chat(Input{Model: "gpt-4o", Messages: msgs, MaxOutput: tt.out}, m, k)
			if err != nil {
				t.Fatal(err)
			}
			if res.Counted != tt.counted || (k.calls == 1) != tt.counted || k.calls > 1 {
				t.Fatalf("Counted = %v after %d counts, want counted %v", res.Counted, k.calls, tt.counted)
			}
			if len(res.Messages) != 6 {
				t.Errorf("decoded messages not returned: %d", len(res.Messages))
			}
			if tt.counted {
				if res.PromptTokens != 124 {
					t.Errorf("PromptTokens = %d, want 124", res.PromptTokens)
				}
				return
			}
			if res.PromptTokens != bound {
				t.Errorf("PromptTokens = %d, want the byte bound %d", res.PromptTokens, bound)
			}
			if tt.window > 0 && res.PromptTokens+tt.out > tt.window {
				t.Errorf("skipped although bound %d + %d > window %d", res.PromptTokens, tt.out, tt.window)
			}
		})
	}
}

// TestBoundIsUpperBound checks the skip rule's premise on requests whose
// tokens are dense for their bytes: images, tiny messages, tool calls, numeric
// enums, audio and files.
func TestBoundIsUpperBound(t *testing.T) {
	wav := make([]byte, 44+32_000)
	copy(wav, "RIFF")
	copy(wav[8:], "WAVEfmt ")
	wav[28] = 1 // byte rate 1: floored
	pdf := "%PDF-1.4\n" + strings.Repeat("<</Type/Page>>", 50)
	tests := []struct {
		name, messages, tools, functions string
	}{
		{"tiny messages", `[{"role":"user","content":""},{"role":"user","content":""},{"role":"user","name":"","content":""}]`, "", ""},
		{"many images", `[{"role":"user","content":[` + strings.Repeat(`{"type":"image_url","image_url":{"url":"x"}},`, 20) +
			`{"type":"image_url","image_url":{"url":"x","detail":"low"}}]}]`, "", ""},
		{"tool calls", toolCallMessages(10), "", ""},
		{"numeric enum tools", `[{"role":"user","content":"x"}]`, `[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"n":{"type":"integer","enum":[` +
			strings.TrimSuffix(strings.Repeat("1,", 200), ",") + `]},"m":{}}}}},{"type":"x"}]`, ""},
		{"tiny functions", `[{"role":"user","content":"x"}]`, "", `[{"name":"f"},{"name":"g"}]`},
		{"audio and pdf", `[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"` + base64.StdEncoding.EncodeToString(wav) +
			`","format":"wav"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,` + base64.StdEncoding.EncodeToString([]byte(pdf)) + `"}}]}]`, "", ""},
	}
	c := tokens.NewCounter()
	for _, tt := range tests {
		for _, model := range []string{"gpt-4o", "gpt-4"} {
			t.Run(tt.name+"/"+model, func(t *testing.T) {
				in := Input{Model: model, Messages: json.RawMessage(tt.messages), Tools: json.RawMessage(tt.tools), Functions: json.RawMessage(tt.functions)}
				// A window of 1 forces the count.
				k := &countingCounter{c: c}
				_, err := Chat(in, store.Model{ContextWindow: 1, Active: true}, k)
				if k.calls != 1 {
					t.Fatalf("not counted (%v)", err)
				}
				bound, _ := Chat(in, store.Model{Active: true}, k)
				count, cerr := c.ChatPrompt(model, in.Messages, in.Tools, in.Functions)
				if cerr != nil {
					t.Fatal(cerr)
				}
				if int64(count) > bound.PromptTokens {
					t.Errorf("count %d exceeds the bound %d", count, bound.PromptTokens)
				}
			})
		}
	}
}

// toolCallMessages is an assistant message with n minimal tool calls and their
// minimal answers.
func toolCallMessages(n int) string {
	var calls, answers []string
	for i := range n {
		id := strconv.Itoa(i)
		calls = append(calls, `{"id":"`+id+`","type":"function","function":{"name":"f"}}`)
		answers = append(answers, `{"role":"tool","tool_call_id":"`+id+`","content":""}`)
	}
	return `[{"role":"assistant","tool_calls":[` + strings.Join(calls, ",") + `]},` + strings.Join(answers, ",") + `]`
}

// promptOf returns a messages array of about n tokens of English text.
func promptOf(n int) json.RawMessage {
	const sentence = "The quick brown fox jumps over the lazy dog. "
	b, _ := json.Marshal(strings.Repeat(sentence, n/10))
	return json.RawMessage(`[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":` + string(b) + `}]`)
}

// BenchmarkChat measures validation of a 100k-token prompt when the limits
// decide it from the byte bound (skip) and when they need the count.
func BenchmarkChat(b *testing.B) {
	c := tokens.NewCounter()
	msgs := promptOf(100_000)
	for _, bc := range []struct {
		name   string
		window int64
	}{{"100k/skip", 1_000_000}, {"100k/count", 128_000}} {
		m := store.Model{Name: "gpt-4o", ContextWindow: bc.window, Active: true}
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(msgs)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Chat(Input{Model: "gpt-4o", Messages: msgs, MaxOutput: 1000}, m, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
