package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/fakeprovider/anthropicfake"
	"github.com/antigravity/gateway/internal/upstream/anthropic"
)

// miniGateway serves POST /v1/chat/completions with the translator only:
// BuildRequest → the fake Anthropic API → Response, Stream or Error. The
// X-Fake-Behavior header is passed on.
func miniGateway(t *testing.T) (*openai.Client, *anthropicfake.Server) {
	t.Helper()
	fake := anthropicfake.New(anthropicfake.Options{APIKey: "sk-ant-e2e"})
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)
	base, _ := url.Parse(up.URL)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			apierror.Write(w, apierror.RouteNotFound(r.URL.Path))
			return
		}
		body, _ := io.ReadAll(r.Body)
		var head struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		_ = json.Unmarshal(body, &head)
		req, err := anthropic.BuildRequest(r.Context(), base, "sk-ant-e2e", "claude-upstream", "", "chat/completions", body)
		if err != nil {
			apierror.Write(w, err)
			return
		}
		if b := r.Header.Get(anthropicfake.BehaviorHeader); b != "" {
			req.Header.Set(anthropicfake.BehaviorHeader, b)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			apierror.Write(w, apierror.Internal(err))
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case resp.StatusCode >= 300:
			b, _ := io.ReadAll(resp.Body)
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(anthropic.Error(resp.StatusCode, b))
		case head.Stream:
			w.Header().Set("Content-Type", "text/event-stream")
			s := anthropic.Stream(resp.Body, head.Model)
			defer s.Close()
			buf := make([]byte, 4096)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					_, _ = w.Write(buf[:n])
					_ = http.NewResponseController(w).Flush()
				}
				if err != nil {
					return
				}
			}
		default:
			b, _ := io.ReadAll(resp.Body)
			out, err := anthropic.Response(b, head.Model)
			if err != nil {
				apierror.Write(w, apierror.Internal(err))
				return
			}
			_, _ = w.Write(out)
		}
	}))
	t.Cleanup(gw.Close)
	c := openai.NewClient(option.WithBaseURL(gw.URL+"/v1"), option.WithAPIKey("client-key"), option.WithMaxRetries(0))
	return &c, fake
}

// weatherTool is the tool of the tool-call tests.
func weatherTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Current weather of a city."),
		Parameters: openai.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}},
			"required":   []string{"city"},
		},
	})
}

func TestEndToEndNonStreaming(t *testing.T) {
	c, fake := miniGateway(t)
	res, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude-alias",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Be terse."),
			openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("What is in this picture?"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo="}),
			}),
		},
		MaxCompletionTokens: openai.Int(5),
	}, option.WithHeader(anthropicfake.BehaviorHeader, "cached,thinking"))
	if err != nil {
		t.Fatal(err)
	}
	// Prompt: "Be terse." 2 words + 3 + 5 words = 10; cached reads 5, writes 2.
	if got := res.Choices[0].Message.Content; got != "tok0 tok1 tok2 tok3 tok4" {
		t.Errorf("content %q", got)
	}
	if res.Model != "claude-alias" || res.Choices[0].FinishReason != "length" {
		t.Errorf("model %q finish %q", res.Model, res.Choices[0].FinishReason)
	}
	if u := res.Usage; u.PromptTokens != 10 || u.CompletionTokens != 8 || u.TotalTokens != 18 || u.PromptTokensDetails.CachedTokens != 5 {
		t.Errorf("usage %+v", u)
	}
	if rc := res.Choices[0].Message.JSON.ExtraFields["reasoning_content"].Raw(); rc != `"Let me think."` {
		t.Errorf("reasoning_content %s", rc)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	got := string(reqs[0].Body)
	for _, want := range []string{`"model":"claude-upstream"`, `"system":"Be terse."`, `"max_tokens":5`,
		`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}`} {
		if !strings.Contains(got, want) {
			t.Errorf("upstream body %s\nlacks %s", got, want)
		}
	}
	if h := reqs[0].Header; h.Get("x-api-key") != "sk-ant-e2e" || h.Get("Authorization") != "" {
		t.Errorf("upstream credentials: x-api-key %q, Authorization %q", h.Get("x-api-key"), h.Get("Authorization"))
	}
}

