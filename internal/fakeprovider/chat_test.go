package fakeprovider

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const usageZero = `"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}`

func TestChatNonStreaming(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	// "hello there friend" is 3 words + 3 for the message: 6 prompt tokens.
	tests := []struct {
		name   string
		body   string
		header map[string]string
		want   string
	}{
		{
			name: "default length",
			body: chatBody("gpt-4o", "hello there friend", ""),
			want: `{"id":"ID","object":"chat.completion","created":CREATED,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 tok8 tok9 tok10 tok11 tok12 tok13 tok14 tok15","refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
				`"usage":{"prompt_tokens":6,"completion_tokens":16,"total_tokens":22,` + usageZero + `},"service_tier":"default","system_fingerprint":"fp_fake"}` + "\n",
		},
		{
			name: "max_tokens cuts the reply",
			body: chatBody("gpt-4o", "hello there friend", `"max_tokens":3`),
			want: `{"id":"ID","object":"chat.completion","created":CREATED,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"tok0 tok1 tok2","refusal":null},"logprobs":null,"finish_reason":"length"}],` +
				`"usage":{"prompt_tokens":6,"completion_tokens":3,"total_tokens":9,` + usageZero + `},"service_tier":"default","system_fingerprint":"fp_fake"}` + "\n",
		},
		{
			name: "max_completion_tokens wins over max_tokens",
			body: chatBody("o3", "hi", `"max_tokens":10,"max_completion_tokens":1`),
			want: `{"id":"ID","object":"chat.completion","created":CREATED,"model":"o3","choices":[{"index":0,"message":{"role":"assistant","content":"tok0","refusal":null},"logprobs":null,"finish_reason":"length"}],` +
				`"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5,` + usageZero + `},"service_tier":"default","system_fingerprint":"fp_fake"}` + "\n",
		},
		{
			name: "cached by header",
			body: chatBody("gpt-4o", "one two three four five six seven", `"max_tokens":4`),
			// 7 words + 3 = 10 prompt tokens, 5 of them cached.
			header: map[string]string{BehaviorHeader: "cached"},
			want: `{"id":"ID","object":"chat.completion","created":CREATED,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"tok0 tok1 tok2 tok3","refusal":null},"logprobs":null,"finish_reason":"length"}],` +
				`"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":5,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_fake"}` + "\n",
		},
		{
			name: "no-usage by model",
			body: chatBody("no-usage", "hi", `"max_tokens":2`),
			want: `{"id":"ID","object":"chat.completion","created":CREATED,"model":"no-usage","choices":[{"index":0,"message":{"role":"assistant","content":"tok0 tok1","refusal":null},"logprobs":null,"finish_reason":"length"}],"service_tier":"default","system_fingerprint":"fp_fake"}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, ts.URL+"/v1/chat/completions", tt.body, tt.header)
			if r.status != http.StatusOK || r.err != nil {
				t.Fatalf("status %d err %v body %s", r.status, r.err, r.body)
			}
			if want := fill(t, tt.want, r.body); r.body != want {
				t.Errorf("body\n got %s\nwant %s", r.body, want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if !strings.HasPrefix(r.header.Get("X-Request-Id"), "req_chatcmpl-fake") {
				t.Errorf("X-Request-Id = %q", r.header.Get("X-Request-Id"))
			}
		})
	}
}

func TestChatPathsAndIDs(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	ids := map[string]bool{}
	for _, path := range []string{"/v1/chat/completions", "/chat/completions"} {
		r := post(t, ts.URL+path, chatBody("m", "x", ""), nil)
		if r.status != 200 {
			t.Fatalf("%s: status %d", path, r.status)
		}
		var c struct{ ID string }
		if err := json.Unmarshal([]byte(r.body), &c); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.ID, "chatcmpl-") || ids[c.ID] {
			t.Errorf("%s: id %q not a fresh chatcmpl- id", path, c.ID)
		}
		ids[c.ID] = true
	}
}

// streamWant is the exact stream of a 2-word reply to model "gpt-4o" with
// usage: prompt 4, cut by max_tokens.
const streamHead = `data: {"id":"ID","object":"chat.completion.chunk","created":CREATED,"model":"gpt-4o","service_tier":"default","system_fingerprint":"fp_fake","choices":`

func TestChatStreamingFraming(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	role := `[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]`
	w0 := `[{"index":0,"delta":{"content":"tok0"},"logprobs":null,"finish_reason":null}]`
	w1 := `[{"index":0,"delta":{"content":" tok1"},"logprobs":null,"finish_reason":null}]`
	length := `[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]`
	stop := `[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]`
	ev := func(choices, tail string) string { return streamHead + choices + tail + "\n\n" }
	usage := func(cached, reasoning string) string {
		return `,"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6,"prompt_tokens_details":{"cached_tokens":` + cached +
			`,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":` + reasoning +
			`,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`
	}
	const done = "data: [DONE]\n\n"
	tests := []struct {
		name   string
		extra  string
		header map[string]string
		want   string
	}{
		{
			name:  "without usage",
			extra: `"stream":true,"max_tokens":2`,
			want:  ev(role, "}") + ev(w0, "}") + ev(w1, "}") + ev(length, "}") + done,
		},
		{
			name:  "include_usage false",
			extra: `"stream":true,"max_tokens":2,"stream_options":{"include_usage":false}`,
			want:  ev(role, "}") + ev(w0, "}") + ev(w1, "}") + ev(length, "}") + done,
		},
		{
			name:  "with usage",
			extra: `"stream":true,"max_tokens":2,"stream_options":{"include_usage":true}`,
			want: ev(role, `,"usage":null}`) + ev(w0, `,"usage":null}`) + ev(w1, `,"usage":null}`) +
				ev(length, `,"usage":null}`) + ev("[]", usage("0", "0")) + done,
		},
		{
			name:   "cached with usage",
			extra:  `"stream":true,"max_tokens":2,"stream_options":{"include_usage":true}`,
			header: map[string]string{BehaviorHeader: "cached"},
			want: ev(role, `,"usage":null}`) + ev(w0, `,"usage":null}`) + ev(w1, `,"usage":null}`) +
				ev(length, `,"usage":null}`) + ev("[]", usage("2", "2")) + done,
		},
		{
			name:   "no-usage even when asked",
			extra:  `"stream":true,"max_tokens":2,"stream_options":{"include_usage":true}`,
			header: map[string]string{BehaviorHeader: "no-usage"},
			want: ev(role, `,"usage":null}`) + ev(w0, `,"usage":null}`) + ev(w1, `,"usage":null}`) +
				ev(length, `,"usage":null}`) + done,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, ts.URL+"/v1/chat/completions", chatBody("gpt-4o", "hi", tt.extra), tt.header)
			if r.status != http.StatusOK || r.err != nil {
				t.Fatalf("status %d err %v body %s", r.status, r.err, r.body)
			}
			if want := fill(t, tt.want, r.body); r.body != want {
				t.Errorf("stream\n got %q\nwant %q", r.body, want)
			}
			if ct := r.header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}

	// A full-length stream ends with "stop" and carries one word per chunk.
	r := post(t, ts.URL+"/v1/chat/completions", chatBody("gpt-4o", "hi", `"stream":true`), nil)
	events := strings.Split(strings.TrimSuffix(r.body, "\n\n"), "\n\n")
	if len(events) != 1+16+1+1 {
		t.Fatalf("%d events, want 19", len(events))
	}
	var content strings.Builder
	for _, e := range events[1:17] {
		var c struct {
			Choices []struct {
				Delta struct{ Content string }
			}
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(e, "data: ")), &c); err != nil {
			t.Fatalf("event %q: %v", e, err)
		}
		content.WriteString(c.Choices[0].Delta.Content)
	}
	if got, want := content.String(), ReplyContent(16); got != want {
		t.Errorf("streamed content %q, want %q", got, want)
	}
	if want := fill(t, ev(stop, "}"), r.body); events[17]+"\n\n" != want {
		t.Errorf("finish event %q, want %q", events[17], want)
	}
}

