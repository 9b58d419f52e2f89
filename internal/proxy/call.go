package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/reqscope"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/upstream"
	"github.com/antigravity/gateway/internal/usage"
)

// errUpstreamTimeout is the cancellation cause when the upstream takes too long.
var errUpstreamTimeout = errors.New("upstream timeout")

// maxUpstreamBody bounds a non-streaming upstream response.
const maxUpstreamBody = 64 << 20

// StatusClientClosed is recorded when the client went away (nginx's 499).
const StatusClientClosed = 499

// Subject is who is billed for a request and through what.
type Subject struct {
	UserOID string
	KeyID   *int64
	AppID   *string
	// Method names how the billed user was named: "key" (the key's owner), or a
	// delegation method.
	Method string
}

// call is one proxied request from endpoint selection to its usage row.
type call struct {
	h       *Handler
	op      upstream.Operation
	start   time.Time
	subject Subject
	req     *request
	pool    *upstream.Pool
	sc      *reqscope.Scope

	ep       *upstream.Endpoint
	attempts int
	status   int
	errCode  string
	tokens   usage.Tokens
	ttft     time.Duration
	recorded bool
}

func (h *Handler) newCall(r *http.Request, op upstream.Operation, p *auth.Principal, req *request, pool *upstream.Pool) *call {
	sc := reqscope.From(r.Context())
	keyID := p.KeyID
	return &call{
		h: h, op: op, start: sc.Start, req: req, pool: pool, sc: sc,
		subject: Subject{UserOID: p.UserOID, KeyID: &keyID, Method: "key"},
	}
}

// serve proxies the call and records its usage on every path.
func (c *call) serve(w http.ResponseWriter, r *http.Request) (err error) {
	if c.start.IsZero() {
		c.start = c.h.d.Now()
	}
	defer func() {
		if p := recover(); p != nil {
			c.fail(apierror.Internal(errors.New("panic while proxying")))
			c.record()
			panic(p)
		}
		c.record()
	}()

	ep, selErr := c.h.d.Selector.Select(c.pool, nil)
	if selErr != nil {
		e := apierror.Unavailable("no_available_endpoint", "No upstream endpoint is available for model '"+c.pool.Model.Name+"'.")
		return c.fail(e)
	}
	c.ep, c.attempts = ep, 1
	c.sc.Endpoint, c.sc.Attempts = ep.Label, 1

	if up := ep.Config.UpstreamModel; up != "" && up != c.req.Model {
		c.req.set("model", quote(up))
	}
	c.req.forceUsage()
	body, err := c.req.body()
	if err != nil {
		return c.fail(apierror.Internal(err))
	}

	ctx, cancel := context.WithTimeoutCause(r.Context(), c.h.d.UpstreamTimeout, errUpstreamTimeout)
	defer cancel()
	release := ep.Acquire()
	failed := true
	defer func() { release(failed) }()
	if m := c.h.d.Metrics; m != nil {
		m.Inflight.Inc()
		defer m.Inflight.Dec()
	}

	upReq, err := upstream.NewRequest(ctx, ep, c.op, body)
	if err != nil {
		return c.fail(apierror.Internal(err))
	}
	sent := c.h.d.Now()
	resp, err := c.h.d.Client.Do(upReq)
	if err != nil {
		return c.fail(c.transportError(r.Context(), ctx, err))
	}
	defer resp.Body.Close()
	if m := c.h.d.Metrics; m != nil {
		m.UpstreamLatency.WithLabelValues(ep.Label).Observe(c.h.d.Now().Sub(sent).Seconds())
	}
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return c.fail(upstreamHTTPError(resp, b))
	}
	if c.req.Stream && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		failed = c.stream(ctx, w, resp)
		return nil
	}
	failed = false
	return c.whole(r.Context(), ctx, w, resp)
}

// transportError classifies a failed upstream round trip.
func (c *call) transportError(clientCtx, ctx context.Context, err error) *apierror.Error {
	switch {
	case clientCtx.Err() != nil:
		// The upstream may have received the prompt: bill it, counted locally.
		c.tokens.Prompt = c.localPromptTokens()
		return &apierror.Error{Status: StatusClientClosed, Type: "invalid_request_error", Code: "client_closed_request",
			Message: "The client closed the request."}
	case errors.Is(context.Cause(ctx), errUpstreamTimeout):
		return &apierror.Error{Status: http.StatusGatewayTimeout, Type: "upstream_error", Code: "upstream_timeout",
			Message: "The upstream provider did not answer in time.", Retryable: true, Cause: err}
	default:
		return &apierror.Error{Status: http.StatusBadGateway, Type: "upstream_error", Code: "upstream_unreachable",
			Message: "The upstream provider could not be reached.", Retryable: true, Cause: err}
	}
}

// whole relays a non-streaming response.
func (c *call) whole(clientCtx, ctx context.Context, w http.ResponseWriter, resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		return c.fail(c.transportError(clientCtx, ctx, err))
	}
	var parsed struct {
		Usage   *upstreamUsage `json:"usage"`
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	_ = json.Unmarshal(b, &parsed)
	if parsed.Usage != nil {
		c.tokens = tokensOf(parsed.Usage)
	} else {
		c.tokens.Prompt = c.localPromptTokens()
		var parts []string
		for _, ch := range parsed.Choices {
			parts = append(parts, ch.Message.Content)
		}
		c.tokens.Completion = c.localTokens(parts)
	}
	h := w.Header()
	h.Set("Content-Type", resp.Header.Get("Content-Type"))
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := w.Write(b); err != nil {
		c.status, c.errCode = StatusClientClosed, "client_closed_request"
		return nil
	}
	c.status = resp.StatusCode
	return nil
}

