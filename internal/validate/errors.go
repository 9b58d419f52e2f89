package validate

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/tokens"
)

// Error codes. OpenAI's own where it sends one; where OpenAI sends a null code
// (the tool-call ordering errors, an image in a non-user message, max_tokens
// too large) the gateway sends invalid_value instead, since every gateway
// error carries a code (usage rows and metrics are keyed by it).
const (
	CodeMissing         = "missing_required_parameter"
	CodeInvalidValue    = "invalid_value"
	CodeInvalidType     = "invalid_type"
	CodeEmptyArray      = "empty_array"
	CodeContextExceeded = "context_length_exceeded"
)

func badRequest(param, code, msg string) *apierror.Error {
	return &apierror.Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: code, Param: param, Message: msg}
}

// missing: "Missing required parameter: 'messages[0].role'."
func missing(param string) *apierror.Error {
	return badRequest(param, CodeMissing, "Missing required parameter: '"+param+"'.")
}

// invalidValue: "Invalid value: 'x'. Supported values are: 'a', 'b', and 'c'."
func invalidValue(param, got string, supported ...string) *apierror.Error {
	return badRequest(param, CodeInvalidValue, "Invalid value: '"+got+"'. Supported values are: "+quotedList(supported)+".")
}

// invalidType renders a decoding ShapeError: "Invalid type for 'messages[0]':
// expected an object, but got a string instead."
func invalidType(e *tokens.ShapeError) *apierror.Error {
	return badRequest(e.Param, CodeInvalidType, e.Error())
}

func emptyArray(param string) *apierror.Error {
	return badRequest(param, CodeEmptyArray, "Invalid '"+param+"': empty array. Expected an array with minimum length 1, but got an empty array instead.")
}

// maxOutputTooLarge is OpenAI's refusal of a completion limit above the model's
// maximum; param is the field the request used (max_tokens or
// max_completion_tokens).
func maxOutputTooLarge(param string, requested, limit int64) *apierror.Error {
	n := strconv.FormatInt(requested, 10)
	return badRequest(param, CodeInvalidValue, param+" is too large: "+n+". This model supports at most "+
		strconv.FormatInt(limit, 10)+" completion tokens, whereas you provided "+n+".")
}

// contextExceeded is OpenAI's context_length_exceeded error. Tool and function
// definitions are part of "the messages" here (OpenAI's wording has no separate
// figure for them). Without a requested completion the message is OpenAI's
// prompt-only variant.
func contextExceeded(window, prompt, completion int64) *apierror.Error {
	w, p := strconv.FormatInt(window, 10), strconv.FormatInt(prompt, 10)
	msg := "This model's maximum context length is " + w + " tokens. However, your messages resulted in " + p +
		" tokens. Please reduce the length of the messages."
	if completion > 0 {
		msg = "This model's maximum context length is " + w + " tokens. However, you requested " +
			strconv.FormatInt(prompt+completion, 10) + " tokens (" + p + " in the messages, " +
			strconv.FormatInt(completion, 10) + " in the completion). Please reduce the length of the messages or completion."
	}
	return badRequest("messages", CodeContextExceeded, msg)
}

// quotedList renders 'a', 'b', and 'c' (OpenAI's list style).
func quotedList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "'" + s + "'"
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	case 2:
		return q[0] + " and " + q[1]
	}
	return strings.Join(q[:len(q)-1], ", ") + ", and " + q[len(q)-1]
}
