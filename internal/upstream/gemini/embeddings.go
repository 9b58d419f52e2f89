package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/upstream/openaiwire"
)

// translateEmbeddings converts an OpenAI embeddings body into a
// batchEmbedContents body, one request per input string. The model is
// upstreamModel, else the body's.
func translateEmbeddings(body []byte, upstreamModel string) ([]byte, string, error) {
	var in embeddingRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, "", apierror.InvalidRequest("", "The request body is not a valid embeddings request: "+err.Error())
	}
	model := upstreamModel
	if model == "" {
		model = in.Model
	}
	if model == "" {
		return nil, "", apierror.InvalidRequest("model", "You must provide a model parameter.")
	}
	inputs, err := embeddingInputs(in.Input)
	if err != nil {
		return nil, "", err
	}
	switch in.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, "", apierror.InvalidRequest("encoding_format", "Invalid 'encoding_format': expected float or base64.")
	}
	out := batchEmbedRequest{Requests: make([]embedContentRequest, len(inputs))}
	for i, s := range inputs {
		out.Requests[i] = embedContentRequest{Model: modelPath(model), Content: content{Parts: []part{{Text: s}}},
			OutputDimensionality: in.Dimensions}
	}
	b, err := openaiwire.Marshal(out)
	return b, model, err
}

// embeddingInputs reads input: a string or a non-empty array of non-empty
// strings. Token arrays cannot be sent to Gemini.
func embeddingInputs(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, apierror.InvalidRequest("input", "Missing required parameter: 'input'.")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, apierror.InvalidRequest("input", "'input' cannot be an empty string.")
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, apierror.InvalidRequest("input",
			"Gemini embedding models take 'input' as a string or an array of strings (token arrays are not supported).")
	}
	if len(many) == 0 {
		return nil, apierror.InvalidRequest("input", "'input' cannot be an empty array.")
	}
	for i, s := range many {
		if s == "" {
			return nil, apierror.InvalidRequest("input["+strconv.Itoa(i)+"]", "'input' cannot contain empty strings.")
		}
	}
	return many, nil
}

// EstimateTokens is the prompt token count reported for embeddings, which
// Gemini does not count: the characters of all inputs / 4, rounded up.
func EstimateTokens(inputs []string) int64 {
	n := 0
	for _, s := range inputs {
		n += utf8.RuneCountInString(s)
	}
	return int64((n + 3) / 4)
}

// EmbeddingsResponse converts a batchEmbedContents response body (status 2xx)
// into OpenAI's embeddings list reporting model. openAIBody is the client's
// request: it gives the encoding_format (float, or base64 of little-endian
// float32s) and the inputs whose length estimates the usage (see
// EstimateTokens), Gemini reporting none.
func EmbeddingsResponse(body []byte, model string, openAIBody []byte) ([]byte, error) {
	var in embeddingRequest
	if err := json.Unmarshal(openAIBody, &in); err != nil {
		return nil, fmt.Errorf("gemini: decoding the embeddings request: %w", err)
	}
	inputs, err := embeddingInputs(in.Input)
	if err != nil {
		return nil, err
	}
	var r batchEmbedResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("gemini: decoding the embeddings response: %w", err)
	}
	if len(r.Embeddings) != len(inputs) {
		return nil, fmt.Errorf("gemini: %d embeddings for %d inputs", len(r.Embeddings), len(inputs))
	}
	out := embeddingList{Object: "list", Model: model, Data: make([]embedding, len(r.Embeddings))}
	for i, e := range r.Embeddings {
		var v any = e.Values
		if e.Values == nil {
			v = []json.Number{}
		}
		if in.EncodingFormat == "base64" {
			buf := make([]byte, 4*len(e.Values))
			for j, n := range e.Values {
				f, err := n.Float64()
				if err != nil {
					return nil, fmt.Errorf("gemini: embedding value %q: %w", n, err)
				}
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(f)))
			}
			v = base64.StdEncoding.EncodeToString(buf)
		}
		out.Data[i] = embedding{Object: "embedding", Index: i, Embedding: v}
	}
	out.Usage.PromptTokens = EstimateTokens(inputs)
	out.Usage.TotalTokens = out.Usage.PromptTokens
	return openaiwire.Marshal(out)
}
