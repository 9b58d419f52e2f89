package anthropic

import (
	"bytes"
	"encoding/json"
	"io"
	"time"

	"github.com/antigravity/gateway/internal/upstream/openaiwire"
)

// Stream wraps a streaming Messages response body and yields OpenAI
// chat.completion.chunk server-sent events reporting model: a role chunk at
// message_start, content (text_delta), reasoning_content (thinking_delta) and
// tool_calls (tool_use blocks, then their input_json_delta) chunks, a
// finish_reason chunk at message_delta, and at message_stop the usage chunk
// {"choices":[],"usage":{…}} and "data: [DONE]". An error event becomes
// `data: {"error":{…}}` and ends the stream. If the body ends before
// message_stop, the output ends too, without usage or [DONE], so the reader can
// tell the stream was cut; a read error is returned as is. Close closes r if it
// is an io.Closer.
func Stream(r io.Reader, model string) io.ReadCloser {
	return newStream(r, model, time.Now)
}

func newStream(r io.Reader, model string, now clock) *streamer {
	return &streamer{src: r, sse: openaiwire.NewSSEReader(r), model: model, now: now, tools: map[int]int{}}
}

type streamer struct {
	src   io.Reader
	sse   *openaiwire.SSEReader
	model string
	now   clock

	out bytes.Buffer
	err error // returned once out is drained

	started bool
	id      string
	created int64
	usage   wireUsage
	tools   map[int]int // content block index → tool call index
}

func (s *streamer) Read(p []byte) (int, error) {
	for s.out.Len() == 0 && s.err == nil {
		ev, err := s.sse.Next()
		if err != nil {
			s.err = err
			break
		}
		s.handle(ev)
	}
	if s.out.Len() > 0 {
		return s.out.Read(p)
	}
	return 0, s.err
}

func (s *streamer) Close() error {
	s.err = io.ErrClosedPipe
	if c, ok := s.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// streamEvent is the union of the data of Anthropic's stream events.
type streamEvent struct {
	Type         string          `json:"type"`
	Message      messageResponse `json:"message"`
	Index        int             `json:"index"`
	ContentBlock block           `json:"content_block"`
	Delta        struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		Thinking    string `json:"thinking"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage wireUsage `json:"usage"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *streamer) handle(ev openaiwire.SSEEvent) {
	var e streamEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		s.emitRaw(openAIError("The upstream sent an invalid stream event.", "server_error", "invalid_upstream_event"))
		s.err = io.EOF
		return
	}
	if e.Type == "" {
		e.Type = ev.Name
	}
	switch e.Type {
	case "message_start":
		s.id, s.usage = e.Message.ID, e.Message.Usage
		s.start()
	case "content_block_start":
		s.start()
		switch e.ContentBlock.Type {
		case "text":
			if e.ContentBlock.Text != "" {
				s.emit(openaiwire.Delta{Content: openaiwire.Ptr(e.ContentBlock.Text)}, nil)
			}
		case "thinking":
			if e.ContentBlock.Thinking != "" {
				s.emit(openaiwire.Delta{ReasoningContent: e.ContentBlock.Thinking}, nil)
			}
		case "tool_use":
			i := len(s.tools)
			s.tools[e.Index] = i
			s.emit(openaiwire.Delta{ToolCalls: []openaiwire.ToolCallOut{{Index: openaiwire.Ptr(i), ID: e.ContentBlock.ID, Type: "function",
				Function: openaiwire.FunctionCall{Name: e.ContentBlock.Name}}}}, nil)
		}
	case "content_block_delta":
		s.start()
		switch e.Delta.Type {
		case "text_delta":
			s.emit(openaiwire.Delta{Content: openaiwire.Ptr(e.Delta.Text)}, nil)
		case "thinking_delta":
			s.emit(openaiwire.Delta{ReasoningContent: e.Delta.Thinking}, nil)
		case "input_json_delta":
			if i, ok := s.tools[e.Index]; ok && e.Delta.PartialJSON != "" {
				s.emit(openaiwire.Delta{ToolCalls: []openaiwire.ToolCallOut{{Index: openaiwire.Ptr(i), Function: openaiwire.FunctionCall{Arguments: e.Delta.PartialJSON}}}}, nil)
			}
		}
	case "message_delta":
		s.start()
		s.usage.merge(e.Usage)
		if e.Delta.StopReason != "" {
			s.emit(openaiwire.Delta{}, openaiwire.Ptr(finishReason(e.Delta.StopReason)))
		}
	case "message_stop":
		s.start()
		c := s.chunk()
		c.Choices, c.Usage = []openaiwire.ChunkChoice{}, s.usage.openAI()
		b, _ := openaiwire.Marshal(c)
		s.emitRaw(b)
		s.emitRaw([]byte("[DONE]"))
		s.err = io.EOF
	case "error":
		msg := e.Error.Message
		if msg == "" {
			msg = "The upstream reported an error mid-stream."
		}
		s.emitRaw(openAIError(msg, errorType(e.Error.Type, 500), e.Error.Type))
		s.err = io.EOF
	}
	// ping, content_block_stop and unknown events produce nothing.
}

// start emits the role chunk once, before anything else.
func (s *streamer) start() {
	if s.started {
		return
	}
	s.started = true
	s.created = s.now().Unix()
	s.emit(openaiwire.Delta{Role: "assistant", Content: openaiwire.Ptr("")}, nil)
}

func (s *streamer) chunk() openaiwire.Chunk {
	return openaiwire.Chunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model}
}

func (s *streamer) emit(d openaiwire.Delta, finish *string) {
	c := s.chunk()
	c.Choices = []openaiwire.ChunkChoice{{Delta: d, Logprobs: openaiwire.Null(), FinishReason: finish}}
	b, _ := openaiwire.Marshal(c)
	s.emitRaw(b)
}

func (s *streamer) emitRaw(data []byte) { openaiwire.WriteEvent(&s.out, data) }
