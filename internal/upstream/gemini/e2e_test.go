package gemini_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/fakeprovider/geminifake"
	"github.com/antigravity/gateway/internal/upstream/gemini"
)

// miniGateway serves POST /v1/chat/completions and /v1/embeddings with the
// translator only: BuildRequest → the fake Gemini API → Response, Stream,
// EmbeddingsResponse or Error. The X-Fake-Behavior header is passed on.
func miniGateway(t *testing.T) (*openai.Client, *geminifake.Server) {
	t.Helper()
	fake := geminifake.New(geminifake.Options{APIKey: "AIza-e2e", ReplyTokens: 6})
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)
	base, _ := url.Parse(up.URL)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.URL.Path, "/v1/")
		upstreamModel := map[string]string{"chat/completions": "gemini-upstream", "embeddings": "gemini-embedding-001"}[op]
		if r.Method != http.MethodPost || upstreamModel == "" {
			apierror.Write(w, apierror.RouteNotFound(r.URL.Path))
			return
		}
		body, _ := io.ReadAll(r.Body)
		var head struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		_ = json.Unmarshal(body, &head)
		req, err := gemini.BuildRequest(r.Context(), base, "AIza-e2e", upstreamModel, "", op, body)
		if err != nil {
			apierror.Write(w, err)
			return
		}
		if b := r.Header.Get(geminifake.BehaviorHeader); b != "" {
			req.Header.Set(geminifake.BehaviorHeader, b)
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
			_, _ = w.Write(gemini.Error(resp.StatusCode, b))
		case head.Stream:
			w.Header().Set("Content-Type", "text/event-stream")
			s := gemini.Stream(resp.Body, head.Model)
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
			var out []byte
			if op == "embeddings" {
				out, err = gemini.EmbeddingsResponse(b, head.Model, body)
			} else {
				out, err = gemini.Response(b, head.Model)
			}
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
		Model: "gemini-alias",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Be terse."),
			openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("What is in this picture?"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo="}),
			}),
		},
		MaxCompletionTokens: openai.Int(4),
	}, option.WithHeader(geminifake.BehaviorHeader, "cached,thinking"))
	if err != nil {
		t.Fatal(err)
	}
	// Prompt: 2 + 5 words = 7, 3 cached; completion 4 words + 3 thoughts.
	if got := res.Choices[0].Message.Content; got != "tok0 tok1 tok2 tok3" {
		t.Errorf("content %q", got)
	}
	if res.Model != "gemini-alias" || res.Choices[0].FinishReason != "length" || res.ID != "chatcmpl-fake0000000000000001" {
		t.Errorf("model %q finish %q id %q", res.Model, res.Choices[0].FinishReason, res.ID)
	}
	u := res.Usage
	if u.PromptTokens != 7 || u.CompletionTokens != 7 || u.TotalTokens != 14 ||
		u.PromptTokensDetails.CachedTokens != 3 || u.CompletionTokensDetails.ReasoningTokens != 3 {
		t.Errorf("usage %+v", u)
	}
	if rc := res.Choices[0].Message.JSON.ExtraFields["reasoning_content"].Raw(); rc != `"Let me think."` {
		t.Errorf("reasoning_content %s", rc)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1beta/models/gemini-upstream:generateContent" {
		t.Fatalf("upstream requests %+v", reqs)
	}
	got := string(reqs[0].Body)
	for _, want := range []string{`"systemInstruction":{"parts":[{"text":"Be terse."}]}`, `"maxOutputTokens":4`,
		`{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}}`} {
		if !strings.Contains(got, want) {
			t.Errorf("upstream body %s\nlacks %s", got, want)
		}
	}
	if h := reqs[0].Header; h.Get("x-goog-api-key") != "AIza-e2e" || h.Get("Authorization") != "" {
		t.Errorf("upstream credentials: x-goog-api-key %q, Authorization %q", h.Get("x-goog-api-key"), h.Get("Authorization"))
	}
}

func TestEndToEndStreamingWithUsage(t *testing.T) {
	c, fake := miniGateway(t)
	s := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "gemini-alias",
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
	// role + 6 words + finish + usage
	if chunks != 9 {
		t.Errorf("%d chunks, want 9", chunks)
	}
	if got := acc.Choices[0].Message.Content; got != "tok0 tok1 tok2 tok3 tok4 tok5" {
		t.Errorf("content %q", got)
	}
	if acc.Choices[0].FinishReason != "stop" || acc.Model != "gemini-alias" {
		t.Errorf("finish %q model %q", acc.Choices[0].FinishReason, acc.Model)
	}
	if u := acc.Usage; u.PromptTokens != 2 || u.CompletionTokens != 6 || u.TotalTokens != 8 {
		t.Errorf("usage %+v", u)
	}
	if r := fake.Requests()[0]; r.Path != "/v1beta/models/gemini-upstream:streamGenerateContent" || r.RawQuery != "alt=sse" {
		t.Errorf("upstream %s?%s", r.Path, r.RawQuery)
	}
}

