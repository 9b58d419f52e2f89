package anthropic

import "github.com/antigravity/gateway/internal/upstream/openaiwire"

// The OpenAI side of the translation (the request fields read from a chat
// completion request, and the response, chunk, usage and error shapes written
// back) is in package openaiwire.

// chatRequest is the part of an OpenAI chat completion request that Anthropic
// can express; other fields are ignored.
type chatRequest struct {
	openaiwire.ChatRequest
	User string `json:"user"`
}

// parts decodes a content field: a string becomes one text part; null none.
func parts(raw []byte, param string) ([]openaiwire.ContentPart, error) {
	return openaiwire.Parts(raw, param, openaiwire.TextPart)
}

// textOnly returns the texts of a content that may only hold text.
func textOnly(raw []byte, param string) ([]string, error) {
	return openaiwire.TextOnly(raw, param, openaiwire.TextPart)
}
