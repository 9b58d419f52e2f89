package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/jsonscan"
)

// upstreamUsage is OpenAI's usage object.
type upstreamUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// streamResult is what relaying one stream observed.
type streamResult struct {
	usage      *upstreamUsage
	firstEvent time.Duration // time to first event, from the request start
	events     int
	// content holds the data of content events, kept to count completion tokens
	// locally when the stream ends without usage (client cancel, upstream cut).
	content []byte
	// failure is set when the upstream failed mid-stream.
	failure *apierror.Error
	// clientGone is set when the client went away before the end.
	clientGone bool
	// wrote reports that something reached the client (the headers at least):
	// from then on the call cannot fail over to another endpoint.
	wrote bool
	// lastEvent is when the last event arrived, for per-token latency.
	lastEvent time.Duration
}

var (
	dataPrefix = []byte("data:")
	doneData   = []byte("[DONE]")
	usageKey   = []byte(`"usage"`)
	usageNull  = []byte(`"usage":null`)
	errorKey   = []byte(`"error"`)
	eventEnd   = []byte("\n\n")
)

// relay copies an SSE stream from the upstream to the client event by event,
// flushing after each one. Output framing is normalised: one "data:" line per
// event, LF separators, no event/id lines, and "data: [DONE]" at the end. The
// usage chunk is forwarded only when the client asked for it, and an
// `"error": null` key is never forwarded.
//
// begin is called once, right before the first byte goes to the client (it
// writes the response headers); a stream that fails before that can still be
// retried elsewhere.
func relay(ctx context.Context, w http.ResponseWriter, body io.Reader, wantUsage bool, start time.Time, now func() time.Time, begin func()) streamResult {
	var res streamResult
	rc := http.NewResponseController(w)
	br := bufio.NewReaderSize(body, 32<<10)
	out := make([]byte, 0, 1024)
	var data, long []byte // current event's data; a line longer than the buffer
	sawDone := false

	write := func(payload []byte) bool {
		if !res.wrote {
			res.wrote = true
			if begin != nil {
				begin()
			}
		}
		out = append(out[:0], "data: "...)
		out = append(out, payload...)
		out = append(out, eventEnd...)
		if _, err := w.Write(out); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// dispatch handles one complete event; it returns false to stop relaying.
	dispatch := func(ev []byte) bool {
		if res.events == 0 {
			res.firstEvent = now().Sub(start)
		}
		res.lastEvent = now().Sub(start)
		res.events++
		if bytes.Equal(ev, doneData) {
			sawDone = true
			return false
		}
		if bytes.IndexByte(ev, '\n') >= 0 {
			// Multi-line data: one data line per event on our side.
			var buf bytes.Buffer
			if json.Compact(&buf, ev) == nil {
				ev = buf.Bytes()
			} else {
				ev = bytes.ReplaceAll(ev, []byte{'\n'}, []byte(" "))
			}
		}
		forward := true
		// Decode only events that may carry usage or an error: every chunk of
		// a stream that asked for usage has "usage":null, which needs nothing.
		if hasUsage(ev) || bytes.Contains(ev, errorKey) {
			var probe struct {
				Choices []json.RawMessage `json:"choices"`
				Usage   *upstreamUsage    `json:"usage"`
				Error   json.RawMessage   `json:"error"`
			}
			if json.Unmarshal(ev, &probe) == nil {
				if probe.Error != nil && !isNull(probe.Error) {
					res.failure = upstreamStreamError(probe.Error)
					if res.wrote {
						write(ev)
					}
					return false
				}
				if probe.Usage != nil {
					res.usage = probe.Usage
					if len(probe.Choices) == 0 && !wantUsage {
						forward = false
					}
				}
				if probe.Error != nil { // "error": null — openai-go aborts on it
					ev = dropKey(ev, "error")
				}
			}
		}
		if !wantUsage {
			// The gateway asked the upstream for usage; a client that did not
			// gets chunks without the "usage":null key, as OpenAI sends them.
			ev = stripUsageNull(ev)
		}
		if res.usage == nil {
			res.content = append(res.content, ev...)
			res.content = append(res.content, '\n')
		}
		if forward && !write(ev) {
			res.clientGone = true
			return false
		}
		return true
	}

	hasData := false
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0 && err == nil: // blank line: end of event
			if hasData {
				if !dispatch(data) {
					goto end
				}
				data, hasData = data[:0], false
			}
		case bytes.HasPrefix(line, dataPrefix):
			v := line[len(dataPrefix):]
			if len(v) > 0 && v[0] == ' ' {
				v = v[1:]
			}
			if hasData {
				data = append(data, '\n')
			}
			data, hasData = append(data, v...), true
		default: // event:, id:, retry:, comments: dropped
		}
		if err != nil {
			if hasData && len(data) > 0 && !dispatch(data) {
				goto end
			}
			switch {
			case ctx.Err() != nil:
				res.clientGone = true
			case errors.Is(err, io.EOF):
				if !sawDone && res.usage == nil && res.failure == nil && !res.clientGone {
					res.failure = apierror.Upstream(http.StatusBadGateway, "upstream_stream_closed",
						"The upstream closed the stream before it finished.", true)
				}
			default:
				if res.failure == nil && !res.clientGone {
					res.failure = apierror.Upstream(http.StatusBadGateway, "upstream_stream_error",
						"The upstream stream failed: "+err.Error(), true)
				}
			}
			goto end
		}
	}
