package anthropic

import (
	"net/http"
	"testing"
)

func TestResponseGolden(t *testing.T) {
	for _, name := range []string{
		"response_text", "response_tool", "response_tool_only", "response_max_tokens",
		"response_stop_sequence", "response_refusal",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := response(readTestdata(t, name+".json"), "my-claude", fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, append(got, '\n'))
		})
	}
}

func TestResponseInvalid(t *testing.T) {
	for _, body := range []string{``, `{"type":"error","error":{"type":"api_error","message":"x"}}`, `[1]`} {
		if got, err := Response([]byte(body), "m"); err == nil {
			t.Errorf("Response(%q) = %s, want an error", body, got)
		}
	}
}

func TestFinishReason(t *testing.T) {
	for stop, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "": "stop",
		"max_tokens": "length", "model_context_window_exceeded": "length",
		"tool_use": "tool_calls", "refusal": "content_filter",
	} {
		if got := finishReason(stop); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", stop, got, want)
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
		{"invalid request", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`,
			`{"error":{"message":"max_tokens: Field required","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}`},
		{"auth", 401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`,
			`{"error":{"message":"invalid x-api-key","type":"authentication_error","param":null,"code":"authentication_error"}}`},
		{"rate limit", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"}}`,
			`{"error":{"message":"Number of requests has exceeded your rate limit","type":"rate_limit_error","param":null,"code":"rate_limit_error"}}`},
		{"overloaded", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			`{"error":{"message":"Overloaded","type":"server_error","param":null,"code":"overloaded_error"}}`},
		{"not found", 404, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-x"}}`,
			`{"error":{"message":"model: claude-x","type":"invalid_request_error","param":null,"code":"not_found_error"}}`},
		{"html from a proxy", 502, `<html>Bad Gateway</html>`,
			`{"error":{"message":"<html>Bad Gateway</html>","type":"server_error","param":null,"code":null}}`},
		{"empty 429", 429, ``,
			`{"error":{"message":"Too Many Requests","type":"rate_limit_error","param":null,"code":null}}`},
		{"empty 403", http.StatusForbidden, `  `,
			`{"error":{"message":"Forbidden","type":"invalid_request_error","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Error(tt.status, []byte(tt.body))); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
