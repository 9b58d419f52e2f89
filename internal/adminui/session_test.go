package adminui

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/secrets"
	"github.com/antigravity/gateway/internal/store"
)

const (
	adminKey = "sk-gate-admin-0123456789"
	userKey  = "sk-gate-user-0123456789"
)

// fakeAuth knows two keys; revoke makes one fail.
type fakeAuth struct {
	mu      sync.Mutex
	revoked map[string]bool
}

func (f *fakeAuth) Authenticate(_ context.Context, key string) (*auth.Principal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.revoked[key] {
		return nil, apierror.InvalidAPIKey("revoked")
	}
	switch key {
	case adminKey:
		return &auth.Principal{UserOID: "a1", Email: "admin@example.com", Role: store.RoleAdmin}, nil
	case userKey:
		return &auth.Principal{UserOID: "u1", Email: "user@example.com", Role: store.RoleUser}, nil
	}
	return nil, apierror.InvalidAPIKey("unknown")
}

func (f *fakeAuth) revoke(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[key] = true
}

// uiEnv is the UI wrapped around a mux whose API routes echo the
// Authorization header they receive.
type uiEnv struct {
	t    *testing.T
	ui   *UI
	auth *fakeAuth
	h    http.Handler
	now  time.Time
}

func newUIEnv(t *testing.T) *uiEnv {
	t.Helper()
	box, err := secrets.NewBox("test-secret")
	if err != nil {
		t.Fatal(err)
	}
	e := &uiEnv{t: t, auth: &fakeAuth{revoked: map[string]bool{}}, now: time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)}
	e.ui, err = New(Deps{Auth: e.auth, Box: box, Now: func() time.Time { return e.now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	echo := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "auth="+r.Header.Get("Authorization"))
	}
	mux.HandleFunc("/admin/api/", echo)
	mux.HandleFunc("/v1/", echo)
	e.ui.Register(mux)
	e.h = e.ui.Wrap(mux)
	return e
}

func (e *uiEnv) do(method, target string, body string, hdr map[string]string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// login signs in with key and returns the session cookie and its CSRF token.
func (e *uiEnv) login(key string) (*http.Cookie, string) {
	e.t.Helper()
	rec := e.do("POST", "/admin/login", url.Values{"key": {key}}.Encode(), nil)
	if rec.Code != http.StatusSeeOther {
		e.t.Fatalf("login = %d, want 303: %s", rec.Code, rec.Body)
	}
	c := sessionCookie(rec)
	if c == nil {
		e.t.Fatal("login set no session cookie")
	}
	s, err := e.ui.decode(c.Value)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, s.CSRF
}

func sessionCookie(rec *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	return nil
}

func TestLoginSetsStrictHttpOnlyCookie(t *testing.T) {
	e := newUIEnv(t)
	rec := e.do("POST", "/admin/login", url.Values{"key": {adminKey}}.Encode(), nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/billing" {
		t.Fatalf("admin login = %d → %q, want 303 → /admin/billing", rec.Code, rec.Header().Get("Location"))
	}
	c := sessionCookie(rec)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Fatalf("cookie = %+v, want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", c)
	}
	if strings.Contains(c.Value, "sk-gate") {
		t.Fatal("the cookie carries the key in clear")
	}
	if c.MaxAge != int(sessionTTL.Seconds()) {
		t.Fatalf("MaxAge = %d, want %d", c.MaxAge, int(sessionTTL.Seconds()))
	}
	rec = e.do("POST", "/admin/login", url.Values{"key": {userKey}, "next": {"/admin/apps"}}.Encode(), nil)
	if rec.Header().Get("Location") != "/me" {
		t.Fatalf("user login → %q, want /me", rec.Header().Get("Location"))
	}
	rec = e.do("POST", "/admin/login", url.Values{"key": {adminKey}}.Encode(), map[string]string{"X-Forwarded-Proto": "https"})
	if c := sessionCookie(rec); c == nil || !c.Secure {
		t.Fatal("cookie over HTTPS is not Secure")
	}
}

