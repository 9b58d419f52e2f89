package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/antigravity/gateway/internal/upstream/openaiwire"
)

// clock gives the translation its time, so tests can fix it.
type clock func() time.Time

// Response converts a non-streaming Messages response body (status 2xx) into an
// OpenAI chat.completion reporting model, the name the client used: text blocks
// are joined into content, tool_use blocks become tool_calls, thinking blocks
// become reasoning_content, and the usage counts cache reads and writes as
// prompt tokens (cache reads also as cached_tokens).
func Response(body []byte, model string) ([]byte, error) {
	return response(body, model, time.Now)
}

func response(body []byte, model string, now clock) ([]byte, error) {
	var m messageResponse
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("anthropic: decoding the response: %w", err)
	}
	if m.Type != "message" {
		return nil, fmt.Errorf("anthropic: unexpected response type %q", m.Type)
	}
	msg := openaiwire.ReplyMessage{Role: "assistant", Refusal: openaiwire.Null()}
	var text, reasoning strings.Builder
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "thinking":
			reasoning.WriteString(b.Thinking)
		case "tool_use":
			args := "{}"
			var buf bytes.Buffer
			if len(b.Input) > 0 && json.Compact(&buf, b.Input) == nil {
				args = buf.String()
			}
			msg.ToolCalls = append(msg.ToolCalls, openaiwire.ToolCallOut{ID: b.ID, Type: "function",
				Function: openaiwire.FunctionCall{Name: b.Name, Arguments: args}})
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = openaiwire.Ptr(text.String())
	}
	msg.ReasoningContent = reasoning.String()
	return openaiwire.Marshal(openaiwire.Completion{
		ID: m.ID, Object: "chat.completion", Created: now().Unix(), Model: model,
		Choices: []openaiwire.Choice{{Message: msg, Logprobs: openaiwire.Null(), FinishReason: finishReason(m.StopReason)}},
		Usage:   m.Usage.openAI(),
	})
}

// finishReason maps Anthropic's stop_reason to OpenAI's finish_reason.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn
		return "stop"
	}
}

// Error converts an Anthropic error response body (non-2xx) into OpenAI's
// {"error":{message,type,param,code}}; the caller keeps the status. The code is
// Anthropic's error type (e.g. "overloaded_error"); the type is the closest
// OpenAI one. A body that is not Anthropic's error shape is quoted as the
// message.
func Error(status int, body []byte) []byte {
	var e wireError
	msg, code := "", ""
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		msg, code = e.Error.Message, e.Error.Type
	} else {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512] + "…"
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	return openAIError(msg, errorType(code, status), code)
}

// errorType maps Anthropic's error type (or the status) to an OpenAI one.
func errorType(code string, status int) string {
	switch code {
	case "invalid_request_error", "not_found_error", "request_too_large":
		return "invalid_request_error"
	case "authentication_error":
		return "authentication_error"
	case "permission_error":
		return "permission_error"
	case "rate_limit_error":
		return "rate_limit_error"
	case "api_error", "overloaded_error":
		return "server_error"
	}
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

func openAIError(msg, typ, code string) []byte {
	d := openaiwire.ErrorDetail{Message: msg, Type: typ}
	if code != "" {
		d.Code = &code
	}
	b, _ := openaiwire.Marshal(openaiwire.ErrorBody{Error: d})
	return b
}
