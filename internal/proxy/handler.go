// Package proxy serves the OpenAI-compatible API: it authenticates the caller,
// validates the request, picks an upstream endpoint, relays the call (streaming
// or not), meters the tokens and records exactly one usage row per request.
package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/budget"
	"github.com/antigravity/gateway/internal/delegation"
	"github.com/antigravity/gateway/internal/killswitch"
	"github.com/antigravity/gateway/internal/metrics"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/reqscope"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/tokens"
	"github.com/antigravity/gateway/internal/upstream"
	"github.com/antigravity/gateway/internal/validate"
)

// Authenticator verifies API keys.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (*auth.Principal, error)
}

// UsageSink receives one usage row per request; it must not block.
type UsageSink interface {
	Record(rec store.UsageRecord)
}

// TokenCounter counts tokens offline: prompts for context validation, and
// text for requests that end without upstream usage.
type TokenCounter interface {
	validate.PromptCounter
	Text(model, text string) int
}

// Budgeter holds a request's worst-case cost against the budgets that apply.
type Budgeter interface {
	Reserve(ctx context.Context, subj budget.Subject, requestID string, amount money.Nanos) (budget.Reservation, error)
}

// KillSwitch blocks subjects and cuts their in-flight calls.
type KillSwitch interface {
	Check(subj killswitch.Subjects) *apierror.Error
	Track(subj killswitch.Subjects, cancel context.CancelCauseFunc) (untrack func())
}

// Delegator decides who is billed (API-key owner or a delegated end user).
type Delegator interface {
	Resolve(ctx context.Context, in delegation.Input) (delegation.Result, error)
}

// Pools gives the current pool of a model.
type Pools interface {
	Pool(model string) *upstream.Pool
	Snapshot() *upstream.Snapshot
}

// Deps are the handler's collaborators.
type Deps struct {
	Auth Authenticator
	// Delegation resolves delegated billing; nil: the key's owner is billed and
	// the shared-secret route is off.
	Delegation Delegator
	// Budget reserves before and settles after each call; nil: no budgets.
	Budget Budgeter
	// Kill blocks subjects; nil: no kill switch.
	Kill  KillSwitch
	Pools Pools
	// Router picks the endpoint of each attempt; nil: a router with in-process
	// limits.
	Router          *upstream.Router
	Client          *http.Client
	Usage           UsageSink
	Tokens          TokenCounter
	Metrics         *metrics.Metrics
	Now             func() time.Time
	Log             *slog.Logger
	MaxBodyBytes    int64
	UpstreamTimeout time.Duration
	// Pending counts the work a request leaves running after its handler
	// returns (a Redis budget settle, then the usage row); whoever shuts down
	// waits for it before flushing usage. nil: a private one.
	Pending *sync.WaitGroup
	// MaxAttempts bounds the endpoints tried for one request (default 3);
	// FailoverBudget bounds the time after which no new attempt starts (30s).
	MaxAttempts    int
	FailoverBudget time.Duration
}

// Handler serves /v1/chat/completions, /v1/embeddings and /v1/models.
type Handler struct {
	d      Deps
	router *upstream.Router
}

// New returns a Handler.
func New(d Deps) *Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Tokens == nil {
		d.Tokens = tokens.NewCounter()
	}
	if d.Router == nil {
		d.Router = upstream.NewRouter(upstream.RouterOptions{Clock: d.Now})
	}
	if d.UpstreamTimeout <= 0 {
		d.UpstreamTimeout = 10 * time.Minute
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 3
	}
	if d.Pending == nil {
		d.Pending = &sync.WaitGroup{}
	}
	if d.FailoverBudget <= 0 {
		d.FailoverBudget = 30 * time.Second
	}
	return &Handler{d: d, router: d.Router}
}

// Register adds the API routes, with and without the /v1 prefix (Dify drops it
// when its endpoint URL carries a query string).
func (h *Handler) Register(mux *http.ServeMux) {
	for _, prefix := range []string{"/v1", ""} {
		mux.Handle("POST "+prefix+"/chat/completions", h.route("chat.completions", h.chat))
		mux.Handle("POST "+prefix+"/embeddings", h.route("embeddings", h.embeddings))
		mux.Handle("GET "+prefix+"/models", h.route("models", h.models))
		mux.Handle("GET "+prefix+"/models/{model}", h.route("models", h.model))
	}
}

// route adapts an error-returning handler: errors are rendered in one place.
func (h *Handler) route(name string, fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := reqscope.From(r.Context())
		sc.Route = name
		if err := fn(w, r); err != nil {
			e := apierror.Write(w, err)
			sc.Status, sc.ErrorCode = e.Status, e.Code
			if e.Status >= 500 && e.Cause != nil {
				h.d.Log.Error("request failed", "request_id", sc.ID, "err", e.Cause)
			}
		}
	})
}

// caller authenticates the request.
func (h *Handler) caller(r *http.Request) (*auth.Principal, error) {
	key := auth.BearerToken(r.Header.Get("Authorization"), r.Header.Get("api-key"))
	p, err := h.d.Auth.Authenticate(r.Context(), key)
	if err != nil {
		return nil, err
	}
	sc := reqscope.From(r.Context())
	sc.UserOID, sc.KeyID = p.UserOID, p.KeyID
	return p, nil
}

// readBody reads the whole request body within the size limit. Reading it to the
// end before proxying also avoids golang/go#40747 (cut SSE streams).
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := h.d.MaxBodyBytes
	if limit <= 0 {
		limit = 10 << 20
	}
	if r.ContentLength > limit {
		return nil, apierror.TooLarge(limit)
	}
	b, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if asMaxBytes(err, &mbe) {
			return nil, apierror.TooLarge(limit)
		}
		return nil, apierror.InvalidRequest("", "Could not read the request body.")
	}
	return b, nil
}

// pool resolves the requested model for the caller.
// A nil principal (the shared-secret route) may use every active model.
func (h *Handler) pool(p *auth.Principal, model string) (*upstream.Pool, error) {
	pool := h.d.Pools.Pool(model)
	var m *store.Model
	if pool != nil {
		m = &pool.Model
	}
	if err := validate.Access(model, m, p == nil || p.MayUse(model)); err != nil {
		return nil, err
	}
	return pool, nil
}
