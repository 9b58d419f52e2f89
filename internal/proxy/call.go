package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/jsonscan"
	"github.com/antigravity/gateway/internal/killswitch"
	"github.com/antigravity/gateway/internal/reqscope"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/tokens"
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
	// promptEstimate is the prompt size known before the call (a count or an
	// upper bound), for limits and local fallbacks.
	promptEstimate int64
	// promptCounted: promptEstimate is a count, not an upper bound.
	promptCounted bool
	// messages are the request's messages as validation decoded them.
	messages []tokens.Message

	ep       *upstream.Endpoint
	attempts int
	status   int
	errCode  string
	tokens   usage.Tokens
	ttft     time.Duration
	recorded bool
	// commit, when set, settles the budget hold with the final row's cost and
	// then queues the row; otherwise the row is queued at once.
	commit func(rec store.UsageRecord)
	// kill are the call's kill-switch subjects (endpoint set per attempt).
	kill killswitch.Subjects
}

// attempt is the result of one upstream attempt.
type attempt struct {
	outcome upstream.Outcome
	err     *apierror.Error // nil: answered the client
	// retry: the failure allows trying another endpoint (nothing reached the
	// client and the upstream failed in a retryable way).
	retry bool
}

// serve proxies the call, failing over between endpoints, and records its usage
// on every path.
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
	if m := c.h.d.Metrics; m != nil {
		m.Inflight.Inc()
		defer m.Inflight.Dec()
	}
	// A kill switch set while the call runs cancels ctx with its 403 as cause.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if c.h.d.Kill != nil {
		defer c.h.d.Kill.Track(c.kill, cancel)()
	}

	var tried []*upstream.Endpoint
	var last *apierror.Error
	for {
		now := c.h.d.Now()
		ep, release, selErr := c.h.router.Next(ctx, c.pool, tried, upstream.Request{
			Now: now, Tokens: c.promptEstimate + c.req.MaxOutput, OutputTokens: c.req.MaxOutput,
		})
		if selErr != nil {
			if last != nil { // every endpoint failed: answer the last upstream error
				return c.fail(last)
			}
			return c.fail(selectionError(c.pool.Model.Name, selErr))
		}
		tried = append(tried, ep)
		if c.h.d.Kill != nil {
			if e := c.h.d.Kill.Check(killswitch.Subjects{Endpoint: strconv.FormatInt(ep.ID(), 10)}); e != nil {
				release(upstream.Outcome{Err: upstream.ErrCanceled})
				last = e
				continue
			}
		}
		c.ep = ep
		c.attempts++
		c.sc.Endpoint, c.sc.Attempts = ep.Label, c.attempts

		a := c.tryReleasing(ctx, w, ep, release)
		if m := c.h.d.Metrics; m != nil {
			m.Attempts.WithLabelValues(ep.Label, attemptResult(a)).Inc()
		}
		if a.err == nil {
			return nil
		}
		if a.retry && c.attempts < c.h.d.MaxAttempts && c.h.d.Now().Sub(c.start) < c.h.d.FailoverBudget && ctx.Err() == nil {
			last = a.err
			continue
		}
		return c.fail(a.err)
	}
}

func attemptResult(a attempt) string {
	switch {
	case a.err == nil:
		return "ok"
	case a.retry:
		return "failover"
	}
	return "error"
}

// tryReleasing makes one attempt and releases the endpoint on every ending,
// a panic included (the in-flight count and the breaker's probe slot must not
// leak).
func (c *call) tryReleasing(ctx context.Context, w http.ResponseWriter, ep *upstream.Endpoint, release func(upstream.Outcome)) (a attempt) {
	released := false
	defer func() {
		if !released {
			release(upstream.Outcome{Err: upstream.ErrCanceled})
		}
	}()
	a = c.try(ctx, w, ep)
	released = true
	release(a.outcome)
	return a
}

// selectionError maps a routing refusal to the caller's error.
func selectionError(model string, err error) *apierror.Error {
	if errors.Is(err, upstream.ErrRateLimited) {
		e := apierror.Upstream(http.StatusTooManyRequests, "rate_limit_exceeded",
			"Every endpoint of model '"+model+"' is at its rate limit; retry after the indicated time.", true)
		e.Type = "rate_limit_error"
		e.RetryAfterMs = max(upstream.RetryAfter(err).Milliseconds(), 1)
		return e
	}
	e := apierror.Unavailable("no_available_endpoint", "No upstream endpoint of model '"+model+"' is available right now.")
	e.RetryAfterMs = upstream.RetryAfter(err).Milliseconds()
	return e
}

// try makes one attempt on endpoint e.
func (c *call) try(clientCtx context.Context, w http.ResponseWriter, e *upstream.Endpoint) attempt {
	ad := adapterFor(e.Config.Provider)
	if ad.response == nil && ad.build != nil { // OpenAI family: the body names the upstream model
		up := e.Config.UpstreamModel
		if up == "" {
			up = c.req.Model
		}
		c.req.set("model", quote(up))
	}
	c.req.forceUsage()
	body, err := c.req.body()
	if err != nil {
		return attempt{err: apierror.Internal(err)}
	}
	ctx, cancel := context.WithTimeoutCause(clientCtx, c.h.d.UpstreamTimeout, errUpstreamTimeout)
	defer cancel()
	upReq, err := ad.build(ctx, e, c.op, body)
	if err != nil {
		var ae *apierror.Error
		if errors.As(err, &ae) {
			return attempt{err: ae, outcome: upstream.Outcome{Err: upstream.ErrCanceled}}
		}
		return attempt{err: apierror.Internal(err), outcome: upstream.Outcome{Err: upstream.ErrCanceled}}
	}
	sent := c.h.d.Now()
	resp, err := c.h.d.Client.Do(upReq)
	c.sc.Upstream += c.h.d.Now().Sub(sent)
	if err != nil {
		ae, kind := c.transportError(clientCtx, ctx, err)
		return attempt{err: ae, outcome: upstream.Outcome{Err: kind}, retry: kind != upstream.ErrCanceled}
	}
	defer resp.Body.Close()
	if m := c.h.d.Metrics; m != nil {
		m.UpstreamLatency.WithLabelValues(e.Label).Observe(c.h.d.Now().Sub(sent).Seconds())
	}
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if e.Config.Provider == store.ProviderGemini && resp.StatusCode == http.StatusBadRequest && (bytes.Contains(b, []byte("API_KEY_INVALID")) || bytes.Contains(b, []byte("API key not valid"))) {
			// Gemini answers a bad credential with 400: the endpoint's fault,
			// not the caller's.
			resp.StatusCode = http.StatusUnauthorized
		}
		if ad.errBody != nil {
			b = ad.errBody(resp.StatusCode, b)
		}
		out := upstream.Outcome{Err: upstream.ErrStatus, Status: resp.StatusCode, RetryAfter: upstream.ParseRetryAfter(resp.Header, c.h.d.Now())}
		return attempt{err: upstreamHTTPError(resp, b), outcome: out, retry: upstream.RetryableStatus(resp.StatusCode)}
	}
	var rd io.Reader = resp.Body
	isStream := c.req.Stream && (ad.stream != nil || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"))
	if isStream {
		if ad.stream != nil {
			tr := ad.stream(resp.Body, c.req.Model)
			defer tr.Close()
			rd = tr
		}
		return c.stream(ctx, clientCtx, w, rd, sent)
	}
	return c.whole(clientCtx, ctx, w, resp, ad, sent)
}

