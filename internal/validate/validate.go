// Package validate checks a chat completion request before any upstream call,
// the way OpenAI does: the caller may use the model, the messages are well
// formed (roles, content types, tool call pairing), the requested completion is
// within the model's maximum, and the prompt plus the requested completion fit
// in its context window. Every refusal is an *apierror.Error in OpenAI's shape
// and wording (400 invalid_request_error naming the parameter, such as
// "messages[2].role"; 400 context_length_exceeded; 404 model_not_found).
//
// Counting prompt tokens is the expensive part (about a millisecond per
// thousand tokens), so Chat skips it when the request cannot exceed the window:
// the JSON of the messages, tools and functions is at least one byte per token
// (a BPE token is never shorter than a byte), except images, whose largest
// possible cost is added (see tokens.ImageTokensBound).
package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/tokens"
)

// Input is what Chat needs of a request. The proxy has parsed the body once
// into fields; these are slices of it, not copies.
type Input struct {
	Model     string          // the model the caller named (picks the encoding)
	Messages  json.RawMessage // the "messages" field
	Tools     json.RawMessage // the "tools" field; empty or null when absent
	Functions json.RawMessage // the legacy "functions" field; empty or null when absent
	// MaxOutput is the requested completion limit (max_completion_tokens, else
	// max_tokens); 0 when the request sets none.
	MaxOutput int64
	// MaxOutputParam names the field MaxOutput came from, for the error's
	// param and message: "max_completion_tokens" if the request set it,
	// otherwise "max_tokens" (the default when empty).
	MaxOutputParam string
}

// Result is what Chat learnt of a valid request.
type Result struct {
	// PromptTokens is the prompt size for budget reservations. When Counted it
	// is the token count (ChatMessages: messages, tools, images). Otherwise it
	// is an upper bound: the JSON bytes of the messages plus the image bound,
	// plus twice the tools and functions bytes with their framing. A skipped
	// count fits the window by construction (PromptTokens + MaxOutput <=
	// ContextWindow) whenever the model has one.
	PromptTokens int64
	// Counted reports that PromptTokens is a count rather than a bound.
	Counted bool
	// Messages are the decoded messages, for counting later without decoding
	// again (tokens.Counter.ChatMessages).
	Messages []tokens.Message
}

// PromptCounter counts decoded messages; *tokens.Counter is one.
type PromptCounter interface {
	ChatMessages(model string, msgs []tokens.Message, tools, functions json.RawMessage) (int, error)
}

// Access returns OpenAI's 404 model_not_found when the caller cannot use the
// model: it is unknown (m is nil), inactive, or not among the key's allowed
// models. The three cases are indistinguishable on purpose, so a key cannot
// probe which models exist.
func Access(name string, m *store.Model, allowed bool) error {
	if m == nil || !m.Active || !allowed {
		return apierror.ModelNotFound(name)
	}
	return nil
}

// Chat validates a chat completion request for model m, counting the prompt
// with counter only when the limits could be exceeded. A ContextWindow or
// MaxOutputTokens of 0 means the model has no such limit configured, and that
// check is skipped.
func Chat(in Input, m store.Model, counter PromptCounter) (Result, error) {
	msgs, aerr := decodeMessages(in.Messages)
	if aerr != nil {
		return Result{}, aerr
	}
	if aerr := checkMessages(msgs); aerr != nil {
		return Result{}, aerr
	}
	toolDefs, aerr := checkTools("tools", in.Tools, true)
	if aerr != nil {
		return Result{}, aerr
	}
	funcDefs, aerr := checkTools("functions", in.Functions, false)
	if aerr != nil {
		return Result{}, aerr
	}
	res := Result{Messages: msgs, PromptTokens: promptBound(in, msgs, toolDefs, funcDefs)}
	if aerr := checkLimits(in, m, counter, &res); aerr != nil {
		return Result{}, aerr
	}
	return res, nil
}

func decodeMessages(raw json.RawMessage) ([]tokens.Message, *apierror.Error) {
	if len(bytes.TrimSpace(raw)) == 0 || isNull(raw) {
		return nil, missing("messages")
	}
	msgs, err := tokens.DecodeMessages(raw)
	if err != nil {
		var se *tokens.ShapeError
		if errors.As(err, &se) {
			if se.Param == "messages" {
				se.Want = "an array of message objects"
			}
			return nil, invalidType(se)
		}
		return nil, badRequest("messages", CodeInvalidType, "Invalid 'messages': "+err.Error())
	}
	if len(msgs) == 0 {
		return nil, emptyArray("messages")
	}
	return msgs, nil
}

// toolShape is the part of a tool or function definition OpenAI requires.
type toolShape struct {
	Type     string `json:"type"`
	Name     string `json:"name"` // legacy functions
	Function *struct {
		Name string `json:"name"`
	} `json:"function"`
}

// checkTools checks that tools (or legacy functions) is an array of objects
// with the fields OpenAI requires: a type, and for a function tool its
// function's name (a legacy function: its name). It returns the number of
// definitions.
func checkTools(param string, raw json.RawMessage, isTools bool) (int, *apierror.Error) {
	if len(bytes.TrimSpace(raw)) == 0 || isNull(raw) {
		return 0, nil
	}
	var defs []json.RawMessage
	if json.Unmarshal(raw, &defs) != nil {
		return 0, invalidType(&tokens.ShapeError{Param: param, Want: "an array of objects", Got: kindOf(raw)})
	}
	for i, def := range defs {
		p := param + "[" + strconv.Itoa(i) + "]"
		var t toolShape
		if bytes.TrimSpace(def)[0] != '{' || json.Unmarshal(def, &t) != nil {
			return 0, badRequest(p, CodeInvalidType, "Invalid type for '"+p+"': expected an object with string fields 'type' and 'name'.")
		}
		switch {
		case !isTools && t.Name == "":
			return 0, missing(p + ".name")
		case isTools && t.Type == "":
			return 0, missing(p + ".type")
		case isTools && t.Type == "function" && t.Function == nil:
			return 0, missing(p + ".function")
		case isTools && t.Type == "function" && t.Function.Name == "":
			return 0, missing(p + ".function.name")
		}
	}
	return len(defs), nil
}

// kindOf names a JSON value's kind the way ShapeError does.
func kindOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return "nothing"
	case raw[0] == '"':
		return "a string"
	case raw[0] == '{':
		return "an object"
	case raw[0] == '[':
		return "an array"
	case raw[0] == 't' || raw[0] == 'f':
		return "a boolean"
	}
	return "a number"
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }
