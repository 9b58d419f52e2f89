package anthropic

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/antigravity/gateway/internal/apierror"
)

func TestBuildRequestGolden(t *testing.T) {
	tests := []struct {
		name, base, model, version string
	}{
		{name: "request_rich", base: "https://api.anthropic.com", model: "claude-sonnet-4-20250514"},
		{name: "request_minimal", base: "https://proxy.example/anthropic/v1/", version: "2024-01-01"},
		{name: "request_reasoning", base: "http://127.0.0.1:8080/", model: "claude-opus-4-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := url.Parse(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			req, err := BuildRequest(context.Background(), base, "sk-ant-test", tt.model, tt.version,
				"chat/completions", readTestdata(t, tt.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, dumpRequest(t, req))
		})
	}
}

func TestBuildRequestErrors(t *testing.T) {
	base, _ := url.Parse("https://api.anthropic.com")
	tests := []struct {
		name, op, body string
		param          string // of the 400; "-" for a plain error
		code           string
	}{
		{"embeddings", "embeddings", `{"model":"m","input":"x"}`, "model", "unsupported_operation"},
		{"unknown op", "completions", `{}`, "-", ""},
		{"not json", "chat/completions", `{"model":`, "", "invalid_request_error"},
		{"n>1", "chat/completions", `{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`, "n", "invalid_request_error"},
		{"no messages", "chat/completions", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, "messages", "invalid_request_error"},
		{"bad role", "chat/completions", `{"model":"m","messages":[{"role":"function","content":"x"}]}`, "messages[0].role", "invalid_request_error"},
		{"audio", "chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`, "messages[0].content[0].type", "invalid_request_error"},
		{"bad data url", "chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, "messages[0].content[0].image_url.url", "invalid_request_error"},
		{"ftp url", "chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url", "invalid_request_error"},
		{"file id", "chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`, "messages[0].content[0].file", "invalid_request_error"},
		{"image in system", "chat/completions", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]},{"role":"user","content":"x"}]}`, "messages[0].content[0]", "invalid_request_error"},
		{"bad arguments", "chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[1].tool_calls[0].function.arguments", "invalid_request_error"},
		{"tool without id", "chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]}`, "messages[1].tool_call_id", "invalid_request_error"},
		{"bad tool type", "chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search"}]}`, "tools[0].type", "invalid_request_error"},
		{"bad tool_choice", "chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}`, "tool_choice", "invalid_request_error"},
		{"bad stop", "chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":5}`, "stop", "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := BuildRequest(context.Background(), base, "k", "", "", tt.op, []byte(tt.body))
			if err == nil {
				t.Fatalf("no error; request %v", req.URL)
			}
			var ae *apierror.Error
			if tt.param == "-" {
				if errors.As(err, &ae) {
					t.Fatalf("want a plain error, got API error %v", ae)
				}
				return
			}
			if !errors.As(err, &ae) {
				t.Fatalf("want *apierror.Error, got %T %v", err, err)
			}
			if ae.Status != http.StatusBadRequest || ae.Param != tt.param || ae.Code != tt.code {
				t.Errorf("got status %d param %q code %q (%s); want 400 %q %q", ae.Status, ae.Param, ae.Code, ae.Message, tt.param, tt.code)
			}
		})
	}
}

func TestBuildRequestDefaults(t *testing.T) {
	base, _ := url.Parse("https://api.anthropic.com")
	tests := []struct {
		name, body, want string
	}{
		{"upstream model from body", `{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}`, `"model":"claude-x","max_tokens":4096,`},
		{"max_tokens used", `{"model":"m","max_tokens":7,"messages":[{"role":"user","content":"hi"}]}`, `"max_tokens":7,`},
		{"thinking raises max_tokens", `{"model":"m","max_tokens":100,"reasoning_effort":"low","messages":[{"role":"user","content":"hi"}]}`, `"max_tokens":1124,`},
		{"thinking high", `{"model":"m","reasoning_effort":"high","messages":[{"role":"user","content":"hi"}]}`, `"thinking":{"type":"enabled","budget_tokens":16384}`},
		{"no thinking for minimal", `{"model":"m","reasoning_effort":"minimal","messages":[{"role":"user","content":"hi"}]}`, `"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`},
		{"tool_choice without tools dropped", `{"model":"m","tool_choice":"auto","messages":[{"role":"user","content":"hi"}]}`, `"content":[{"type":"text","text":"hi"}]}]}`},
		{"tool_choice function", `{"model":"m","tool_choice":{"type":"function","function":{"name":"f"}},"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}`, `"tool_choice":{"type":"tool","name":"f"}`},
		{"tool_choice none", `{"model":"m","tool_choice":"none","parallel_tool_calls":false,"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}`, `"tool_choice":{"type":"none"}`},
		{"parallel off alone", `{"model":"m","parallel_tool_calls":false,"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}`, `"tool_choice":{"type":"auto","disable_parallel_tool_use":true}`},
		{"refusal kept as text", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"refusal","refusal":"No."}]},{"role":"user","content":"why"}]}`, `{"role":"assistant","content":[{"type":"text","text":"No."}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := BuildRequest(context.Background(), base, "", "", "", "chat/completions", []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if req.Header.Get("x-api-key") != "" {
				t.Error("x-api-key set without a credential")
			}
			var b strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := req.Body.Read(buf)
				b.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if !strings.Contains(b.String(), tt.want) {
				t.Errorf("body %s\nlacks %s", b.String(), tt.want)
			}
		})
	}
}
