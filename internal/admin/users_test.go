package admin

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

func TestCreateUser(t *testing.T) {
	e := newEnv(t)
	uuidV4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	cases := []struct {
		name     string
		body     string
		oid      string // "" : a generated UUID v4
		email    string
		display  string
		role     store.Role
		location string
	}{
		{"all fields", `{"oid":"alice@corp.example","email":"alice@example.com","display_name":"Alice","role":"admin"}`,
			"alice@corp.example", "alice@example.com", "Alice", store.RoleAdmin, ""},
		{"role defaults to user", `{"oid":"bob_1.x-y","email":"bob@example.com"}`, "bob_1.x-y", "bob@example.com", "", store.RoleUser, ""},
		{"generated oid, no email", `{"display_name":"Service"}`, "", "", "Service", store.RoleUser, ""},
		{"36-char oid", `{"oid":"` + strings.Repeat("a", 36) + `"}`, strings.Repeat("a", 36), "", "", store.RoleUser, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := decode[store.User](t, e.admin("POST", "/admin/api/users", c.body), http.StatusCreated)
			if c.oid == "" && !uuidV4.MatchString(u.OID) {
				t.Fatalf("generated oid %q is not a UUID v4", u.OID)
			}
			if c.oid != "" && u.OID != c.oid {
				t.Fatalf("oid = %q, want %q", u.OID, c.oid)
			}
			if u.Email != c.email || u.DisplayName != c.display || u.Role != c.role || !u.Active || u.CreatedAt.IsZero() {
				t.Fatalf("user = %+v", u)
			}
			stored, err := e.st.GetUser(context.Background(), u.OID)
			if err != nil || stored.Email != c.email || stored.Role != c.role {
				t.Fatalf("stored user = %+v, %v", stored, err)
			}
		})
	}
}

func TestCreateUserErrors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name string
		body string
		want wantErr
	}{
		{"oid with space", `{"oid":"a b"}`, badRequest("oid")},
		{"oid with slash", `{"oid":"a/b"}`, badRequest("oid")},
		{"oid non-ascii", `{"oid":"é"}`, badRequest("oid")},
		{"oid too long", `{"oid":"` + strings.Repeat("a", 37) + `"}`, badRequest("oid")},
		{"email without @", `{"email":"alice.example.com"}`, badRequest("email")},
		{"email with two @", `{"email":"a@b@example.com"}`, badRequest("email")},
		{"email without domain", `{"email":"alice@"}`, badRequest("email")},
		{"unknown role", `{"role":"root"}`, badRequest("role")},
		{"unknown field", `{"oid":"x","name":"Alice"}`, badRequest("name")},
		{"wrong type", `{"email":5}`, badRequest("email")},
		{"control char in display name", `{"display_name":"a\u0000b"}`, badRequest("display_name")},
		{"truncated JSON", `{"email":`, badRequest("")},
		{"syntax error", `{"email" "x"}`, badRequest("")},
		{"not an object", `[1,2]`, badRequest("")},
		{"empty body", ``, badRequest("")},
		{"trailing data", `{"oid":"t1"} {"oid":"t2"}`, badRequest("")},
		{"existing oid", `{"oid":"user-1"}`, conflict()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkErr(t, e.admin("POST", "/admin/api/users", c.body), c.want)
		})
	}
	users, err := e.st.ListUsers(context.Background(), store.Page{})
	if err != nil || len(users) != 2 {
		t.Fatalf("refused creates left %d users (%v), want 2", len(users), err)
	}
}

