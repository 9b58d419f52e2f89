package gemini

import (
	"encoding/json"

	"github.com/antigravity/gateway/internal/upstream/openaiwire"
)

// The OpenAI chat side of the translation (the request fields read from a
// chat completion request, and the response, chunk, usage and error shapes
// written back) is in package openaiwire; the embeddings shapes are here.

// chatRequest is the part of an OpenAI chat completion request that Gemini can
// express; other fields are ignored.
type chatRequest struct {
	openaiwire.ChatRequest
	Seed             *int64   `json:"seed"`
	PresencePenalty  *float64 `json:"presence_penalty"`
	FrequencyPenalty *float64 `json:"frequency_penalty"`
	ResponseFormat   *struct {
		Type       string `json:"type"` // text, json_object, json_schema
		JSONSchema *struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

// contentPart is a content part, with the input_audio parts Gemini accepts.
type contentPart struct {
	openaiwire.ContentPart
	InputAudio *struct {
		Data   string `json:"data"`
		Format string `json:"format"` // wav or mp3
	} `json:"input_audio"`
}

func textPart(s string) contentPart { return contentPart{ContentPart: openaiwire.TextPart(s)} }

// parts decodes a content field: a string becomes one text part; null none.
func parts(raw []byte, param string) ([]contentPart, error) {
	return openaiwire.Parts(raw, param, textPart)
}

// textOnly returns the texts of a content that may only hold text.
func textOnly(raw []byte, param string) ([]string, error) {
	return openaiwire.TextOnly(raw, param, textPart)
}

// embeddingRequest is an OpenAI embeddings request.
type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"` // a string or an array of strings
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"` // float (default) or base64
}

// embeddingList is OpenAI's embeddings response.
type embeddingList struct {
	Object string      `json:"object"`
	Data   []embedding `json:"data"`
	Model  string      `json:"model"`
	Usage  struct {
		PromptTokens int64 `json:"prompt_tokens"`
		TotalTokens  int64 `json:"total_tokens"`
	} `json:"usage"`
}

type embedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []json.Number, or a base64 string
}
