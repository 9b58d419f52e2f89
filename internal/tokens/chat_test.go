package tokens

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// cookbookMessages is the example of the OpenAI cookbook "How to count tokens
// with tiktoken", section 6, where the API reported 129 prompt tokens for
// gpt-3.5-turbo and gpt-4 and 124 for gpt-4o and gpt-4o-mini.
const cookbookMessages = `[
 {"role":"system","content":"You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
 {"role":"system","name":"example_user","content":"New synergies will help drive top-line growth."},
 {"role":"system","name":"example_assistant","content":"Things working well together will increase revenue."},
 {"role":"system","name":"example_user","content":"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
 {"role":"system","name":"example_assistant","content":"Let's talk later when we're less busy about how to do better."},
 {"role":"user","content":"This late pivot means we don't have time to boil the ocean for the client deliverable."}
]`

// cookbookTools is the cookbook's section 7 example: the API reported 105
// prompt tokens for gpt-3.5-turbo and gpt-4, 101 for gpt-4o and gpt-4o-mini.
const (
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

func TestChatPromptMatchesOpenAI(t *testing.T) {
	c := NewCounter()
	tests := []struct {
		name, model, messages, tools string
		want                         int
	}{
		{"messages gpt-3.5-turbo", "gpt-3.5-turbo", cookbookMessages, "", 129},
		{"messages gpt-4", "gpt-4-0613", cookbookMessages, "", 129},
		{"messages gpt-4o", "gpt-4o", cookbookMessages, "", 124},
		{"messages gpt-4o-mini", "gpt-4o-mini", cookbookMessages, "", 124},
		{"tools gpt-3.5-turbo", "gpt-3.5-turbo", cookbookToolMessages, cookbookTools, 105},
		{"tools gpt-4", "gpt-4", cookbookToolMessages, cookbookTools, 105},
		{"tools gpt-4o", "gpt-4o", cookbookToolMessages, cookbookTools, 101},
		{"tools gpt-4o-mini", "gpt-4o-mini", cookbookToolMessages, cookbookTools, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ChatPrompt(tt.model, json.RawMessage(tt.messages), json.RawMessage(tt.tools), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ChatPrompt = %d, want %d (OpenAI's count)", got, tt.want)
			}
		})
	}
}

// TestChatPromptParts pins each counted element against the plain text count.
func TestChatPromptParts(t *testing.T) {
	c := NewCounter()
	const model = "gpt-4o"
	text := func(s string) int { return c.Text(model, s) }
	user := text("user")
	assistant := text("assistant")
	frame := tokensPerMessage + replyPriming
	tests := []struct {
		name     string
		messages string
		want     int
	}{
		{"string content", `[{"role":"user","content":"hello world"}]`, frame + user + text("hello world")},
		{"empty string content", `[{"role":"user","content":""}]`, frame + user},
		{"name adds one", `[{"role":"user","name":"bob","content":"hi"}]`, frame + user + text("bob") + 1 + text("hi")},
		{"text parts summed", `[{"role":"user","content":[{"type":"text","text":"hello"},{"type":"text","text":" world"}]}]`,
			frame + user + text("hello") + text(" world")},
		{"low image", `[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/a.png","detail":"low"}}]}]`,
			frame + user + 85},
		{"unknown-size image assumed 1024x1024", `[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/a.png"}}]}]`,
			frame + user + 765},
		{"null content with tool calls", `[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}]`,
			frame + assistant + tokensPerToolCall + text("get_weather") + text(`{"city":"Paris"}`)},
		{"legacy function_call", `[{"role":"assistant","function_call":{"name":"f","arguments":"{}"}}]`,
			frame + assistant + tokensPerToolCall + text("f") + text("{}")},
		{"tool message content", `[{"role":"tool","tool_call_id":"call_1","content":"22 degrees"}]`,
			frame + text("tool") + text("22 degrees")},
		{"refusal part", `[{"role":"assistant","content":[{"type":"refusal","refusal":"I can't help with that."}]}]`,
			frame + assistant + text("I can't help with that.")},
		{"file by id counts its name only", `[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1","filename":"a.pdf"}}]}]`,
			frame + user + text("a.pdf")},
		{"two messages", `[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]`,
			2*tokensPerMessage + replyPriming + text("system") + text("be brief") + user + text("hi")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ChatPrompt(model, json.RawMessage(tt.messages), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ChatPrompt = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestToolsTokens(t *testing.T) {
	c := NewCounter()
	const msgs = `[{"role":"user","content":"hi"}]`
	base, err := c.ChatPrompt("gpt-4o", json.RawMessage(msgs), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := func(s string) int { return c.Text("gpt-4o", s) }
	tests := []struct {
		name, tools, functions string
		want                   int
	}{
		{"none", "", "", 0},
		{"null", "null", "null", 0},
		{"empty list", "[]", "", 0},
		{"no parameters", `[{"type":"function","function":{"name":"now","description":"Current time."}}]`, "",
			funcInitO200k + text("now:Current time") + funcEnd},
		{"empty properties", `[{"type":"function","function":{"name":"now","parameters":{"type":"object","properties":{}}}}]`, "",
			funcInitO200k + text("now:") + funcEnd},
		{"legacy functions", "", `[{"name":"now","description":"Current time"}]`,
			funcInitO200k + text("now:Current time") + funcEnd},
		{"two tools one end", `[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}]`, "",
			2*funcInitO200k + text("a:") + text("b:") + funcEnd},
		{"nested object properties", `[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{
			"p":{"type":"object","description":"outer","properties":{"q":{"type":"string","description":"inner"}}}}}}}]`, "",
			funcInitO200k + text("f:") + propInit + propKey + text("p:object:outer") + propInit + propKey + text("q:string:inner") + funcEnd},
		{"type list and numeric enum", `[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{
			"n":{"type":["integer","null"],"enum":[1,2]}}}}}]`, "",
			funcInitO200k + text("f:") + propInit + propKey + enumInit + 2*enumItem + text("1") + text("2") + text("n:integer | null:") + funcEnd},
		{"non-function tool counted as JSON", `[{"type":"custom","custom":{"name":"x"}}]`, "",
			funcInitO200k + text(`{"type":"custom","custom":{"name":"x"}}`) + funcEnd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ChatPrompt("gpt-4o", json.RawMessage(msgs), json.RawMessage(tt.tools), json.RawMessage(tt.functions))
			if err != nil {
				t.Fatal(err)
			}
			if got-base != tt.want {
				t.Errorf("tools counted %d, want %d", got-base, tt.want)
			}
		})
	}
	// cl100k_base models start each function with 10 tokens instead of 7.
	o, _ := c.ChatPrompt("gpt-4o", json.RawMessage(msgs), json.RawMessage(`[{"type":"function","function":{"name":"a"}}]`), nil)
	g, _ := c.ChatPrompt("gpt-4", json.RawMessage(msgs), json.RawMessage(`[{"type":"function","function":{"name":"a"}}]`), nil)
	gBase, _ := c.ChatPrompt("gpt-4", json.RawMessage(msgs), nil, nil)
	if (g-gBase)-(o-base) != funcInitCl100-funcInitO200k {
		t.Errorf("gpt-4 tools %d, gpt-4o tools %d: want a difference of 3", g-gBase, o-base)
	}
}

func TestDecodeMessagesShapeErrors(t *testing.T) {
	tests := []struct {
		name, messages, param, want, got string
	}{
		{"not an array", `{"role":"user"}`, "messages", "an array", "an object"},
		{"message not an object", `[{"role":"user","content":"a"},"hi"]`, "messages[1]", "an object", "a string"},
		{"null element", `[{"role":"user","content":"a"},null]`, "messages[1]", "an object", "null"},
		{"role a number", `[{"role":5,"content":"a"}]`, "messages[0].role", "a string", "a number"},
		{"content an integer", `[{"role":"user","content":42}]`, "messages[0].content", "one of a string or array of objects", "an integer"},
		{"content an object", `[{"role":"user","content":{"text":"a"}}]`, "messages[0].content", "one of a string or array of objects", "an object"},
		{"part not an object", `[{"role":"user","content":[{"type":"text","text":"a"},"b"]}]`, "messages[0].content[1]", "an object", "a string"},
		{"part text a number", `[{"role":"user","content":[{"type":"text","text":1.5}]}]`, "messages[0].content[0].text", "a string", "a number"},
		{"tool_calls not an array", `[{"role":"assistant","tool_calls":{}}]`, "messages[0].tool_calls", "an array", "an object"},
		{"name a boolean", `[{"role":"user","name":true,"content":"a"}]`, "messages[0].name", "a string", "a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeMessages(json.RawMessage(tt.messages))
			var se *ShapeError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *ShapeError", err)
			}
			if se.Param != tt.param || se.Want != tt.want || se.Got != tt.got {
				t.Errorf("ShapeError = %+v, want {%s %s %s}", *se, tt.param, tt.want, tt.got)
			}
			wantMsg := "Invalid type for '" + tt.param + "': expected " + tt.want + ", but got " + tt.got + " instead."
			if se.Error() != wantMsg {
				t.Errorf("Error() = %q, want %q", se.Error(), wantMsg)
			}
		})
	}
}

func TestDecodeMessagesKeepsPresence(t *testing.T) {
	msgs, err := DecodeMessages(json.RawMessage(`[
		{"role":"assistant"},
		{"role":"assistant","content":null,"audio":{"id":"a1"}},
		{"role":"user","content":"x"},
		{"role":"user","content":[]},
		{"role":"tool","tool_call_id":"c","content":"r","name":"n"}]`))
	if err != nil {
		t.Fatal(err)
	}
	kinds := []ContentKind{ContentAbsent, ContentNull, ContentString, ContentParts, ContentString}
	for i, k := range kinds {
		if msgs[i].Content.Kind != k {
			t.Errorf("messages[%d] content kind %d, want %d", i, msgs[i].Content.Kind, k)
		}
	}
	if msgs[0].HasAudio || !msgs[1].HasAudio {
		t.Errorf("HasAudio = %v, %v; want false, true", msgs[0].HasAudio, msgs[1].HasAudio)
	}
	if msgs[4].ToolCallID == nil || *msgs[4].ToolCallID != "c" || msgs[4].Name == nil || msgs[0].Name != nil {
		t.Errorf("tool_call_id/name presence lost: %+v", msgs)
	}
}

func TestChatPromptBadTools(t *testing.T) {
	c := NewCounter()
	msgs := json.RawMessage(`[{"role":"user","content":"hi"}]`)
	for _, tools := range []string{`{}`, `[{"type":"function","function":{"name":3}}]`, `[{"type":"function","function":{"name":"f","parameters":[]}}]`} {
		if _, err := c.ChatPrompt("gpt-4o", msgs, json.RawMessage(tools), nil); err == nil {
			t.Errorf("tools %s: no error", tools)
		}
	}
}

// chatBody returns a messages array of exactly n prompt tokens in gpt-4o.
func chatBody(tb testing.TB, c *Counter, n int) json.RawMessage {
	tb.Helper()
	system := `{"role":"system","content":"You are a helpful assistant."}`
	// Framing: system message and user message overheads plus priming.
	fixed, err := c.ChatPrompt("gpt-4o", json.RawMessage(`[`+system+`,{"role":"user","content":""}]`), nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	text := benchText((n - fixed) / 10 * 10)
	// Pad with " ok" (one token each) to the exact size.
	text += strings.Repeat(" ok", n-fixed-c.Text("gpt-4o", text))
	b, _ := json.Marshal(text)
	msgs := json.RawMessage(`[` + system + `,{"role":"user","content":` + string(b) + `}]`)
	if got, _ := c.ChatPrompt("gpt-4o", msgs, nil, nil); got != n {
		tb.Fatalf("chat body has %d tokens, want %d", got, n)
	}
	return msgs
}

func BenchmarkChatPrompt(b *testing.B) {
	c := NewCounter()
	for _, size := range []struct {
		name string
		n    int
	}{{"1k", 1_000}, {"10k", 10_000}, {"100k", 100_000}} {
		msgs := chatBody(b, c, size.n)
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(msgs)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.ChatPrompt("gpt-4o", msgs, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
