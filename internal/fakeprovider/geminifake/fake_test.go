package geminifake

import (
	"encoding/json"
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
	req.Header.Set("x-goog-api-key", "AIza-fake")
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
	return s, ts.URL
}

const tools = `"tools":[{"functionDeclarations":[{"name":"get_weather","parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}},{"name":"noop","parameters":{"type":"OBJECT","properties":{"flag":{"type":"BOOLEAN"}}}}]}]`

// cases are answered by generateContent, and streamed with alt=sse, each by a
// fresh server.
func cases() []struct{ name, body, behavior string } {
	return []struct{ name, body, behavior string }{
		{"plain", `{"systemInstruction":{"parts":[{"text":"Be nice."}]},"contents":[{"role":"user","parts":[{"text":"hello there"}]}]}`, ""},
		{"max_tokens_two_candidates", `{"contents":[{"parts":[{"text":"a b c"}]}],"generationConfig":{"maxOutputTokens":3,"candidateCount":2}}`, ""},
		{"stop_sequence", `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"stopSequences":["zzz","tok2"]}}`, ""},
		{"cached_thinking", `{"contents":[{"role":"user","parts":[{"text":"one two three four five six seven"}]}],"generationConfig":{"maxOutputTokens":2,"thinkingConfig":{"includeThoughts":true,"thinkingBudget":1024}}}`, "cached"},
		{"tool_auto", `{"contents":[{"role":"user","parts":[{"text":"weather?"}]}],` + tools + `}`, ""},
		{"tool_allowed", `{"contents":[{"role":"user","parts":[{"text":"weather?"}]}],` + tools + `,"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["noop"]}}}`, ""},
		{"tool_answered", `{"contents":[{"role":"user","parts":[{"text":"weather?"}]},{"role":"model","parts":[{"functionCall":{"name":"noop","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"noop","response":{"result":"ok"}}}]}],` + tools + `,"generationConfig":{"maxOutputTokens":4}}`, ""},
		{"safety", `{"contents":[{"role":"user","parts":[{"text":"x"}]}]}`, "safety"},
		{"error_midstream", `{"contents":[{"role":"user","parts":[{"text":"x"}]}]}`, "error-midstream"},
	}
}

