package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

func TestKillSwitchLifecycle(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ body, scope, target string }{
		{`{"scope":"global","reason":"incident 12"}`, "global", ""},
		{`{"scope":"model","target":"gpt-4o","reason":"prompt leak"}`, "model", "gpt-4o"},
		{`{"scope":"endpoint","target":"3","reason":"bad deployment"}`, "endpoint", "3"},
		{`{"scope":"user","target":"user-1","reason":"abuse"}`, "user", "user-1"},
		{`{"scope":"app","target":"dify","reason":"runaway"}`, "app", "dify"},
		{`{"scope":"key","target":"7","reason":"leaked"}`, "key", "7"},
	}
	var ids []int64
	for _, c := range cases {
		k := decode[store.KillSwitch](t, e.admin("POST", "/admin/api/killswitch", c.body), http.StatusCreated)
		if k.ID <= 0 || string(k.Scope) != c.scope || k.Target != c.target || k.CreatedBy != adminOID || !k.Active() {
			t.Fatalf("created %+v", k)
		}
		ev := e.published()
		if len(ev) != 1 || ev[0] != (events.Event{Kind: events.KillSwitchChanged, ID: itoa64(k.ID)}) {
			t.Fatalf("events %+v", ev)
		}
		ids = append(ids, k.ID)
	}
	list := decode[listOf[store.KillSwitch]](t, e.admin("GET", "/admin/api/killswitch", ""), http.StatusOK)
	if len(list.Data) != len(cases) || list.Data[0].ID != ids[len(ids)-1] {
		t.Fatalf("list %+v", list)
	}
	mustStatus(t, e.admin("DELETE", "/admin/api/killswitch/"+itoa64(ids[0]), ""), http.StatusNoContent)
	if ev := e.published(); len(ev) != 1 || ev[0].Kind != events.KillSwitchChanged {
		t.Fatalf("lift events %+v", ev)
	}
	checkErr(t, e.admin("DELETE", "/admin/api/killswitch/"+itoa64(ids[0]), ""), notFound())
	list = decode[listOf[store.KillSwitch]](t, e.admin("GET", "/admin/api/killswitch", ""), http.StatusOK)
	if len(list.Data) != len(cases)-1 {
		t.Fatalf("active after lift: %d", len(list.Data))
	}
	all := decode[listOf[store.KillSwitch]](t, e.admin("GET", "/admin/api/killswitch?all=true&limit=2", ""), http.StatusOK)
	if len(all.Data) != 2 || !all.HasMore {
		t.Fatalf("paged history %+v", all)
	}
	all = decode[listOf[store.KillSwitch]](t, e.admin("GET", "/admin/api/killswitch?all=true", ""), http.StatusOK)
	last := all.Data[len(all.Data)-1]
	if last.ID != ids[0] || last.LiftedAt == nil || last.LiftedBy != adminOID {
		t.Fatalf("lifted switch in history: %+v", last)
	}
	rows := e.auditRows(store.AuditFilter{TargetType: "killswitch"})
	if len(rows) != len(cases)+1 || rows[0].Action != "killswitch.lift" || rows[0].Target != itoa64(ids[0]) ||
		rows[1].Action != "killswitch.create" || !strings.Contains(string(rows[1].After), "leaked") {
		t.Fatalf("audit %+v", rows)
	}
}

func TestKillSwitchErrors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, path, body string
		want                     wantErr
	}{
		{"unknown scope", "POST", "/admin/api/killswitch", `{"scope":"planet","target":"x","reason":"r"}`, badRequest("scope")},
		{"global with target", "POST", "/admin/api/killswitch", `{"scope":"global","target":"x","reason":"r"}`, badRequest("target")},
		{"model without target", "POST", "/admin/api/killswitch", `{"scope":"model","reason":"r"}`, badRequest("target")},
		{"endpoint not an id", "POST", "/admin/api/killswitch", `{"scope":"endpoint","target":"abc","reason":"r"}`, badRequest("target")},
		{"key id zero", "POST", "/admin/api/killswitch", `{"scope":"key","target":"0","reason":"r"}`, badRequest("target")},
		{"key id padded", "POST", "/admin/api/killswitch", `{"scope":"key","target":"07","reason":"r"}`, badRequest("target")},
		{"no reason", "POST", "/admin/api/killswitch", `{"scope":"user","target":"u"}`, badRequest("reason")},
		{"reason too long", "POST", "/admin/api/killswitch", `{"scope":"user","target":"u","reason":"` + strings.Repeat("x", 501) + `"}`, badRequest("reason")},
		{"control in target", "POST", "/admin/api/killswitch", `{"scope":"user","target":"a\u0001","reason":"r"}`, badRequest("target")},
		{"unknown field", "POST", "/admin/api/killswitch", `{"scope":"global","reason":"r","until":"x"}`, badRequest("until")},
		{"bad all", "GET", "/admin/api/killswitch?all=maybe", ``, badRequest("all")},
		{"unknown id", "DELETE", "/admin/api/killswitch/99", ``, notFound()},
		{"bad id", "DELETE", "/admin/api/killswitch/x", ``, badRequest("id")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, e.admin(tc.method, tc.path, tc.body), tc.want)
		})
	}
	checkErr(t, e.do("POST", "/admin/api/killswitch", e.userKey, `{"scope":"global","reason":"r"}`),
		wantErr{http.StatusForbidden, "permission_error", "admin_required", ""})
	if n := len(decode[listOf[store.KillSwitch]](t, e.admin("GET", "/admin/api/killswitch?all=true", ""), http.StatusOK).Data); n != 0 {
		t.Fatalf("refused requests created %d switches", n)
	}
}
