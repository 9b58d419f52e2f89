package validate

import (
	"encoding/json"
	"errors"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/tokens"
)

// Slack of the byte bound for tool definitions: a definition costs at most 10
// framing tokens beyond its text (the cl100k_base function start) and a list 12
// (its end). Property and enum framing stays within twice the JSON bytes: the
// worst case, a numeric enum item such as `1,`, is 2 bytes for 3 + 1 tokens.
const (
	toolDefSlack  = 10
	toolListSlack = 12
)

// promptBound is a cheap upper bound of the prompt tokens, computed without
// tokenizing: one token at most per byte of the messages' JSON, plus the most
// their images can cost, plus twice the tools' and functions' bytes with their
// framing.
func promptBound(in Input, msgs []tokens.Message, toolDefs, funcDefs int) int64 {
	n := int64(len(in.Messages)) + int64(tokens.ImageTokensBound(msgs))
	n += toolsBound(in.Tools, toolDefs)
	n += toolsBound(in.Functions, funcDefs)
	return n
}

func toolsBound(raw json.RawMessage, defs int) int64 {
	if defs == 0 {
		return 0
	}
	return 2*int64(len(raw)) + int64(defs)*toolDefSlack + toolListSlack
}

// checkLimits refuses a completion limit above the model's maximum, then a
// prompt plus requested completion above the model's context window.
//
// Only the requested completion is reserved, as OpenAI does: a request without
// max_tokens / max_completion_tokens is checked on its prompt alone (prompt >
// window is refused, prompt == window passes), and the upstream stops at the
// window when it generates. The prompt is counted only when its upper bound
// (res.PromptTokens on entry) could exceed the window; otherwise res keeps the
// bound and Counted stays false.
func checkLimits(in Input, m store.Model, counter PromptCounter, res *Result) *apierror.Error {
	if in.MaxOutput > 0 && m.MaxOutputTokens > 0 && in.MaxOutput > m.MaxOutputTokens {
		param := in.MaxOutputParam
		if param == "" {
			param = "max_tokens"
		}
		return maxOutputTooLarge(param, in.MaxOutput, m.MaxOutputTokens)
	}
	if m.ContextWindow <= 0 || res.PromptTokens+in.MaxOutput <= m.ContextWindow {
		return nil
	}
	n, err := counter.ChatMessages(in.Model, res.Messages, in.Tools, in.Functions)
	if err != nil {
		var se *tokens.ShapeError
		if errors.As(err, &se) {
			return invalidType(se)
		}
		return badRequest("tools", CodeInvalidType, "Invalid 'tools': "+err.Error())
	}
	res.PromptTokens, res.Counted = int64(n), true
	if res.PromptTokens+in.MaxOutput > m.ContextWindow {
		return contextExceeded(m.ContextWindow, res.PromptTokens, in.MaxOutput)
	}
	return nil
}
