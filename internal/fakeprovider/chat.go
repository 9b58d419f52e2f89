package fakeprovider

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

type chatRequest struct {
	Model         string    `json:"model"`
	Messages      []message `json:"messages"`
	Stream        bool      `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int64 `json:"max_tokens"`
	MaxCompletionTokens *int64 `json:"max_completion_tokens"`
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// Usage is the usage object of OpenAI's replies, as the fake upstream sends it.
type Usage struct {
	PromptTokens            int                     `json:"prompt_tokens"`
	CompletionTokens        int                     `json:"completion_tokens"`
	TotalTokens             int                     `json:"total_tokens"`
	PromptTokensDetails     PromptTokensDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails CompletionTokensDetails `json:"completion_tokens_details"`
}

// PromptTokensDetails is usage.prompt_tokens_details.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens"`
}

// CompletionTokensDetails is usage.completion_tokens_details.
type CompletionTokensDetails struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

type completion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []choice `json:"choices"`
	Usage             *Usage   `json:"usage,omitempty"`
	ServiceTier       string   `json:"service_tier"`
	SystemFingerprint string   `json:"system_fingerprint"`
}

type choice struct {
	Index        int             `json:"index"`
	Message      replyMessage    `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type replyMessage struct {
	Role    string          `json:"role"`
	Content string          `json:"content"`
	Refusal json.RawMessage `json:"refusal"`
}

var jsonNull = json.RawMessage("null")

const fingerprint = "fp_fake"

// reply holds everything about the reply that does not depend on the request,
// built once: the content and the choices array of each streamed word.
type reply struct {
	content string   // "tok0 tok1 … tok{n-1}"
	ends    []int    // ends[i] is the length of the first i words of content
	words   [][]byte // streamed choices array carrying word i
}

var (
	roleChoices   = []byte(`[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]`)
	stopChoices   = []byte(`[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]`)
	lengthChoices = []byte(`[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]`)
	doneEvent     = []byte("data: [DONE]\n\n")
)

func newReply(n int) reply {
	var r reply
	content := make([]byte, 0, n*8)
	r.ends = make([]int, n+1)
	r.words = make([][]byte, n)
	for i := range n {
		word := "tok" + strconv.Itoa(i)
		if i > 0 {
			word = " " + word
		}
		content = append(content, word...)
		r.ends[i+1] = len(content)
		r.words[i] = []byte(`[{"index":0,"delta":{"content":"` + word + `"},"logprobs":null,"finish_reason":null}]`)
	}
	r.content = string(content)
	return r
}

// ReplyContent returns the content of a reply of n words, as the fake upstream
// sends it: "tok0 tok1 … tok{n-1}".
func ReplyContent(n int) string {
	return newReply(max(n, 0)).content
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, c *call) bool {
	var req chatRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		writeError(w, http.StatusBadRequest,
			"We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
			"invalid_request_error", "")
		return true
	}
	b := c.behavior(req.Model)
	if goOn, done := s.before(w, r, b); !goOn {
		return done
	}
	model := req.Model
	if model == "" && c.azure {
		model = c.deployment
	}
	switch {
	case model == "":
		writeError(w, http.StatusBadRequest, "you must provide a model parameter", "invalid_request_error", "")
		return true
	case req.Messages == nil:
		writeErrorParam(w, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
		return true
	case len(req.Messages) == 0:
		writeErrorParam(w, "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array")
		return true
	}

	n, finish := s.o.ReplyTokens, "stop"
	limit := int64(0)
	if req.MaxCompletionTokens != nil && *req.MaxCompletionTokens > 0 {
		limit = *req.MaxCompletionTokens
	} else if req.MaxTokens != nil && *req.MaxTokens > 0 {
		limit = *req.MaxTokens
	}
	if limit > 0 && limit < int64(n) {
		n, finish = int(limit), "length"
	}
	var u *Usage
	if b&bNoUsage == 0 {
		u = usageFor(promptTokens(req.Messages), n, b&bCached != 0)
	}
	id, created := s.id("chatcmpl-"), time.Now().Unix()
	if req.Stream {
		include := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		return s.stream(w, r, streamSpec{id: id, created: created, model: model, n: n, finish: finish,
			usage: u, includeUsage: include, failMidstream: b&bFailMidstream != 0})
	}

	if !sleep(r.Context(), s.o.FirstTokenLatency+time.Duration(n-1)*s.o.TokenLatency) {
		return false
	}
	body, _ := json.Marshal(completion{
		ID: id, Object: "chat.completion", Created: created, Model: model,
		Choices: []choice{{
			Message:  replyMessage{Role: "assistant", Content: s.reply.content[:s.reply.ends[n]], Refusal: jsonNull},
			Logprobs: jsonNull, FinishReason: finish,
		}},
		Usage: u, ServiceTier: "default", SystemFingerprint: fingerprint,
	})
	body = append(body, '\n')
	h := w.Header()
	h.Set("X-Request-Id", "req_"+id)
	if b&bFailMidstream != 0 {
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	writeJSON(w, http.StatusOK, body)
	return true
}

func usageFor(prompt, completion int, cached bool) *Usage {
	u := &Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
	if cached {
		u.PromptTokensDetails.CachedTokens = prompt / 2
		u.CompletionTokensDetails.ReasoningTokens = min(2, completion)
	}
	return u
}

func writeErrorParam(w http.ResponseWriter, message, param, code string) {
	body := `{"error":{"message":` + string(jsonString(message)) + `,"type":"invalid_request_error","param":` +
		string(jsonString(param)) + `,"code":` + string(jsonString(code)) + "}}\n"
	writeJSON(w, http.StatusBadRequest, []byte(body))
}

type streamSpec struct {
	id            string
	created       int64
	model         string
	n             int
	finish        string
	usage         *Usage // nil: never sent
	includeUsage  bool
	failMidstream bool
}

// stream writes the reply as OpenAI's server-sent events: a role chunk, one chunk
// per word, a finish chunk, the usage chunk if asked for, then [DONE]. It reports
// whether it got to the end (false: the client went away).
func (s *Server) stream(w http.ResponseWriter, r *http.Request, sp streamSpec) bool {
	ctx := r.Context()
	if !sleep(ctx, s.o.FirstTokenLatency) {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Request-Id", "req_"+sp.id)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	// Every chunk is head + choices + tail; only the choices change.
	head := make([]byte, 0, 160+len(sp.model))
	head = append(head, `data: {"id":"`...)
	head = append(head, sp.id...)
	head = append(head, `","object":"chat.completion.chunk","created":`...)
	head = strconv.AppendInt(head, sp.created, 10)
	head = append(head, `,"model":`...)
	head = append(head, jsonString(sp.model)...)
	head = append(head, `,"service_tier":"default","system_fingerprint":"`+fingerprint+`","choices":`...)
	tail := []byte("}\n\n")
	if sp.includeUsage {
		tail = []byte(`,"usage":null}` + "\n\n")
	}
	buf := make([]byte, 0, len(head)+128)
	send := func(choices, tail []byte) bool {
		buf = append(append(append(buf[:0], head...), choices...), tail...)
		if _, err := w.Write(buf); err != nil {
			return false
		}
		return rc.Flush() == nil
	}

	if !send(roleChoices, tail) {
		return false
	}
	for i := range sp.n {
		if i > 0 && !sleep(ctx, s.o.TokenLatency) {
			return false
		}
		if !send(s.reply.words[i], tail) {
			return false
		}
		if sp.failMidstream && i == min(3, sp.n)-1 {
			panic(http.ErrAbortHandler)
		}
	}
	finish := stopChoices
	if sp.finish == "length" {
		finish = lengthChoices
	}
	if !send(finish, tail) {
		return false
	}
	if sp.includeUsage && sp.usage != nil {
		u, _ := json.Marshal(sp.usage)
		if !send([]byte("[]"), append(append([]byte(`,"usage":`), u...), "}\n\n"...)) {
			return false
		}
	}
	if _, err := w.Write(doneEvent); err != nil {
		return false
	}
	return rc.Flush() == nil
}
