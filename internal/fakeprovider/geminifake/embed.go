package geminifake

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
)

// DefaultDimensions is the size of the fake's embeddings when the request does
// not set outputDimensionality.
const DefaultDimensions = 8

type embedRequest struct {
	Model                string  `json:"model"`
	Content              content `json:"content"`
	OutputDimensionality *int    `json:"outputDimensionality"`
}

type values struct {
	Values []float64 `json:"values"`
}

// Embedding returns the fake's embedding of text: dims values in [-1, 1]
// derived from an FNV hash of the text, rounded to 4 decimals.
func Embedding(text string, dims int) []float64 {
	out := make([]float64, dims)
	for i := range out {
		h := fnv.New64a()
		_, _ = h.Write([]byte(strconv.Itoa(i) + ":" + text))
		out[i] = math.Round((float64(h.Sum64()%20001)/10000-1)*10000) / 10000
	}
	return out
}

// embedOne checks one request and returns its embedding, or the message of
// the 400 to answer.
func embedOne(e embedRequest, model, where string) ([]float64, string) {
	if e.Model != "" && e.Model != "models/"+model {
		return nil, where + ".model: the model must be the one of the URL, models/" + model
	}
	text := ""
	for _, p := range e.Content.Parts {
		if p.Text == nil {
			return nil, where + ".content: only text parts can be embedded"
		}
		text += *p.Text
	}
	if text == "" {
		return nil, where + ".content: content must not be empty"
	}
	dims := DefaultDimensions
	if d := e.OutputDimensionality; d != nil {
		if *d < 1 {
			return nil, where + ".output_dimensionality: must be positive"
		}
		dims = *d
	}
	return Embedding(text, dims), ""
}

func (s *Server) batchEmbed(w http.ResponseWriter, c *call) {
	var q struct {
		Requests []embedRequest `json:"requests"`
	}
	if err := json.Unmarshal(c.body, &q); err != nil {
		writeInvalid(w, "Invalid JSON payload received. %v", err)
		return
	}
	if failure(w, c.behavior, false) {
		return
	}
	if len(q.Requests) == 0 {
		writeInvalid(w, "* BatchEmbedContentsRequest.requests: at least one request is required")
		return
	}
	var out struct {
		Embeddings []values `json:"embeddings"`
	}
	for i, e := range q.Requests {
		if e.Model == "" {
			writeInvalid(w, "* BatchEmbedContentsRequest.requests[%d].model: model is required", i)
			return
		}
		v, msg := embedOne(e, c.model, "* BatchEmbedContentsRequest.requests["+strconv.Itoa(i)+"]")
		if msg != "" {
			writeInvalid(w, "%s", msg)
			return
		}
		out.Embeddings = append(out.Embeddings, values{v})
	}
	b, _ := json.Marshal(out)
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) embed(w http.ResponseWriter, c *call) {
	var q embedRequest
	if err := json.Unmarshal(c.body, &q); err != nil {
		writeInvalid(w, "Invalid JSON payload received. %v", err)
		return
	}
	if failure(w, c.behavior, false) {
		return
	}
	v, msg := embedOne(q, c.model, "* EmbedContentRequest")
	if msg != "" {
		writeInvalid(w, "%s", msg)
		return
	}
	b, _ := json.Marshal(struct {
		Embedding values `json:"embedding"`
	}{values{v}})
	writeJSON(w, http.StatusOK, b)
}
