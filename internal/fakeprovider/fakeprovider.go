// Package fakeprovider is a fake OpenAI-compatible upstream: the demo model, the
// upstream of the tests and the target of the load harness. It answers chat
// completions (streaming or not), embeddings and the model list in OpenAI's exact
// wire shapes, also under Azure OpenAI's deployment paths, with deterministic
// content and usage, and can be told to fail in the ways real upstreams do.
//
// Content: a reply is N words "tok0 tok1 … tok{N-1}" where N is the smaller of
// max_completion_tokens (or max_tokens) and Options.ReplyTokens (default 16); one
// word is one completion token and one streamed chunk. finish_reason is "length"
// when the limit cut the reply short, "stop" otherwise. Prompt tokens are
// PromptTokens(body); embedding tokens are InputTokens(body).
//
// Behaviours are chosen per request by the X-Fake-Behavior header, or when it is
// absent by the request's model (for Azure, by the deployment when the body has no
// model). The header may list several, comma-separated ("cached,fail-midstream").
// See the Behavior* constants.
package fakeprovider

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BehaviorHeader selects behaviours; it wins over the model field.
const BehaviorHeader = "X-Fake-Behavior"

// Behaviour names, for the X-Fake-Behavior header or the model field.
const (
	// BehaviorError500 answers 500 with an OpenAI server_error body.
	BehaviorError500 = "error-500"
	// BehaviorError429 answers 429 with retry-after: 1 and a rate-limit body.
	BehaviorError429 = "error-429"
	// BehaviorError400 answers 400 with an invalid_request_error body.
	BehaviorError400 = "error-400"
	// BehaviorSlow waits Options.SlowDelay (default 2s) before the headers.
	BehaviorSlow = "slow"
	// BehaviorHang never answers; it returns when the client goes away.
	BehaviorHang = "hang"
	// BehaviorFailMidstream aborts the connection part-way: a stream after its
	// role chunk and 3 word chunks (fewer if the reply is shorter; so 4 data
	// events, no finish_reason, no usage, no [DONE]); a non-streamed reply after
	// half of its body. Neither counts as a cancel.
	BehaviorFailMidstream = "fail-midstream"
	// BehaviorNoUsage never reports usage: no usage chunk even when
	// stream_options.include_usage is set, and no usage object in a non-streamed
	// reply.
	BehaviorNoUsage = "no-usage"
	// BehaviorCached reports prompt_tokens_details.cached_tokens = half the
	// prompt tokens (rounded down) and completion_tokens_details.reasoning_tokens
	// = 2 (part of completion_tokens, which stays N).
	BehaviorCached = "cached"
)

type behavior uint16

const (
	bError500 behavior = 1 << iota
	bError429
	bError400
	bSlow
	bHang
	bFailMidstream
	bNoUsage
	bCached
)

var behaviorNames = [...]struct {
	name string
	bit  behavior
}{
	{BehaviorError500, bError500},
	{BehaviorError429, bError429},
	{BehaviorError400, bError400},
	{BehaviorSlow, bSlow},
	{BehaviorHang, bHang},
	{BehaviorFailMidstream, bFailMidstream},
	{BehaviorNoUsage, bNoUsage},
	{BehaviorCached, bCached},
}

// parseBehavior reads a comma-separated list of behaviour names; unknown names
// (such as real model names) are ignored.
func parseBehavior(s string) behavior {
	var b behavior
	for s != "" {
		var name string
		name, s, _ = strings.Cut(s, ",")
		name = strings.TrimSpace(name)
		for _, n := range behaviorNames {
			if strings.EqualFold(name, n.name) {
				b |= n.bit
			}
		}
	}
	return b
}

// Options configures a Server; zero fields take the defaults.
type Options struct {
	// FirstTokenLatency is the wait before the first chunk of a stream (and
	// before the headers), or before a non-streamed reply.
	FirstTokenLatency time.Duration
	// TokenLatency is the wait between two streamed word chunks; a non-streamed
	// reply of N words waits FirstTokenLatency + (N-1)*TokenLatency.
	TokenLatency time.Duration
	// ReplyTokens is the natural length of a reply in words (default 16, at most
	// 1,000,000); max_tokens / max_completion_tokens only shorten it.
	ReplyTokens int
	// SlowDelay is how long the "slow" behaviour waits (default 2s).
	SlowDelay time.Duration
	// APIKey, if set, must be presented: "Authorization: Bearer <APIKey>" on
	// OpenAI paths, "api-key: <APIKey>" on Azure paths. If empty, OpenAI paths
	// accept anything and Azure paths any non-empty api-key.
	APIKey string
	// Models are the ids listed by GET /v1/models (default "fake-model" and
	// "fake-embedding").
	Models []string
	// RecordLimit bounds the request log kept for Requests (default 1000; the
	// oldest entries go first). Negative disables recording (load tests).
	RecordLimit int
}