// transportError classifies a failed upstream round trip.
func (c *call) transportError(clientCtx, ctx context.Context, err error) (*apierror.Error, upstream.ErrKind) {
	var ne net.Error
	if ke := killed(clientCtx); ke != nil {
		return ke, upstream.ErrCanceled
	}
	switch {
	case clientCtx.Err() != nil:
		// The upstream may have received the prompt: bill it, counted locally.
		c.tokens.Prompt = c.localPromptTokens()
		return &apierror.Error{Status: StatusClientClosed, Type: "invalid_request_error", Code: "client_closed_request",
			Message: "The client closed the request."}, upstream.ErrCanceled
	case errors.Is(context.Cause(ctx), errUpstreamTimeout) || (errors.As(err, &ne) && ne.Timeout()):
		return &apierror.Error{Status: http.StatusGatewayTimeout, Type: "upstream_error", Code: "upstream_timeout",
			Message: "The upstream provider did not answer in time.", Retryable: true, Cause: err}, upstream.ErrTimeout
	default:
		return &apierror.Error{Status: http.StatusBadGateway, Type: "upstream_error", Code: "upstream_unreachable",
			Message: "The upstream provider could not be reached.", Retryable: true, Cause: err}, upstream.ErrConnect
	}
}

// whole relays a non-streaming response.
func (c *call) whole(clientCtx, ctx context.Context, w http.ResponseWriter, resp *http.Response, ad adapter, sent time.Time) attempt {
	b, err := readAll(io.LimitReader(resp.Body, maxUpstreamBody), resp.ContentLength)
	if err != nil {
		ae, kind := c.transportError(clientCtx, ctx, err)
		return attempt{err: ae, outcome: upstream.Outcome{Err: kind}, retry: kind != upstream.ErrCanceled}
	}
	ttft := c.h.d.Now().Sub(sent)
	contentType := resp.Header.Get("Content-Type")
	if ad.response != nil {
		raw := c.req.raw
		if b, err = ad.response(b, c.req.Model, c.op, raw); err != nil {
			e := apierror.Upstream(http.StatusBadGateway, "upstream_bad_response", "The provider's answer could not be translated: "+err.Error(), true)
			return attempt{err: e, outcome: upstream.Outcome{Err: upstream.ErrStatus, Status: http.StatusBadGateway}, retry: true}
		}
		contentType = "application/json"
	}
	// Only the usage is decoded; the rest of the reply is scanned past.
	raw, _ := jsonscan.Lookup(b, "usage")
	var reported bool
	if u, ok := decodeUsage(raw); ok { // false for a missing or null usage too
		c.tokens, reported = tokensOf(&u)
	}
	if !reported { // no usage reported: count locally (rare; decode the content then)
		c.tokens = usage.Tokens{}
		var content struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		_ = json.Unmarshal(b, &content)
		c.tokens.Prompt = c.localPromptTokens()
		var parts []string
		for _, ch := range content.Choices {
			parts = append(parts, ch.Message.Content)
		}
		c.tokens.Completion = c.localTokens(parts)
	}
	if contentType == "" {
		contentType = "application/json"
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(resp.StatusCode)
	c.status = resp.StatusCode
	if _, err := w.Write(b); err != nil {
		c.status, c.errCode = StatusClientClosed, "client_closed_request"
	}
	// The client has its whole answer now; settling the budget and queueing
	// the usage row happen after, off its latency.
	_ = http.NewResponseController(w).Flush()
	return attempt{outcome: upstream.Outcome{Status: resp.StatusCode, TTFT: ttft, Tokens: c.tokens.Prompt + c.tokens.Completion}}
}

// stream relays a streaming response.
func (c *call) stream(ctx, clientCtx context.Context, w http.ResponseWriter, body io.Reader, sent time.Time) attempt {
	begin := func() {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
	}
	res := relay(ctx, w, body, c.req.IncludeUsage, sent, c.h.d.Now, begin)
	c.ttft = res.firstEvent
	var reported bool
	if res.usage != nil {
		c.tokens, reported = tokensOf(res.usage)
	}
	if !reported {
		// No usage arrived: count what was produced so far, locally.
		c.tokens = usage.Tokens{}
		c.tokens.Prompt = c.localPromptTokens()
		c.tokens.Completion = c.localTokens(streamedText(res.content))
	}
	out := upstream.Outcome{Status: http.StatusOK, TTFT: res.firstEvent, Tokens: c.tokens.Prompt + c.tokens.Completion}
	if c.tokens.Completion > 1 && res.lastEvent > res.firstEvent {
		out.PerToken = (res.lastEvent - res.firstEvent) / time.Duration(c.tokens.Completion-1)
	}
	if ke := killed(clientCtx); ke != nil {
		// Cut by the kill switch: tell the client why, then close.
		c.status, c.errCode = ke.Status, ke.Code
		out.Err = upstream.ErrCanceled
		if !res.wrote {
			return attempt{err: ke, outcome: out}
		}
		_, _ = w.Write(append(append([]byte("data: "), ke.JSON()...), eventEnd...))
		_ = http.NewResponseController(w).Flush()
		return attempt{outcome: out}
	}
	switch {
	case res.clientGone && errors.Is(context.Cause(ctx), errUpstreamTimeout):
		c.status, c.errCode = http.StatusGatewayTimeout, "upstream_timeout"
		out.Err = upstream.ErrTimeout
		if !res.wrote {
			return attempt{err: apierror.Upstream(http.StatusGatewayTimeout, "upstream_timeout", "The upstream provider did not answer in time.", true), outcome: out, retry: true}
		}
	case res.clientGone:
		c.status, c.errCode = StatusClientClosed, "client_closed_request"
		out.Err = upstream.ErrCanceled
	case res.failure != nil:
		c.status, c.errCode = res.failure.Status, res.failure.Code
		out.Err, out.Status = upstream.ErrStatus, http.StatusBadGateway
		if !res.wrote { // nothing reached the client: fail over or answer a plain error
			return attempt{err: res.failure, outcome: out, retry: true}
		}
	default:
		c.status = http.StatusOK
	}
	return attempt{outcome: out}
}

// killed returns the kill-switch error that cancelled ctx, if any.
func killed(ctx context.Context) *apierror.Error {
	cause := context.Cause(ctx)
	if cause == nil || !errors.Is(cause, killswitch.ErrBlocked) {
		return nil
	}
	var e *apierror.Error
	if errors.As(cause, &e) {
		return e
	}
	return apierror.PermissionDenied("kill_switch", "Blocked by the kill switch.")
}

// fail notes the error for the usage row and returns it for rendering.
func (c *call) fail(e *apierror.Error) error {
	c.status, c.errCode = e.Status, e.Code
	if m := c.h.d.Metrics; m != nil && c.ep != nil {
		m.UpstreamErrors.WithLabelValues(c.ep.Label, e.Code).Inc()
	}
	return e
}

func tokensOf(u *upstreamUsage) (usage.Tokens, bool) {
	t := usage.Tokens{Prompt: u.PromptTokens, Completion: u.CompletionTokens}
	if u.PromptTokensDetails != nil {
		t.Cached = u.PromptTokensDetails.CachedTokens
	}
	if u.CompletionTokensDetails != nil {
		t.Reasoning = u.CompletionTokensDetails.ReasoningTokens
	}
	// A negative count is not believed: its row would fail the usage tables'
	// checks (holding up the rows batched with it) and Prometheus counters
	// panic on a negative add. The caller counts locally instead.
	return t, t.Prompt >= 0 && t.Completion >= 0 && t.Cached >= 0 && t.Reasoning >= 0
}

// localPromptTokens counts the prompt offline (messages as validated, tools
// and images as OpenAI counts them), for calls that end without upstream usage.
// When validation already counted it, that count is reused.
func (c *call) localPromptTokens() int64 {
	switch {
	case c.h.d.Tokens == nil || c.op != upstream.ChatCompletions:
		return 0
	case c.promptCounted:
		return c.promptEstimate
	}
	n, err := c.h.d.Tokens.ChatMessages(c.req.Model, c.messages, c.req.fields["tools"], c.req.fields["functions"])
	if err != nil {
		return 0
	}
	return int64(n)
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
	if c.commit != nil {
		c.commit(rec)
	} else {
		c.h.d.Usage.Record(rec)
	}
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
