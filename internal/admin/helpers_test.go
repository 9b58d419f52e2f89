package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/secrets"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/sqlite"
)

// env is an admin API on a real SQLite store with an admin ("admin-1") and a
// plain user ("user-1"), each holding one key.
type env struct {
	t        *testing.T
	st       *sqlite.Store
	auth     *auth.Authenticator
	box      *secrets.Box
	mux      *http.ServeMux
	now      time.Time
	adminKey string
	userKey  string

	mu     sync.Mutex
	events []events.Event
	bodies []string // every response body, in order
}

const (
	adminOID   = "admin-1"
	userOID    = "user-1"
	clientAddr = "192.0.2.1" // httptest.NewRequest's RemoteAddr host
)

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	bus := events.NewLocal()
	au, err := auth.New(st, bus, auth.Options{})
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	box, err := secrets.NewBox("admin-test-encryption-key")
	if err != nil {
		t.Fatalf("secrets.NewBox: %v", err)
	}
	e := &env{t: t, st: st, auth: au, box: box, mux: http.NewServeMux(),
		now: time.Now().UTC().Truncate(time.Second)}
	bus.Subscribe(func(ev events.Event) {
		e.mu.Lock()
		e.events = append(e.events, ev)
		e.mu.Unlock()
	})
	New(Deps{
		Store: st, Auth: au, Box: box, Bus: bus,
		Now: func() time.Time { return e.now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}).Register(e.mux)
	e.adminKey = e.seedUser(adminOID, store.RoleAdmin)
	e.userKey = e.seedUser(userOID, store.RoleUser)
	return e
}

// seedUser creates a user and one key directly in the store.
func (e *env) seedUser(oid string, role store.Role) string {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.st.CreateUser(ctx, store.User{OID: oid, Email: oid + "@example.com", Role: role, Active: true}); err != nil {
		e.t.Fatalf("create user %s: %v", oid, err)
	}
	return e.storeKey(oid)
}

func (e *env) storeKey(oid string) string {
	e.t.Helper()
	plaintext, hash, prefix, err := auth.NewKey()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.CreateKey(context.Background(), store.APIKey{UserOID: oid, Hash: hash, Prefix: prefix, Active: true}); err != nil {
		e.t.Fatalf("create key for %s: %v", oid, err)
	}
	return plaintext
}

// do sends a request with the given bearer key ("" sends no Authorization).
func (e *env) do(method, path, key, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := newRequest(method, path, body)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := serve(e.mux, req)
	e.mu.Lock()
	e.bodies = append(e.bodies, rec.Body.String())
	e.mu.Unlock()
	return rec
}

// admin sends a request with the admin key.
func (e *env) admin(method, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(method, path, e.adminKey, body)
}

// mustStatus fails unless rec has the status; it returns the body.
func mustStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) []byte {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, status, rec.Body.String())
	}
	return rec.Body.Bytes()
}

// decode parses a successful response body.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(mustStatus(t, rec, status), &v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body.String(), err)
	}
	return v
}

// wantErr is the expected error of a response.
type wantErr struct {
	status int
	typ    string
	code   string
	param  string
}

// checkErr asserts an OpenAI-shaped error body.
func checkErr(t *testing.T, rec *httptest.ResponseRecorder, w wantErr) {
	t.Helper()
	var b struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Code    *string `json:"code"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	if rec.Code != w.status {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, w.status, rec.Body.String())
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", rec.Body.String(), err)
	}
	param, code := "", ""
	if b.Error.Param != nil {
		param = *b.Error.Param
	}
	if b.Error.Code != nil {
		code = *b.Error.Code
	}
	if b.Error.Type != w.typ || code != w.code || param != w.param {
		t.Fatalf("error = type %q code %q param %q, want %q %q %q; body: %s",
			b.Error.Type, code, param, w.typ, w.code, w.param, rec.Body.String())
	}
	if b.Error.Message == "" {
		t.Fatalf("error without message: %s", rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
}

func badRequest(param string) wantErr {
	return wantErr{http.StatusBadRequest, "invalid_request_error", "invalid_request_error", param}
}

func notFound() wantErr {
	return wantErr{http.StatusNotFound, "invalid_request_error", "not_found", ""}
}

func modelNotFound() wantErr {
	return wantErr{http.StatusNotFound, "invalid_request_error", "model_not_found", "model"}
}

func conflict() wantErr {
	return wantErr{http.StatusConflict, "invalid_request_error", "conflict", ""}
}

// published returns the events seen so far and forgets them.
func (e *env) published() []events.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.events
	e.events = nil
	return out
}

// auditRows returns every audit row matching f, newest first.
func (e *env) auditRows(f store.AuditFilter) []store.AuditEntry {
	e.t.Helper()
	f.Page = store.Page{Limit: 1000}
	rows, err := e.st.ListAudit(context.Background(), f)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

// everything is every response body and audit row seen, for secret scans.
func (e *env) everything() string {
	e.t.Helper()
	raw, err := json.Marshal(e.auditRows(store.AuditFilter{}))
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.bodies, "\n") + "\n" + string(raw)
}

// listOf is a decoded list response.
type listOf[T any] struct {
	Object  string `json:"object"`
	Data    []T    `json:"data"`
	HasMore bool   `json:"has_more"`
}

func newRequest(method, path, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	return httptest.NewRequest(method, path, rd)
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func auditAll() store.AuditFilter { return store.AuditFilter{} }

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
