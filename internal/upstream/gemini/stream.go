package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/antigravity/gateway/internal/upstream/openaiwire"
)

// Stream wraps a streamGenerateContent?alt=sse body and yields OpenAI
// chat.completion.chunk server-sent events reporting model: per candidate a
// role chunk, then content (text parts), reasoning_content (thought parts) and
// tool_calls (each functionCall whole, in one chunk) chunks, and a
// finish_reason chunk when the candidate has a finishReason (mapped as by
// Response). When the body ends after a finishReason, the usage chunk
// {"choices":[],"usage":{…}} (from the last usageMetadata) and "data: [DONE]"
// follow; a body that ends before any finishReason ends the output without
// them, so the reader can tell the stream was cut. An error event
// (data: {"error":{…}}) becomes OpenAI's error event and ends the stream. A
// read error is returned as is. Close closes r if it is an io.Closer.
func Stream(r io.Reader, model string) io.ReadCloser {
	return newStream(r, model, defaultEnv())
}

func newStream(r io.Reader, model string, e env) *streamer {
	return &streamer{src: r, sse: openaiwire.NewSSEReader(r), model: model, env: e,
		started: map[int]bool{}, calls: map[int]int{}}
}

type streamer struct {
	src   io.Reader
	sse   *openaiwire.SSEReader
	model string
	env   env

	out bytes.Buffer
	err error // returned once out is drained

	rid      string // responseId, or generated
	created  int64
	started  map[int]bool // candidates whose role chunk was sent
	calls    map[int]int  // function calls seen per candidate
	total    int          // function calls seen in all
	finished bool
	usage    *usageMetadata
}

func (s *streamer) Read(p []byte) (int, error) {
	for s.out.Len() == 0 && s.err == nil {
		ev, err := s.sse.Next()
		switch {
		case errors.Is(err, io.EOF):
			s.end()
		case err != nil:
			s.err = err
		default:
			s.handle(ev)
		}
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

// end finishes the output at the end of the body.
func (s *streamer) end() {
	s.err = io.EOF
	if !s.finished {
		return
	}
	c := s.chunk()
	c.Choices = []openaiwire.ChunkChoice{}
	if s.usage != nil {
		c.Usage = s.usage.openAI()
		b, _ := openaiwire.Marshal(c)
		s.emitRaw(b)
	}
	s.emitRaw([]byte("[DONE]"))
}

func (s *streamer) handle(ev openaiwire.SSEEvent) {
	var r generateResponse
	if err := json.Unmarshal(ev.Data, &r); err != nil {
		s.emitRaw(openAIError("The upstream sent an invalid stream event.", "server_error", "invalid_upstream_event"))
		s.err = io.EOF
		return
	}
	if r.Error != nil {
		msg := r.Error.Message
		if msg == "" {
			msg = "The upstream reported an error mid-stream."
		}
		s.emitRaw(openAIError(msg, errorType(r.Error.Status, 500), strings.ToLower(r.Error.Status)))
		s.err = io.EOF
		return
	}
	if s.rid == "" {
		s.rid = r.ResponseID
		if s.rid == "" {
			s.rid = s.env.newID()
		}
		s.created = s.env.now().Unix()
	}
	if r.UsageMetadata != nil {
		s.usage = r.UsageMetadata
	}
	for _, c := range r.Candidates {
		s.start(c.Index)
		if c.Content != nil {
			for _, p := range c.Content.Parts {
				switch {
				case p.FunctionCall != nil:
					tc := toolCall(p.FunctionCall, s.rid, s.total)
					tc.Index = openaiwire.Ptr(s.calls[c.Index])
					s.calls[c.Index]++
					s.total++
					s.emit(c.Index, openaiwire.Delta{ToolCalls: []openaiwire.ToolCallOut{tc}}, nil)
				case p.Text == "":
				case p.Thought:
					s.emit(c.Index, openaiwire.Delta{ReasoningContent: p.Text}, nil)
				default:
					s.emit(c.Index, openaiwire.Delta{Content: openaiwire.Ptr(p.Text)}, nil)
				}
			}
		}
		if c.FinishReason != "" {
			s.emit(c.Index, openaiwire.Delta{}, openaiwire.Ptr(finishReason(c.FinishReason, s.calls[c.Index] > 0)))
			s.finished = true
		}
	}
	if len(r.Candidates) == 0 && r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
		s.start(0)
		s.emit(0, openaiwire.Delta{}, openaiwire.Ptr("content_filter"))
		s.finished = true
	}
}

// start sends a candidate's role chunk once.
func (s *streamer) start(index int) {
	if s.started[index] {
		return
	}
	s.started[index] = true
	s.emit(index, openaiwire.Delta{Role: "assistant", Content: openaiwire.Ptr("")}, nil)
}

func (s *streamer) chunk() openaiwire.Chunk {
	return openaiwire.Chunk{ID: "chatcmpl-" + s.rid, Object: "chat.completion.chunk", Created: s.created, Model: s.model}
}

func (s *streamer) emit(index int, d openaiwire.Delta, finish *string) {
	c := s.chunk()
	c.Choices = []openaiwire.ChunkChoice{{Index: index, Delta: d, Logprobs: openaiwire.Null(), FinishReason: finish}}
	b, _ := openaiwire.Marshal(c)
	s.emitRaw(b)
}

func (s *streamer) emitRaw(data []byte) { openaiwire.WriteEvent(&s.out, data) }
