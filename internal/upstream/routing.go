package upstream

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrKind says how an upstream call ended.
type ErrKind uint8

const (
	ErrNone     ErrKind = iota // the upstream answered (see Outcome.Status)
	ErrConnect                 // could not connect, or the connection broke
	ErrTimeout                 // the upstream did not answer in time
	ErrStatus                  // the upstream answered with an error status (Outcome.Status)
	ErrCanceled                // the client went away: says nothing about the endpoint
)

// Outcome is what the caller reports about a call when releasing it.
type Outcome struct {
	Err    ErrKind
	Status int // HTTP status of the upstream's answer; 0 if none
	// RetryAfter is the upstream's retry-after (see ParseRetryAfter); the
	// breaker keeps the endpoint out at least that long.
	RetryAfter time.Duration
	// TTFT is the time from sending to the first token (streaming) or to the
	// response (non-streaming); PerToken the generation time per output token
	// after the first (streaming only; 0 when not measured).
	TTFT, PerToken time.Duration
	// Tokens is the actual prompt plus completion tokens, which corrects the
	// estimate counted against TPM limits. 0 on a success means unknown (no
	// correction); 0 on any other outcome refunds the estimate.
	Tokens int64
}

// RetryableStatus reports whether an upstream status warrants failing over to
// another endpoint (and counts against the endpoint's health): 408, 429, 5xx.
func RetryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// Retryable reports whether the call failed in a way that allows trying the
// next endpoint (only before the first byte has reached the client): a
// connection error, a timeout, 408, 429 or 5xx.
func (o Outcome) Retryable() bool {
	return o.Err == ErrConnect || o.Err == ErrTimeout || (o.Err != ErrCanceled && RetryableStatus(o.Status))
}

// outcome classes, for the breaker.
const (
	classSuccess  = iota // 2xx: healthy, latency measured
	classAnswered        // other non-retryable status: the endpoint is up
	classFailure         // Retryable
	classCanceled        // nothing learnt
)

func (o Outcome) class() int {
	switch {
	case o.Err == ErrCanceled:
		return classCanceled
	case o.Retryable():
		return classFailure
	case o.Status >= 300:
		return classAnswered
	}
	return classSuccess
}

// ParseRetryAfter reads an upstream's retry-after-ms (milliseconds, as OpenAI
// and Azure send) or Retry-After (seconds or an HTTP date); 0 when absent or
// unusable.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < math.MaxInt64/1e6 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 && s < math.MaxInt64/1e9 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// RouterOptions configures a Router; zero fields take the defaults.
type RouterOptions struct {
	Limiter   Limiter         // nil: LocalLimiter
	Breaker   BreakerPolicy   // circuit breaker thresholds
	Selection SelectorOptions // selectors' options (their Now is unused: Next takes now)
	// Clock stamps releases (breaker transitions, latency samples); nil:
	// time.Now.
	Clock func() time.Time
	// OnLimiterError is told when the shared limiter store fails (admission
	// then falls back to per-replica counts); nil ignores it.
	OnLimiterError func(e *Endpoint, err error)
	// AdjustTimeout bounds the token correction made at release (2s).
	AdjustTimeout time.Duration
}

// Router chooses the endpoint of each attempt of a request. Next selects with
// the model's strategy (its Routing), then takes the endpoint's breaker slot
// (the single probe when half-open) and admits the request against the
// endpoint's limits, moving on to the next endpoint when either refuses. It
// returns the endpoint with a release that must be called exactly once with
// the Outcome: it records success, failure and latency into the endpoint's
// health and corrects the token count.
//
// Selection works within priority groups (1 is the highest): a lower group is
// used only when no endpoint of the higher one is available (tried, cooling
// down, draining or at its limit). When none is left, the error matches
// ErrRateLimited (answer 429 rate_limit_exceeded with RetryAfter) if the only
// reason is limits, ErrNoEndpoint (503) otherwise.
//
// The failover loop belongs to the caller: call Next again with the endpoints
// already tried while Outcome.Retryable, nothing has reached the client, and
// the attempt and time budgets allow.
type Router struct {
	o   RouterOptions
	sel map[string]RequestSelector // by routing name, "" included; read-only
}