func TestLoginRefusals(t *testing.T) {
	e := newUIEnv(t)
	rec := e.do("POST", "/admin/login", url.Values{"key": {"sk-gate-wrong"}}.Encode(), nil)
	if rec.Code != http.StatusUnauthorized || sessionCookie(rec) != nil {
		t.Fatalf("bad key = %d (cookie %v), want 401 without cookie", rec.Code, sessionCookie(rec))
	}
	if !strings.Contains(rec.Body.String(), "not accepted") {
		t.Fatalf("no error shown: %s", rec.Body)
	}
	rec = e.do("POST", "/admin/login", url.Values{"key": {adminKey}}.Encode(), map[string]string{"Origin": "https://evil.example"})
	if rec.Code != http.StatusForbidden || sessionCookie(rec) != nil {
		t.Fatalf("cross-site login = %d, want 403 without cookie", rec.Code)
	}
}

func TestWrapAuthenticatesWithSession(t *testing.T) {
	e := newUIEnv(t)
	c, tok := e.login(adminKey)
	if got := e.do("GET", "/admin/api/users", "", nil, c).Body.String(); got != "auth=Bearer "+adminKey {
		t.Fatalf("GET with session: %q", got)
	}
	if got := e.do("GET", "/v1/me/usage", "", nil, c).Body.String(); got != "auth=Bearer "+adminKey {
		t.Fatalf("GET /v1/me/usage with session: %q", got)
	}
	// Model calls never accept the cookie.
	if got := e.do("POST", "/v1/chat/completions", "", map[string]string{csrfHeader: tok}, c).Body.String(); got != "auth=" {
		t.Fatalf("/v1/chat/completions got %q, want no Authorization", got)
	}
	// An explicit Authorization header wins and needs no CSRF token.
	if got := e.do("POST", "/admin/api/apps", "", map[string]string{"Authorization": "Bearer other"}, c).Body.String(); got != "auth=Bearer other" {
		t.Fatalf("explicit header: %q", got)
	}
	rec := e.do("POST", "/admin/api/apps", "", map[string]string{csrfHeader: tok}, c)
	if rec.Code != 200 || rec.Body.String() != "auth=Bearer "+adminKey {
		t.Fatalf("POST with token = %d %q", rec.Code, rec.Body)
	}
}

func TestWrapCSRF(t *testing.T) {
	e := newUIEnv(t)
	c, tok := e.login(adminKey)
	for name, hdr := range map[string]map[string]string{
		"missing": nil,
		"wrong":   {csrfHeader: tok + "x"},
		"empty":   {csrfHeader: ""},
	} {
		for _, m := range []string{"POST", "PATCH", "PUT", "DELETE"} {
			rec := e.do(m, "/admin/api/apps/x", "", hdr, c)
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "csrf_failed") {
				t.Errorf("%s token, %s = %d %s, want 403 csrf_failed", name, m, rec.Code, rec.Body)
			}
		}
	}
	// Another session's token does not work either.
	_, other := e.login(adminKey)
	if rec := e.do("DELETE", "/admin/api/keys/1", "", map[string]string{csrfHeader: other}, c); rec.Code != http.StatusForbidden {
		t.Fatalf("other session's token = %d, want 403", rec.Code)
	}
}

