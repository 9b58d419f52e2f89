package gemini

import (
	"strings"
	"testing"
)

func TestResponseGolden(t *testing.T) {
	for _, name := range []string{"response_text", "response_tool", "response_tool_only", "response_multi", "response_blocked"} {
		t.Run(name, func(t *testing.T) {
			got, err := response(readTestdata(t, name+".json"), "my-gemini", fixedEnv())
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, append(got, '\n'))
		})
	}
}

func TestResponseInvalid(t *testing.T) {
	for _, body := range []string{``, `[]`, `{"candidates":[]}`, `{"embeddings":[{"values":[1]}]}`} {
		if got, err := Response([]byte(body), "m"); err == nil {
			t.Errorf("Response(%q) = %s, want an error", body, got)
		}
	}
}

func TestResponseGeneratedID(t *testing.T) {
	a, err := Response(readTestdata(t, "response_tool_only.json"), "m")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Response(readTestdata(t, "response_tool_only.json"), "m")
	if !strings.HasPrefix(string(a), `{"id":"chatcmpl-`) || string(a[:50]) == string(b[:50]) {
		t.Errorf("ids not random: %.50s / %.50s", a, b)
	}
}

func TestEmbeddingsResponseGolden(t *testing.T) {
	tests := []struct{ name, request string }{
		{"embeddings_float", `{"model":"e","input":["first text","second <text>"],"encoding_format":"float"}`},
		{"embeddings_base64", `{"model":"e","input":["first text","second <text>"],"encoding_format":"base64"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EmbeddingsResponse(readTestdata(t, "response_embeddings.json"), "my-embedding", []byte(tt.request))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, append(got, '\n'))
		})
	}
	if _, err := EmbeddingsResponse(readTestdata(t, "response_embeddings.json"), "m", []byte(`{"input":"one"}`)); err == nil {
		t.Error("2 embeddings for 1 input accepted")
	}
}

func TestEstimateTokens(t *testing.T) {
	tests := []struct {
		in   []string
		want int64
	}{
		{nil, 0}, {[]string{"a"}, 1}, {[]string{"abcd"}, 1}, {[]string{"abcd", "e"}, 2}, {[]string{"héllo wörld"}, 3},
	}
	for _, tt := range tests {
		if got := EstimateTokens(tt.in); got != tt.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestFinishReason(t *testing.T) {
	tests := []struct {
		reason string
		calls  bool
		want   string
	}{
		{"STOP", false, "stop"}, {"STOP", true, "tool_calls"}, {"MAX_TOKENS", true, "length"},
		{"SAFETY", false, "content_filter"}, {"RECITATION", false, "content_filter"}, {"PROHIBITED_CONTENT", false, "content_filter"},
		{"MALFORMED_FUNCTION_CALL", false, "stop"}, {"OTHER", false, "stop"},
	}
	for _, tt := range tests {
		if got := finishReason(tt.reason, tt.calls); got != tt.want {
			t.Errorf("finishReason(%q, %v) = %q, want %q", tt.reason, tt.calls, got, tt.want)
		}
	}
}

func TestError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"invalid", 400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`,
			`{"error":{"message":"API key not valid. Please pass a valid API key.","type":"invalid_request_error","param":null,"code":"invalid_argument"}}`},
		{"quota", 429, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`,
			`{"error":{"message":"Resource has been exhausted (e.g. check quota).","type":"rate_limit_error","param":null,"code":"resource_exhausted"}}`},
		{"overloaded", 503, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
			`{"error":{"message":"The model is overloaded. Please try again later.","type":"server_error","param":null,"code":"unavailable"}}`},
		{"denied", 403, `{"error":{"code":403,"message":"Method doesn't allow unregistered callers","status":"PERMISSION_DENIED"}}`,
			`{"error":{"message":"Method doesn't allow unregistered callers","type":"permission_error","param":null,"code":"permission_denied"}}`},
		{"array", 500, `[{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}]`,
			`{"error":{"message":"Internal error encountered.","type":"server_error","param":null,"code":"internal"}}`},
		{"html", 502, `<html>Bad Gateway</html>`,
			`{"error":{"message":"<html>Bad Gateway</html>","type":"server_error","param":null,"code":null}}`},
		{"empty", 429, ``,
			`{"error":{"message":"Too Many Requests","type":"rate_limit_error","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Error(tt.status, []byte(tt.body))); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
