package billing

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/pgtest"
	"github.com/antigravity/gateway/internal/store/postgres"
	"github.com/antigravity/gateway/internal/store/sqlite"
)

// backend opens a fresh, empty store whose billing time zone is loc.
type backend struct {
	name string
	open func(t *testing.T, loc *time.Location) store.Store
}

// backends are SQLite always and PostgreSQL when TEST_DATABASE_URL is set
// (pgtest skips otherwise).
func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T, loc *time.Location) store.Store {
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gateway.db"), sqlite.WithBillingLocation(loc))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"postgres", func(t *testing.T, loc *time.Location) store.Store {
			s, err := postgres.Open(t.Context(), pgtest.NewDatabase(t), postgres.WithBillingLocation(loc))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
	}
}

// forEachBackend runs fn as a subtest per back-end.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// env is the billing API on a real store, with an admin ("admin-1") and a
// plain user ("user-1") holding one key each.
type env struct {
	t        *testing.T
	st       store.Store
	mux      *http.ServeMux
	now      time.Time
	adminKey string
	userKey  string
}

const (
	adminOID = "admin-1"
	userOID  = "user-1"
)

func newEnv(t *testing.T, st store.Store, now time.Time) *env {
	t.Helper()
	au, err := auth.New(st, nil, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, mux: http.NewServeMux(), now: now}
	New(Deps{Store: st, Auth: au, Now: func() time.Time { return e.now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(e.mux)
	e.adminKey = e.seedUser(adminOID, "admin@example.com", store.RoleAdmin)
	e.userKey = e.seedUser(userOID, "user1@example.com", store.RoleUser)
	return e
}

// seedUser creates a user and one key, returning the key.
func (e *env) seedUser(oid, email string, role store.Role) string {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.st.CreateUser(ctx, store.User{OID: oid, Email: email, Role: role, Active: true}); err != nil {
		e.t.Fatalf("create user %s: %v", oid, err)
	}
	plaintext, hash, prefix, err := auth.NewKey()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.CreateKey(ctx, store.APIKey{UserOID: oid, Hash: hash, Prefix: prefix, Name: "k-" + oid, Active: true}); err != nil {
		e.t.Fatalf("create key for %s: %v", oid, err)
	}
	return plaintext
}

// user creates a user without a key.
func (e *env) user(oid, email string) {
	e.t.Helper()
	if _, err := e.st.CreateUser(context.Background(), store.User{OID: oid, Email: email, Role: store.RoleUser, Active: true}); err != nil {
		e.t.Fatalf("create user %s: %v", oid, err)
	}
}

// insert stores usage rows through the real InsertUsage path.
func (e *env) insert(rows ...store.UsageRecord) {
	e.t.Helper()
	for len(rows) > 0 {
		n := min(len(rows), 500)
		if err := e.st.InsertUsage(context.Background(), rows[:n]); err != nil {
			e.t.Fatalf("insert usage: %v", err)
		}
		rows = rows[n:]
	}
}

// get sends a GET with the key ("" sends none) and optional headers.
func (e *env) get(path, key string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	return rec
}

// getJSON sends an admin GET, wants 200 and decodes the body (numbers as
// json.Number) into dst.
func (e *env) getJSON(path string, dst any) {
	e.t.Helper()
	rec := e.get(path, e.adminKey)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	decode(e.t, rec.Body.String(), dst)
}

func decode(t *testing.T, body string, dst any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

// getCSV sends an admin GET for CSV, wants 200 and a CSV attachment, and
// parses it.
func (e *env) getCSV(path string, header ...string) [][]string {
	e.t.Helper()
	rec := e.get(path, e.adminKey, header...)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		e.t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if cd := rec.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") {
		e.t.Fatalf("GET %s: Content-Disposition %q", path, cd)
	}
	recs, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		e.t.Fatalf("GET %s: parse CSV: %v", path, err)
	}
	return recs
}

// nanos parses a rendered USD amount back to nano-USD, exactly.
func nanos(t *testing.T, s string) money.Nanos {
	t.Helper()
	n, err := money.ParseUSDNanos(s)
	if err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	return n
}

// wantError checks an OpenAI-style error body with the status and param.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, param string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	var body struct {
		Error struct {
			Type  string  `json:"type"`
			Param *string `json:"param"`
		} `json:"error"`
	}
	decode(t, rec.Body.String(), &body)
	got := ""
	if body.Error.Param != nil {
		got = *body.Error.Param
	}
	if got != param || body.Error.Type == "" {
		t.Fatalf("error param %q type %q, want param %q: %s", got, body.Error.Type, param, rec.Body)
	}
}

func ptr[T any](v T) *T { return &v }

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
