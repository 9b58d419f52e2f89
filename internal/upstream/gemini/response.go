package gemini

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/antigravity/gateway/internal/upstream/openaiwire"
)

// env is what a translation takes from its surroundings, fixed by tests.
type env struct {
	now   func() time.Time
	newID func() string // used when Gemini gives no responseId
}

func defaultEnv() env { return env{now: time.Now, newID: randomID} }

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Response converts a non-streaming generateContent response body (status 2xx)
// into an OpenAI chat.completion reporting model, the name the client used: one
// choice per candidate, text parts joined into content, thought parts into
// reasoning_content, functionCall parts into tool_calls (id: the call's id, else
// call_{responseId}_{n}); finishReason STOP becomes "stop" ("tool_calls" when
// the candidate calls functions), MAX_TOKENS "length", the safety reasons
// "content_filter". A prompt blocked by promptFeedback gives one empty choice
// with "content_filter". Usage: prompt = promptTokenCount (+
// toolUsePromptTokenCount), completion = candidatesTokenCount +
// thoughtsTokenCount, cached = cachedContentTokenCount, reasoning =
// thoughtsTokenCount. An embeddings body is refused: use EmbeddingsResponse.
func Response(body []byte, model string) ([]byte, error) {
	return response(body, model, defaultEnv())
}

func response(body []byte, model string, e env) ([]byte, error) {
	var r generateResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("gemini: decoding the response: %w", err)
	}
	if r.Embeddings != nil {
		return nil, errors.New("gemini: an embeddings response needs EmbeddingsResponse, which estimates its usage from the request")
	}
	rid := r.ResponseID
	if rid == "" {
		rid = e.newID()
	}
	out := openaiwire.Completion{ID: "chatcmpl-" + rid, Object: "chat.completion", Created: e.now().Unix(), Model: model, Choices: []openaiwire.Choice{}}
	calls := 0
	for _, c := range r.Candidates {
		msg := openaiwire.ReplyMessage{Role: "assistant", Refusal: openaiwire.Null()}
		var text, reasoning strings.Builder
		if c.Content != nil {
			for _, p := range c.Content.Parts {
				switch {
				case p.FunctionCall != nil:
					msg.ToolCalls = append(msg.ToolCalls, toolCall(p.FunctionCall, rid, calls))
					calls++
				case p.Thought:
					reasoning.WriteString(p.Text)
				default:
					text.WriteString(p.Text)
				}
			}
		}
		if text.Len() > 0 || len(msg.ToolCalls) == 0 {
			msg.Content = openaiwire.Ptr(text.String())
		}
		msg.ReasoningContent = reasoning.String()
		out.Choices = append(out.Choices, openaiwire.Choice{Index: c.Index, Message: msg, Logprobs: openaiwire.Null(),
			FinishReason: finishReason(c.FinishReason, len(msg.ToolCalls) > 0)})
	}
	if len(out.Choices) == 0 {
		if r.PromptFeedback == nil || r.PromptFeedback.BlockReason == "" {
			return nil, errors.New("gemini: the response has no candidates")
		}
		out.Choices = append(out.Choices, openaiwire.Choice{Message: openaiwire.ReplyMessage{Role: "assistant", Content: openaiwire.Ptr(""), Refusal: openaiwire.Null()},
			Logprobs: openaiwire.Null(), FinishReason: "content_filter"})
	}
	if r.UsageMetadata != nil {
		out.Usage = r.UsageMetadata.openAI()
	}
	return openaiwire.Marshal(out)
}

// toolCall converts the n-th function call of a response.
func toolCall(fc *functionCallPart, rid string, n int) openaiwire.ToolCallOut {
	id := fc.ID
	if id == "" {
		id = "call_" + rid + "_" + strconv.Itoa(n)
	}
	args := "{}"
	var buf bytes.Buffer
	if len(fc.Args) > 0 && json.Compact(&buf, fc.Args) == nil && buf.String() != "null" {
		args = buf.String()
	}
	return openaiwire.ToolCallOut{ID: id, Type: "function", Function: openaiwire.FunctionCall{Name: fc.Name, Arguments: args}}
}

// finishReason maps Gemini's finishReason to OpenAI's finish_reason.
func finishReason(reason string, calls bool) string {
	switch reason {
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE":
		return "content_filter"
	}
	if calls {
		return "tool_calls"
	}
	return "stop" // STOP, MALFORMED_FUNCTION_CALL, OTHER, …
}

// Error converts a Gemini error response body (non-2xx) into OpenAI's
// {"error":{message,type,param,code}}; the caller keeps the status. The code is
// Google's status in lower case (e.g. "resource_exhausted"); the type is the
// closest OpenAI one. A body that is not Google's error shape is quoted as the
// message.
func Error(status int, body []byte) []byte {
	var e wireError
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' { // a streamed JSON array holding the error
		var arr []wireError
		if json.Unmarshal(trimmed, &arr) == nil && len(arr) > 0 {
			e = arr[0]
		}
	} else {
		_ = json.Unmarshal(trimmed, &e)
	}
	if e.Error.Message == "" {
		msg := string(trimmed)
		if len(msg) > 512 {
			msg = msg[:512] + "…"
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		return openAIError(msg, errorType("", status), "")
	}
	return openAIError(e.Error.Message, errorType(e.Error.Status, status), strings.ToLower(e.Error.Status))
}

// errorType maps Google's status (or the HTTP status) to an OpenAI error type.
func errorType(googleStatus string, status int) string {
	switch googleStatus {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE", "NOT_FOUND", "ALREADY_EXISTS":
		return "invalid_request_error"
	case "UNAUTHENTICATED":
		return "authentication_error"
	case "PERMISSION_DENIED":
		return "permission_error"
	case "RESOURCE_EXHAUSTED":
		return "rate_limit_error"
	case "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN", "CANCELLED":
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
