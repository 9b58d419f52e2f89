package proxy

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/antigravity/gateway/internal/apierror"
)

func TestParseRequest(t *testing.T) {
	cases := []struct {
		name      string
		body      string
		wantParam string // "" with wantErr false: success
		wantErr   bool
		model     string
		stream    bool
		usage     bool
		maxOut    int64
	}{
		{name: "minimal", body: `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, model: "m"},
		{name: "stream with usage", body: `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, model: "m", stream: true, usage: true},
		{name: "max_completion_tokens wins", body: `{"model":"m","max_tokens":5,"max_completion_tokens":7,"messages":[{"role":"user","content":"x"}]}`, model: "m", maxOut: 7},
		{name: "max_tokens", body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, model: "m", maxOut: 5},
		{name: "empty body", body: ``, wantErr: true},
		{name: "array body", body: `[1]`, wantErr: true},
		{name: "bad json", body: `{"model":`, wantErr: true},
		{name: "no model", body: `{"messages":[{"role":"user","content":"x"}]}`, wantErr: true, wantParam: "model"},
		{name: "model not string", body: `{"model":1,"messages":[]}`, wantErr: true, wantParam: "model"},
		{name: "stream not bool", body: `{"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]}`, wantErr: true, wantParam: "stream"},
		{name: "no messages", body: `{"model":"m"}`, wantErr: true, wantParam: "messages"},
		{name: "empty messages", body: `{"model":"m","messages":[ ]}`, wantErr: true, wantParam: "messages"},
		{name: "messages not array", body: `{"model":"m","messages":"hi"}`, wantErr: true, wantParam: "messages"},
		{name: "negative max_tokens", body: `{"model":"m","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}`, wantErr: true, wantParam: "max_tokens"},
		{name: "bad stream_options", body: `{"model":"m","stream_options":3,"messages":[{"role":"user","content":"x"}]}`, wantErr: true, wantParam: "stream_options"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := parseRequest([]byte(c.body), true)
			if c.wantErr {
				e, ok := err.(*apierror.Error)
				if !ok || e.Status != http.StatusBadRequest {
					t.Fatalf("want a 400, got %v", err)
				}
				if e.Param != c.wantParam {
					t.Fatalf("param = %q, want %q", e.Param, c.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Model != c.model || req.Stream != c.stream || req.IncludeUsage != c.usage || req.MaxOutput != c.maxOut {
				t.Fatalf("got model=%q stream=%v usage=%v max=%d", req.Model, req.Stream, req.IncludeUsage, req.MaxOutput)
			}
		})
	}
}

func TestRewriteKeepsUnknownFields(t *testing.T) {
	body := `{"model":"alias","stream":true,"stream_options":{"include_obfuscation":false},"messages":[{"role":"user","content":"hi"}],"vendor_field":{"a":[1,2]},"user":"end-user"}`
	req, err := parseRequest([]byte(body), true)
	if err != nil {
		t.Fatal(err)
	}
	// Unchanged requests are forwarded byte for byte.
	plain, _ := parseRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`), true)
	if b, _ := plain.body(); string(b) != `{"model":"m","messages":[{"role":"user","content":"hi"}]}` {
		t.Fatalf("unchanged body was re-encoded: %s", b)
	}
	req.set("model", quote("real-model"))
	req.forceUsage()
	b, err := req.body()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"model":          `"real-model"`,
		"stream_options": `{"include_obfuscation":false,"include_usage":true}`,
		"vendor_field":   `{"a":[1,2]}`,
		"user":           `"end-user"`,
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
}

func TestRepairURL(t *testing.T) {
	cases := []struct{ in, path, query string }{
		{"/v1?x_app_id=a&x_user_oid=u/chat/completions", "/v1/chat/completions", "x_app_id=a&x_user_oid=u"},
		{"/v1?x_app_id=a&x_user_oid=u%2Fchat%2Fcompletions", "/v1/chat/completions", "x_app_id=a&x_user_oid=u"},
		{"/v1?x_app_id=a&x_user_oid=u%2fembeddings", "/v1/embeddings", "x_app_id=a&x_user_oid=u"},
		{"/v1/?x=1/models", "/v1/models", "x=1"},
		{"/v1/chat/completions?x_app_id=a", "/v1/chat/completions", "x_app_id=a"},
		{"/chat/completions", "/chat/completions", ""},
	}
	for _, c := range cases {
		u, _ := url.ParseRequestURI(c.in)
		r := &http.Request{Method: "POST", URL: u, RequestURI: c.in}
		RepairURL(r)
		if r.URL.Path != c.path || r.URL.RawQuery != c.query {
			t.Errorf("%s → path %q query %q; want %q %q", c.in, r.URL.Path, r.URL.RawQuery, c.path, c.query)
		}
		if !strings.HasPrefix(r.RequestURI, c.path) {
			t.Errorf("RequestURI not updated: %s", r.RequestURI)
		}
	}
}

// FuzzParseRequest: any body gives a request or a 400, never a panic.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		`{"model":"m","max_tokens":1e309,"messages":[1]}`,
		`{"model":null,"messages":null}`,
		`{}`, `[]`, ``, `{"model":"m","messages":[]}`, "{\"model\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseRequest(body, true)
		if err != nil {
			e, ok := err.(*apierror.Error)
			if !ok || e.Status != http.StatusBadRequest {
				t.Fatalf("non-400 error: %v", err)
			}
			return
		}
		if req.Model == "" {
			t.Fatal("accepted a request without a model")
		}
		req.set("model", quote("x"))
		req.forceUsage()
		if _, err := req.body(); err != nil {
			t.Fatalf("re-encoding failed: %v", err)
		}
	})
}

// TestQuote checks quote writes every string as encoding/json does.
func TestQuote(t *testing.T) {
	for _, s := range []string{"", "gpt-4o-mini", "models/gemini-1.5", "a b~{}", `a"b`, `a\b`, "<tag>", "x&y",
		"caf\u00e9", "\x01", "\x7f", "tab\there", "\xff", "\u2028"} {
		want, _ := json.Marshal(s)
		if got := quote(s); string(got) != string(want) {
			t.Errorf("quote(%q) = %s, want %s", s, got, want)
		}
	}
}
