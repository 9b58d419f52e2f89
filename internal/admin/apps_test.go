package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// createApp registers an app owned by user-1 and fails the test otherwise.
func (e *env) createApp(id string) store.App {
	e.t.Helper()
	return decode[store.App](e.t, e.admin("POST", "/admin/api/apps?owner_id="+userOID,
		`{"app_id":"`+id+`","name":"App `+id+`"}`), http.StatusCreated)
}

func TestCreateApp(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name  string
		query string
		body  string
		want  store.App
	}{
		{"spec example", "owner_id=" + userOID, `{"app_id":"chat-v1","name":"Chat App","description":"..."}`,
			store.App{AppID: "chat-v1", Name: "Chat App", Description: "...", OwnerID: userOID}},
		{"no description, admin owner", "owner_id=" + adminOID, `{"app_id":"dify.prod_2","name":"Dify"}`,
			store.App{AppID: "dify.prod_2", Name: "Dify", OwnerID: adminOID}},
		{"at the limits", "owner_id=" + userOID,
			`{"app_id":"` + strings.Repeat("a", 50) + `","name":"` + strings.Repeat("n", 100) + `","description":"日本語の説明"}`,
			store.App{AppID: strings.Repeat("a", 50), Name: strings.Repeat("n", 100), Description: "日本語の説明", OwnerID: userOID}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.published()
			rec := e.admin("POST", "/admin/api/apps?"+c.query, c.body)
			got := decode[store.App](t, rec, http.StatusCreated)
			if got.AppID != c.want.AppID || got.Name != c.want.Name || got.Description != c.want.Description ||
				got.OwnerID != c.want.OwnerID || !got.IsActive || got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
				t.Fatalf("app = %+v, want %+v (active)", got, c.want)
			}
			var shape map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &shape); err != nil {
				t.Fatal(err)
			}
			keys := make([]string, 0, len(shape))
			for k := range shape {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if strings.Join(keys, ",") != "app_id,created_at,description,is_active,name,owner_id,updated_at" {
				t.Fatalf("response keys = %v", keys)
			}
			stored, err := e.st.GetApp(context.Background(), c.want.AppID)
			if err != nil || stored.OwnerID != c.want.OwnerID || !stored.IsActive {
				t.Fatalf("stored = %+v, %v", stored, err)
			}
			if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.AppChanged, ID: c.want.AppID}) {
				t.Fatalf("events = %v", ev)
			}
			rows := e.auditRows(store.AuditFilter{Action: "app.create", Target: c.want.AppID})
			if len(rows) != 1 || rows[0].TargetType != "app" || rows[0].Actor != adminOID || rows[0].Before != nil {
				t.Fatalf("audit rows = %+v", rows)
			}
			var after store.App
			if err := json.Unmarshal(rows[0].After, &after); err != nil || after.AppID != c.want.AppID || after.OwnerID != c.want.OwnerID {
				t.Fatalf("audit after = %s (%v)", rows[0].After, err)
			}
		})
	}
}

func TestCreateAppErrors(t *testing.T) {
	e := newEnv(t)
	e.createApp("taken")
	mustStatus(t, e.admin("POST", "/admin/api/users", `{"oid":"gone"}`), http.StatusCreated)
	mustStatus(t, e.admin("DELETE", "/admin/api/users/gone", ""), http.StatusNoContent)
	ok := "owner_id=" + userOID
	cases := []struct {
		name  string
		query string
		body  string
		want  wantErr
	}{
		{"missing owner_id", "", `{"app_id":"a","name":"A"}`, badRequest("owner_id")},
		{"empty owner_id", "owner_id=", `{"app_id":"a","name":"A"}`, badRequest("owner_id")},
		{"owner_id in the body", "", `{"app_id":"a","name":"A","owner_id":"user-1"}`, badRequest("owner_id")},
		{"unknown owner", "owner_id=ghost", `{"app_id":"a","name":"A"}`, notFound()},
		{"deleted owner", "owner_id=gone", `{"app_id":"a","name":"A"}`, notFound()},
		{"duplicate app_id", ok, `{"app_id":"taken","name":"Again"}`, conflict()},
		{"missing app_id", ok, `{"name":"A"}`, badRequest("app_id")},
		{"app_id too long", ok, `{"app_id":"` + strings.Repeat("a", 51) + `","name":"A"}`, badRequest("app_id")},
		{"app_id with space", ok, `{"app_id":"a b","name":"A"}`, badRequest("app_id")},
		{"app_id with slash", ok, `{"app_id":"a/b","name":"A"}`, badRequest("app_id")},
		{"app_id with @", ok, `{"app_id":"a@b","name":"A"}`, badRequest("app_id")},
		{"app_id non-ASCII", ok, `{"app_id":"アプリ","name":"A"}`, badRequest("app_id")},
		{"missing name", ok, `{"app_id":"a"}`, badRequest("name")},
		{"name too long", ok, `{"app_id":"a","name":"` + strings.Repeat("n", 101) + `"}`, badRequest("name")},
		{"control character in description", ok, `{"app_id":"a","name":"A","description":"x\u0007"}`, badRequest("description")},
		{"description too long", ok, `{"app_id":"a","name":"A","description":"` + strings.Repeat("d", 2001) + `"}`, badRequest("description")},
		{"unknown field", ok, `{"app_id":"a","name":"A","is_active":false}`, badRequest("is_active")},
		{"wrong type", ok, `{"app_id":5,"name":"A"}`, badRequest("app_id")},
		{"empty body", ok, ``, badRequest("")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.published()
			checkErr(t, e.admin("POST", "/admin/api/apps?"+c.query, c.body), c.want)
			if ev := e.published(); len(ev) != 0 {
				t.Fatalf("refused create published %v", ev)
			}
		})
	}
	apps, err := e.st.ListApps(context.Background(), store.Page{})
	if err != nil || len(apps) != 1 {
		t.Fatalf("refused creates left %d apps (%v), want 1", len(apps), err)
	}
	if rows := e.auditRows(store.AuditFilter{Action: "app.create"}); len(rows) != 1 {
		t.Fatalf("%d app.create audit rows, want 1", len(rows))
	}
}