func TestEndToEndStreamingWithUsage(t *testing.T) {
	c, _ := miniGateway(t)
	s := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "claude-alias",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello there")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	acc := openai.ChatCompletionAccumulator{}
	chunks := 0
	for s.Next() {
		if !acc.AddChunk(s.Current()) {
			t.Fatalf("accumulator refused chunk %s", s.Current().RawJSON())
		}
		chunks++
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	// role + 16 words + finish + usage
	if chunks != 19 {
		t.Errorf("%d chunks, want 19", chunks)
	}
	if got := acc.Choices[0].Message.Content; got != "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 tok8 tok9 tok10 tok11 tok12 tok13 tok14 tok15" {
		t.Errorf("content %q", got)
	}
	if acc.Choices[0].FinishReason != "stop" || acc.Model != "claude-alias" || !strings.HasPrefix(acc.ID, "msg_fake") {
		t.Errorf("finish %q model %q id %q", acc.Choices[0].FinishReason, acc.Model, acc.ID)
	}
	if u := acc.Usage; u.PromptTokens != 5 || u.CompletionTokens != 16 || u.TotalTokens != 21 {
		t.Errorf("usage %+v", u)
	}
}

func TestEndToEndToolCall(t *testing.T) {
	c, fake := miniGateway(t)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "claude-alias",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
		Tools:    []openai.ChatCompletionToolUnionParam{weatherTool()},
	}
	// Streaming turn: the tool call arrives in pieces.
	s := c.Chat.Completions.NewStreaming(ctx, params)
	acc := openai.ChatCompletionAccumulator{}
	var finished []openai.FinishedChatCompletionToolCall
	for s.Next() {
		if !acc.AddChunk(s.Current()) {
			t.Fatalf("accumulator refused chunk %s", s.Current().RawJSON())
		}
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finished = append(finished, tc)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	msg := acc.Choices[0].Message
	if len(msg.ToolCalls) != 1 || acc.Choices[0].FinishReason != "tool_calls" || msg.Content != "Calling get_weather." {
		t.Fatalf("message %+v finish %q", msg, acc.Choices[0].FinishReason)
	}
	tc := msg.ToolCalls[0]
	if tc.Function.Name != "get_weather" || tc.Function.Arguments != `{"city":"fake"}` || !strings.HasPrefix(tc.ID, "toolu_fake") {
		t.Errorf("tool call %+v", tc)
	}
	if len(finished) != 1 || finished[0].Arguments != `{"city":"fake"}` {
		t.Errorf("JustFinishedToolCall gave %+v", finished)
	}

	// Non-streaming turn answering the call: the fake sees a tool_result.
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage(`{"temp":21}`, tc.ID))
	res, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if res.Choices[0].FinishReason != "stop" || !strings.HasPrefix(res.Choices[0].Message.Content, "tok0 tok1") {
		t.Errorf("answer %+v", res.Choices[0])
	}
	last := fake.Requests()[1].Body
	want := `{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + tc.ID + `","content":"{\"temp\":21}"}]}`
	if !strings.Contains(string(last), want) {
		t.Errorf("upstream body %s\nlacks %s", last, want)
	}

	// Non-streaming tool call, forced.
	params.Messages = params.Messages[:1]
	params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}
	res, err = c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Choices[0].Message; len(m.ToolCalls) != 1 || m.Content != "" || res.Choices[0].FinishReason != "tool_calls" ||
		m.ToolCalls[0].Function.Arguments != `{"city":"fake"}` {
		t.Errorf("forced tool call %+v", res.Choices[0])
	}
}

func TestEndToEndErrors(t *testing.T) {
	c, _ := miniGateway(t)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "claude-alias",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}
	tests := []struct {
		behavior string
		status   int
		typ      string
		code     string
	}{
		{"error-429", 429, "rate_limit_error", "rate_limit_error"},
		{"error-400", 400, "invalid_request_error", "invalid_request_error"},
		{"error-500", 500, "server_error", "api_error"},
		{"overloaded", 529, "server_error", "overloaded_error"},
	}
	for _, tt := range tests {
		t.Run(tt.behavior, func(t *testing.T) {
			_, err := c.Chat.Completions.New(ctx, params, option.WithHeader(anthropicfake.BehaviorHeader, tt.behavior))
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err %v", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Type != tt.typ || apiErr.Code != tt.code {
				t.Errorf("status %d type %q code %q", apiErr.StatusCode, apiErr.Type, apiErr.Code)
			}
		})
	}
	t.Run("mid-stream", func(t *testing.T) {
		s := c.Chat.Completions.NewStreaming(ctx, params, option.WithHeader(anthropicfake.BehaviorHeader, "error-midstream"))
		var content string
		for s.Next() {
			if len(s.Current().Choices) > 0 {
				content += s.Current().Choices[0].Delta.Content
			}
		}
		if err := s.Err(); err == nil || !strings.Contains(err.Error(), "Overloaded") || content != "tok0 tok1 tok2" {
			t.Errorf("err %v after %q", err, content)
		}
	})
	t.Run("embeddings refused", func(t *testing.T) {
		_, err := anthropic.BuildRequest(ctx, &url.URL{Scheme: "http", Host: "x"}, "", "", "", "embeddings", []byte(`{"input":"x"}`))
		if e := apierror.As(err); e.Status != 400 || e.Code != "unsupported_operation" {
			t.Errorf("err %v", err)
		}
	})
}