func TestChatStreamFlushesEachChunk(t *testing.T) {
	_, ts := newTestServer(t, Options{TokenLatency: 30 * time.Millisecond})
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/chat/completions",
		strings.NewReader(chatBody("gpt-4o", "hi", `"stream":true,"max_tokens":4`)))
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	var at []time.Duration
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasPrefix(line, "data: ") {
			at = append(at, time.Since(start))
		}
	}
	// role, 4 words, finish, [DONE]
	if len(at) != 7 {
		t.Fatalf("%d events, want 7", len(at))
	}
	// Each word reaches the client on its own, 30ms after the previous one (a
	// buffered reply would deliver them all at once).
	if d := at[4] - at[1]; d < 90*time.Millisecond {
		t.Errorf("first to fourth word took %v, want >= 90ms (events at %v)", d, at)
	}
}

func TestChatLatency(t *testing.T) {
	_, ts := newTestServer(t, Options{FirstTokenLatency: 40 * time.Millisecond, TokenLatency: 10 * time.Millisecond})
	tests := []struct {
		name  string
		extra string
		min   time.Duration
	}{
		{"non-streamed waits for every token", `"max_tokens":5`, 80 * time.Millisecond},
		{"streamed", `"stream":true,"max_tokens":5`, 80 * time.Millisecond},
	}
	for _, tt := range tests {
		start := time.Now()
		r := post(t, ts.URL+"/v1/chat/completions", chatBody("m", "hi", tt.extra), nil)
		if el := time.Since(start); el < tt.min || r.status != 200 {
			t.Errorf("%s: took %v status %d, want >= %v", tt.name, el, r.status, tt.min)
		}
	}
}

