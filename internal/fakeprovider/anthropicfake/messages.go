package anthropicfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/antigravity/gateway/internal/fakeprovider/fakekit"
)

// plan is a reply, decided before it is written.
type plan struct {
	id           string
	model        string
	thinking     bool
	text         []string // text pieces, one per text_delta
	tool         *toolUse
	stopReason   string
	stopSequence *string
	usage        wireUsage
}

type toolUse struct {
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type wireUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

type outBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
}

type messageOut struct {
	ID           string     `json:"id"`
	Type         string     `json:"type"`
	Role         string     `json:"role"`
	Model        string     `json:"model"`
	Content      []outBlock `json:"content"`
	StopReason   *string    `json:"stop_reason"`
	StopSequence *string    `json:"stop_sequence"`
	Usage        wireUsage  `json:"usage"`
}

const signature = "ZmFrZS1zaWduYXR1cmU="

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	if !s.auth(w, r) {
		return
	}
	var q request
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &q); err != nil {
		writeInvalid(w, "There was an error parsing the body of your request: "+err.Error())
		return
	}
	b := behaviorOf(r, q.Model)
	if failure(w, b, q.Stream) {
		return
	}
	if msg := q.validate(); msg != "" {
		writeInvalid(w, msg)
		return
	}
	p := s.plan(&q, b)
	w.Header().Set("request-id", "req_"+p.id)
	if q.Stream {
		s.stream(w, r, p, b)
		return
	}
	if !fakekit.Sleep(r.Context(), s.o.FirstTokenLatency+time.Duration(max(len(p.text)-1, 0))*s.o.TokenLatency) {
		return
	}
	m := messageOut{ID: p.id, Type: "message", Role: "assistant", Model: p.model,
		StopReason: &p.stopReason, StopSequence: p.stopSequence, Usage: p.usage, Content: []outBlock{}}
	if p.thinking {
		m.Content = append(m.Content, outBlock{Type: "thinking", Thinking: ptr(ThinkingText), Signature: ptr(signature)})
	}
	if len(p.text) > 0 {
		text := ""
		for _, t := range p.text {
			text += t
		}
		m.Content = append(m.Content, outBlock{Type: "text", Text: &text})
	}
	if p.tool != nil {
		m.Content = append(m.Content, outBlock{Type: "tool_use", ID: p.tool.ID, Name: p.tool.Name, Input: p.tool.Input})
	}
	out, _ := json.Marshal(m)
	if b&bFailMidstream != 0 {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out[:len(out)/2])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	writeJSON(w, http.StatusOK, out)
}

// plan decides the reply to q.
func (s *Server) plan(q *request, b behavior) *plan {
	p := &plan{id: s.id("msg_fake"), model: q.Model, stopReason: "end_turn"}
	p.thinking = b&bThinking != 0 || (q.Thinking != nil && q.Thinking.Type == "enabled")
	out := 0
	if p.thinking {
		out += countWords(ThinkingText)
	}
	choice := toolChoice{Type: "auto"}
	if q.ToolChoice != nil {
		choice = *q.ToolChoice
	}
	if len(q.Tools) > 0 && choice.Type != "none" && !q.answersTools() {
		tool := q.Tools[0]
		if choice.Type == "tool" {
			for _, t := range q.Tools {
				if t.Name == choice.Name {
					tool = t
				}
			}
		}
		if choice.Type == "auto" {
			p.text = []string{"Calling", " " + tool.Name + "."}
			out += len(p.text)
		}
		p.tool = &toolUse{ID: s.id("toolu_fake"), Name: tool.Name, Input: toolInput(tool.InputSchema)}
		out += (len(p.tool.Input) + 3) / 4
		p.stopReason = "tool_use"
	} else {
		n := min(s.o.ReplyTokens, *q.MaxTokens)
		if n < s.o.ReplyTokens {
			p.stopReason = "max_tokens"
		}
		for _, seq := range q.StopSequences {
			if k, ok := wordIndex(seq); ok && k < n {
				n, p.stopReason, p.stopSequence = k, "stop_sequence", ptr(seq)
			}
		}
		for i := range n {
			word := "tok" + strconv.Itoa(i)
			if i > 0 {
				word = " " + word
			}
			p.text = append(p.text, word)
		}
		out += n
	}
	prompt := q.promptTokens()
	p.usage = wireUsage{InputTokens: prompt, OutputTokens: out}
	if b&bCached != 0 {
		p.usage.CacheReadInputTokens = prompt / 2
		p.usage.CacheCreationInputTokens = prompt / 4
		p.usage.InputTokens = prompt - prompt/2 - prompt/4
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

func ptr[T any](v T) *T { return &v }