// stream relays a streaming response; it reports whether the upstream failed.
func (c *call) stream(ctx context.Context, w http.ResponseWriter, resp *http.Response) (upstreamFailed bool) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	res := relay(ctx, w, resp.Body, c.req.IncludeUsage, c.start, c.h.d.Now)
	c.ttft = res.firstEvent
	if res.usage != nil {
		c.tokens = tokensOf(res.usage)
	} else {
		// No usage arrived: count what was produced so far, locally.
		c.tokens.Prompt = c.localPromptTokens()
		c.tokens.Completion = c.localTokens(streamedText(res.content))
	}
	switch {
	case res.clientGone:
		c.status, c.errCode = StatusClientClosed, "client_closed_request"
		if errors.Is(context.Cause(ctx), errUpstreamTimeout) {
			c.status, c.errCode = http.StatusGatewayTimeout, "upstream_timeout"
			return true
		}
	case res.failure != nil:
		c.status, c.errCode = res.failure.Status, res.failure.Code
		return true
	default:
		c.status = http.StatusOK
	}
	return false
}

// fail notes the error for the usage row and returns it for rendering.
func (c *call) fail(e *apierror.Error) error {
	c.status, c.errCode = e.Status, e.Code
	if m := c.h.d.Metrics; m != nil && c.ep != nil {
		m.UpstreamErrors.WithLabelValues(c.ep.Label, e.Code).Inc()
	}
	return e
}

func tokensOf(u *upstreamUsage) usage.Tokens {
	t := usage.Tokens{Prompt: u.PromptTokens, Completion: u.CompletionTokens}
	if u.PromptTokensDetails != nil {
		t.Cached = u.PromptTokensDetails.CachedTokens
	}
	if u.CompletionTokensDetails != nil {
		t.Reasoning = u.CompletionTokensDetails.ReasoningTokens
	}
	return t
}

// localPromptTokens counts the prompt offline: the text of every message plus
// OpenAI's per-message overhead (3 tokens each, 3 to prime the reply).
func (c *call) localPromptTokens() int64 {
	if c.h.d.Tokens == nil || c.op != upstream.ChatCompletions {
		return 0
	}
	texts, n := c.req.messageTexts()
	total := int64(3*n + 3)
	for _, t := range texts {
		total += int64(c.h.d.Tokens.Text(c.req.Model, t))
	}
	return total
}

func (c *call) localTokens(parts []string) int64 {
	if c.h.d.Tokens == nil || len(parts) == 0 {
		return 0
	}
	return int64(c.h.d.Tokens.Text(c.req.Model, strings.Join(parts, "")))
}

// record writes the call's one usage row.
func (c *call) record() {
	if c.recorded {
		return
	}
	c.recorded = true
	now := c.h.d.Now()
	rec := store.UsageRecord{
		RequestID:        c.sc.ID,
		CreatedAt:        c.start.UTC(),
		UserOID:          c.subject.UserOID,
		KeyID:            c.subject.KeyID,
		AppID:            c.subject.AppID,
		Model:            c.pool.Model.Name,
		Status:           c.status,
		PromptTokens:     c.tokens.Prompt,
		CompletionTokens: c.tokens.Completion,
		CachedTokens:     c.tokens.Cached,
		ReasoningTokens:  c.tokens.Reasoning,
		Cost:             usage.Cost(c.pool.Model, c.tokens),
		LatencyMs:        now.Sub(c.start).Milliseconds(),
		TTFTMs:           c.ttft.Milliseconds(),
		Stream:           c.req.Stream,
		ErrorCode:        c.errCode,
		DelegationMethod: c.subject.Method,
		Attempts:         c.attempts,
	}
	if c.ep != nil {
		id := c.ep.ID()
		rec.EndpointID = &id
	}
	c.sc.Status, c.sc.ErrorCode = c.status, c.errCode
	c.sc.Tokens = c.tokens.Prompt + c.tokens.Completion
	c.h.d.Usage.Record(rec)
	if m := c.h.d.Metrics; m != nil {
		model := c.pool.Model.Name
		m.Tokens.WithLabelValues(model, "prompt").Add(float64(rec.PromptTokens))
		m.Tokens.WithLabelValues(model, "completion").Add(float64(rec.CompletionTokens))
		if rec.CachedTokens > 0 {
			m.Tokens.WithLabelValues(model, "cached").Add(float64(rec.CachedTokens))
		}
		if rec.ReasoningTokens > 0 {
			m.Tokens.WithLabelValues(model, "reasoning").Add(float64(rec.ReasoningTokens))
		}
		m.CostNanos.WithLabelValues(model).Add(float64(rec.Cost))
		if c.req.Stream && c.ttft > 0 {
			m.TTFT.WithLabelValues(model).Observe(c.ttft.Seconds())
		}
	}
}
