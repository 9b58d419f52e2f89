package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/fakeprovider/anthropicfake"
	"github.com/antigravity/gateway/internal/fakeprovider/geminifake"
)

// addEndpoint adds an endpoint to an existing model.
func (in *instance) addEndpoint(model string, body map[string]any) {
	in.t.Helper()
	in.mustAdmin(201, "POST", "/admin/api/models/"+model+"/endpoints", body, nil)
	in.reload()
}

func (in *instance) addBareModel(name string) {
	in.t.Helper()
	in.mustAdmin(201, "POST", "/admin/api/models", map[string]any{
		"name": name, "context_window": 16000, "max_output_tokens": 4000,
		"input_price_per_1m": 1, "output_price_per_1m": 2, "routing": "weighted",
	}, nil)
}

// TestFailover: a failing first-priority endpoint is retried on the next one
// before anything reaches the client; a stream that already sent bytes is not.
func TestFailover(t *testing.T) {
	_, fakeURL := newFake(t, fakeprovider.Options{SlowDelay: 3e9})
	in := newInstance(t, map[string]string{"GATEWAY_UPSTREAM_HEADER_TIMEOUT": "500ms"})
	key := in.addUserKey("erin")
	c := in.client(key)
	ctx := context.Background()
	for _, behavior := range []string{"error-500", "error-429", "slow"} {
		t.Run(behavior, func(t *testing.T) {
			model := "fo-" + behavior
			in.addBareModel(model)
			in.addEndpoint(model, map[string]any{"provider": "openai_compatible", "base_url": fakeURL, "upstream_model": behavior, "priority": 1})
			in.addEndpoint(model, map[string]any{"provider": "openai_compatible", "base_url": fakeURL, "upstream_model": "good", "priority": 2})
			var resp *http.Response
			res, err := c.Chat.Completions.New(ctx, chatParams(model, "hi"), option.WithResponseInto(&resp))
			if err != nil {
				t.Fatalf("request did not fail over: %v", err)
			}
			if res.Choices[0].Message.Content == "" {
				t.Fatal("empty answer")
			}
			row := in.usageRow(resp.Header.Get("x-request-id"))
			if row.Attempts != 2 || row.Status != 200 {
				t.Fatalf("row attempts=%d status=%d", row.Attempts, row.Status)
			}
		})
	}

	t.Run("circuit breaker skips a failing endpoint", func(t *testing.T) {
		model := "fo-breaker"
		in.addBareModel(model)
		in.addEndpoint(model, map[string]any{"provider": "openai_compatible", "base_url": fakeURL, "upstream_model": "error-500", "priority": 1})
		in.addEndpoint(model, map[string]any{"provider": "openai_compatible", "base_url": fakeURL, "upstream_model": "good", "priority": 2})
		for i := 0; i < 3; i++ { // trips after 3 consecutive failures
			if _, err := c.Chat.Completions.New(ctx, chatParams(model, "hi")); err != nil {
				t.Fatal(err)
			}
		}
		var resp *http.Response
		if _, err := c.Chat.Completions.New(ctx, chatParams(model, "hi"), option.WithResponseInto(&resp)); err != nil {
			t.Fatal(err)
		}
		if row := in.usageRow(resp.Header.Get("x-request-id")); row.Attempts != 1 {
			t.Fatalf("cooling endpoint still tried first: attempts=%d", row.Attempts)
		}
	})

	t.Run("stream that already sent bytes is not retried", func(t *testing.T) {
		model := "fo-midstream"
		in.addBareModel(model)
		in.addEndpoint(model, map[string]any{"provider": "openai_compatible", "base_url": fakeURL, "upstream_model": "fail-midstream", "priority": 1})
		in.addEndpoint(model, map[string]any{"provider": "openai_compatible", "base_url": fakeURL, "upstream_model": "good", "priority": 2})
		var resp *http.Response
		s := c.Chat.Completions.NewStreaming(ctx, chatParams(model, "hi"), option.WithResponseInto(&resp))
		var text strings.Builder
		for s.Next() {
			if len(s.Current().Choices) > 0 {
				text.WriteString(s.Current().Choices[0].Delta.Content)
			}
		}
		if s.Err() == nil {
			t.Fatal("a cut stream must end with an error event")
		}
		if text.String() != fakeprovider.ReplyContent(3) {
			t.Fatalf("client received %q", text.String())
		}
		row := in.usageRow(resp.Header.Get("x-request-id"))
		if row.Attempts != 1 || row.Status != 502 || row.CompletionTokens == 0 {
			t.Fatalf("row = %+v", row)
		}
	})

	t.Run("all endpoints at their limit: 429 with retry-after", func(t *testing.T) {
		model := "fo-limited"
		in.addBareModel(model)
		in.addEndpoint(model, map[string]any{"provider": "openai_compatible", "base_url": fakeURL, "upstream_model": "good", "rpm_limit": 1})
		if _, err := c.Chat.Completions.New(ctx, chatParams(model, "hi")); err != nil {
			t.Fatal(err)
		}
		_, err := c.Chat.Completions.New(ctx, chatParams(model, "hi"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" {
			t.Fatalf("err = %v", err)
		}
		if apiErr.Response.Header.Get("retry-after-ms") == "" || apiErr.Response.Header.Get("retry-after") == "" {
			t.Fatalf("no retry-after headers: %v", apiErr.Response.Header)
		}
	})
}

// TestTranslatedProviders: Anthropic and Gemini endpoints through the whole
// gateway with openai-go, streaming included, with usage billed.
func TestTranslatedProviders(t *testing.T) {
	in := newInstance(t, nil)
	c := in.client(in.addUserKey("fay"))
	ctx := context.Background()
	an := newServer(t, anthropicfake.New(anthropicfake.Options{APIKey: "ak"}))
	ge := newServer(t, geminifake.New(geminifake.Options{APIKey: "gk"}))
	for _, p := range []struct{ provider, base, key string }{{"anthropic", an, "ak"}, {"gemini", ge, "gk"}} {
		t.Run(p.provider, func(t *testing.T) {
			model := "tr-" + p.provider
			in.addBareModel(model)
			in.addEndpoint(model, map[string]any{"provider": p.provider, "base_url": p.base, "upstream_model": "up-model", "api_key": p.key})
			var resp *http.Response
			res, err := c.Chat.Completions.New(ctx, chatParams(model, "hello there"), option.WithResponseInto(&resp))
			if err != nil {
				t.Fatal(err)
			}
			if res.Choices[0].Message.Content == "" || res.Usage.CompletionTokens == 0 {
				t.Fatalf("answer %+v", res)
			}
			row := in.usageRow(resp.Header.Get("x-request-id"))
			if row.PromptTokens != res.Usage.PromptTokens || row.CompletionTokens != res.Usage.CompletionTokens || row.Cost == 0 {
				t.Fatalf("row %+v vs usage %+v", row, res.Usage)
			}

			p2 := chatParams(model, "stream it")
			p2.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			s := c.Chat.Completions.NewStreaming(ctx, p2, option.WithResponseInto(&resp))
			acc := openai.ChatCompletionAccumulator{}
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if acc.Choices[0].Message.Content == "" || acc.Usage.CompletionTokens == 0 {
				t.Fatalf("stream %+v", acc.ChatCompletion)
			}
			row = in.usageRow(resp.Header.Get("x-request-id"))
			if row.CompletionTokens != acc.Usage.CompletionTokens || !row.Stream || row.Status != 200 {
				t.Fatalf("stream row %+v", row)
			}
		})
	}
}

// TestGeminiBadCredential: Gemini refuses a bad key with 400; the caller gets
// the gateway's 502 upstream_auth_error, not a 400 blaming its request.
func TestGeminiBadCredential(t *testing.T) {
	in := newInstance(t, nil)
	c := in.client(in.addUserKey("ivy"))
	ge := newServer(t, geminifake.New(geminifake.Options{APIKey: "right"}))
	in.addBareModel("ge-bad")
	in.addEndpoint("ge-bad", map[string]any{"provider": "gemini", "base_url": ge, "upstream_model": "m", "api_key": "wrong"})
	_, err := c.Chat.Completions.New(context.Background(), chatParams("ge-bad", "hi"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Code != "upstream_auth_error" {
		t.Fatalf("err = %v", err)
	}
}

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	return newServerURL(t, h)
}

// TestDrainAndHealth: GET /admin/api/endpoints/{id} shows live health; a
// drained endpoint takes no new requests while its in-flight stream finishes.
func TestDrainAndHealth(t *testing.T) {
	fake, fakeURL := newFake(t, fakeprovider.Options{TokenLatency: 20 * time.Millisecond, ReplyTokens: 20})
	in := newInstance(t, nil)
	c := in.client(in.addUserKey("gus"))
	ctx := context.Background()
	in.addBareModel("dr")
	var a, b struct {
		ID int64 `json:"id"`
	}
	in.mustAdmin(201, "POST", "/admin/api/models/dr/endpoints", map[string]any{"provider": "openai_compatible", "base_url": fakeURL, "upstream_model": "first", "priority": 1}, &a)
	in.mustAdmin(201, "POST", "/admin/api/models/dr/endpoints", map[string]any{"provider": "openai_compatible", "base_url": fakeURL, "upstream_model": "second", "priority": 2}, &b)
	in.reload()

	s := c.Chat.Completions.NewStreaming(ctx, chatParams("dr", "long"))
	if !s.Next() {
		t.Fatalf("stream did not start: %v", s.Err())
	}
	var drained struct {
		Draining bool `json:"draining"`
		Health   struct {
			State    string `json:"state"`
			Inflight int64  `json:"inflight"`
		} `json:"health"`
	}
	in.mustAdmin(200, "POST", fmt.Sprintf("/admin/api/endpoints/%d/drain", a.ID), nil, &drained)
	in.reload()
	in.mustAdmin(200, "GET", fmt.Sprintf("/admin/api/endpoints/%d", a.ID), nil, &drained)
	if !drained.Draining || drained.Health.State != "draining" || drained.Health.Inflight != 1 {
		t.Fatalf("after drain: %+v", drained)
	}
	fake.Reset()
	if _, err := c.Chat.Completions.New(ctx, chatParams("dr", "new request")); err != nil {
		t.Fatal(err)
	}
	if reqs := fake.Requests(); len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), `"model":"second"`) {
		t.Fatalf("new request went to the drained endpoint: %d requests", len(reqs))
	}
	n := 1
	for s.Next() {
		n++
	}
	if s.Err() != nil || n < 20 {
		t.Fatalf("in-flight stream on the drained endpoint did not finish: %d events, %v", n, s.Err())
	}
	in.mustAdmin(200, "POST", fmt.Sprintf("/admin/api/endpoints/%d/undrain", a.ID), nil, nil)
	in.reload()
	var h struct {
		Health struct{ State string } `json:"health"`
	}
	in.mustAdmin(200, "GET", fmt.Sprintf("/admin/api/endpoints/%d", a.ID), nil, &h)
	if h.Health.State != "healthy" {
		t.Fatalf("after undrain: %+v", h)
	}
}

