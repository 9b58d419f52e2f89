package geminifake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/antigravity/gateway/internal/fakeprovider/fakekit"
)

// response is a GenerateContentResponse as the fake writes it.
type response struct {
	Candidates    []candidate `json:"candidates"`
	UsageMetadata usage       `json:"usageMetadata"`
	ModelVersion  string      `json:"modelVersion"`
	ResponseID    string      `json:"responseId"`
}

type candidate struct {
	Content      content `json:"content"`
	FinishReason string  `json:"finishReason,omitempty"`
	Index        int     `json:"index"`
}

type usage struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         int `json:"totalTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount,omitempty"`
}

// plan is a reply, decided before it is written: the parts of one candidate,
// each part one streamed chunk.
type plan struct {
	id         string
	model      string
	parts      []part
	finish     string
	candidates int
	prompt     int
	cached     int
	output     int // candidate tokens of one candidate
	thoughts   int
}

// usage returns the usage after the first n parts.
func (p *plan) usage(n int) usage {
	out, thoughts := 0, 0
	for _, pt := range p.parts[:n] {
		switch {
		case pt.Thought:
			thoughts = p.thoughts
		case pt.FunctionCall != nil:
			out += (len(pt.FunctionCall.Args) + 3) / 4
		default:
			out++
		}
	}
	out *= p.candidates
	return usage{PromptTokenCount: p.prompt, CandidatesTokenCount: out, CachedContentTokenCount: p.cached,
		ThoughtsTokenCount: thoughts, TotalTokenCount: p.prompt + out + thoughts}
}

// chunk returns the response carrying parts [from, to).
func (p *plan) chunk(from, to int) response {
	r := response{ModelVersion: p.model, ResponseID: p.id, UsageMetadata: p.usage(to)}
	for i := range p.candidates {
		c := candidate{Content: content{Role: "model", Parts: p.parts[from:to]}, Index: i}
		if to == len(p.parts) {
			c.FinishReason = p.finish
		}
		r.Candidates = append(r.Candidates, c)
	}
	return r
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request, c *call, stream bool) {
	var q request
	if err := json.Unmarshal(c.body, &q); err != nil {
		writeInvalid(w, "Invalid JSON payload received. %v", err)
		return
	}
	if failure(w, c.behavior, stream) {
		return
	}
	if msg := q.validate(); msg != "" {
		writeInvalid(w, "%s", msg)
		return
	}
	p := s.plan(&q, c)
	if stream {
		s.stream(w, r, p, c.behavior, r.URL.Query().Get("alt") == "sse")
		return
	}
	if !fakekit.Sleep(r.Context(), s.o.FirstTokenLatency+time.Duration(max(len(p.parts)-1, 0))*s.o.TokenLatency) {
		return
	}
	body, _ := json.Marshal(p.chunk(0, len(p.parts)))
	if c.behavior&bFailMidstream != 0 {
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=UTF-8")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	writeJSON(w, http.StatusOK, body)
}

// plan decides the reply to q.
func (s *Server) plan(q *request, c *call) *plan {
	p := &plan{id: fmt.Sprintf("fake%016d", s.seq.Add(1)), model: c.model, finish: "STOP", candidates: 1, prompt: q.promptTokens()}
	if n := q.GenerationConfig.CandidateCount; n != nil && *n > 1 {
		p.candidates = *n
	}
	if c.behavior&bCached != 0 {
		p.cached = p.prompt / 2
	}
	tc := q.GenerationConfig.ThinkingConfig
	if c.behavior&bThinking != 0 || (tc != nil && tc.IncludeThoughts && (tc.ThinkingBudget == nil || *tc.ThinkingBudget != 0)) {
		p.parts = append(p.parts, part{Text: ptr(ThinkingText), Thought: true})
		p.thoughts = countWords(ThinkingText)
	}
	mode, allowed := "AUTO", []string(nil)
	if q.ToolConfig != nil {
		if m := q.ToolConfig.FunctionCallingConfig.Mode; m != "" {
			mode = m
		}
		allowed = q.ToolConfig.FunctionCallingConfig.AllowedFunctionNames
	}
	if ds := q.declarations(); len(ds) > 0 && mode != "NONE" && !q.answersCalls() {
		d := ds[0]
		for _, cand := range ds {
			if len(allowed) > 0 && cand.Name == allowed[0] {
				d = cand
			}
		}
		p.parts = append(p.parts, part{FunctionCall: &functionCall{Name: d.Name, Args: argsFor(d)}})
		return p
	}
	n := s.o.ReplyTokens
	if m := q.GenerationConfig.MaxOutputTokens; m != nil && *m < n {
		n, p.finish = *m, "MAX_TOKENS"
	}
	for _, seq := range q.GenerationConfig.StopSequences {
		if k, ok := wordIndex(seq); ok && k < n {
			n, p.finish = k, "STOP"
		}
	}
	if c.behavior&bSafety != 0 && n > 2 {
		n, p.finish = 2, "SAFETY"
	}
	for i := range n {
		word := "tok" + strconv.Itoa(i)
		if i > 0 {
			word = " " + word
		}
		p.parts = append(p.parts, part{Text: ptr(word)})
	}
	return p
}

// wordIndex returns K for a word "tokK".
func wordIndex(s string) (int, bool) {
	if len(s) < 4 || s[:3] != "tok" {
		return 0, false
	}
	k, err := strconv.Atoi(s[3:])
	return k, err == nil && k >= 0
}

// stream writes one chunk per part: as server-sent events ("data: …\r\n\r\n")
// when sse, else as a JSON array.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, p *plan, b behavior, sse bool) {
	ctx := r.Context()
	if !fakekit.Sleep(ctx, s.o.FirstTokenLatency) {
		return
	}
	h := w.Header()
	if sse {
		h.Set("Content-Type", "text/event-stream")
	} else {
		h.Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(data []byte, i int) bool {
		var out []byte
		switch {
		case sse:
			out = append(append([]byte("data: "), data...), "\r\n\r\n"...)
		case i == 0:
			out = append([]byte("["), data...)
		default:
			out = append([]byte(",\r\n"), data...)
		}
		if _, err := w.Write(out); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	n := max(len(p.parts), 1)
	for i := range n {
		if i > 0 && !fakekit.Sleep(ctx, s.o.TokenLatency) {
			return
		}
		d, _ := json.Marshal(p.chunk(min(i, len(p.parts)), min(i+1, len(p.parts))))
		if !write(d, i) {
			return
		}
		if i == min(3, n)-1 && i < n-1 {
			if b&bErrorMidstream != 0 {
				write(errorBody(http.StatusServiceUnavailable, "UNAVAILABLE", overloadedMessage), i+1)
				if !sse {
					_, _ = w.Write([]byte("]"))
				}
				return
			}
			if b&bFailMidstream != 0 {
				panic(http.ErrAbortHandler)
			}
		}
	}
	if !sse {
		_, _ = w.Write([]byte("]"))
	}
}

func ptr[T any](v T) *T { return &v }
