package adminui

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/antigravity/gateway/internal/auth"
)

// page is one screen: a path, a title and its template.
type page struct {
	path  string
	title string
	admin bool // admins only; others are sent to /me
	tmpl  *template.Template
}

// navItem is one link of the navigation.
type navItem struct{ Name, Path, Title string }

// adminNav lists the admin screens in menu order.
func adminNav() []navItem {
	return []navItem{
		{"billing", "/admin/billing", "Billing"},
		{"apps", "/admin/apps", "Apps"},
		{"users", "/admin/users", "Users & keys"},
		{"models", "/admin/models", "Models"},
		{"budgets", "/admin/budgets", "Budgets"},
		{"audit", "/admin/audit", "Audit log"},
	}
}

// pageData is what every template sees.
type pageData struct {
	Page    string
	Title   string
	CSRF    string
	Email   string
	IsAdmin bool
	Nav     []navItem
	Next    string // login: where to go after signing in
	Error   string // login: why the last attempt failed
}

// parsePages parses every screen with the shared layout.
func parsePages() (map[string]*page, error) {
	out := map[string]*page{"me": {path: "/me", title: "My usage"}}
	for _, n := range adminNav() {
		out[n.Name] = &page{path: n.Path, title: n.Title, admin: true}
	}
	out["login"] = &page{path: "", title: "Sign in"}
	for name, p := range out {
		t, err := template.ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.tmpl = t
	}
	return out, nil
}

// render writes a page with security headers that keep it to its own scripts.
func (u *UI) render(w http.ResponseWriter, status int, p *page, d pageData) {
	d.Title = p.title
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, "layout", d); err != nil {
		u.log.Error("adminui: rendering page failed", "page", d.Page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// principal returns the signed-in user, if the session is valid and its key
// still authenticates.
func (u *UI) principal(r *http.Request) (session, *auth.Principal, bool) {
	s, ok := u.readSession(r)
	if !ok {
		return s, nil, false
	}
	p, err := u.auth.Authenticate(r.Context(), s.Key)
	if err != nil {
		return s, nil, false
	}
	return s, p, true
}

// servePage serves a screen to a signed-in user.
func (u *UI) servePage(name string, p *page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, pr, ok := u.principal(r)
		if !ok {
			_ = u.setCookie(w, r, nil)
			http.Redirect(w, r, "/admin/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if p.admin && !pr.IsAdmin() {
			http.Redirect(w, r, "/me", http.StatusSeeOther)
			return
		}
		u.render(w, http.StatusOK, p, pageData{Page: name, CSRF: s.CSRF, Email: pr.Email, IsAdmin: pr.IsAdmin(), Nav: adminNav()})
	})
}

// home sends /admin to the first screen the user may see.
func (u *UI) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/admin/billing", http.StatusSeeOther)
}

// loginForm serves GET /admin/login.
func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) {
	u.render(w, http.StatusOK, u.pages["login"], pageData{Page: "login", Next: safeNext(r.URL.Query().Get("next"))})
}

// maxLoginBody bounds the sign-in form.
const maxLoginBody = 4 << 10

// login serves POST /admin/login (form field "key"): a valid key starts a
// session and goes to next, or to the billing screen (admins) or /me.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	next := safeNext(r.PostFormValue("next"))
	lp := u.pages["login"]
	if !sameOrigin(r) {
		u.render(w, http.StatusForbidden, lp, pageData{Page: "login", Next: next, Error: "This sign-in did not come from this site."})
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	p, err := u.auth.Authenticate(r.Context(), key)
	if err != nil {
		u.render(w, http.StatusUnauthorized, lp, pageData{Page: "login", Next: next, Error: "That key was not accepted: it is unknown, revoked, expired or its user is deactivated."})
		return
	}
	s, err := newSession(key, u.now())
	if err == nil {
		err = u.setCookie(w, r, &s)
	}
	if err != nil {
		u.log.Error("adminui: starting a session failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	switch {
	case next != "" && (p.IsAdmin() || !strings.HasPrefix(next, "/admin")):
	case p.IsAdmin():
		next = "/admin/billing"
	default:
		next = "/me"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout serves POST /admin/logout: it needs the session's CSRF token (form
// field csrf_token) and clears the cookie.
func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if s, ok := u.readSession(r); ok {
		tok := r.PostFormValue(csrfField)
		if tok == "" {
			tok = r.Header.Get(csrfHeader)
		}
		if !csrfOK(s, tok) {
			http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
	}
	_ = u.setCookie(w, r, nil)
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in target only if it is a path of the UI.
func safeNext(next string) string {
	if next == "" || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return ""
	}
	if next == "/me" || strings.HasPrefix(next, "/me?") || next == "/admin" || strings.HasPrefix(next, "/admin/") {
		if strings.HasPrefix(next, "/admin/api/") || strings.HasPrefix(next, "/admin/log") {
			return ""
		}
		return next
	}
	return ""
}

// sameOrigin rejects a cross-site form post: the Origin header, when sent,
// must name this host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && r.Header.Get("Sec-Fetch-Site") == "" {
		return true
	}
	ou, err := url.Parse(o)
	return err == nil && ou.Host == r.Host
}
