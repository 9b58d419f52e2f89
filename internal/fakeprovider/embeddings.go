package fakeprovider

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
	"time"
)

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     int             `json:"dimensions"`
}

// embeddingDims is the length of every vector unless the request asks for
// dimensions.
const embeddingDims = 8

// parseInput reads an embeddings input: a string, an array of strings, an array
// of token ids, or an array of arrays of token ids. Each element becomes one
// vector; tokens is the usage count (words of strings, length of token arrays).
func parseInput(raw json.RawMessage) (items []string, tokens int, ok bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, countWords(one), true
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		for _, s := range many {
			tokens += countWords(s)
		}
		return many, tokens, true
	}
	var ids []int64
	if json.Unmarshal(raw, &ids) == nil && len(ids) > 0 {
		return []string{string(raw)}, len(ids), true
	}
	var idss [][]int64
	if json.Unmarshal(raw, &idss) == nil && len(idss) > 0 {
		items = make([]string, len(idss))
		for i, t := range idss {
			b, _ := json.Marshal(t)
			items[i] = string(b)
			tokens += len(t)
		}
		return items, tokens, true
	}
	return nil, 0, false
}

// InputTokens returns the prompt_tokens the fake upstream reports for an
// embeddings request body: the whitespace-separated words of a string input (or
// of every string of an array), or the number of ids of token-array inputs.
// It returns 0 for an invalid body.
func InputTokens(body []byte) int {
	var req embeddingRequest
	if json.Unmarshal(body, &req) != nil {
		return 0
	}
	_, n, _ := parseInput(req.Input)
	return n
}

// Embedding returns the vector the fake upstream returns for one input (a string,
// or the JSON text of a token array) with dims dimensions: deterministic values
// in [-1, 1), exact as float32.
func Embedding(input string, dims int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(input))
	x := h.Sum64()
	v := make([]float32, dims)
	for i := range v {
		// splitmix64 step
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		v[i] = float32(int32(z>>40)-1<<23) / (1 << 23) // 24 bits: exact in float32
	}
	return v
}

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request, c *call) bool {
	var req embeddingRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request.", "invalid_request_error", "")
		return true
	}
	if goOn, done := s.before(w, r, c.behavior(req.Model)); !goOn {
		return done
	}
	model := req.Model
	if model == "" && c.azure {
		model = c.deployment
	}
	if model == "" {
		writeError(w, http.StatusBadRequest, "you must provide a model parameter", "invalid_request_error", "")
		return true
	}
	items, tokens, ok := parseInput(req.Input)
	if !ok {
		writeErrorParam(w, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "input", "invalid_value")
		return true
	}
	dims := embeddingDims
	if req.Dimensions > 0 {
		dims = min(req.Dimensions, 4096)
	}
	if !sleep(r.Context(), s.o.FirstTokenLatency) {
		return false
	}
	b64 := req.EncodingFormat == "base64"
	body := make([]byte, 0, 64+len(items)*(64+dims*12))
	body = append(body, `{"object":"list","data":[`...)
	for i, in := range items {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"object":"embedding","index":`...)
		body = strconv.AppendInt(body, int64(i), 10)
		body = append(body, `,"embedding":`...)
		vec := Embedding(in, dims)
		if b64 {
			raw := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			body = append(body, '"')
			body = base64.StdEncoding.AppendEncode(body, raw)
			body = append(body, '"')
		} else {
			body = append(body, '[')
			for j, f := range vec {
				if j > 0 {
					body = append(body, ',')
				}
				body = strconv.AppendFloat(body, float64(f), 'g', -1, 32)
			}
			body = append(body, ']')
		}
		body = append(body, '}')
	}
	body = append(body, `],"model":`...)
	body = append(body, jsonString(model)...)
	body = append(body, `,"usage":{"prompt_tokens":`...)
	body = strconv.AppendInt(body, int64(tokens), 10)
	body = append(body, `,"total_tokens":`...)
	body = strconv.AppendInt(body, int64(tokens), 10)
	body = append(body, "}}\n"...)
	w.Header().Set("X-Request-Id", "req_"+s.id("emb-"))
	writeJSON(w, http.StatusOK, body)
	return true
}

func modelsBody(ids []string) []byte {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list"}
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, id := range ids {
		list.Data = append(list.Data, model{ID: id, Object: "model", Created: created, OwnedBy: "fakeprovider"})
	}
	b, _ := json.Marshal(list)
	return append(b, '\n')
}