// maxBody bounds a request body, like real upstreams do.
const maxBody = 16 << 20

// Recorded is one request as the fake upstream received it. Header and Body are
// shared with the log: do not modify them.
type Recorded struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Server is the fake upstream; it is an http.Handler, safe for concurrent use.
type Server struct {
	o      Options
	mux    *http.ServeMux
	models []byte // GET /v1/models body
	reply  reply

	seq      atomic.Uint64
	inflight atomic.Int64
	canceled atomic.Int64

	logMu sync.Mutex
	log   []Recorded // ring buffer of at most o.RecordLimit entries
	next  int        // index of the oldest entry once the ring is full
}

// New returns a fake upstream configured by o.
func New(o Options) *Server {
	if o.ReplyTokens <= 0 {
		o.ReplyTokens = 16
	}
	o.ReplyTokens = min(o.ReplyTokens, 1_000_000)
	if o.SlowDelay <= 0 {
		o.SlowDelay = 2 * time.Second
	}
	if len(o.Models) == 0 {
		o.Models = []string{"fake-model", "fake-embedding"}
	}
	if o.RecordLimit == 0 {
		o.RecordLimit = 1000
	}
	s := &Server{o: o, mux: http.NewServeMux(), reply: newReply(o.ReplyTokens)}
	s.models = modelsBody(o.Models)
	for _, p := range []string{"/v1/chat/completions", "/chat/completions"} {
		s.mux.HandleFunc("POST "+p, s.handle(s.chat, false))
	}
	s.mux.HandleFunc("POST /openai/deployments/{deployment}/chat/completions", s.handle(s.chat, true))
	for _, p := range []string{"/v1/embeddings", "/embeddings"} {
		s.mux.HandleFunc("POST "+p, s.handle(s.embeddings, false))
	}
	s.mux.HandleFunc("POST /openai/deployments/{deployment}/embeddings", s.handle(s.embeddings, true))
	for _, p := range []string{"/v1/models", "/models"} {
		s.mux.HandleFunc("GET "+p, s.listModels)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "invalid_request_error", "")
	})
	return s
}

// ServeHTTP records the request and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	s.record(r, body)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "Request body too large or unreadable.", "invalid_request_error", "")
		return
	}
	r.Body = &readBody{Reader: bytes.NewReader(body), b: body}
	s.mux.ServeHTTP(w, r)
}

// readBody is a request body already read, so endpoints get the bytes without a
// second copy.
type readBody struct {
	*bytes.Reader
	b []byte
}

func (*readBody) Close() error { return nil }

// Inflight returns the number of requests being served now.
func (s *Server) Inflight() int { return int(s.inflight.Load()) }

// Canceled returns the number of requests whose client went away before the
// reply was complete.
func (s *Server) Canceled() int64 { return s.canceled.Load() }

// Requests returns the recorded requests, oldest first.
func (s *Server) Requests() []Recorded {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := make([]Recorded, 0, len(s.log))
	out = append(out, s.log[s.next:]...)
	return append(out, s.log[:s.next]...)
}

// Reset forgets the recorded requests and zeroes Canceled.
func (s *Server) Reset() {
	s.logMu.Lock()
	s.log, s.next = nil, 0
	s.logMu.Unlock()
	s.canceled.Store(0)
}

func (s *Server) record(r *http.Request, body []byte) {
	limit := s.o.RecordLimit
	if limit < 0 {
		return
	}
	rec := Recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if len(s.log) < limit {
		s.log = append(s.log, rec)
		return
	}
	s.log[s.next] = rec
	s.next = (s.next + 1) % limit
}

// endpoint is a POST handler; it reports whether it answered completely, so
// the wrapper can count requests the client abandoned.
type endpoint func(w http.ResponseWriter, r *http.Request, c *call) bool

// call is what every POST endpoint needs about its request.
type call struct {
	body       []byte
	azure      bool
	deployment string
	header     behavior // behaviours named by the header
	hasHeader  bool
}

