package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/usage"
)

func chatParams(model, text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    openai.ChatModel(model),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}
}

// TestEndToEnd runs the core scenarios through openai-go, in both modes.
func TestEndToEnd(t *testing.T) {
	forEachMode(t, testEndToEnd)
}

func testEndToEnd(t *testing.T, env map[string]string) {
	fake, fakeURL := newFake(t, fakeprovider.Options{APIKey: "upstream-secret"})
	in := newInstance(t, env)
	in.addModel("gpt-test", fakeURL, "upstream-secret")
	key := in.addUserKey("alice")
	c := in.client(key)
	ctx := context.Background()
	price := func(prompt, completion int64) money.Nanos {
		return usage.Cost(in.g.Registry.Pool("gpt-test").Model, usage.Tokens{Prompt: prompt, Completion: completion})
	}

	t.Run("non-streaming", func(t *testing.T) {
		fake.Reset()
		var resp *http.Response
		res, err := c.Chat.Completions.New(ctx, chatParams("gpt-test", "hello there world"), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if res.Choices[0].Message.Content != fakeprovider.ReplyContent(16) {
			t.Fatalf("content = %q", res.Choices[0].Message.Content)
		}
		reqs := fake.Requests()
		if len(reqs) != 1 {
			t.Fatalf("upstream saw %d requests", len(reqs))
		}
		if got := reqs[0].Header.Get("Authorization"); got != "Bearer upstream-secret" {
			t.Fatalf("upstream Authorization = %q: the caller's key must be replaced", got)
		}
		if !strings.Contains(string(reqs[0].Body), `"model":"upstream-gpt-test"`) {
			t.Fatalf("upstream model not rewritten: %s", reqs[0].Body)
		}
		id := resp.Header.Get("x-request-id")
		row := in.usageRow(id)
		if row.UserOID != "alice" || row.KeyID == nil || row.Model != "gpt-test" || row.Status != 200 || row.Stream {
			t.Fatalf("row = %+v", row)
		}
		if row.PromptTokens != res.Usage.PromptTokens || row.CompletionTokens != 16 || row.Cost != price(row.PromptTokens, 16) || row.Cost == 0 {
			t.Fatalf("row tokens/cost = %d/%d/%d, usage %+v", row.PromptTokens, row.CompletionTokens, row.Cost, res.Usage)
		}
	})

	t.Run("streaming without usage requested", func(t *testing.T) {
		var resp *http.Response
		s := c.Chat.Completions.NewStreaming(ctx, chatParams("gpt-test", "stream please"), option.WithResponseInto(&resp))
		var text strings.Builder
		chunks, usageChunks := 0, 0
		for s.Next() {
			ch := s.Current()
			chunks++
			if len(ch.Choices) == 0 {
				usageChunks++
				continue
			}
			text.WriteString(ch.Choices[0].Delta.Content)
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if usageChunks != 0 {
			t.Fatalf("client got %d usage chunks without asking", usageChunks)
		}
		if text.String() != fakeprovider.ReplyContent(16) {
			t.Fatalf("streamed %q", text.String())
		}
		row := in.usageRow(resp.Header.Get("x-request-id"))
		if !row.Stream || row.Status != 200 || row.CompletionTokens != 16 || row.PromptTokens == 0 {
			t.Fatalf("row = %+v (usage must be asked upstream even when the client did not)", row)
		}
	})

	t.Run("streaming with usage requested", func(t *testing.T) {
		p := chatParams("gpt-test", "count me")
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		p.MaxCompletionTokens = openai.Int(5)
		s := c.Chat.Completions.NewStreaming(ctx, p)
		acc := openai.ChatCompletionAccumulator{}
		for s.Next() {
			acc.AddChunk(s.Current())
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.Usage.CompletionTokens != 5 || acc.Usage.PromptTokens == 0 {
			t.Fatalf("usage = %+v", acc.Usage)
		}
	})

	t.Run("bad key", func(t *testing.T) {
		_, err := in.client("sk-gate-nope").Chat.Completions.New(ctx, chatParams("gpt-test", "x"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_api_key" {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("unknown model", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, chatParams("nope", "x"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || apiErr.Param != "model" {
			t.Fatalf("err = %v", err)
		}
	})

	for _, tc := range []struct {
		behavior string
		status   int
		code     string
		retry    string
	}{
		{"error-429", 429, "rate_limit_exceeded", "1"},
		{"error-500", 502, "upstream_error", ""},
		{"error-400", 400, "", ""},
	} {
		t.Run("upstream "+tc.behavior, func(t *testing.T) {
			in.addModelAs(tc.behavior, tc.behavior, fakeURL, "upstream-secret")
			_, err := c.Chat.Completions.New(ctx, chatParams(tc.behavior, "x"))
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status {
				t.Fatalf("err = %v", err)
			}
			if tc.code != "" && apiErr.Code != tc.code {
				t.Fatalf("code = %q, want %q", apiErr.Code, tc.code)
			}
			if got := apiErr.Response.Header.Get("retry-after"); got != tc.retry {
				t.Fatalf("retry-after = %q, want %q", got, tc.retry)
			}
			row := in.usageRow(apiErr.Response.Header.Get("x-request-id"))
			if row.Status != tc.status || row.ErrorCode == "" || row.Cost != 0 {
				t.Fatalf("row = %+v", row)
			}
		})
	}

	t.Run("models lists what the key may use", func(t *testing.T) {
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 4 || page.Data[3].ID != "gpt-test" {
			t.Fatalf("models = %+v", page.Data)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		var resp *http.Response
		res, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "gpt-test",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a b c", "d"}},
		}, option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Data) != 2 {
			t.Fatalf("embeddings = %d", len(res.Data))
		}
		row := in.usageRow(resp.Header.Get("x-request-id"))
		if row.PromptTokens != res.Usage.PromptTokens || row.PromptTokens == 0 {
			t.Fatalf("row = %+v", row)
		}
	})
}

// TestClientCancelMidStream: a client that goes away cancels the upstream call,
// and the tokens produced so far are billed.
func TestClientCancelMidStream(t *testing.T) {
	forEachMode(t, testClientCancelMidStream)
}

func testClientCancelMidStream(t *testing.T, env map[string]string) {
	fake, fakeURL := newFake(t, fakeprovider.Options{TokenLatency: 30 * time.Millisecond, ReplyTokens: 200})
	in := newInstance(t, env)
	in.addModel("slow", fakeURL, "")
	c := in.client(in.addUserKey("bob"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var resp *http.Response
	s := c.Chat.Completions.NewStreaming(ctx, chatParams("slow", "tell me a long story"), option.WithResponseInto(&resp))
	got := 0
	for s.Next() {
		if len(s.Current().Choices) > 0 && s.Current().Choices[0].Delta.Content != "" {
			got++
		}
		if got == 5 {
			cancel()
			break
		}
	}
	_ = s.Close()
	if got != 5 {
		t.Fatalf("received %d chunks before cancel: %v", got, s.Err())
	}
	row := in.usageRow(resp.Header.Get("x-request-id"))
	if row.Status != 499 || row.ErrorCode != "client_closed_request" {
		t.Fatalf("row = %+v", row)
	}
	if row.CompletionTokens < 5 || row.CompletionTokens >= 200 || row.PromptTokens == 0 || row.Cost == 0 {
		t.Fatalf("partial tokens not billed: %+v", row)
	}
	deadline := time.Now().Add(3 * time.Second)
	for fake.Canceled() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if fake.Canceled() == 0 {
		t.Fatal("the upstream call was not cancelled")
	}
}