func TestUnknownFieldMessageNamesField(t *testing.T) {
	e := newEnv(t)
	rec := e.admin("POST", "/admin/api/users", `{"oid":"x","is_admin":true}`)
	checkErr(t, rec, badRequest("is_admin"))
	if !strings.Contains(rec.Body.String(), "'is_admin'") {
		t.Fatalf("message does not name the field: %s", rec.Body.String())
	}
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t)
	body := `{"display_name":"` + strings.Repeat("x", maxBody) + `"}`
	checkErr(t, e.admin("POST", "/admin/api/users", body),
		wantErr{http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", ""})
}

func TestGetUser(t *testing.T) {
	e := newEnv(t)
	u := decode[store.User](t, e.admin("GET", "/admin/api/users/user-1", ""), http.StatusOK)
	if u.OID != userOID || u.Email != "user-1@example.com" || u.Role != store.RoleUser || !u.Active || u.DeletedAt != nil {
		t.Fatalf("user = %+v", u)
	}
	checkErr(t, e.admin("GET", "/admin/api/users/ghost", ""), notFound())
}

func TestPatchUser(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name    string
		oid     string
		body    string
		want    wantErr // zero: success
		role    store.Role
		active  bool
		email   string
		display string
	}{
		{"promote and rename", userOID, `{"role":"admin","display_name":"User One"}`, wantErr{},
			store.RoleAdmin, true, "user-1@example.com", "User One"},
		{"demote and deactivate", userOID, `{"role":"user","is_active":false,"email":"one@example.com"}`, wantErr{},
			store.RoleUser, false, "one@example.com", "User One"},
		{"reactivate", userOID, `{"is_active":true}`, wantErr{}, store.RoleUser, true, "one@example.com", "User One"},
		{"empty patch", userOID, `{}`, badRequest(""), "", false, "", ""},
		{"empty role", userOID, `{"role":""}`, badRequest("role"), "", false, "", ""},
		{"bad role", userOID, `{"role":"owner"}`, badRequest("role"), "", false, "", ""},
		{"bad email", userOID, `{"email":"nope"}`, badRequest("email"), "", false, "", ""},
		{"oid not patchable", userOID, `{"oid":"other"}`, badRequest("oid"), "", false, "", ""},
		{"is_active wrong type", userOID, `{"is_active":"no"}`, badRequest("is_active"), "", false, "", ""},
		{"unknown user", "ghost", `{"display_name":"x"}`, notFound(), "", false, "", ""},
		{"self demote", adminOID, `{"role":"user"}`,
			wantErr{http.StatusConflict, "invalid_request_error", "self_lockout", ""}, "", false, "", ""},
		{"self deactivate", adminOID, `{"is_active":false}`,
			wantErr{http.StatusConflict, "invalid_request_error", "self_lockout", ""}, "", false, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.published()
			rec := e.admin("PATCH", "/admin/api/users/"+c.oid, c.body)
			if c.want.status != 0 {
				checkErr(t, rec, c.want)
				if ev := e.published(); len(ev) != 0 {
					t.Fatalf("refused patch published %v", ev)
				}
				return
			}
			u := decode[store.User](t, rec, http.StatusOK)
			if u.Role != c.role || u.Active != c.active || u.Email != c.email || u.DisplayName != c.display {
				t.Fatalf("user = %+v", u)
			}
			if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.UserChanged, ID: c.oid}) {
				t.Fatalf("published %v, want one UserChanged for %s", ev, c.oid)
			}
		})
	}
}

func TestPatchUserDropsCachedKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if p, err := e.auth.Authenticate(ctx, e.userKey); err != nil || p.Role != store.RoleUser {
		t.Fatalf("before: principal %+v, %v", p, err)
	}
	mustStatus(t, e.admin("PATCH", "/admin/api/users/user-1", `{"role":"admin"}`), http.StatusOK)
	p, err := e.auth.Authenticate(ctx, e.userKey)
	if err != nil || p.Role != store.RoleAdmin {
		t.Fatalf("after promotion: principal %+v, %v", p, err)
	}
	mustStatus(t, e.do("GET", "/admin/api/users", e.userKey, ""), http.StatusOK)
	mustStatus(t, e.admin("PATCH", "/admin/api/users/user-1", `{"is_active":false}`), http.StatusOK)
	if _, err := e.auth.Authenticate(ctx, e.userKey); err == nil {
		t.Fatal("key of a deactivated user still authenticates")
	}
}

