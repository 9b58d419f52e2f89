package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/antigravity/gateway/internal/metrics"
)

// cannedTransport answers every upstream call with body, as JSON or as an
// event stream.
type cannedTransport struct {
	body   string
	stream bool
}

func (c cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, req.Body)
	h := http.Header{"Content-Type": {"application/json"}}
	if c.stream {
		h.Set("Content-Type", "text/event-stream")
	}
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(c.body)), Request: req}, nil
}

// TestNegativeUpstreamUsage: an upstream that reports negative token counts
// is not believed. Its row would fail the usage tables' checks (and hold up
// every row batched with it), and a Prometheus counter panics on a negative
// add; the tokens are counted locally instead, as for a reply without usage.
func TestNegativeUpstreamUsage(t *testing.T) {
	const choice = `"choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}]`
	for _, tc := range []struct {
		name   string
		canned cannedTransport
		body   string
	}{
		{"non-streamed", cannedTransport{body: `{"id":"x","object":"chat.completion",` + choice +
			`,"usage":{"prompt_tokens":-50,"completion_tokens":3,"completion_tokens_details":{"reasoning_tokens":-1}}}`},
			`{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
		{"streamed", cannedTransport{stream: true, body: "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello there\"}}]}\n\n" +
			"data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":-7,\"prompt_tokens_details\":{\"cached_tokens\":-2}}}\n\n" +
			"data: [DONE]\n\n"},
			`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux, sink := newTestHandlerWith(t, func(d *Deps) {
				d.Client = &http.Client{Transport: tc.canned}
				d.Metrics = metrics.New()
			})
			w := post(mux, "good", []byte(tc.body))
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if sink.count() != 1 {
				t.Fatalf("%d usage rows, want 1", sink.count())
			}
			r := sink.rows[0]
			if r.PromptTokens < 0 || r.CompletionTokens <= 0 || r.CachedTokens < 0 || r.ReasoningTokens < 0 || r.Cost <= 0 {
				t.Errorf("row prompt %d completion %d cached %d reasoning %d cost %d: want counts ≥ 0 (completion and cost > 0, counted locally)",
					r.PromptTokens, r.CompletionTokens, r.CachedTokens, r.ReasoningTokens, r.Cost)
			}
		})
	}
}
