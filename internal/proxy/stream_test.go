package proxy

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRelayNormalisesSSE(t *testing.T) {
	chunk := `{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}`
	usage := `{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}`
	long := `{"choices":[{"delta":{"content":"` + strings.Repeat("x", 100_000) + `"}}]}`
	cases := []struct {
		name       string
		in         string
		wantUsage  bool
		out        string
		failure    string
		usageSeen  bool
		contentHas string
	}{
		{
			name:      "crlf, event and id lines, usage hidden",
			in:        "event: message\r\nid: 1\r\ndata: " + chunk + "\r\n\r\n: comment\r\ndata: " + usage + "\r\n\r\ndata: [DONE]\r\n\r\n",
			out:       "data: " + chunk + "\n\ndata: [DONE]\n\n",
			usageSeen: true,
		},
		{
			name:      "usage:null removed and usage chunk hidden when not asked",
			in:        `data: {"choices":[{"delta":{"content":"a \"usage\":null"}}],"usage":null}` + "\n\n" + `data: {"usage":null,"choices":[]}` + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n",
			out:       `data: {"choices":[{"delta":{"content":"a \"usage\":null"}}]}` + "\n\n" + `data: {"choices":[]}` + "\n\ndata: [DONE]\n\n",
			usageSeen: true,
		},
		{
			name:      "usage:null kept when asked",
			in:        `data: {"choices":[{"delta":{"content":"a"}}],"usage":null}` + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n",
			wantUsage: true,
			out:       `data: {"choices":[{"delta":{"content":"a"}}],"usage":null}` + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n",
			usageSeen: true,
		},
		{
			name:      "usage forwarded when asked",
			in:        "data: " + chunk + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n",
			wantUsage: true,
			out:       "data: " + chunk + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n",
			usageSeen: true,
		},
		{
			name:      "error null dropped",
			in:        `data: {"choices":[{"delta":{"content":"a"}}],"error":null}` + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n",
			out:       `data: {"choices":[{"delta":{"content":"a"}}]}` + "\n\ndata: [DONE]\n\n",
			usageSeen: true,
		},
		{
			name:      "error null dropped, the other members kept as sent",
			in:        `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"delta":{"content":"<b>"}}],"error":null,"model":"m"}` + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n",
			out:       `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"delta":{"content":"<b>"}}],"model":"m"}` + "\n\ndata: [DONE]\n\n",
			usageSeen: true,
		},
		{
			name:    "upstream error event ends the stream",
			in:      "data: " + chunk + "\n\n" + `data: {"error":{"message":"overloaded","type":"server_error"}}` + "\n\ndata: [DONE]\n\n",
			out:     "data: " + chunk + "\n\n" + `data: {"error":{"message":"overloaded","type":"server_error"}}` + "\n\n",
			failure: "upstream_error",
		},
		{
			name:       "cut without done or usage",
			in:         "data: " + chunk + "\n\n",
			out:        "data: " + chunk + "\n\n" + `data: {"error":{"message":"The upstream closed the stream before it finished.","type":"upstream_error","param":null,"code":"upstream_stream_closed"}}` + "\n\n",
			failure:    "upstream_stream_closed",
			contentHas: `"content":"hi"`,
		},
		{
			name:      "no done but usage: finished",
			in:        "data: " + chunk + "\n\ndata: " + usage + "\n\n",
			out:       "data: " + chunk + "\n\ndata: [DONE]\n\n",
			usageSeen: true,
		},
		{
			name:      "line longer than the read buffer",
			in:        "data: " + long + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n",
			out:       "data: " + long + "\n\ndata: [DONE]\n\n",
			usageSeen: true,
		},
		{
			name:       "data without space, multi-line data joined",
			in:         "data:" + chunk + "\n\ndata: {\"choices\":\ndata: []}\n\ndata: [DONE]\n\n",
			out:        "data: " + chunk + "\n\ndata: {\"choices\":[]}\n\ndata: [DONE]\n\n",
			contentHas: `"content":"hi"`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			res := relay(context.Background(), w, strings.NewReader(c.in), c.wantUsage, time.Now(), time.Now, nil)
			if got := w.Body.String(); got != c.out {
				t.Fatalf("output:\n%q\nwant:\n%q", trim(got), trim(c.out))
			}
			if (res.failure != nil) != (c.failure != "") || (res.failure != nil && res.failure.Code != c.failure) {
				t.Fatalf("failure = %v, want %q", res.failure, c.failure)
			}
			if (res.usage != nil) != c.usageSeen {
				t.Fatalf("usage seen = %v", res.usage != nil)
			}
			if c.usageSeen && c.name != "error null dropped" && res.usage.PromptTokens != 5 {
				t.Fatalf("usage = %+v", res.usage)
			}
			if c.contentHas != "" && !strings.Contains(string(res.content), c.contentHas) {
				t.Fatalf("content not kept for local counting: %q", res.content)
			}
			if !w.Flushed {
				t.Fatal("never flushed")
			}
		})
	}
}

func trim(s string) string {
	if len(s) > 400 {
		return s[:200] + "…" + s[len(s)-200:]
	}
	return s
}

func TestStreamedText(t *testing.T) {
	content := []byte(`{"choices":[{"delta":{"role":"assistant","content":""}}]}
{"choices":[{"delta":{"content":"Hello"}}]}
{"choices":[{"delta":{"reasoning_content":"think"}}]}
{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]}}]}
not json
`)
	got := strings.Join(streamedText(content), "|")
	if got != `Hello|think|f|{"a":1}` {
		t.Fatalf("got %q", got)
	}
}
