// Package geminifake is a fake Google Gemini API upstream for tests: an
// http.Handler answering POST /{version}/models/{model}:generateContent,
// :streamGenerateContent (server-sent events with ?alt=sse, else a JSON
// array), :batchEmbedContents and :embedContent in Gemini's exact wire shapes,
// with deterministic content and usage, and failure behaviours chosen per
// request.
//
// It checks what the real API checks and a translator could get wrong: an API
// key (x-goog-api-key header or key= parameter), a non-empty contents list of
// "user" and "model" turns, parts with exactly one kind of data, function
// response turns coming right after a function call turn with as many
// responses as calls, embedding requests naming the model of the URL.
//
// Content: a reply is N words "tok0 tok1 … tok{N-1}", N being the smaller of
// generationConfig.maxOutputTokens and Options.ReplyTokens (default 16);
// finishReason is MAX_TOKENS when the limit cut it, STOP otherwise. A stop
// sequence equal to a word "tokK" (K < N) cuts the reply before it (STOP). One
// word is one candidate token and one streamed chunk. candidateCount > 1 gives
// that many identical candidates.
//
// Tools: when the request declares functions, the calling mode is not NONE and
// the last turn holds no function response, the reply is one functionCall of
// the first allowed function (else the first declared) whose args have a value
// per property of its schema ("fake" for strings, 1 for numbers, true for
// booleans, [] and {}); its token count is the args JSON's length / 4, rounded
// up.
//
// Thinking: with thinkingConfig.includeThoughts and a non-zero thinkingBudget,
// or the "thinking" behaviour, the reply starts with the thought part
// ThinkingText, reported as 3 thoughtsTokenCount.
//
// Usage: promptTokenCount is PromptTokens(body); with the "cached" behaviour
// half of it (rounded down) is cachedContentTokenCount. Embeddings report no
// usage, like the real API.
package geminifake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/fakeprovider/fakekit"
)

// BehaviorHeader selects behaviours (comma-separated); it wins over the model.
const BehaviorHeader = fakeprovider.BehaviorHeader

// Behaviour names, for the X-Fake-Behavior header or the model name.
const (
	// BehaviorError500 answers 500 INTERNAL.
	BehaviorError500 = "error-500"
	// BehaviorError429 answers 429 RESOURCE_EXHAUSTED.
	BehaviorError429 = "error-429"
	// BehaviorError400 answers 400 INVALID_ARGUMENT.
	BehaviorError400 = "error-400"
	// BehaviorOverloaded answers 503 UNAVAILABLE "The model is overloaded.".
	BehaviorOverloaded = "overloaded"
	// BehaviorErrorMidstream sends an UNAVAILABLE error event after the 3rd
	// chunk of a stream that has more and ends it cleanly; a non-streamed
	// request gets the 503.
	BehaviorErrorMidstream = "error-midstream"
	// BehaviorFailMidstream aborts the connection after the 3rd chunk of a
	// stream that has more, or half of a non-streamed body.
	BehaviorFailMidstream = "fail-midstream"
	// BehaviorCached reports half of the prompt as cachedContentTokenCount.
	BehaviorCached = "cached"
	// BehaviorThinking adds a thought part, as if thoughts were included.
	BehaviorThinking = "thinking"
	// BehaviorSafety stops the reply after 2 words with finishReason SAFETY.
	BehaviorSafety = "safety"
)

// ThinkingText is the text of the fake's thought parts.
const ThinkingText = "Let me think."

// Options configures a Server; zero fields take the defaults.
type Options struct {
	// FirstTokenLatency is the wait before the answer's headers.
	FirstTokenLatency time.Duration
	// TokenLatency is the wait between two streamed chunks; a non-streamed
	// reply of N words waits (N-1) times as long.
	TokenLatency time.Duration
	// ReplyTokens is the natural length of a reply in words (default 16).
	ReplyTokens int
	// APIKey, if set, must be presented; if empty any non-empty key passes.
	APIKey string
	// RecordLimit bounds the request log (default 1000, oldest dropped first);
	// negative disables recording.
	RecordLimit int
}