// behavior returns the behaviours of the call: the header's, else the model's.
func (c *call) behavior(model string) behavior {
	if c.hasHeader {
		return c.header
	}
	if model == "" {
		model = c.deployment
	}
	return parseBehavior(model)
}

func (s *Server) handle(ep endpoint, azure bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := &call{azure: azure}
		if rb, ok := r.Body.(*readBody); ok {
			c.body = rb.b
		}
		if h, ok := r.Header[BehaviorHeader]; ok {
			c.header, c.hasHeader = parseBehavior(strings.Join(h, ",")), true
		}
		if azure {
			c.deployment = r.PathValue("deployment")
			if !s.azureAuth(w, r) {
				return
			}
		} else if !s.openAIAuth(w, r) {
			return
		}
		if !ep(w, r, c) && r.Context().Err() != nil {
			s.canceled.Add(1)
		}
	}
}

// azureAuth answers like Azure OpenAI when the api-key or api-version is missing.
func (s *Server) azureAuth(w http.ResponseWriter, r *http.Request) bool {
	key := r.Header.Get("api-key")
	if key == "" || (s.o.APIKey != "" && key != s.o.APIKey) {
		writeAzureError(w, http.StatusUnauthorized, "401",
			"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.")
		return false
	}
	if r.URL.Query().Get("api-version") == "" {
		writeAzureError(w, http.StatusBadRequest, "BadRequest", "Missing required query parameter 'api-version'.")
		return false
	}
	return true
}

// openAIAuth checks the bearer token when Options.APIKey is set.
func (s *Server) openAIAuth(w http.ResponseWriter, r *http.Request) bool {
	if s.o.APIKey == "" {
		return true
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "" || !ok:
		writeError(w, http.StatusUnauthorized,
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
			"invalid_request_error", "")
		return false
	case token != s.o.APIKey:
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided: "+redact(token)+".",
			"invalid_request_error", "invalid_api_key")
		return false
	}
	return true
}

func redact(k string) string {
	if len(k) <= 8 {
		return "****"
	}
	return k[:3] + "****" + k[len(k)-4:]
}

// before applies the behaviours that come before any answer: slow, hang and the
// error statuses. It reports whether the endpoint should go on answering, and
// whether the request is done when it should not (false: the client went away).
func (s *Server) before(w http.ResponseWriter, r *http.Request, b behavior) (goOn, done bool) {
	ctx := r.Context()
	if b&bSlow != 0 && !sleep(ctx, s.o.SlowDelay) {
		return false, false
	}
	if b&bHang != 0 {
		<-ctx.Done()
		return false, false
	}
	switch {
	case b&bError500 != 0:
		writeError(w, http.StatusInternalServerError,
			"The server had an error while processing your request. Sorry about that!", "server_error", "")
	case b&bError429 != 0:
		w.Header().Set("retry-after", "1")
		w.Header().Set("x-ratelimit-remaining-requests", "0")
		writeError(w, http.StatusTooManyRequests,
			"Rate limit reached for requests per min (RPM): Limit 1, Used 1, Requested 1. Please try again in 1s.",
			"requests", "rate_limit_exceeded")
	case b&bError400 != 0:
		writeError(w, http.StatusBadRequest, "Invalid request (fake error-400).", "invalid_request_error", "")
	default:
		return true, false
	}
	return false, true
}

// sleep waits d, or less if ctx ends first; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) id(prefix string) string {
	return fmt.Sprintf("%sfake%020d", prefix, s.seq.Add(1))
}

// writeError writes an OpenAI error body: {"error":{message,type,param,code}}.
func writeError(w http.ResponseWriter, status int, message, typ, code string) {
	var b bytes.Buffer
	b.WriteString(`{"error":{"message":`)
	b.Write(jsonString(message))
	b.WriteString(`,"type":`)
	b.Write(jsonString(typ))
	b.WriteString(`,"param":null,"code":`)
	if code == "" {
		b.WriteString("null")
	} else {
		b.Write(jsonString(code))
	}
	b.WriteString("}}\n")
	writeJSON(w, status, b.Bytes())
}

// writeAzureError writes Azure's error body: {"error":{"code","message"}}.
func writeAzureError(w http.ResponseWriter, status int, code, message string) {
	body := `{"error":{"code":` + string(jsonString(code)) + `,"message":` + string(jsonString(message)) + "}}\n"
	writeJSON(w, status, []byte(body))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.models)
}