func TestGenerate(t *testing.T) {
	for _, tt := range cases() {
		for _, method := range []string{"generateContent", "streamGenerateContent?alt=sse", "streamGenerateContent"} {
			name := tt.name
			switch method {
			case "streamGenerateContent?alt=sse":
				name += "_sse"
			case "streamGenerateContent":
				if tt.name != "plain" && tt.name != "error_midstream" {
					continue
				}
				name += "_array"
			}
			t.Run(name, func(t *testing.T) {
				_, url := server(t, Options{ReplyTokens: 5})
				r := post(t, url+"/v1beta/models/gemini-fake:"+method, tt.body, map[string]string{BehaviorHeader: tt.behavior})
				want := "application/json; charset=UTF-8"
				if method == "streamGenerateContent?alt=sse" {
					want = "text/event-stream"
				}
				if tt.behavior == "error-midstream" && method == "generateContent" {
					if r.status != 503 {
						t.Errorf("status %d, want 503", r.status)
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
	const model = "/v1beta/models/gemini-fake:generateContent"
	valid := `{"contents":[{"role":"user","parts":[{"text":"x"}]}]}`
	tests := []struct {
		name, path, body string
		header           map[string]string
		status           int
		want             string
	}{
		{"500", model, valid, map[string]string{BehaviorHeader: "error-500"}, 500, `"status":"INTERNAL"`},
		{"429", model, valid, map[string]string{BehaviorHeader: "error-429"}, 429, `"status":"RESOURCE_EXHAUSTED"`},
		{"400", model, valid, map[string]string{BehaviorHeader: "error-400"}, 400, `"message":"Invalid request (fake error-400).","status":"INVALID_ARGUMENT"`},
		{"overloaded by model", "/v1beta/models/overloaded:generateContent", valid, nil, 503, `"The model is overloaded. Please try again later.","status":"UNAVAILABLE"`},
		{"embeddings 429", "/v1beta/models/e:batchEmbedContents", `{"requests":[]}`, map[string]string{BehaviorHeader: "error-429"}, 429, `RESOURCE_EXHAUSTED`},
		{"no key", model, valid, map[string]string{"x-goog-api-key": ""}, 403, `"status":"PERMISSION_DENIED"`},
		{"wrong key", model, valid, map[string]string{"x-goog-api-key": "other"}, 400, `API key not valid`},
		{"no contents", model, `{}`, nil, 400, `contents is not specified`},
		{"bad role", model, `{"contents":[{"role":"assistant","parts":[{"text":"x"}]}]}`, nil, 400, `valid role`},
		{"empty parts", model, `{"contents":[{"role":"user","parts":[]}]}`, nil, 400, `must not be empty`},
		{"empty part", model, `{"contents":[{"role":"user","parts":[{}]}]}`, nil, 400, `required oneof field 'data'`},
		{"two kinds", model, `{"contents":[{"role":"user","parts":[{"text":"x","inlineData":{"mimeType":"a/b","data":""}}]}]}`, nil, 400, `required oneof field 'data'`},
		{"orphan response", model, `{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, nil, 400, `immediately after a function call turn`},
		{"response count", model, `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}},{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, nil, 400, `number of function response parts`},
		{"both schemas", model, `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{},"parametersJsonSchema":{}}]}]}`, nil, 400, `mutually exclusive`},
		{"unknown method", "/v1beta/models/gemini-fake:countTokens", valid, nil, 404, `NOT_FOUND`},
		{"unknown path", "/v1beta/files", valid, nil, 404, `NOT_FOUND`},
		{"embed model mismatch", "/v1beta/models/e:batchEmbedContents", `{"requests":[{"model":"models/other","content":{"parts":[{"text":"a"}]}}]}`, nil, 400, `must be the one of the URL`},
		{"embed no model", "/v1beta/models/e:batchEmbedContents", `{"requests":[{"content":{"parts":[{"text":"a"}]}}]}`, nil, 400, `model is required`},
		{"embed empty", "/v1beta/models/e:batchEmbedContents", `{"requests":[]}`, nil, 400, `at least one request`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := server(t, Options{APIKey: "AIza-fake"})
			r := post(t, url+tt.path, tt.body, tt.header)
			if r.status != tt.status || !strings.Contains(r.body, tt.want) || !strings.HasPrefix(r.body, `{"error":{"code":`) {
				t.Errorf("got %d %s\nwant %d …%s…", r.status, r.body, tt.status, tt.want)
			}
		})
	}
}

func TestKeyParameter(t *testing.T) {
	_, url := server(t, Options{APIKey: "AIza-fake"})
	r := post(t, url+"/v1/models/gemini-fake:generateContent?key=AIza-fake", `{"contents":[{"parts":[{"text":"x"}]}]}`,
		map[string]string{"x-goog-api-key": ""})
	if r.status != 200 {
		t.Errorf("got %d %s", r.status, r.body)
	}
}

func TestEmbeddings(t *testing.T) {
	s, url := server(t, Options{})
	r := post(t, url+"/v1beta/models/gemini-embedding-001:batchEmbedContents",
		`{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"hello"}]}},{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"world"}]},"outputDimensionality":3}]}`, nil)
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	golden(t, "batch_embed", []byte(r.body))
	r = post(t, url+"/v1beta/models/gemini-embedding-001:embedContent", `{"content":{"parts":[{"text":"world"}]},"outputDimensionality":3}`, nil)
	want, _ := json.Marshal(Embedding("world", 3))
	if r.status != 200 || r.body != `{"embedding":{"values":`+string(want)+`}}` {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if e := Embedding("world", 3); len(e) != 3 || e[0] < -1 || e[0] > 1 || e[0] == Embedding("hello", 3)[0] {
		t.Errorf("Embedding = %v", e)
	}
	if len(s.Requests()) != 2 || s.Requests()[1].Path != "/v1beta/models/gemini-embedding-001:embedContent" {
		t.Errorf("recorded %+v", s.Requests())
	}
	s.Reset()
	if len(s.Requests()) != 0 {
		t.Error("Reset kept requests")
	}
}

func TestRecordLimit(t *testing.T) {
	s, url := server(t, Options{RecordLimit: 2})
	for _, m := range []string{"a", "b", "c"} {
		post(t, url+"/v1beta/models/"+m+":generateContent", `{"contents":[{"parts":[{"text":"x"}]}]}`, nil)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/v1beta/models/b:generateContent" {
		t.Errorf("kept %+v", reqs)
	}
}

func TestLatency(t *testing.T) {
	_, url := server(t, Options{TokenLatency: 20 * time.Millisecond, ReplyTokens: 4})
	start := time.Now()
	post(t, url+"/v1beta/models/m:streamGenerateContent?alt=sse", `{"contents":[{"parts":[{"text":"x"}]}]}`, nil)
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("a 4-word stream took %v, want at least 3 token latencies", d)
	}
}

func TestFailMidstream(t *testing.T) {
	_, url := server(t, Options{})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1beta/models/fail-midstream:streamGenerateContent?alt=sse",
		strings.NewReader(`{"contents":[{"parts":[{"text":"x"}]}]}`))
	req.Header.Set("x-goog-api-key", "k")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil || !strings.Contains(string(b), `" tok2"`) || strings.Contains(string(b), "finishReason") {
		t.Errorf("err %v, body %s", err, b)
	}
}

func TestPromptTokens(t *testing.T) {
	tests := []struct {
		body string
		want int
	}{
		{`{"systemInstruction":{"parts":[{"text":"a b"}]},"contents":[{"parts":[{"text":"c d e"},{"inlineData":{}}]},{"parts":[{"text":"f"}]}]}`, 6},
		{`nope`, 0},
	}
	for _, tt := range tests {
		if got := PromptTokens([]byte(tt.body)); got != tt.want {
			t.Errorf("PromptTokens(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
}