func TestWrapRejectsTamperedAndExpired(t *testing.T) {
	e := newUIEnv(t)
	c, _ := e.login(adminKey)
	raw := []byte(c.Value)
	raw[len(raw)/2] ^= 1
	if raw[len(raw)/2] == '-' || raw[len(raw)/2] == '_' { // keep it base64url
		raw[len(raw)/2] = 'A'
	}
	for name, v := range map[string]string{"tampered": string(raw), "garbage": "not-base64!!", "empty": "", "truncated": c.Value[:20]} {
		bad := &http.Cookie{Name: CookieName, Value: v}
		if got := e.do("GET", "/admin/api/users", "", nil, bad).Body.String(); got != "auth=" {
			t.Errorf("%s cookie authenticated: %q", name, got)
		}
		if rec := e.do("GET", "/admin/billing", "", nil, bad); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/admin/login") {
			t.Errorf("%s cookie page = %d → %q, want redirect to login", name, rec.Code, rec.Header().Get("Location"))
		}
	}
	// A cookie sealed with another encryption key is refused.
	otherBox, _ := secrets.NewBox("another-secret")
	other := &UI{box: otherBox, now: e.ui.now}
	forged, _ := other.encode(session{Key: adminKey, Expires: e.now.Add(time.Hour), CSRF: "t"})
	if got := e.do("GET", "/admin/api/users", "", nil, &http.Cookie{Name: CookieName, Value: forged}).Body.String(); got != "auth=" {
		t.Fatalf("cookie from another box authenticated: %q", got)
	}
	e.now = e.now.Add(sessionTTL - time.Second)
	if got := e.do("GET", "/admin/api/users", "", nil, c).Body.String(); got != "auth=Bearer "+adminKey {
		t.Fatalf("session refused before expiry: %q", got)
	}
	e.now = e.now.Add(2 * time.Second)
	if got := e.do("GET", "/admin/api/users", "", nil, c).Body.String(); got != "auth=" {
		t.Fatalf("expired session authenticated: %q", got)
	}
}

func TestPages(t *testing.T) {
	e := newUIEnv(t)
	rec := e.do("GET", "/admin/billing?month=2026-01", "", nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/login?next=%2Fadmin%2Fbilling%3Fmonth%3D2026-01" {
		t.Fatalf("signed out = %d → %q", rec.Code, rec.Header().Get("Location"))
	}
	ac, tok := e.login(adminKey)
	for _, p := range []string{"/admin/billing", "/admin/apps", "/admin/users", "/admin/models", "/admin/budgets", "/admin/audit", "/me"} {
		rec := e.do("GET", p, "", nil, ac)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<meta name="csrf-token" content="`+tok+`">`) {
			t.Errorf("admin GET %s = %d, want 200 with the CSRF meta tag", p, rec.Code)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s CSP = %q", p, csp)
		}
	}
	uc, _ := e.login(userKey)
	rec = e.do("GET", "/admin/apps", "", nil, uc)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/me" {
		t.Fatalf("non-admin /admin/apps = %d → %q, want redirect to /me", rec.Code, rec.Header().Get("Location"))
	}
	rec = e.do("GET", "/me", "", nil, uc)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "user@example.com") || strings.Contains(rec.Body.String(), "/admin/apps") {
		t.Fatalf("user /me = %d, want 200 with their email and no admin links", rec.Code)
	}
	// Revoking the key ends the session.
	e.auth.revoke(userKey)
	if rec := e.do("GET", "/me", "", nil, uc); rec.Code != http.StatusSeeOther {
		t.Fatalf("revoked key /me = %d, want a redirect to sign in", rec.Code)
	}
	if rec := e.do("GET", "/admin/static/core.js", "", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "X-CSRF-Token") {
		t.Fatalf("static core.js = %d", rec.Code)
	}
}

func TestLogout(t *testing.T) {
	e := newUIEnv(t)
	c, tok := e.login(adminKey)
	if rec := e.do("POST", "/admin/logout", "", nil, c); rec.Code != http.StatusForbidden {
		t.Fatalf("logout without token = %d, want 403", rec.Code)
	}
	if rec := e.do("POST", "/admin/logout", url.Values{csrfField: {"nope"}}.Encode(), nil, c); rec.Code != http.StatusForbidden {
		t.Fatalf("logout with wrong token = %d, want 403", rec.Code)
	}
	rec := e.do("POST", "/admin/logout", url.Values{csrfField: {tok}}.Encode(), nil, c)
	cleared := sessionCookie(rec)
	if rec.Code != http.StatusSeeOther || cleared == nil || cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Fatalf("logout = %d, cookie %+v; want 303 clearing the cookie", rec.Code, cleared)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/admin/apps":          "/admin/apps",
		"/me?month=2026-01":    "/me?month=2026-01",
		"//evil.example/admin": "",
		"https://evil.example": "",
		"/\\evil.example":      "",
		"/admin/api/users":     "",
		"/admin/logout":        "",
		"/v1/chat/completions": "",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
