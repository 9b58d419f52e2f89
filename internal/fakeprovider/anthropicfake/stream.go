package anthropicfake

import (
	"encoding/json"
	"net/http"

	"github.com/antigravity/gateway/internal/fakeprovider/fakekit"
)

// event is the data of a stream event, fields in the real API's order.
type event struct {
	Type         string      `json:"type"`
	Message      *messageOut `json:"message,omitempty"`
	Index        *int        `json:"index,omitempty"`
	ContentBlock *outBlock   `json:"content_block,omitempty"`
	Delta        any         `json:"delta,omitempty"`
	Usage        any         `json:"usage,omitempty"`
	Error        *errorOut   `json:"error,omitempty"`
}

// blockDelta is the delta of a content_block_delta event.
type blockDelta struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	Thinking    *string `json:"thinking,omitempty"`
	Signature   *string `json:"signature,omitempty"`
	PartialJSON *string `json:"partial_json,omitempty"`
}

// messageDelta is the delta of a message_delta event.
type messageDelta struct {
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

type errorOut struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// stream writes the reply as Anthropic's named server-sent events:
// message_start, ping, then a thinking, a text and a tool_use block as the
// reply has them, message_delta and message_stop.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, p *plan, b behavior) {
	ctx := r.Context()
	if !fakekit.Sleep(ctx, s.o.FirstTokenLatency) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(e event) bool {
		d, _ := json.Marshal(e)
		if _, err := w.Write([]byte("event: " + e.Type + "\ndata: " + string(d) + "\n\n")); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	index := 0
	blockStart := func(b outBlock) bool {
		return send(event{Type: "content_block_start", Index: ptr(index), ContentBlock: &b})
	}
	blockDeltaEv := func(d blockDelta) bool {
		return send(event{Type: "content_block_delta", Index: ptr(index), Delta: d})
	}
	blockStop := func() bool {
		ok := send(event{Type: "content_block_stop", Index: ptr(index)})
		index++
		return ok
	}

	start := messageOut{ID: p.id, Type: "message", Role: "assistant", Model: p.model, Content: []outBlock{},
		Usage: wireUsage{InputTokens: p.usage.InputTokens, CacheCreationInputTokens: p.usage.CacheCreationInputTokens,
			CacheReadInputTokens: p.usage.CacheReadInputTokens, OutputTokens: 1}}
	if !send(event{Type: "message_start", Message: &start}) || !send(event{Type: "ping"}) {
		return
	}
	if p.thinking {
		if !blockStart(outBlock{Type: "thinking", Thinking: ptr(""), Signature: ptr("")}) ||
			!blockDeltaEv(blockDelta{Type: "thinking_delta", Thinking: ptr(ThinkingText)}) ||
			!blockDeltaEv(blockDelta{Type: "signature_delta", Signature: ptr(signature)}) ||
			!blockStop() {
			return
		}
	}
	if len(p.text) > 0 {
		if !blockStart(outBlock{Type: "text", Text: ptr("")}) {
			return
		}
		for i, t := range p.text {
			if i > 0 && !fakekit.Sleep(ctx, s.o.TokenLatency) {
				return
			}
			if !blockDeltaEv(blockDelta{Type: "text_delta", Text: ptr(t)}) {
				return
			}
			if i == min(3, len(p.text))-1 {
				if b&bErrorMidstream != 0 {
					send(event{Type: "error", Error: &errorOut{Type: "overloaded_error", Message: "Overloaded"}})
					return
				}
				if b&bFailMidstream != 0 {
					panic(http.ErrAbortHandler)
				}
			}
		}
		if !blockStop() {
			return
		}
	}
	if p.tool != nil {
		in := string(p.tool.Input)
		half := len(in) / 2
		if !blockStart(outBlock{Type: "tool_use", ID: p.tool.ID, Name: p.tool.Name, Input: json.RawMessage("{}")}) ||
			!blockDeltaEv(blockDelta{Type: "input_json_delta", PartialJSON: ptr(in[:half])}) ||
			!blockDeltaEv(blockDelta{Type: "input_json_delta", PartialJSON: ptr(in[half:])}) ||
			!blockStop() {
			return
		}
	}
	if !send(event{Type: "message_delta", Delta: messageDelta{StopReason: p.stopReason, StopSequence: p.stopSequence},
		Usage: struct {
			OutputTokens int `json:"output_tokens"`
		}{p.usage.OutputTokens}}) {
		return
	}
	send(event{Type: "message_stop"})
}
