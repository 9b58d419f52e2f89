// Package adminui is the admin web UI served by the binary at /admin, and the
// self-service page /me. Pages are html/template shells (embedded, nothing to
// build) whose small vanilla scripts call the existing JSON APIs
// (/admin/api/*, /v1/me/usage) with fetch; there is no second copy of any
// business logic here.
//
// Signing in with a key sets a sealed, stateless session cookie. Wrap turns
// that cookie into an Authorization header for the JSON APIs and enforces a
// CSRF token on every unsafe request it authenticates that way.
package adminui

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/secrets"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Authenticator verifies a presented API key (auth.Authenticator implements it).
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (*auth.Principal, error)
}

// Deps are what the UI needs. Box seals the session cookie: replicas that
// share the encryption key share sessions. Now and Log default to time.Now and
// slog.Default.
type Deps struct {
	Auth Authenticator
	Box  *secrets.Box
	Now  func() time.Time
	Log  *slog.Logger
}

// UI serves the pages and the session middleware.
type UI struct {
	auth   Authenticator
	box    *secrets.Box
	now    func() time.Time
	log    *slog.Logger
	pages  map[string]*page
	static http.Handler
}

// New returns the UI; it fails only if the embedded templates do not parse.
func New(d Deps) (*UI, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	static := http.StripPrefix("/admin/static/", http.FileServerFS(sub))
	return &UI{auth: d.Auth, box: d.Box, now: d.Now, log: d.Log, pages: pages, static: static}, nil
}

// Register adds the UI routes to mux.
func (u *UI) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin", u.home)
	mux.HandleFunc("GET /admin/{$}", u.home)
	mux.HandleFunc("GET /admin/login", u.loginForm)
	mux.HandleFunc("POST /admin/login", u.login)
	mux.HandleFunc("POST /admin/logout", u.logout)
	mux.Handle("GET /admin/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		u.static.ServeHTTP(w, r)
	}))
	for name, p := range u.pages {
		if p.path == "" {
			continue // the sign-in page has its own handlers
		}
		mux.Handle("GET "+p.path, u.servePage(name, p))
	}
}

// sessionPath reports whether a session cookie may authenticate a request to
// path: the JSON APIs the pages call, nothing else (no model calls).
func sessionPath(path string) bool {
	return strings.HasPrefix(path, "/admin/api/") || path == "/v1/me/usage"
}

// Wrap returns next behind the session middleware. A request to the admin or
// self-service JSON API without an Authorization header but with a valid
// session cookie is authenticated with the session's key; if its method is
// unsafe it must carry the session's CSRF token in X-CSRF-Token (403
// otherwise). Every other request passes through untouched.
func (u *UI) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sessionPath(r.URL.Path) || r.Header.Get("Authorization") != "" {
			next.ServeHTTP(w, r)
			return
		}
		s, ok := u.readSession(r)
		if !ok {
			next.ServeHTTP(w, r) // the API answers 401
			return
		}
		if !safeMethod(r.Method) && !csrfOK(s, r.Header.Get(csrfHeader)) {
			apierror.Write(w, apierror.PermissionDenied("csrf_failed",
				"This request was authenticated by the session cookie but did not carry its CSRF token in X-CSRF-Token. Reload the page and try again."))
			return
		}
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+s.Key)
		next.ServeHTTP(w, r)
	})
}