// TestEndpointRPMAcrossReplicas: two production instances sharing Redis admit
// exactly an endpoint's RPM between them; the rest get 429 with retry-after.
func TestEndpointRPMAcrossReplicas(t *testing.T) {
	env := productionEnv(t)
	_, fakeURL := newFake(t, fakeprovider.Options{RecordLimit: -1})
	a := newInstance(t, env)
	b := newInstance(t, env)
	model := fmt.Sprintf("rpm-%d", time.Now().UnixNano()) // limiter keys live in the shared Redis
	a.mustAdmin(201, "POST", "/admin/api/models", map[string]any{
		"name": model, "context_window": 16000, "max_output_tokens": 4000,
		"input_price_per_1m": 1, "output_price_per_1m": 2, "routing": "usage",
	}, nil)
	a.addEndpoint(model, map[string]any{"provider": "openai_compatible", "base_url": fakeURL, "upstream_model": "good", "rpm_limit": 5})
	b.reload()
	key := a.addUserKey("hal")
	clients := []*openai.Client{a.client(key), b.client(key)}
	ok, limited := 0, 0
	startMinute := time.Now().UTC().Truncate(time.Minute)
	for i := 0; i < 12; i++ {
		_, err := clients[i%2].Chat.Completions.New(context.Background(), chatParams(model, "hi"))
		var apiErr *openai.Error
		switch {
		case err == nil:
			ok++
		case errors.As(err, &apiErr) && apiErr.StatusCode == 429 && apiErr.Response.Header.Get("retry-after") != "":
			limited++
		default:
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// The window is one UTC minute: a test straddling a minute boundary may see
	// up to twice the limit, never more.
	want := 5
	if !time.Now().UTC().Truncate(time.Minute).Equal(startMinute) {
		want = 10 // straddled a minute boundary: two windows
	}
	if ok > want || ok < 5 || ok+limited != 12 {
		t.Fatalf("admitted %d, limited %d; want %d admitted", ok, limited, want)
	}
}