func TestListApps(t *testing.T) {
	e := newEnv(t)
	empty := decode[listOf[store.App]](t, e.admin("GET", "/admin/api/apps", ""), http.StatusOK)
	if empty.Object != "list" || empty.Data == nil || len(empty.Data) != 0 || empty.HasMore {
		t.Fatalf("empty list = %+v", empty)
	}
	for _, id := range []string{"c-app", "a-app", "b-app"} {
		e.createApp(id)
	}
	mustStatus(t, e.admin("PATCH", "/admin/api/apps/b-app/toggle", ""), http.StatusOK)
	cases := []struct {
		query   string
		ids     string
		hasMore bool
	}{
		{"", "a-app,b-app,c-app", false},
		{"?limit=2", "a-app,b-app", true},
		{"?limit=2&offset=2", "c-app", false},
		{"?offset=3", "", false},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			l := decode[listOf[store.App]](t, e.admin("GET", "/admin/api/apps"+c.query, ""), http.StatusOK)
			ids := strings.Join(mapSlice(l.Data, func(a store.App) string { return a.AppID }), ",")
			if ids != c.ids || l.HasMore != c.hasMore {
				t.Fatalf("ids %q has_more %v, want %q %v", ids, l.HasMore, c.ids, c.hasMore)
			}
			for _, a := range l.Data {
				if a.OwnerID != userOID || a.IsActive != (a.AppID != "b-app") {
					t.Fatalf("listed app = %+v", a)
				}
			}
		})
	}
	checkErr(t, e.admin("GET", "/admin/api/apps?limit=0", ""), badRequest("limit"))
}

