package adminui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CookieName is the session cookie.
const CookieName = "gw_session"

// csrfHeader carries the session's CSRF token on unsafe requests from scripts;
// forms send it as the csrfField field.
const (
	csrfHeader = "X-CSRF-Token"
	csrfField  = "csrf_token"
)

// sessionTTL is how long a sign-in lasts.
const sessionTTL = 12 * time.Hour

// session is what the cookie carries, sealed: the key the user signed in with,
// when the session ends and its CSRF token. Nothing is kept on the server, so
// every replica that shares the encryption key accepts the cookie, and revoking
// the key ends the session (the key no longer authenticates).
type session struct {
	Key     string
	Expires time.Time
	CSRF    string
}

var errBadSession = errors.New("adminui: invalid session cookie")

// newSession starts a session for key at now.
func newSession(key string, now time.Time) (session, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return session{}, err
	}
	return session{Key: key, Expires: now.Add(sessionTTL), CSRF: base64.RawURLEncoding.EncodeToString(b)}, nil
}

// encode seals s into a cookie value.
func (u *UI) encode(s session) (string, error) {
	pt := s.Key + "\n" + strconv.FormatInt(s.Expires.Unix(), 10) + "\n" + s.CSRF
	ct, err := u.box.Seal(pt)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

// decode opens a cookie value; a tampered, malformed or expired value fails.
func (u *UI) decode(v string) (session, error) {
	ct, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(ct) == 0 {
		return session{}, errBadSession
	}
	pt, err := u.box.Open(ct)
	if err != nil {
		return session{}, errBadSession
	}
	parts := strings.Split(pt, "\n")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return session{}, errBadSession
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return session{}, errBadSession
	}
	s := session{Key: parts[0], Expires: time.Unix(exp, 0), CSRF: parts[2]}
	if !u.now().Before(s.Expires) {
		return session{}, errBadSession
	}
	return s, nil
}

// readSession returns the request's session, if it carries a valid one.
func (u *UI) readSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return session{}, false
	}
	s, err := u.decode(c.Value)
	return s, err == nil
}

// setCookie writes the session cookie (or clears it when s is nil).
func (u *UI) setCookie(w http.ResponseWriter, r *http.Request, s *session) error {
	c := &http.Cookie{
		Name: CookieName, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	}
	if s == nil {
		c.MaxAge = -1
	} else {
		v, err := u.encode(*s)
		if err != nil {
			return err
		}
		c.Value, c.Expires = v, s.Expires
		c.MaxAge = int(s.Expires.Sub(u.now()).Seconds())
	}
	http.SetCookie(w, c)
	return nil
}

// csrfOK reports whether token is the session's CSRF token.
func csrfOK(s session, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) == 1
}

// safeMethod reports whether a method changes nothing (no CSRF token needed).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
