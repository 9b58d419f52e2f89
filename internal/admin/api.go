// Package admin is the admin JSON API: users, API keys, models, endpoints and the
// audit log, under /admin/api/. Every route needs the key of an admin user; every
// change writes an audit row and publishes the cache invalidation other replicas
// need.
package admin

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/secrets"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/upstream"
)

// Authenticator verifies a presented API key (auth.Authenticator implements it).
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (*auth.Principal, error)
}

// Deps are what the API needs. Bus may be nil (no invalidations are published);
// Now and Log default to time.Now and slog.Default.
type Deps struct {
	Store store.Store
	Auth  Authenticator
	Box   *secrets.Box
	Bus   events.Bus
	Now   func() time.Time
	Log   *slog.Logger
	// Budgets reports budgets' months (nil: spend from the database only).
	Budgets BudgetStatus
	// Health gives endpoints' live health (nil: not shown).
	Health HealthSource
}

// HealthSource reports an endpoint's live health on this replica.
type HealthSource interface {
	EndpointHealth(id int64) (upstream.HealthInfo, bool)
}

// API serves the admin routes.
type API struct {
	store store.Store
	auth  Authenticator
	box   *secrets.Box
	bus   events.Bus
	now   func() time.Time
	log   *slog.Logger

	budgets BudgetStatus
	health  HealthSource
}

// New returns the admin API.
func New(d Deps) *API {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &API{store: d.Store, auth: d.Auth, box: d.Box, bus: d.Bus, now: d.Now, log: d.Log, budgets: d.Budgets, health: d.Health}
}

// handler is the shape of every admin handler: errors are returned and rendered
// once, by serve.
type handler func(w http.ResponseWriter, r *http.Request) error

// prefix is the root of every admin API route.
const prefix = "/admin/api/"

// Register adds the admin routes to mux (Go 1.22 method+path patterns). Requests
// under /admin/api/ that match no route get a JSON 404, or a 405 naming the
// allowed methods when the path exists with another method.
func (a *API) Register(mux *http.ServeMux) {
	routes := []struct {
		pattern string
		h       handler
	}{
		{"GET /admin/api/users", a.listUsers},
		{"POST /admin/api/users", a.createUser},
		{"GET /admin/api/users/{oid}", a.getUser},
		{"PATCH /admin/api/users/{oid}", a.patchUser},
		{"DELETE /admin/api/users/{oid}", a.deleteUser},
		{"GET /admin/api/users/{oid}/keys", a.listKeys},
		{"POST /admin/api/users/{oid}/keys", a.createKey},
		{"DELETE /admin/api/keys/{id}", a.revokeKey},
		{"GET /admin/api/models", a.listModels},
		{"POST /admin/api/models", a.createModel},
		{"GET /admin/api/models/{name}", a.getModel},
		{"PATCH /admin/api/models/{name}", a.patchModel},
		{"DELETE /admin/api/models/{name}", a.deleteModel},
		{"GET /admin/api/models/{name}/endpoints", a.listEndpoints},
		{"POST /admin/api/models/{name}/endpoints", a.createEndpoint},
		{"GET /admin/api/endpoints/{id}", a.getEndpoint},
		{"PATCH /admin/api/endpoints/{id}", a.patchEndpoint},
		{"DELETE /admin/api/endpoints/{id}", a.deleteEndpoint},
		{"POST /admin/api/endpoints/{id}/drain", a.drainEndpoint(true)},
		{"POST /admin/api/endpoints/{id}/undrain", a.drainEndpoint(false)},
		{"GET /admin/api/audit", a.listAudit},
		{"GET /admin/api/apps", a.listApps},
		{"POST /admin/api/apps", a.createApp},
		{"DELETE /admin/api/apps/{app_id}", a.deleteApp},
		{"PATCH /admin/api/apps/{app_id}/toggle", a.toggleApp},
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, a.serve(rt.h))
	}
	a.registerBudgets(mux)
	a.registerKillSwitches(mux)
	mux.Handle(prefix, a.serve(func(w http.ResponseWriter, r *http.Request) error {
		return unrouted(mux, w, r)
	}))
}

// serve adapts a handler: it authenticates the caller as an admin, runs h, and
// renders any error with apierror.Write.
func (a *API) serve(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authorize(r)
		if err == nil {
			err = h(w, r.WithContext(withPrincipal(r.Context(), p)))
		}
		if err != nil {
			e := toAPIError(err)
			if e.Status >= http.StatusInternalServerError {
				a.log.Error("admin: request failed", "method", r.Method, "path", r.URL.Path,
					"request_id", requestID(w, r), "err", err)
			}
			apierror.Write(w, e)
		}
	})
}

// authorize returns the caller if it presents the key of an active admin.
func (a *API) authorize(r *http.Request) (*auth.Principal, error) {
	key := auth.BearerToken(r.Header.Get("Authorization"), "")
	p, err := a.auth.Authenticate(r.Context(), key)
	if err != nil {
		return nil, err
	}
	if !p.IsAdmin() {
		return nil, apierror.PermissionDenied("admin_required", "The admin API requires the API key of a user with role admin.")
	}
	return p, nil
}

// principalKey keys the authenticated admin in a request context.
type principalKey struct{}

func withPrincipal(ctx context.Context, p *auth.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principal returns the admin that made the request.
func principal(r *http.Request) *auth.Principal {
	p, _ := r.Context().Value(principalKey{}).(*auth.Principal)
	return p
}

func requestID(w http.ResponseWriter, r *http.Request) string {
	if id := w.Header().Get("x-request-id"); id != "" {
		return id
	}
	return r.Header.Get("x-request-id")
}

// unrouted answers a request under /admin/api/ that no route matched.
func unrouted(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); strings.HasPrefix(pattern, m+" "+prefix) {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return apierror.MethodNotAllowed(r.Method)
	}
	return apierror.RouteNotFound(r.URL.Path)
}
