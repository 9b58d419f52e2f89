package anthropicfake

import (
	"flag"
	"github.com/antigravity/gateway/internal/upstream/openaiwire/wiretest"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	wiretest.Golden(t, name, got, *update)
}

type reply struct {
	status int
	header http.Header
	body   string
}

func post(t *testing.T, url, body string, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", "sk-ant-fake")
	req.Header.Set("anthropic-version", "2023-06-01")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{res.StatusCode, res.Header, string(b)}
}

func server(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	s := New(o)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL + "/v1/messages"
}

const tools = `"tools":[{"name":"get_weather","description":"d","input_schema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"},"metric":{"type":"boolean"},"tags":{"type":"array"}}}},{"name":"noop","input_schema":{"type":"object"}}]`

// cases are answered both streaming and not, each by a fresh server.
func cases() []struct{ name, body, behavior string } {
	return []struct{ name, body, behavior string }{
		{"plain", `{"model":"claude-fake","max_tokens":100,"system":"Be nice.","messages":[{"role":"user","content":"hello there"}]}`, ""},
		{"max_tokens", `{"model":"claude-fake","max_tokens":3,"messages":[{"role":"user","content":[{"type":"text","text":"a b c"}]}]}`, ""},
		{"stop_sequence", `{"model":"claude-fake","max_tokens":100,"stop_sequences":["zzz","tok2"],"messages":[{"role":"user","content":"x"}]}`, ""},
		{"cached_thinking", `{"model":"claude-fake","max_tokens":2,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"one two three four five six seven eight nine"}]}`, "cached"},
		{"tool_auto", `{"model":"claude-fake","max_tokens":100,` + tools + `,"messages":[{"role":"user","content":"weather?"}]}`, ""},
		{"tool_forced", `{"model":"claude-fake","max_tokens":100,` + tools + `,"tool_choice":{"type":"tool","name":"noop"},"messages":[{"role":"user","content":"weather?"}]}`, ""},
		{"tool_answered", `{"model":"claude-fake","max_tokens":4,` + tools + `,"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"noop","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny and warm"}]}]}`, ""},
		{"error_midstream", `{"model":"claude-fake","max_tokens":100,"messages":[{"role":"user","content":"x"}]}`, "error-midstream"},
	}
}

func TestMessages(t *testing.T) {
	for _, tt := range cases() {
		for _, stream := range []bool{false, true} {
			name, body := tt.name, tt.body
			if stream {
				name += "_stream"
				body = strings.Replace(body, `{"model"`, `{"stream":true,"model"`, 1)
			}
			t.Run(name, func(t *testing.T) {
				_, url := server(t, Options{})
				r := post(t, url, body, map[string]string{BehaviorHeader: tt.behavior})
				want := map[bool]string{false: "application/json", true: "text/event-stream; charset=utf-8"}[stream]
				if tt.behavior == "error-midstream" && !stream {
					want = "application/json"
					if r.status != 529 {
						t.Errorf("status %d, want 529", r.status)
					}
				} else if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				if ct := r.header.Get("Content-Type"); ct != want {
					t.Errorf("Content-Type %q, want %q", ct, want)
				}
				golden(t, name, []byte(r.body))
			})
		}
	}
}