// NewRouter returns a router.
func NewRouter(o RouterOptions) *Router {
	if o.Limiter == nil {
		o.Limiter = LocalLimiter{}
	}
	if o.AdjustTimeout <= 0 {
		o.AdjustTimeout = 2 * time.Second
	}
	o.Selection.Now = nil
	r := &Router{o: o, sel: map[string]RequestSelector{}}
	for _, name := range []string{"", RoutingWeighted, RoutingLeastInflight, RoutingLatency, RoutingUsage, RoutingUsageLatency} {
		s, _ := SelectorFor(name, o.Selection)
		r.sel[name] = s
	}
	return r
}

// Selector returns the selector of a routing name; an unknown name (which the
// admin API refuses, see ValidRouting) gets the default.
func (r *Router) Selector(routing string) RequestSelector {
	if s, ok := r.sel[routing]; ok {
		return s
	}
	return r.sel[""]
}

// Limiter returns the router's limiter.
func (r *Router) Limiter() Limiter { return r.o.Limiter }

// Next returns the endpoint for the next attempt and its release. tried are
// the endpoints already attempted for this request (not modified); req
// carries the clock and the token estimates.
func (r *Router) Next(ctx context.Context, p *Pool, tried []*Endpoint, req Request) (*Endpoint, func(Outcome), error) {
	if p == nil {
		return nil, nil, &UnavailableError{}
	}
	sel := r.Selector(p.Model.Routing)
	skip := tried
	refused := time.Duration(-1) // shortest retry-after among limiter refusals
	for range len(p.Endpoints) + 1 {
		e, err := sel.Choose(p, skip, req)
		if err != nil {
			if refused >= 0 {
				if errors.Is(err, ErrRateLimited) {
					refused = min(refused, RetryAfter(err))
				}
				return nil, nil, &UnavailableError{RateLimited: true, RetryAfter: refused}
			}
			return nil, nil, err
		}
		skip = append(skip[:len(skip):len(skip)], e) // copy: never write into tried
		h := &e.state.health
		ok, probe := h.Allow(req.Now)
		if !ok { // another request took the probe slot, or a state change raced
			continue
		}
		admitted, ra, lerr := r.o.Limiter.Admit(ctx, e, req.Tokens, req.Now)
		if lerr != nil && r.o.OnLimiterError != nil {
			r.o.OnLimiterError(e, lerr)
		}
		if !admitted {
			if probe {
				h.CancelProbe()
			}
			if refused < 0 || ra < refused {
				refused = ra
			}
			continue
		}
		return e, r.release(e, probe, req, e.Acquire()), nil
	}
	return nil, nil, &UnavailableError{}
}

// release returns the once-only release of an admitted attempt.
func (r *Router) release(e *Endpoint, probe bool, req Request, done func(failed bool)) func(Outcome) {
	var once atomic.Bool
	return func(o Outcome) {
		if once.Swap(true) {
			return
		}
		now := clock(r.o.Clock)
		h := &e.state.health
		class := o.class()
		switch class {
		case classSuccess:
			h.Success(now, probe)
			e.state.latency.Observe(now, o.TTFT, o.PerToken)
		case classAnswered:
			h.Success(now, probe)
		case classFailure:
			h.Failure(now, probe, o.RetryAfter, r.o.Breaker)
		default:
			if probe {
				h.CancelProbe()
			}
		}
		done(class == classFailure)

		var delta int64
		switch {
		case o.Tokens > 0:
			delta = o.Tokens - max(req.Tokens, 0)
		case class != classSuccess:
			delta = -max(req.Tokens, 0) // nothing was consumed: refund the estimate
		}
		if delta == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.o.AdjustTimeout)
		defer cancel()
		if err := r.o.Limiter.Adjust(ctx, e, delta, req.Now); err != nil && r.o.OnLimiterError != nil {
			r.o.OnLimiterError(e, err)
		}
	}
}
