package gemini

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/antigravity/gateway/internal/apierror"
)

func TestBuildRequestGolden(t *testing.T) {
	tests := []struct {
		name, file, op, base, model, version string
	}{
		{name: "request_rich", op: "chat/completions", base: "https://generativelanguage.googleapis.com", model: "gemini-2.5-pro"},
		{name: "request_minimal", op: "chat/completions", base: "https://proxy.example/google/v1/", version: "v1"},
		{name: "request_embeddings", op: "embeddings", base: "http://127.0.0.1:8080", model: "models/gemini-embedding-001"},
		{name: "request_embeddings_body_model", file: "request_embeddings", op: "embeddings", base: "http://127.0.0.1:8080/v1beta"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := url.Parse(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			file := tt.file
			if file == "" {
				file = tt.name
			}
			req, err := BuildRequest(context.Background(), base, "AIza-test", tt.model, tt.version, tt.op, readTestdata(t, file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, dumpRequest(t, req))
		})
	}
}

func TestBuildRequestErrors(t *testing.T) {
	base, _ := url.Parse("https://generativelanguage.googleapis.com")
	const user = `{"role":"user","content":"x"}`
	tests := []struct {
		name, op, body string
		param          string // of the 400; "-" for a plain error
	}{
		{"unknown op", "completions", `{}`, "-"},
		{"not json", "chat/completions", `{"model":`, ""},
		{"no model", "chat/completions", `{"messages":[` + user + `]}`, "model"},
		{"no messages", "chat/completions", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, "messages"},
		{"bad role", "chat/completions", `{"model":"m","messages":[{"role":"function","content":"x"}]}`, "messages[0].role"},
		{"unknown tool call id", "chat/completions", `{"model":"m","messages":[` + user + `,{"role":"tool","tool_call_id":"call_9","content":"r"}]}`, "messages[1].tool_call_id"},
		{"bad audio format", "chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"ogg"}}]}]}`, "messages[0].content[0].input_audio.format"},
		{"file url", "chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"https://x/a.pdf"}}]}]}`, "messages[0].content[0].file.file_data"},
		{"bad data url", "chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:;base64,xx"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"unknown part", "chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"video"}]}]}`, "messages[0].content[0].type"},
		{"bad arguments", "chat/completions", `{"model":"m","messages":[` + user + `,{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"nope"}}]}]}`, "messages[1].tool_calls[0].function.arguments"},
		{"bad tool", "chat/completions", `{"model":"m","messages":[` + user + `],"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name"},
		{"bad tool_choice", "chat/completions", `{"model":"m","messages":[` + user + `],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function"}}`, "tool_choice"},
		{"bad response_format", "chat/completions", `{"model":"m","messages":[` + user + `],"response_format":{"type":"xml"}}`, "response_format.type"},
		{"bad reasoning_effort", "chat/completions", `{"model":"m","messages":[` + user + `],"reasoning_effort":"max"}`, "reasoning_effort"},
		{"bad stop", "chat/completions", `{"model":"m","messages":[` + user + `],"stop":[1]}`, "stop"},
		{"embeddings no input", "embeddings", `{"model":"m"}`, "input"},
		{"embeddings tokens", "embeddings", `{"model":"m","input":[1,2,3]}`, "input"},
		{"embeddings empty", "embeddings", `{"model":"m","input":[]}`, "input"},
		{"embeddings empty string", "embeddings", `{"model":"m","input":["a",""]}`, "input[1]"},
		{"embeddings format", "embeddings", `{"model":"m","input":"a","encoding_format":"int8"}`, "encoding_format"},
		{"embeddings no model", "embeddings", `{"input":"a"}`, "model"},
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
			if ae.Status != http.StatusBadRequest || ae.Param != tt.param {
				t.Errorf("got status %d param %q (%s); want 400 %q", ae.Status, ae.Param, ae.Message, tt.param)
			}
		})
	}
}

func TestBuildRequestVariants(t *testing.T) {
	base, _ := url.Parse("https://generativelanguage.googleapis.com")
	tests := []struct {
		name, body, model, url, want string
	}{
		{"non-streaming URL, body model", `{"model":"gemini-x","messages":[{"role":"user","content":"hi"}]}`, "",
			"https://generativelanguage.googleapis.com/v1beta/models/gemini-x:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`},
		{"tuned model", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "tunedModels/my-tune",
			"https://generativelanguage.googleapis.com/v1beta/tunedModels/my-tune:generateContent", `"contents"`},
		{"thinking off", `{"model":"m","reasoning_effort":"none","messages":[{"role":"user","content":"hi"}]}`, "",
			"", `"generationConfig":{"thinkingConfig":{"includeThoughts":false,"thinkingBudget":0}}`},
		{"thinking high", `{"model":"m","reasoning_effort":"high","messages":[{"role":"user","content":"hi"}]}`, "",
			"", `"thinkingConfig":{"includeThoughts":true,"thinkingBudget":24576}`},
		{"json_object", `{"model":"m","response_format":{"type":"json_object"},"max_completion_tokens":9,"max_tokens":3,"messages":[{"role":"user","content":"hi"}]}`, "",
			"", `"generationConfig":{"responseMimeType":"application/json","maxOutputTokens":9}`},
		{"tool_choice required", `{"model":"m","tool_choice":"required","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}`, "",
			"", `"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}`},
		{"tool_choice none", `{"model":"m","tool_choice":"none","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}`, "",
			"", `"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}`},
		{"tool_choice without tools dropped", `{"model":"m","tool_choice":"auto","messages":[{"role":"user","content":"hi"}]}`, "",
			"", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := BuildRequest(context.Background(), base, "", tt.model, "", "chat/completions", []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.url != "" && req.URL.String() != tt.url {
				t.Errorf("URL %s, want %s", req.URL, tt.url)
			}
			if req.Header.Get("x-goog-api-key") != "" {
				t.Error("x-goog-api-key set without a credential")
			}
			b, _ := io.ReadAll(req.Body)
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("body %s\nlacks %s", b, tt.want)
			}
		})
	}
}