func TestChatErrors(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	tests := []struct {
		name       string
		body       string
		header     map[string]string
		status     int
		want       string
		retryAfter string
	}{
		{"500 by model", chatBody("error-500", "hi", ""), nil, 500,
			`{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}` + "\n", ""},
		{"429 by header", chatBody("gpt-4o", "hi", `"stream":true`), map[string]string{BehaviorHeader: "error-429"}, 429,
			`{"error":{"message":"Rate limit reached for requests per min (RPM): Limit 1, Used 1, Requested 1. Please try again in 1s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}` + "\n", "1"},
		{"400 by model", chatBody("error-400", "hi", ""), nil, 400,
			`{"error":{"message":"Invalid request (fake error-400).","type":"invalid_request_error","param":null,"code":null}}` + "\n", ""},
		{"header wins over model", chatBody("error-500", "hi", `"max_tokens":1`), map[string]string{BehaviorHeader: "error-400"}, 400,
			`{"error":{"message":"Invalid request (fake error-400).","type":"invalid_request_error","param":null,"code":null}}` + "\n", ""},
		{"invalid JSON", `{"model":`, nil, 400,
			`{"error":{"message":"We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)","type":"invalid_request_error","param":null,"code":null}}` + "\n", ""},
		{"no model", `{"messages":[{"role":"user","content":"x"}]}`, nil, 400,
			`{"error":{"message":"you must provide a model parameter","type":"invalid_request_error","param":null,"code":null}}` + "\n", ""},
		{"no messages", `{"model":"m"}`, nil, 400,
			`{"error":{"message":"Missing required parameter: 'messages'.","type":"invalid_request_error","param":"messages","code":"missing_required_parameter"}}` + "\n", ""},
		{"empty messages", `{"model":"m","messages":[]}`, nil, 400,
			`{"error":{"message":"Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.","type":"invalid_request_error","param":"messages","code":"empty_array"}}` + "\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, ts.URL+"/v1/chat/completions", tt.body, tt.header)
			if r.status != tt.status || r.body != tt.want {
				t.Errorf("got %d %s\nwant %d %s", r.status, r.body, tt.status, tt.want)
			}
			if got := r.header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("retry-after = %q, want %q", got, tt.retryAfter)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
	// A header naming no known behaviour disables the model's.
	r := post(t, ts.URL+"/v1/chat/completions", chatBody("error-500", "hi", ""), map[string]string{BehaviorHeader: "none"})
	if r.status != 200 {
		t.Errorf("unknown header behaviour: status %d, want 200", r.status)
	}
}

func TestChatSlow(t *testing.T) {
	_, ts := newTestServer(t, Options{SlowDelay: 100 * time.Millisecond})
	start := time.Now()
	r := post(t, ts.URL+"/v1/chat/completions", chatBody("slow", "hi", ""), nil)
	if el := time.Since(start); el < 100*time.Millisecond || r.status != 200 {
		t.Errorf("slow took %v, status %d; want >= 100ms, 200", el, r.status)
	}
	if got := New(Options{}).o.SlowDelay; got != 2*time.Second {
		t.Errorf("default SlowDelay = %v, want 2s", got)
	}
}

func TestChatHangCountsCancel(t *testing.T) {
	fp, ts := newTestServer(t, Options{})
	tests := []struct {
		name, body string
		header     map[string]string
	}{
		{"hang", chatBody("hang", "hi", ""), nil},
		{"slow", chatBody("gpt-4o", "hi", `"stream":true`), map[string]string{BehaviorHeader: "slow"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			r := do(t, ctx, http.MethodPost, ts.URL+"/v1/chat/completions", tt.body, tt.header)
			if !errors.Is(r.err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want deadline exceeded", r.err)
			}
			eventually(t, "the cancel to be counted", func() bool { return fp.Canceled() == int64(i+1) && fp.Inflight() == 0 })
		})
	}
}

func TestChatStreamClientGoesAway(t *testing.T) {
	fp, ts := newTestServer(t, Options{TokenLatency: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/chat/completions",
		strings.NewReader(chatBody("gpt-4o", "hi", `"stream":true`)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(res.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if got := fp.Inflight(); got != 1 {
		t.Errorf("Inflight during the stream = %d, want 1", got)
	}
	cancel()
	res.Body.Close()
	eventually(t, "the cancel to be counted", func() bool { return fp.Canceled() == 1 && fp.Inflight() == 0 })

	// A stream read to the end is not a cancel.
	r := post(t, ts.URL+"/v1/chat/completions", chatBody("gpt-4o", "hi", `"stream":true,"max_tokens":2`), nil)
	if r.err != nil || !strings.HasSuffix(r.body, "data: [DONE]\n\n") {
		t.Fatalf("err %v body %q", r.err, r.body)
	}
	eventually(t, "the request to end", func() bool { return fp.Inflight() == 0 })
	if got := fp.Canceled(); got != 1 {
		t.Errorf("Canceled = %d, want 1", got)
	}
}

func TestChatFailMidstream(t *testing.T) {
	fp, ts := newTestServer(t, Options{})
	// Streamed: role chunk and three words, then the connection drops.
	r := post(t, ts.URL+"/v1/chat/completions", chatBody("fail-midstream", "hi", `"stream":true`), nil)
	if r.status != 200 || !errors.Is(r.err, io.ErrUnexpectedEOF) {
		t.Fatalf("status %d err %v, want 200 and unexpected EOF", r.status, r.err)
	}
	events := strings.Split(strings.TrimSuffix(r.body, "\n\n"), "\n\n")
	if len(events) != 4 {
		t.Fatalf("%d events before the abort, want 4: %q", len(events), r.body)
	}
	if !strings.Contains(events[3], `"delta":{"content":" tok2"}`) || strings.Contains(r.body, "[DONE]") ||
		strings.Contains(r.body, `"finish_reason":"stop"`) {
		t.Errorf("unexpected stream before abort: %q", r.body)
	}
	// Not streamed: half the body, then the connection drops.
	r = post(t, ts.URL+"/v1/chat/completions", chatBody("gpt-4o", "hi", ""), map[string]string{BehaviorHeader: "fail-midstream"})
	if r.status != 200 || !errors.Is(r.err, io.ErrUnexpectedEOF) {
		t.Fatalf("status %d err %v, want 200 and unexpected EOF", r.status, r.err)
	}
	if !strings.HasPrefix(r.body, `{"id":"chatcmpl-`) || json.Valid([]byte(r.body)) {
		t.Errorf("partial body %q", r.body)
	}
	eventually(t, "requests to end", func() bool { return fp.Inflight() == 0 })
	if got := fp.Canceled(); got != 0 {
		t.Errorf("Canceled = %d, want 0 (the server aborted, not the client)", got)
	}
}

func TestChatManyConcurrentStreams(t *testing.T) {
	fp, ts := newTestServer(t, Options{TokenLatency: time.Millisecond, RecordLimit: -1})
	const n = 300
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	body := chatBody("gpt-4o", "hi", `"stream":true,"stream_options":{"include_usage":true}`)
	for range n {
		wg.Go(func() {
			res, err := client.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil || !strings.HasSuffix(string(b), `"completion_tokens":16,"total_tokens":20,`+usageZero+"}}\n\ndata: [DONE]\n\n") {
				errs <- errors.New("bad stream: " + string(b[max(0, len(b)-200):]))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(fp.Requests()); got != 0 {
		t.Errorf("recorded %d requests with recording off", got)
	}
}

func BenchmarkStream(b *testing.B) {
	fp := New(Options{RecordLimit: -1})
	body := []byte(chatBody("gpt-4o", "hello there", `"stream":true,"stream_options":{"include_usage":true}`))
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(string(body)))
		w := &discardWriter{h: http.Header{}}
		fp.ServeHTTP(w, req)
	}
}

// discardWriter is a flushable ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}
