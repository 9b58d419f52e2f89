package fakeprovider

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const azureAuthBody = `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}` + "\n"

func TestAzure(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	_, keyed := newTestServer(t, Options{APIKey: "azure-secret"})
	chat := "/openai/deployments/my-gpt4o/chat/completions"
	emb := "/openai/deployments/my-emb/embeddings"
	tests := []struct {
		name       string
		base, path string
		body       string
		header     map[string]string
		status     int
		want       string // exact body, or a substring for 200s
	}{
		{"no api-key", ts.URL, chat + "?api-version=2024-10-21", `{"messages":[{"role":"user","content":"hi"}]}`, nil, 401, azureAuthBody},
		{"bearer is not enough", ts.URL, chat + "?api-version=2024-10-21", `{"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"Authorization": "Bearer k"}, 401, azureAuthBody},
		{"no api-version", ts.URL, chat, `{"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"api-key": "k"}, 400,
			`{"error":{"code":"BadRequest","message":"Missing required query parameter 'api-version'."}}` + "\n"},
		{"wrong key", keyed.URL, chat + "?api-version=2024-10-21", `{"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"api-key": "nope"}, 401, azureAuthBody},
		{"right key", keyed.URL, chat + "?api-version=2024-10-21", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`,
			map[string]string{"api-key": "azure-secret"}, 200, `"model":"my-gpt4o","choices":[{"index":0,"message":{"role":"assistant","content":"tok0"`},
		{"model is the deployment", ts.URL, chat + "?api-version=2024-10-21", `{"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"api-key": "k"}, 200, `"model":"my-gpt4o"`},
		{"body model wins", ts.URL, chat + "?api-version=2024-10-21", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"api-key": "k"}, 200, `"model":"gpt-4o"`},
		{"deployment names a behaviour", ts.URL, "/openai/deployments/error-429/chat/completions?api-version=2024-10-21",
			`{"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"api-key": "k"}, 429, `"code":"rate_limit_exceeded"`},
		{"embeddings need the key", ts.URL, emb + "?api-version=2024-10-21", `{"input":"a b"}`, nil, 401, azureAuthBody},
		{"embeddings", ts.URL, emb + "?api-version=2024-10-21", `{"input":"a b"}`, map[string]string{"api-key": "k"}, 200,
			`"model":"my-emb","usage":{"prompt_tokens":2,"total_tokens":2}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, tt.base+tt.path, tt.body, tt.header)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 200 || tt.status == 429 {
				if !strings.Contains(r.body, tt.want) {
					t.Errorf("body %s does not contain %s", r.body, tt.want)
				}
			} else if r.body != tt.want {
				t.Errorf("body\n got %s\nwant %s", r.body, tt.want)
			}
		})
	}
}

func TestOpenAIAPIKey(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "sk-upstream-0123456789"})
	tests := []struct {
		name   string
		auth   string
		status int
		want   string
	}{
		{"missing", "", 401, `{"error":{"message":"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).","type":"invalid_request_error","param":null,"code":null}}` + "\n"},
		{"wrong", "Bearer sk-caller-key-9999", 401, `{"error":{"message":"Incorrect API key provided: sk-****9999.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}` + "\n"},
		{"right", "Bearer sk-upstream-0123456789", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			r := post(t, ts.URL+"/v1/chat/completions", chatBody("m", "hi", ""), h)
			if r.status != tt.status || (tt.want != "" && r.body != tt.want) {
				t.Errorf("got %d %s\nwant %d %s", r.status, r.body, tt.status, tt.want)
			}
		})
	}
}

func TestEmbeddings(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	vec := func(in string) string {
		parts := make([]string, 8)
		for i, f := range Embedding(in, 8) {
			parts[i] = fmt.Sprint(f)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	tests := []struct {
		name string
		body string
		want string
	}{
		{"string", `{"model":"text-embedding-3-small","input":"hello big world"}`,
			`{"object":"list","data":[{"object":"embedding","index":0,"embedding":` + vec("hello big world") +
				`}],"model":"text-embedding-3-small","usage":{"prompt_tokens":3,"total_tokens":3}}` + "\n"},
		{"strings", `{"model":"e","input":["a","b c"]}`,
			`{"object":"list","data":[{"object":"embedding","index":0,"embedding":` + vec("a") +
				`},{"object":"embedding","index":1,"embedding":` + vec("b c") +
				`}],"model":"e","usage":{"prompt_tokens":3,"total_tokens":3}}` + "\n"},
		{"token ids", `{"model":"e","input":[1,2,3,4]}`,
			`{"object":"list","data":[{"object":"embedding","index":0,"embedding":` + vec("[1,2,3,4]") +
				`}],"model":"e","usage":{"prompt_tokens":4,"total_tokens":4}}` + "\n"},
		{"token id arrays", `{"model":"e","input":[[1,2],[3]]}`,
			`{"object":"list","data":[{"object":"embedding","index":0,"embedding":` + vec("[1,2]") +
				`},{"object":"embedding","index":1,"embedding":` + vec("[3]") +
				`}],"model":"e","usage":{"prompt_tokens":3,"total_tokens":3}}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/v1/embeddings", "/embeddings"} {
				r := post(t, ts.URL+path, tt.body, nil)
				if r.status != 200 || r.body != tt.want {
					t.Errorf("%s: got %d %s\nwant %s", path, r.status, r.body, tt.want)
				}
			}
			want := fmt.Sprintf(`"usage":{"prompt_tokens":%d,`, InputTokens([]byte(tt.body)))
			if !strings.Contains(tt.want, want) {
				t.Errorf("InputTokens disagrees with the reported usage: %s", want)
			}
		})
	}
}

func TestEmbeddingsBase64AndDimensions(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	r := post(t, ts.URL+"/v1/embeddings", `{"model":"e","input":"x y","encoding_format":"base64","dimensions":3}`, nil)
	var out struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || len(out.Data) != 1 {
		t.Fatalf("status %d body %s err %v", r.status, r.body, err)
	}
	raw, err := base64.StdEncoding.DecodeString(out.Data[0].Embedding)
	if err != nil || len(raw) != 12 {
		t.Fatalf("base64 %q: %v (%d bytes)", out.Data[0].Embedding, err, len(raw))
	}
	got := make([]float32, 3)
	for i := range got {
		got[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	if want := Embedding("x y", 3); !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %v, want %v", got, want)
	}
}

func TestEmbeddingValues(t *testing.T) {
	a, b := Embedding("same", 8), Embedding("same", 8)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("not deterministic: %v vs %v", a, b)
	}
	if reflect.DeepEqual(a, Embedding("other", 8)) {
		t.Error("different inputs give the same vector")
	}
	for _, f := range a {
		if f < -1 || f >= 1 {
			t.Errorf("value %v out of [-1, 1)", f)
		}
	}
}

func TestEmbeddingsErrors(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"no input", `{"model":"e"}`, 400, `{"error":{"message":"'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.","type":"invalid_request_error","param":"input","code":"invalid_value"}}` + "\n"},
		{"empty array", `{"model":"e","input":[]}`, 400, `"param":"input"`},
		{"no model", `{"input":"x"}`, 400, `{"error":{"message":"you must provide a model parameter","type":"invalid_request_error","param":null,"code":null}}` + "\n"},
		{"behaviour", `{"model":"error-500","input":"x"}`, 500, `"type":"server_error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, ts.URL+"/v1/embeddings", tt.body, nil)
			if r.status != tt.status || !strings.Contains(r.body, tt.want) {
				t.Errorf("got %d %s, want %d containing %s", r.status, r.body, tt.status, tt.want)
			}
		})
	}
}

func TestModelsAndNotFound(t *testing.T) {
	_, ts := newTestServer(t, Options{Models: []string{"a", "b"}})
	r := do(t, t.Context(), http.MethodGet, ts.URL+"/v1/models", "", nil)
	want := `{"object":"list","data":[{"id":"a","object":"model","created":1704067200,"owned_by":"fakeprovider"},{"id":"b","object":"model","created":1704067200,"owned_by":"fakeprovider"}]}` + "\n"
	if r.status != 200 || r.body != want {
		t.Errorf("models: %d %s", r.status, r.body)
	}
	r = do(t, t.Context(), http.MethodGet, ts.URL+"/v1/nope", "", nil)
	if want := `{"error":{"message":"Invalid URL (GET /v1/nope)","type":"invalid_request_error","param":null,"code":null}}` + "\n"; r.status != 404 || r.body != want {
		t.Errorf("not found: %d %s", r.status, r.body)
	}
	if got := string(New(Options{}).models); !strings.Contains(got, `"id":"fake-model"`) || !strings.Contains(got, `"id":"fake-embedding"`) {
		t.Errorf("default models %s", got)
	}
}

func TestRequestLog(t *testing.T) {
	fp, ts := newTestServer(t, Options{RecordLimit: 3})
	body := chatBody("m", "hi", "")
	post(t, ts.URL+"/v1/chat/completions?x=1", body, map[string]string{"Authorization": "Bearer upstream-key"})
	got := fp.Requests()
	if len(got) != 1 {
		t.Fatalf("%d recorded, want 1", len(got))
	}
	rec := got[0]
	if rec.Method != "POST" || rec.Path != "/v1/chat/completions" || rec.RawQuery != "x=1" ||
		rec.Header.Get("Authorization") != "Bearer upstream-key" || string(rec.Body) != body {
		t.Errorf("recorded %+v", rec)
	}
	for i := range 4 {
		do(t, t.Context(), http.MethodGet, fmt.Sprintf("%s/v1/models?n=%d", ts.URL, i), "", nil)
	}
	var queries []string
	for _, r := range fp.Requests() {
		queries = append(queries, r.RawQuery)
	}
	if want := []string{"n=1", "n=2", "n=3"}; !reflect.DeepEqual(queries, want) {
		t.Errorf("kept %v, want the newest 3 %v", queries, want)
	}
	fp.Reset()
	if got := fp.Requests(); len(got) != 0 {
		t.Errorf("%d requests after Reset", len(got))
	}
	post(t, ts.URL+"/v1/embeddings", `{"model":"e","input":"x"}`, nil)
	if got := fp.Requests(); len(got) != 1 || got[0].Path != "/v1/embeddings" {
		t.Errorf("after Reset: %+v", got)
	}
}

func TestPromptTokens(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
	}{
		{"one message", `{"messages":[{"role":"user","content":"hello there  friend"}]}`, 6},
		{"two messages", `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi\nyou"}]}`, 10},
		{"empty content", `{"messages":[{"role":"user","content":""}]}`, 3},
		{"null content", `{"messages":[{"role":"assistant","content":null}]}`, 3},
		{"parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"a b"},{"type":"image_url","image_url":{"url":"x y z"}},{"type":"text","text":"c"}]}]}`, 6},
		{"unicode spaces", `{"messages":[{"role":"user","content":"été\u00a0ok\u3000日本"}]}`, 6},
		{"no messages", `{"model":"m"}`, 0},
		{"invalid", `{`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PromptTokens([]byte(tt.body)); got != tt.want {
				t.Errorf("PromptTokens = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestInputTokens(t *testing.T) {
	tests := []struct {
		body string
		want int
	}{
		{`{"input":"a b c"}`, 3},
		{`{"input":["a b","c",""]}`, 3},
		{`{"input":[5,6]}`, 2},
		{`{"input":[[5,6],[7]]}`, 3},
		{`{"input":42}`, 0},
		{`nope`, 0},
	}
	for _, tt := range tests {
		if got := InputTokens([]byte(tt.body)); got != tt.want {
			t.Errorf("InputTokens(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
}

func TestReplyContent(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{{0, ""}, {1, "tok0"}, {3, "tok0 tok1 tok2"}}
	for _, tt := range tests {
		if got := ReplyContent(tt.n); got != tt.want {
			t.Errorf("ReplyContent(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestParseBehavior(t *testing.T) {
	tests := []struct {
		in   string
		want behavior
	}{
		{"", 0},
		{"gpt-4o", 0},
		{"error-500", bError500},
		{"CACHED", bCached},
		{"cached, fail-midstream,unknown", bCached | bFailMidstream},
		{"slow,hang,no-usage,error-429,error-400", bSlow | bHang | bNoUsage | bError429 | bError400},
	}
	for _, tt := range tests {
		if got := parseBehavior(tt.in); got != tt.want {
			t.Errorf("parseBehavior(%q) = %b, want %b", tt.in, got, tt.want)
		}
	}
}