func TestEndToEndToolCall(t *testing.T) {
	c, fake := miniGateway(t)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "gemini-alias",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
		Tools:    []openai.ChatCompletionToolUnionParam{weatherTool()},
	}
	s := c.Chat.Completions.NewStreaming(ctx, params)
	acc := openai.ChatCompletionAccumulator{}
	for s.Next() {
		if !acc.AddChunk(s.Current()) {
			t.Fatalf("accumulator refused chunk %s", s.Current().RawJSON())
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	msg := acc.Choices[0].Message
	if len(msg.ToolCalls) != 1 || acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("message %+v finish %q", msg, acc.Choices[0].FinishReason)
	}
	tc := msg.ToolCalls[0]
	if tc.Function.Name != "get_weather" || tc.Function.Arguments != `{"city":"fake"}` || tc.ID != "call_fake0000000000000001_0" {
		t.Errorf("tool call %+v", tc)
	}

	// Answering the call: the fake checks the function response follows the
	// call, and the translator recovered the function name from the id.
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage(`{"temp":21}`, tc.ID))
	res, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if res.Choices[0].FinishReason != "stop" || res.Choices[0].Message.Content != "tok0 tok1 tok2 tok3 tok4 tok5" {
		t.Errorf("answer %+v", res.Choices[0])
	}
	want := `{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"fake"}}}]},{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp":21}}}]}`
	if last := fake.Requests()[1].Body; !strings.Contains(string(last), want) {
		t.Errorf("upstream body %s\nlacks %s", last, want)
	}

	// Non-streaming, forced to a named function.
	params.Messages = params.Messages[:1]
	params.ToolChoice = openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"})
	res, err = c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Choices[0].Message; len(m.ToolCalls) != 1 || res.Choices[0].FinishReason != "tool_calls" ||
		m.ToolCalls[0].Function.Arguments != `{"city":"fake"}` {
		t.Errorf("forced tool call %+v", res.Choices[0])
	}
	if last := string(fake.Requests()[2].Body); !strings.Contains(last, `"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}`) {
		t.Errorf("upstream body %s", last)
	}
}

func TestEndToEndErrors(t *testing.T) {
	c, _ := miniGateway(t)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "gemini-alias",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}
	tests := []struct {
		behavior string
		status   int
		typ      string
		code     string
	}{
		{"error-429", 429, "rate_limit_error", "resource_exhausted"},
		{"error-400", 400, "invalid_request_error", "invalid_argument"},
		{"error-500", 500, "server_error", "internal"},
		{"overloaded", 503, "server_error", "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.behavior, func(t *testing.T) {
			_, err := c.Chat.Completions.New(ctx, params, option.WithHeader(geminifake.BehaviorHeader, tt.behavior))
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
		s := c.Chat.Completions.NewStreaming(ctx, params, option.WithHeader(geminifake.BehaviorHeader, "error-midstream"))
		var content string
		for s.Next() {
			if len(s.Current().Choices) > 0 {
				content += s.Current().Choices[0].Delta.Content
			}
		}
		if err := s.Err(); err == nil || !strings.Contains(err.Error(), "overloaded") || content != "tok0 tok1 tok2" {
			t.Errorf("err %v after %q", err, content)
		}
	})
	t.Run("safety", func(t *testing.T) {
		res, err := c.Chat.Completions.New(ctx, params, option.WithHeader(geminifake.BehaviorHeader, "safety"))
		if err != nil || res.Choices[0].FinishReason != "content_filter" || res.Choices[0].Message.Content != "tok0 tok1" {
			t.Errorf("err %v choice %+v", err, res)
		}
	})
	t.Run("unknown tool call id", func(t *testing.T) {
		p := params
		p.Messages = append(p.Messages, openai.ToolMessage("x", "call_unknown"))
		_, err := c.Chat.Completions.New(ctx, p)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "messages[1].tool_call_id" {
			t.Errorf("err %v", err)
		}
	})
}

func TestEndToEndEmbeddings(t *testing.T) {
	c, fake := miniGateway(t)
	ctx := context.Background()
	inputs := []string{"hello world", "bonjour"}
	res, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model:      "embed-alias",
		Input:      openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
		Dimensions: openai.Int(4),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || res.Model != "embed-alias" {
		t.Fatalf("response %+v", res)
	}
	for i, d := range res.Data {
		want := geminifake.Embedding(inputs[i], 4)
		if d.Index != int64(i) || len(d.Embedding) != 4 || d.Embedding[0] != want[0] || d.Embedding[3] != want[3] {
			t.Errorf("data[%d] = %+v, want %v", i, d, want)
		}
	}
	// 18 characters: 5 estimated tokens.
	if res.Usage.PromptTokens != 5 || res.Usage.TotalTokens != 5 {
		t.Errorf("usage %+v", res.Usage)
	}
	if r := fake.Requests()[0]; r.Path != "/v1beta/models/gemini-embedding-001:batchEmbedContents" {
		t.Errorf("upstream path %s", r.Path)
	}

	res, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model:          "embed-alias",
		Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String("bonjour")},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
	})
	if err != nil {
		t.Fatal(err)
	}
	var b64 string
	if err := json.Unmarshal([]byte(res.Data[0].JSON.Embedding.Raw()), &b64); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	want := geminifake.Embedding("bonjour", geminifake.DefaultDimensions)
	if err != nil || len(raw) != 4*len(want) {
		t.Fatalf("base64 embedding %q: %v", b64, err)
	}
	for i, w := range want {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != float32(w) {
			t.Errorf("value %d = %v, want %v", i, got, w)
		}
	}

	_, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "embed-alias",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2}},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "input" {
		t.Errorf("token input: err %v", err)
	}
}
