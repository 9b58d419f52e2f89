package validate

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/tokens"
)

// unlimited returns a model without limits, so only the request's shape is checked.
func unlimited() store.Model { return store.Model{Name: "gpt-4o", Active: true} }

// wantError checks every field of an OpenAI error and its JSON rendering.
func wantError(t *testing.T, err error, status int, code, param, msg string) {
	t.Helper()
	var e *apierror.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an *apierror.Error", err)
	}
	if e.Status != status || e.Type != "invalid_request_error" || e.Code != code || e.Param != param {
		t.Errorf("error = {status %d type %s code %s param %s}, want {%d invalid_request_error %s %s}",
			e.Status, e.Type, e.Code, e.Param, status, code, param)
	}
	if msg != "" && e.Message != msg {
		t.Errorf("message = %q\nwant      %q", e.Message, msg)
	}
	var body apierror.Body
	if err := json.Unmarshal(e.JSON(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Param == nil || *body.Error.Param != param || body.Error.Code == nil || *body.Error.Code != code {
		t.Errorf("body = %s", e.JSON())
	}
}

func TestChatMessageRules(t *testing.T) {
	const (
		call  = `{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}`
		call2 = `{"id":"call_2","type":"function","function":{"name":"g","arguments":"{}"}}`
		roles = "'system', 'assistant', 'user', 'function', 'tool', and 'developer'"
		parts = "'text', 'image_url', 'input_audio', 'refusal', and 'file'"
	)
	tests := []struct {
		name     string
		messages string
		code     string // "" when valid
		param    string
		msg      string
	}{
		// Valid requests.
		{"user string", `[{"role":"user","content":"hi"}]`, "", "", ""},
		{"every text role", `[{"role":"system","content":"s"},{"role":"developer","content":"d"},{"role":"user","content":"u"},{"role":"assistant","content":"a"}]`, "", "", ""},
		{"empty string content", `[{"role":"user","content":""}]`, "", "", ""},
		{"user parts", `[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/a.png","detail":"low"}},
			{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}},{"type":"file","file":{"file_id":"file-1"}}]}]`, "", "", ""},
		{"assistant null content with tool calls answered", `[{"role":"user","content":"q"},{"role":"assistant","content":null,"tool_calls":[` + call + `,` + call2 + `]},
			{"role":"tool","tool_call_id":"call_2","content":"r2"},{"role":"tool","tool_call_id":"call_1","content":[{"type":"text","text":"r1"}]},{"role":"assistant","content":"done"}]`, "", "", ""},
		{"assistant without content but a function_call", `[{"role":"assistant","function_call":{"name":"f","arguments":"{}"}},{"role":"function","name":"f","content":"r"}]`, "", "", ""},
		{"assistant refusal part", `[{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]}]`, "", "", ""},
		{"assistant audio reference", `[{"role":"assistant","audio":{"id":"audio_1"}}]`, "", "", ""},
		{"function content null", `[{"role":"function","name":"f","content":null}]`, "", "", ""},

		// Shape.
		{"messages not an array", `{"role":"user"}`, CodeInvalidType, "messages",
			"Invalid type for 'messages': expected an array of message objects, but got an object instead."},
		{"empty messages", `[]`, CodeEmptyArray, "messages",
			"Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."},
		{"message not an object", `[{"role":"user","content":"a"},42]`, CodeInvalidType, "messages[1]",
			"Invalid type for 'messages[1]': expected an object, but got an integer instead."},
		{"content a number", `[{"role":"user","content":1}]`, CodeInvalidType, "messages[0].content",
			"Invalid type for 'messages[0].content': expected one of a string or array of objects, but got an integer instead."},

		// Roles.
		{"missing role", `[{"content":"hi"}]`, CodeMissing, "messages[0].role", "Missing required parameter: 'messages[0].role'."},
		{"unknown role", `[{"role":"user","content":"a"},{"role":"robot","content":"hi"}]`, CodeInvalidValue, "messages[1].role",
			"Invalid value: 'robot'. Supported values are: " + roles + "."},
		{"role is case sensitive", `[{"role":"User","content":"hi"}]`, CodeInvalidValue, "messages[0].role", ""},

		// Content presence.
		{"user without content", `[{"role":"user"}]`, CodeMissing, "messages[0].content", "Missing required parameter: 'messages[0].content'."},
		{"system null content", `[{"role":"system","content":null}]`, CodeInvalidType, "messages[0].content",
			"Invalid type for 'messages[0].content': expected one of a string or array of objects, but got null instead."},
		{"assistant without content or calls", `[{"role":"assistant"}]`, CodeMissing, "messages[0].content", ""},
		{"empty parts", `[{"role":"user","content":[]}]`, CodeEmptyArray, "messages[0].content",
			"Invalid 'messages[0].content': empty array. Expected an array with minimum length 1, but got an empty array instead."},
		{"function content array", `[{"role":"function","name":"f","content":[{"type":"text","text":"a"}]}]`, CodeInvalidType, "messages[0].content",
			"Invalid type for 'messages[0].content': expected a string, but got an array instead."},

		// Part types.
		{"part without type", `[{"role":"user","content":[{"text":"a"}]}]`, CodeMissing, "messages[0].content[0].type",
			"Missing required parameter: 'messages[0].content[0].type'."},
		{"unknown part type", `[{"role":"user","content":[{"type":"text","text":"a"},{"type":"video","video":{}}]}]`, CodeInvalidValue, "messages[0].content[1].type",
			"Invalid value: 'video'. Supported values are: " + parts + "."},
		{"image in an assistant message", `[{"role":"assistant","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}]`, CodeInvalidValue, "messages[0]",
			"Invalid 'messages[0]'. Image URLs are only allowed for messages with role 'user', but this message with role 'assistant' contains an image URL."},
		{"audio in a system message", `[{"role":"system","content":[{"type":"input_audio","input_audio":{"data":"AA","format":"wav"}}]}]`, CodeInvalidValue, "messages[0].content[0].type",
			"Invalid value: 'input_audio'. Supported values for messages with role 'system' are: 'text'."},
		{"refusal in a user message", `[{"role":"user","content":[{"type":"refusal","refusal":"no"}]}]`, CodeInvalidValue, "messages[0].content[0].type",
			"Invalid value: 'refusal'. Supported values for messages with role 'user' are: 'text', 'image_url', 'input_audio', and 'file'."},
		{"text part without text", `[{"role":"user","content":[{"type":"text"}]}]`, CodeMissing, "messages[0].content[0].text", ""},
		{"image part without url", `[{"role":"user","content":[{"type":"image_url","image_url":{"detail":"low"}}]}]`, CodeMissing, "messages[0].content[0].image_url.url", ""},
		{"image part without image_url", `[{"role":"user","content":[{"type":"image_url"}]}]`, CodeMissing, "messages[0].content[0].image_url", ""},
		{"bad image detail", `[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x","detail":"ultra"}}]}]`, CodeInvalidValue, "messages[0].content[0].image_url.detail",
			"Invalid value: 'ultra'. Supported values are: 'auto', 'low', and 'high'."},
		{"bad audio format", `[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA","format":"ogg"}}]}]`, CodeInvalidValue, "messages[0].content[0].input_audio.format",
			"Invalid value: 'ogg'. Supported values are: 'wav' and 'mp3'."},
		{"audio without data", `[{"role":"user","content":[{"type":"input_audio","input_audio":{"format":"wav"}}]}]`, CodeMissing, "messages[0].content[0].input_audio.data", ""},
		{"file without data or id", `[{"role":"user","content":[{"type":"file","file":{"filename":"a.pdf"}}]}]`, CodeMissing, "messages[0].content[0].file", ""},
		{"refusal part without refusal", `[{"role":"assistant","content":[{"type":"refusal"}]}]`, CodeMissing, "messages[0].content[0].refusal", ""},

		// Tools and functions.
		{"tool without tool_call_id", `[{"role":"assistant","tool_calls":[` + call + `]},{"role":"tool","content":"r"}]`, CodeMissing, "messages[1].tool_call_id",
			"Missing required parameter: 'messages[1].tool_call_id'."},
		{"tool without preceding calls", `[{"role":"user","content":"q"},{"role":"tool","tool_call_id":"call_1","content":"r"}]`, CodeInvalidValue, "messages[1].role",
			"Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'."},
		{"tool after an intervening message", `[{"role":"assistant","tool_calls":[` + call + `]},{"role":"tool","tool_call_id":"call_1","content":"r"},{"role":"user","content":"q"},{"role":"tool","tool_call_id":"call_1","content":"r"}]`,
			CodeInvalidValue, "messages[3].role", ""},
		{"tool answering an unknown call", `[{"role":"assistant","tool_calls":[` + call + `]},{"role":"tool","tool_call_id":"call_9","content":"r"}]`, CodeInvalidValue, "messages[1].tool_call_id",
			"Invalid parameter: 'tool_call_id' of 'call_9' not found in 'tool_calls' of previous message."},
		{"unanswered calls", `[{"role":"assistant","tool_calls":[` + call + `,` + call2 + `]},{"role":"tool","tool_call_id":"call_1","content":"r"},{"role":"user","content":"q"}]`,
			CodeInvalidValue, "messages[0].role",
			"An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: call_2"},
		{"unanswered calls at the end", `[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[` + call2 + `,` + call + `]}]`, CodeInvalidValue, "messages[1].role",
			"An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: call_1, call_2"},
		{"tool call without id", `[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f"}}]}]`, CodeMissing, "messages[0].tool_calls[0].id", ""},
		{"tool call without function name", `[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]`, CodeMissing, "messages[0].tool_calls[0].function.name", ""},
		{"tool call of unknown type", `[{"role":"assistant","tool_calls":[{"id":"c","type":"magic"}]}]`, CodeInvalidValue, "messages[0].tool_calls[0].type",
			"Invalid value: 'magic'. Supported values are: 'function' and 'custom'."},
		{"function message without name", `[{"role":"function","content":"r"}]`, CodeMissing, "messages[0].name", "Missing required parameter: 'messages[0].name'."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Chat(Input{Model: "gpt-4o", Messages: json.RawMessage(tt.messages)}, unlimited(), tokens.NewCounter())
			if tt.code == "" {
				if err != nil {
					t.Fatalf("valid request refused: %v", err)
				}
				return
			}
			wantError(t, err, http.StatusBadRequest, tt.code, tt.param, tt.msg)
		})
	}
}