func TestDeleteUser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.auth.Authenticate(ctx, e.userKey); err != nil {
		t.Fatal(err)
	}
	e.published()
	checkErr(t, e.admin("DELETE", "/admin/api/users/admin-1", ""),
		wantErr{http.StatusConflict, "invalid_request_error", "self_lockout", ""})
	mustStatus(t, e.admin("DELETE", "/admin/api/users/user-1", ""), http.StatusNoContent)
	if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.UserChanged, ID: userOID}) {
		t.Fatalf("published %v", ev)
	}
	if _, err := e.auth.Authenticate(ctx, e.userKey); err == nil {
		t.Fatal("key of a deleted user still authenticates")
	}
	// Still readable with deleted_at, hidden from the list.
	u := decode[store.User](t, e.admin("GET", "/admin/api/users/user-1", ""), http.StatusOK)
	if u.DeletedAt == nil || u.Active {
		t.Fatalf("deleted user = %+v", u)
	}
	l := decode[listOf[store.User]](t, e.admin("GET", "/admin/api/users", ""), http.StatusOK)
	if len(l.Data) != 1 || l.Data[0].OID != adminOID {
		t.Fatalf("list after delete = %+v", l.Data)
	}
	cases := []struct{ method, path, body string }{
		{"DELETE", "/admin/api/users/user-1", ""},
		{"PATCH", "/admin/api/users/user-1", `{"display_name":"x"}`},
		{"POST", "/admin/api/users/user-1/keys", `{"name":"k"}`},
		{"DELETE", "/admin/api/users/ghost", ""},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			checkErr(t, e.admin(c.method, c.path, c.body), notFound())
		})
	}
}

func TestListUsersPagination(t *testing.T) {
	e := newEnv(t)
	for _, oid := range []string{"u-a", "u-b", "u-c"} {
		mustStatus(t, e.admin("POST", "/admin/api/users", `{"oid":"`+oid+`"}`), http.StatusCreated)
	}
	// By oid: admin-1, u-a, u-b, u-c, user-1.
	cases := []struct {
		query   string
		oids    []string
		hasMore bool
	}{
		{"", []string{"admin-1", "u-a", "u-b", "u-c", "user-1"}, false},
		{"?limit=2", []string{"admin-1", "u-a"}, true},
		{"?limit=2&offset=2", []string{"u-b", "u-c"}, true},
		{"?limit=2&offset=4", []string{"user-1"}, false},
		{"?limit=3&offset=2", []string{"u-b", "u-c", "user-1"}, false},
		{"?offset=9", []string{}, false},
		{"?limit=1000", []string{"admin-1", "u-a", "u-b", "u-c", "user-1"}, false},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			rec := e.admin("GET", "/admin/api/users"+c.query, "")
			l := decode[listOf[store.User]](t, rec, http.StatusOK)
			got := mapSlice(l.Data, func(u store.User) string { return u.OID })
			if l.Object != "list" || strings.Join(got, ",") != strings.Join(c.oids, ",") || l.HasMore != c.hasMore {
				t.Fatalf("got object %q oids %v has_more %v, want %v %v", l.Object, got, l.HasMore, c.oids, c.hasMore)
			}
			if len(c.oids) == 0 && !strings.Contains(rec.Body.String(), `"data":[]`) {
				t.Fatalf("empty page is not an empty array: %s", rec.Body.String())
			}
		})
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=abc", "?limit=", "?limit=-1"} {
		t.Run(q, func(t *testing.T) { checkErr(t, e.admin("GET", "/admin/api/users"+q, ""), badRequest("limit")) })
	}
	for _, q := range []string{"?offset=-1", "?offset=x", "?offset=1.5"} {
		t.Run(q, func(t *testing.T) { checkErr(t, e.admin("GET", "/admin/api/users"+q, ""), badRequest("offset")) })
	}
}