// Recorded is one request as the fake received it.
type Recorded = fakeprovider.Recorded

// Server is the fake Gemini API; it is an http.Handler, safe for concurrent use.
type Server struct {
	o   Options
	mux *http.ServeMux
	seq atomic.Uint64

	rec *fakekit.Recorder
}

// New returns a fake Gemini API configured by o.
func New(o Options) *Server {
	if o.ReplyTokens <= 0 {
		o.ReplyTokens = 16
	}
	o.ReplyTokens = min(o.ReplyTokens, 100_000)
	s := &Server{o: o, mux: http.NewServeMux(), rec: fakekit.NewRecorder(o.RecordLimit)}
	s.mux.HandleFunc("POST /{version}/models/{action}", s.dispatch)
	s.mux.HandleFunc("POST /{version}/tunedModels/{action}", s.dispatch)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "The requested URL "+r.URL.Path+" was not found on this server.")
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
		writeError(w, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", "Request payload size exceeds the limit.")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// dispatch routes "{model}:{method}".
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	model, method, ok := strings.Cut(r.PathValue("action"), ":")
	if !ok || model == "" {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "The requested URL "+r.URL.Path+" was not found on this server.")
		return
	}
	if !s.auth(w, r) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	c := &call{model: model, body: body, behavior: behaviorOf(r, model)}
	switch method {
	case "generateContent":
		s.generate(w, r, c, false)
	case "streamGenerateContent":
		s.generate(w, r, c, true)
	case "batchEmbedContents":
		s.batchEmbed(w, c)
	case "embedContent":
		s.embed(w, c)
	default:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Method "+method+" is not supported by the fake.")
	}
}

// call is one request to a model method.
type call struct {
	model    string
	body     []byte
	behavior behavior
}

func (s *Server) auth(w http.ResponseWriter, r *http.Request) bool {
	key := r.Header.Get("x-goog-api-key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	switch {
	case key == "":
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED",
			"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
		return false
	case s.o.APIKey != "" && key != s.o.APIKey:
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
		return false
	}
	return true
}

type behavior uint16

const (
	bError500 behavior = 1 << iota
	bError429
	bError400
	bOverloaded
	bErrorMidstream
	bFailMidstream
	bCached
	bThinking
	bSafety
)

var behaviorNames = map[string]behavior{
	BehaviorError500: bError500, BehaviorError429: bError429, BehaviorError400: bError400,
	BehaviorOverloaded: bOverloaded, BehaviorErrorMidstream: bErrorMidstream, BehaviorFailMidstream: bFailMidstream,
	BehaviorCached: bCached, BehaviorThinking: bThinking, BehaviorSafety: bSafety,
}

func behaviorOf(r *http.Request, model string) behavior {
	return fakekit.BehaviorOf(r, model, behaviorNames)
}

// failure answers the error behaviours; it reports whether it did.
func failure(w http.ResponseWriter, b behavior, stream bool) bool {
	switch {
	case b&bError500 != 0:
		writeError(w, http.StatusInternalServerError, "INTERNAL", "Internal error encountered.")
	case b&bError429 != 0:
		writeError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
			"You exceeded your current quota, please check your plan and billing details (fake error-429).")
	case b&bError400 != 0:
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid request (fake error-400).")
	case b&bOverloaded != 0, b&bErrorMidstream != 0 && !stream:
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", overloadedMessage)
	default:
		return false
	}
	return true
}

const overloadedMessage = "The model is overloaded. Please try again later."

// errorBody is Google's error body.
func errorBody(status int, googleStatus, message string) []byte {
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	e.Error.Code, e.Error.Message, e.Error.Status = status, message, googleStatus
	b, _ := json.Marshal(e)
	return b
}

func writeError(w http.ResponseWriter, status int, googleStatus, message string) {
	writeJSON(w, status, errorBody(status, googleStatus, message))
}

func writeInvalid(w http.ResponseWriter, format string, args ...any) {
	writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf(format, args...))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	fakekit.WriteJSON(w, status, "application/json; charset=UTF-8", body)
}