func TestChatMissingMessages(t *testing.T) {
	for _, raw := range []string{"", "null", "  "} {
		_, err := Chat(Input{Model: "gpt-4o", Messages: json.RawMessage(raw)}, unlimited(), tokens.NewCounter())
		wantError(t, err, http.StatusBadRequest, CodeMissing, "messages", "Missing required parameter: 'messages'.")
	}
}

func TestChatToolDefinitions(t *testing.T) {
	const msgs = `[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, tools, functions string
		code, param            string
	}{
		{"valid tools", `[{"type":"function","function":{"name":"f"}}]`, "", "", ""},
		{"valid functions", "", `[{"name":"f","parameters":{"type":"object"}}]`, "", ""},
		{"null tools", "null", "null", "", ""},
		{"tools not an array", `{"type":"function"}`, "", CodeInvalidType, "tools"},
		{"tool not an object", `["f"]`, "", CodeInvalidType, "tools[0]"},
		{"tool without type", `[{"function":{"name":"f"}}]`, "", CodeMissing, "tools[0].type"},
		{"function tool without function", `[{"type":"function"}]`, "", CodeMissing, "tools[0].function"},
		{"function tool without name", `[{"type":"function","function":{"description":"d"}}]`, "", CodeMissing, "tools[0].function.name"},
		{"function without name", "", `[{"description":"d"}]`, CodeMissing, "functions[0].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Model: "gpt-4o", Messages: json.RawMessage(msgs), Tools: json.RawMessage(tt.tools), Functions: json.RawMessage(tt.functions)}
			_, err := Chat(in, unlimited(), tokens.NewCounter())
			if tt.code == "" {
				if err != nil {
					t.Fatalf("valid request refused: %v", err)
				}
				return
			}
			wantError(t, err, http.StatusBadRequest, tt.code, tt.param, "")
		})
	}
}

func TestAccess(t *testing.T) {
	active := &store.Model{Name: "gpt-4o", Active: true}
	inactive := &store.Model{Name: "gpt-4o", Active: false}
	tests := []struct {
		name    string
		m       *store.Model
		allowed bool
		ok      bool
	}{
		{"active and allowed", active, true, true},
		{"unknown", nil, true, false},
		{"inactive", inactive, true, false},
		{"not allowed to the key", active, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Access("gpt-4o", tt.m, tt.allowed)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *apierror.Error
			if !errors.As(err, &e) || e.Status != http.StatusNotFound || e.Code != "model_not_found" || e.Param != "model" ||
				e.Message != "The model `gpt-4o` does not exist or you do not have access to it." {
				t.Errorf("err = %#v", err)
			}
		})
	}
}