func TestToggleApp(t *testing.T) {
	e := newEnv(t)
	e.createApp("dify-prod")
	cases := []struct {
		name   string
		path   string
		body   string
		want   wantErr // zero: success
		active bool
	}{
		{"disable", "dify-prod", "", wantErr{}, false},
		{"enable", "dify-prod", "", wantErr{}, true},
		{"set false", "dify-prod", `{"is_active":false}`, wantErr{}, false},
		{"set false again (idempotent)", "dify-prod", `{"is_active":false}`, wantErr{}, false},
		{"set true", "dify-prod", `{"is_active":true}`, wantErr{}, true},
		{"white-space body toggles", "dify-prod", " \n", wantErr{}, false},
		{"empty object", "dify-prod", `{}`, badRequest("is_active"), false},
		{"unknown field", "dify-prod", `{"active":true}`, badRequest("active"), false},
		{"wrong type", "dify-prod", `{"is_active":"yes"}`, badRequest("is_active"), false},
		{"unknown app", "ghost", "", notFound(), false},
		{"unknown app with body", "ghost", `{"is_active":true}`, notFound(), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.published()
			before, _ := e.st.GetApp(context.Background(), "dify-prod")
			e.now = e.now.Add(time.Minute)
			rec := e.admin("PATCH", "/admin/api/apps/"+c.path+"/toggle", c.body)
			if c.want.status != 0 {
				checkErr(t, rec, c.want)
				if ev := e.published(); len(ev) != 0 {
					t.Fatalf("refused toggle published %v", ev)
				}
				return
			}
			got := decode[store.App](t, rec, http.StatusOK)
			if got.AppID != "dify-prod" || got.IsActive != c.active || got.Name != "App dify-prod" || got.OwnerID != userOID {
				t.Fatalf("app = %+v, want active %v", got, c.active)
			}
			if stored, err := e.st.GetApp(context.Background(), "dify-prod"); err != nil || stored.IsActive != c.active {
				t.Fatalf("stored = %+v, %v", stored, err)
			}
			if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.AppChanged, ID: "dify-prod"}) {
				t.Fatalf("events = %v", ev)
			}
			row := e.auditRows(store.AuditFilter{Action: "app.toggle", Target: "dify-prod"})[0]
			var b, a store.App
			if json.Unmarshal(row.Before, &b) != nil || json.Unmarshal(row.After, &a) != nil ||
				b.IsActive != before.IsActive || a.IsActive != c.active || row.TargetType != "app" || row.Actor != adminOID {
				t.Fatalf("audit row = %+v before %s after %s", row, row.Before, row.After)
			}
		})
	}
	if n := len(e.auditRows(store.AuditFilter{Action: "app.toggle"})); n != 6 {
		t.Fatalf("%d app.toggle audit rows, want 6", n)
	}
}

func TestDeleteApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createApp("old-app")
	e.createApp("kept")
	app := "old-app"
	if err := e.st.InsertUsage(ctx, []store.UsageRecord{{
		RequestID: "req-1", CreatedAt: e.now, UserOID: userOID, AppID: &app, Model: "gpt-x", Status: 200,
		PromptTokens: 10, DelegationMethod: "message",
	}}); err != nil {
		t.Fatal(err)
	}
	e.published()
	mustStatus(t, e.admin("DELETE", "/admin/api/apps/old-app", ""), http.StatusNoContent)
	if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.AppChanged, ID: "old-app"}) {
		t.Fatalf("events = %v", ev)
	}
	if _, err := e.st.GetApp(ctx, "old-app"); err == nil {
		t.Fatal("app still stored")
	}
	if _, err := e.st.GetApp(ctx, "kept"); err != nil {
		t.Fatalf("other app: %v", err)
	}
	rows, err := e.st.ListUsage(ctx, store.UsageFilter{AppID: "old-app", Page: store.Page{Limit: 10}})
	if err != nil || len(rows) != 1 || rows[0].AppID == nil || *rows[0].AppID != "old-app" {
		t.Fatalf("usage history after delete = %+v, %v", rows, err)
	}
	audit := e.auditRows(store.AuditFilter{Action: "app.delete"})
	var before store.App
	if len(audit) != 1 || audit[0].Target != "old-app" || audit[0].After != nil ||
		json.Unmarshal(audit[0].Before, &before) != nil || before.Name != "App old-app" {
		t.Fatalf("audit = %+v", audit)
	}
	cases := []struct {
		name string
		path string
	}{
		{"deleted twice", "/admin/api/apps/old-app"},
		{"never existed", "/admin/api/apps/ghost"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkErr(t, e.admin("DELETE", c.path, ""), notFound())
			if ev := e.published(); len(ev) != 0 {
				t.Fatalf("refused delete published %v", ev)
			}
		})
	}
	// The id is free again, and the old usage still points at it.
	e.createApp("old-app")
}

func TestAppsRoutesNeedAdmin(t *testing.T) {
	e := newEnv(t)
	e.createApp("mine")
	cases := []struct{ method, path, body string }{
		{"GET", "/admin/api/apps", ""},
		{"POST", "/admin/api/apps?owner_id=" + userOID, `{"app_id":"x","name":"X"}`},
		{"DELETE", "/admin/api/apps/mine", ""},
		{"PATCH", "/admin/api/apps/mine/toggle", ""},
	}
	for _, c := range cases {
		t.Run(c.method, func(t *testing.T) {
			checkErr(t, e.do(c.method, c.path, e.userKey, c.body),
				wantErr{http.StatusForbidden, "permission_error", "admin_required", ""})
			checkErr(t, e.do(c.method, c.path, "", c.body),
				wantErr{http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", ""})
		})
	}
	if a, err := e.st.GetApp(context.Background(), "mine"); err != nil || !a.IsActive {
		t.Fatalf("app changed by refused calls: %+v %v", a, err)
	}
	checkErr(t, e.admin("PUT", "/admin/api/apps/mine", ""),
		wantErr{http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", ""})
}