func TestFailures(t *testing.T) {
	valid := `{"model":"claude-fake","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`
	tests := []struct {
		name   string
		body   string
		header map[string]string
		status int
		want   string // the error type and message
	}{
		{"500", valid, map[string]string{BehaviorHeader: "error-500"}, 500, `"api_error","message":"Internal server error"`},
		{"429", valid, map[string]string{BehaviorHeader: "error-429"}, 429, `"rate_limit_error"`},
		{"400", valid, map[string]string{BehaviorHeader: "error-400"}, 400, `"invalid_request_error","message":"Invalid request (fake error-400)."`},
		{"overloaded by model", `{"model":"overloaded","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`, nil, 529, `"overloaded_error","message":"Overloaded"`},
		{"no key", valid, map[string]string{"x-api-key": ""}, 401, `"authentication_error","message":"x-api-key header is required"`},
		{"wrong key", valid, map[string]string{"x-api-key": "other"}, 401, `"authentication_error","message":"invalid x-api-key"`},
		{"no version", valid, map[string]string{"anthropic-version": ""}, 400, `"anthropic-version: header is required"`},
		{"no max_tokens", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, nil, 400, `"max_tokens: Field required"`},
		{"no model", `{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, nil, 400, `"model: Field required"`},
		{"no messages", `{"model":"m","max_tokens":1,"messages":[]}`, nil, 400, `at least one message is required`},
		{"system role", `{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, nil, 400, `messages.0.role`},
		{"empty text", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, nil, 400, `text content blocks must be non-empty`},
		{"orphan tool_result", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t9","content":"x"}]}]}`, nil, 400, "unexpected `tool_use_id`"},
		{"tool_choice without tools", `{"model":"m","max_tokens":1,"tool_choice":{"type":"auto"},"messages":[{"role":"user","content":"x"}]}`, nil, 400, `tool_choice may only be specified while providing tools`},
		{"unknown block", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, nil, 400, `Input tag 'image_url'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := server(t, Options{APIKey: "sk-ant-fake"})
			r := post(t, url, tt.body, tt.header)
			if r.status != tt.status || !strings.Contains(r.body, tt.want) || !strings.HasPrefix(r.body, `{"type":"error","error":{"type":`) {
				t.Errorf("got %d %s\nwant %d …%s…", r.status, r.body, tt.status, tt.want)
			}
		})
	}
}

func TestNotFoundAndRecording(t *testing.T) {
	s, url := server(t, Options{})
	r := post(t, strings.TrimSuffix(url, "/v1/messages")+"/v1/complete", `{}`, nil)
	if r.status != 404 || !strings.Contains(r.body, "not_found_error") {
		t.Errorf("got %d %s", r.status, r.body)
	}
	post(t, url, `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, nil)
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[1].Path != "/v1/messages" || reqs[1].Header.Get("anthropic-version") != "2023-06-01" ||
		!strings.Contains(string(reqs[1].Body), `"max_tokens":1`) {
		t.Fatalf("recorded %+v", reqs)
	}
	s.Reset()
	if len(s.Requests()) != 0 {
		t.Error("Reset kept requests")
	}
}

func TestRecordLimit(t *testing.T) {
	s, url := server(t, Options{RecordLimit: 2})
	for _, m := range []string{"a", "b", "c"} {
		post(t, url, `{"model":"`+m+`","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, nil)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || !strings.Contains(string(reqs[0].Body), `"model":"b"`) {
		t.Errorf("kept %d requests, first %s", len(reqs), reqs[0].Body)
	}
}

func TestLatency(t *testing.T) {
	_, url := server(t, Options{TokenLatency: 20 * time.Millisecond, ReplyTokens: 4})
	start := time.Now()
	post(t, url, `{"model":"m","stream":true,"max_tokens":10,"messages":[{"role":"user","content":"x"}]}`, nil)
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("a 4-word stream took %v, want at least 3 token latencies", d)
	}
}

func TestFailMidstream(t *testing.T) {
	_, url := server(t, Options{})
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"model":"fail-midstream","stream":true,"max_tokens":10,"messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("x-api-key", "k")
	req.Header.Set("anthropic-version", "2023-06-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil || !strings.Contains(string(b), `"text":" tok2"`) || strings.Contains(string(b), "message_stop") {
		t.Errorf("err %v, body %s", err, b)
	}
}

func TestPromptTokens(t *testing.T) {
	tests := []struct {
		body string
		want int
	}{
		{`{"system":"a b","messages":[{"role":"user","content":"c d e"}]}`, 2 + 3 + 3},
		{`{"system":[{"type":"text","text":"a"}],"messages":[{"role":"user","content":[{"type":"text","text":"b"},{"type":"image"},{"type":"tool_result","content":[{"type":"text","text":"c d"}]}]}]}`, 1 + 3 + 1 + 2},
		{`not json`, 0},
	}
	for _, tt := range tests {
		if got := PromptTokens([]byte(tt.body)); got != tt.want {
			t.Errorf("PromptTokens(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
}
