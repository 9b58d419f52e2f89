// Package billing is the billing HTTP API: the admin's month (spec §4.1, GET
// /admin/api/billing) and its breakdowns by app, model and day and per user,
// each as JSON or CSV, and the self-service GET /v1/me/usage a user reads with
// their own key. Everything is read from the usage rollups (store.Billing),
// never from the raw usage rows, and money stays integer nano-USD until it is
// rendered as a decimal USD number.
package billing

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/store"
)

// Authenticator verifies a presented API key (auth.Authenticator implements it).
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (*auth.Principal, error)
}

// Store is what the API reads; store.Store satisfies it.
type Store interface {
	store.Billing
	GetUser(ctx context.Context, oid string) (store.User, error)
	ListKeys(ctx context.Context, userOID string, p store.Page) ([]store.APIKey, error)
}

// Deps are what the API needs. Now and Log default to time.Now and
// slog.Default.
type Deps struct {
	Store Store
	Auth  Authenticator
	Now   func() time.Time
	Log   *slog.Logger
}

// API serves the billing routes.
type API struct {
	store Store
	auth  Authenticator
	now   func() time.Time
	log   *slog.Logger
}

// New returns the billing API.
func New(d Deps) *API {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &API{store: d.Store, auth: d.Auth, now: d.Now, log: d.Log}
}

// handler is the shape of every billing handler: errors are returned and
// rendered once, by serve.
type handler func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error

// Register adds the billing routes to mux (Go 1.22 method+path patterns). The
// admin routes need the key of an admin; /v1/me/usage any valid key.
func (a *API) Register(mux *http.ServeMux) {
	routes := []struct {
		pattern string
		admin   bool
		h       handler
	}{
		{"GET /admin/api/billing", true, a.byUser},
		{"GET /admin/api/billing/apps", true, a.byApp},
		{"GET /admin/api/billing/models", true, a.byModel},
		{"GET /admin/api/billing/daily", true, a.byDay},
		{"GET /admin/api/billing/users/{oid}", true, a.userDetail},
		{"GET /v1/me/usage", false, a.myUsage},
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, a.serve(rt.admin, rt.h))
	}
}

// serve adapts a handler: it authenticates the caller (as an admin when
// admin is set), runs h and renders any error with apierror.Write.
func (a *API) serve(admin bool, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.auth.Authenticate(r.Context(), auth.BearerToken(r.Header.Get("Authorization"), ""))
		if err == nil && admin && !p.IsAdmin() {
			err = apierror.PermissionDenied("admin_required", "The admin API requires the API key of a user with role admin.")
		}
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			e := apierror.As(err)
			if e.Status >= http.StatusInternalServerError {
				a.log.Error("billing: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			apierror.Write(w, e)
		}
	})
}

// month reads ?month=YYYY-MM, defaulting to the current month of the billing
// time zone.
func (a *API) month(r *http.Request) (store.Month, error) {
	q := r.URL.Query()
	if !q.Has("month") {
		return store.MonthOf(a.now(), a.store.BillingLocation()), nil
	}
	m, err := store.ParseMonth(q.Get("month"))
	if err != nil {
		return store.Month{}, apierror.InvalidRequest("month",
			"'month' must be a month in the form YYYY-MM, e.g. 2026-02; got '"+q.Get("month")+"'.")
	}
	return m, nil
}
