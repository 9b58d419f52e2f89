// Package anthropicfake is a fake Anthropic Messages API upstream for tests: an
// http.Handler answering POST /v1/messages, streaming (named server-sent
// events) or not, in Anthropic's exact wire shapes, with deterministic content
// and usage, and failure behaviours chosen per request.
//
// It checks what the real API checks and a translator could get wrong: the
// x-api-key and anthropic-version headers, a model and max_tokens, a non-empty
// conversation of user and assistant turns, non-empty text blocks, and
// tool_result blocks answering tool_use blocks of the assistant turn just
// before.
//
// Content: a reply is N words "tok0 tok1 … tok{N-1}", N being the smaller of
// max_tokens and Options.ReplyTokens (default 16); stop_reason is "max_tokens"
// when max_tokens cut it, "end_turn" otherwise. A stop sequence equal to a word
// "tokK" (K < N) cuts the reply before it with stop_reason "stop_sequence". One
// word is one output token and one text_delta event.
//
// Tools: when the request has tools, tool_choice is not "none" and the last
// message is not tool results, the reply is one tool_use of the tool named by
// tool_choice (else the first tool) whose input has a value for each property
// of its input_schema ("fake" for strings, 1 for numbers, true for booleans, []
// and {}), with stop_reason "tool_use"; with tool_choice auto it is preceded by
// the text "Calling NAME." Output tokens are then the text's words plus the
// input JSON's length / 4, rounded up.
//
// Thinking: with "thinking":{"type":"enabled"} in the request, or the
// "thinking" behaviour, the reply starts with the thinking block
// ThinkingText (3 output tokens more).
//
// Usage: input_tokens is PromptTokens(body); with the "cached" behaviour a half
// of it (rounded down) is reported as cache_read_input_tokens and a quarter as
// cache_creation_input_tokens, input_tokens keeping the rest.
package anthropicfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/fakeprovider/fakekit"
)

// BehaviorHeader selects behaviours (comma-separated); it wins over the model.
const BehaviorHeader = fakeprovider.BehaviorHeader

// Behaviour names, for the X-Fake-Behavior header or the model field.
const (
	// BehaviorError500 answers 500 with an api_error.
	BehaviorError500 = "error-500"
	// BehaviorError429 answers 429 rate_limit_error with retry-after: 1.
	BehaviorError429 = "error-429"
	// BehaviorError400 answers 400 invalid_request_error.
	BehaviorError400 = "error-400"
	// BehaviorOverloaded answers 529 overloaded_error.
	BehaviorOverloaded = "overloaded"
	// BehaviorErrorMidstream sends an overloaded_error "error" event after 3
	// text deltas of a stream (fewer if the reply is shorter) and ends it
	// cleanly; a non-streamed request gets the 529.
	BehaviorErrorMidstream = "error-midstream"
	// BehaviorFailMidstream aborts the connection after 3 text deltas of a
	// stream, or half of a non-streamed body.
	BehaviorFailMidstream = "fail-midstream"
	// BehaviorCached reports cache reads and writes; see the package doc.
	BehaviorCached = "cached"
	// BehaviorThinking adds a thinking block, as if thinking were enabled.
	BehaviorThinking = "thinking"
)

// ThinkingText is the content of the fake's thinking blocks.
const ThinkingText = "Let me think."

// Options configures a Server; zero fields take the defaults.
type Options struct {
	// FirstTokenLatency is the wait before the answer's headers.
	FirstTokenLatency time.Duration
	// TokenLatency is the wait between two streamed text deltas; a
	// non-streamed reply of N words waits (N-1) times as long.
	TokenLatency time.Duration
	// ReplyTokens is the natural length of a reply in words (default 16).
	ReplyTokens int
	// APIKey, if set, must be the x-api-key; if empty any non-empty key passes.
	APIKey string
	// RecordLimit bounds the request log (default 1000, oldest dropped first);
	// negative disables recording.
	RecordLimit int
}

// Recorded is one request as the fake received it.
type Recorded = fakeprovider.Recorded

// Server is the fake Anthropic API; it is an http.Handler, safe for concurrent use.
type Server struct {
	o   Options
	mux *http.ServeMux
	seq atomic.Uint64

	rec *fakekit.Recorder
}

// New returns a fake Anthropic API configured by o.
func New(o Options) *Server {
	if o.ReplyTokens <= 0 {
		o.ReplyTokens = 16
	}
	o.ReplyTokens = min(o.ReplyTokens, 100_000)
	s := &Server{o: o, mux: http.NewServeMux(), rec: fakekit.NewRecorder(o.RecordLimit)}
	s.mux.HandleFunc("POST /v1/messages", s.messages)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", "Not found")
	})
	return s
}

// Requests returns the recorded requests, oldest first.
func (s *Server) Requests() []Recorded { return s.rec.Requests() }

// Reset forgets the recorded requests.
func (s *Server) Reset() { s.rec.Reset() }

// ServeHTTP records the request and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.rec.ReadBody(w, r); err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) id(prefix string) string {
	return fmt.Sprintf("%s%020d", prefix, s.seq.Add(1))
}

type behavior uint8

const (
	bError500 behavior = 1 << iota
	bError429
	bError400
	bOverloaded
	bErrorMidstream
	bFailMidstream
	bCached
	bThinking
)

var behaviorNames = map[string]behavior{
	BehaviorError500: bError500, BehaviorError429: bError429, BehaviorError400: bError400,
	BehaviorOverloaded: bOverloaded, BehaviorErrorMidstream: bErrorMidstream,
	BehaviorFailMidstream: bFailMidstream, BehaviorCached: bCached, BehaviorThinking: bThinking,
}

// behaviorOf returns the behaviours of a request: the header's, else the model's.
func behaviorOf(r *http.Request, model string) behavior {
	return fakekit.BehaviorOf(r, model, behaviorNames)
}

// auth checks the headers the real API requires.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) bool {
	key := r.Header.Get("x-api-key")
	switch {
	case key == "":
		writeError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required")
		return false
	case s.o.APIKey != "" && key != s.o.APIKey:
		writeError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return false
	case r.Header.Get("anthropic-version") == "":
		writeError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return false
	}
	return true
}

// failure answers the error behaviours; it reports whether it did.
func failure(w http.ResponseWriter, b behavior, stream bool) bool {
	switch {
	case b&bError500 != 0:
		writeError(w, http.StatusInternalServerError, "api_error", "Internal server error")
	case b&bError429 != 0:
		w.Header().Set("retry-after", "1")
		w.Header().Set("anthropic-ratelimit-requests-remaining", "0")
		writeError(w, http.StatusTooManyRequests, "rate_limit_error",
			"Number of request tokens has exceeded your per-minute rate limit (fake error-429).")
	case b&bError400 != 0:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "Invalid request (fake error-400).")
	case b&bOverloaded != 0, b&bErrorMidstream != 0 && !stream:
		writeError(w, 529, "overloaded_error", "Overloaded")
	default:
		return false
	}
	return true
}

// writeError writes Anthropic's error body.
func writeError(w http.ResponseWriter, status int, typ, message string) {
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e.Type, e.Error.Type, e.Error.Message = "error", typ, message
	b, _ := json.Marshal(e)
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	fakekit.WriteJSON(w, status, "application/json", body)
}