end:
	if ctx.Err() != nil && !sawDone && res.failure == nil {
		res.clientGone = true
	}
	switch {
	case res.clientGone:
	case res.failure != nil:
		// Nothing sent yet: the caller may still fail over or answer an error.
		if res.wrote && (res.failure.Code == "upstream_stream_closed" || res.failure.Code == "upstream_stream_error") {
			write(res.failure.JSON())
		}
	default:
		if !write(doneData) {
			res.clientGone = true
		}
	}
	return res
}

var (
	usageNullComma = []byte(`,"usage":null`)
	usageNullFirst = []byte(`"usage":null,`)
)

// stripUsageNull removes a compact "usage":null member from a chunk. The byte
// sequence cannot occur inside a JSON string (quotes are escaped there).
func stripUsageNull(ev []byte) []byte {
	if i := bytes.Index(ev, usageNullComma); i >= 0 {
		return append(ev[:i:i], ev[i+len(usageNullComma):]...)
	}
	if i := bytes.Index(ev, usageNullFirst); i >= 0 {
		return append(ev[:i:i], ev[i+len(usageNullFirst):]...)
	}
	return ev
}

// hasUsage reports whether an event may carry a usage object (a "usage" key
// whose value is not the compact null every intermediate chunk carries).
func hasUsage(ev []byte) bool {
	i := bytes.Index(ev, usageKey)
	if i < 0 {
		return false
	}
	if bytes.HasPrefix(ev[i:], usageNull) && bytes.Count(ev, usageKey) == 1 {
		return false
	}
	return true
}

// upstreamStreamError turns an upstream error object into the gateway's error.
func upstreamStreamError(raw json.RawMessage) *apierror.Error {
	var d struct {
		Message string `json:"message"`
		Code    any    `json:"code"`
	}
	_ = json.Unmarshal(raw, &d)
	msg := d.Message
	if msg == "" {
		msg = "The upstream reported an error mid-stream."
	}
	return apierror.Upstream(http.StatusBadGateway, "upstream_error", msg, true)
}

// dropKey removes a top-level key from a JSON object, keeping the rest as is:
// the other members keep their bytes and their order.
func dropKey(obj []byte, key string) []byte {
	fields := map[string]json.RawMessage{}
	if !jsonscan.Members(obj, func(k string, v []byte) { fields[k] = v }) {
		return obj
	}
	delete(fields, key)
	if b, ok := jsonscan.Rewrite(obj, fields); ok {
		return b
	}
	return obj
}

// streamedText extracts the generated text of content events (delta content,
// reasoning, refusals and tool-call arguments) for local token counting.
func streamedText(content []byte) []string {
	var parts []string
	for _, line := range bytes.Split(content, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content          string `json:"content"`
					ReasoningContent string `json:"reasoning_content"`
					Refusal          string `json:"refusal"`
					ToolCalls        []struct {
						Function struct {
							Name      string `json:"name"`
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if json.Unmarshal(line, &chunk) != nil {
			continue
		}
		for _, c := range chunk.Choices {
			d := c.Delta
			for _, s := range []string{d.Content, d.ReasoningContent, d.Refusal} {
				if s != "" {
					parts = append(parts, s)
				}
			}
			for _, tc := range d.ToolCalls {
				if tc.Function.Name != "" {
					parts = append(parts, tc.Function.Name)
				}
				if tc.Function.Arguments != "" {
					parts = append(parts, tc.Function.Arguments)
				}
			}
		}
	}
	return parts
}
