package admin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	mustStatus(t, e.admin("POST", "/admin/api/users", `{"oid":"alice","email":"alice@example.com"}`), http.StatusCreated)
	mustStatus(t, e.admin("PATCH", "/admin/api/users/alice", `{"role":"admin"}`), http.StatusOK)
	e.now = e.now.Add(time.Hour)
	mustStatus(t, e.admin("DELETE", "/admin/api/users/alice", ""), http.StatusNoContent)
	t0, t1 := e.now.Add(-time.Hour), e.now

	rows := decode[listOf[store.AuditEntry]](t, e.admin("GET", "/admin/api/audit?target=alice", ""), http.StatusOK)
	actions := mapSlice(rows.Data, func(a store.AuditEntry) string { return a.Action })
	if strings.Join(actions, ",") != "user.delete,user.update,user.create" || rows.HasMore {
		t.Fatalf("actions = %v has_more %v", actions, rows.HasMore)
	}
	del, upd, crt := rows.Data[0], rows.Data[1], rows.Data[2]
	for _, r := range rows.Data {
		if r.Actor != adminOID || r.TargetType != "user" || r.Target != "alice" || r.ClientAddr != clientAddr || r.ID <= 0 {
			t.Fatalf("row = %+v", r)
		}
	}
	if !crt.Time.Equal(t0) || !upd.Time.Equal(t0) || !del.Time.Equal(t1) {
		t.Fatalf("times = %v %v %v, want %v %v %v", crt.Time, upd.Time, del.Time, t0, t0, t1)
	}
	snap := func(raw json.RawMessage) store.User {
		t.Helper()
		var u store.User
		if err := json.Unmarshal(raw, &u); err != nil {
			t.Fatalf("snapshot %s: %v", raw, err)
		}
		return u
	}
	if crt.Before != nil || snap(crt.After).Email != "alice@example.com" {
		t.Fatalf("create row before %s after %s", crt.Before, crt.After)
	}
	if snap(upd.Before).Role != store.RoleUser || snap(upd.After).Role != store.RoleAdmin {
		t.Fatalf("update row before %s after %s", upd.Before, upd.After)
	}
	if snap(del.Before).Role != store.RoleAdmin || del.After != nil {
		t.Fatalf("delete row before %s after %s", del.Before, del.After)
	}

	q := func(v url.Values) string { return "/admin/api/audit?" + v.Encode() }
	cases := []struct {
		name    string
		query   string
		actions string
		hasMore bool
	}{
		{"by action", q(url.Values{"action": {"user.update"}}), "user.update", false},
		{"by actor", q(url.Values{"actor": {adminOID}, "target_type": {"user"}}), "user.delete,user.update,user.create", false},
		{"unknown actor", q(url.Values{"actor": {"nobody"}}), "", false},
		{"other target type", q(url.Values{"target_type": {"model"}}), "", false},
		{"since inclusive", q(url.Values{"since": {t1.Format(time.RFC3339)}}), "user.delete", false},
		{"until exclusive", q(url.Values{"until": {t1.Format(time.RFC3339)}}), "user.update,user.create", false},
		{"window", q(url.Values{"since": {t0.Format(time.RFC3339)}, "until": {t0.Add(time.Second).Format(time.RFC3339)}}),
			"user.update,user.create", false},
		{"first page", q(url.Values{"limit": {"2"}}), "user.delete,user.update", true},
		{"last page", q(url.Values{"limit": {"2"}, "offset": {"2"}}), "user.create", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := decode[listOf[store.AuditEntry]](t, e.admin("GET", c.query, ""), http.StatusOK)
			got := strings.Join(mapSlice(l.Data, func(a store.AuditEntry) string { return a.Action }), ",")
			if got != c.actions || l.HasMore != c.hasMore {
				t.Fatalf("actions %q has_more %v, want %q %v", got, l.HasMore, c.actions, c.hasMore)
			}
		})
	}
	bad := []struct{ query, param string }{
		{"?since=yesterday", "since"},
		{"?until=2025-13-01T00:00:00Z", "until"},
		{"?since=2025-02-01T00:00:00Z&until=2025-01-01T00:00:00Z", "until"},
		{"?limit=5000", "limit"},
	}
	for _, c := range bad {
		t.Run(c.query, func(t *testing.T) { checkErr(t, e.admin("GET", "/admin/api/audit"+c.query, ""), badRequest(c.param)) })
	}
}

func TestEveryChangeIsAudited(t *testing.T) {
	e := newEnv(t)
	k := decode[keyCreated](t, e.admin("POST", "/admin/api/users/user-1/keys", `{"name":"k"}`), http.StatusCreated)
	ep := func() endpointView {
		mustStatus(t, e.admin("POST", "/admin/api/models", modelBodyGPTX), http.StatusCreated)
		return decode[endpointView](t, e.admin("POST", "/admin/api/models/gpt-x/endpoints",
			`{"provider":"openai","api_key":"`+upstreamSecret1+`"}`), http.StatusCreated)
	}()
	steps := []struct{ method, path, body string }{
		{"POST", "/admin/api/users", `{"oid":"bob"}`},
		{"PATCH", "/admin/api/users/bob", `{"display_name":"Bob"}`},
		{"DELETE", "/admin/api/keys/" + itoa64(k.ID), ""},
		{"PATCH", "/admin/api/models/gpt-x", `{"routing":"weighted"}`},
		{"PATCH", "/admin/api/endpoints/" + itoa64(ep.ID), `{"api_key":"` + upstreamSecret2 + `"}`},
		{"DELETE", "/admin/api/endpoints/" + itoa64(ep.ID), ""},
		{"DELETE", "/admin/api/models/gpt-x", ""},
		{"DELETE", "/admin/api/users/bob", ""},
	}
	for _, s := range steps {
		rec := e.admin(s.method, s.path, s.body)
		if rec.Code >= 300 {
			t.Fatalf("%s %s: %d %s", s.method, s.path, rec.Code, rec.Body.String())
		}
	}
	got := mapSlice(e.auditRows(auditAll()), func(a store.AuditEntry) string { return a.Action + " " + a.TargetType + ":" + a.Target })
	want := []string{
		"user.delete user:bob", "model.delete model:gpt-x", "endpoint.delete endpoint:" + itoa64(ep.ID),
		"endpoint.update endpoint:" + itoa64(ep.ID), "model.update model:gpt-x", "key.revoke key:" + itoa64(k.ID),
		"user.update user:bob", "user.create user:bob", "endpoint.create endpoint:" + itoa64(ep.ID),
		"model.create model:gpt-x", "key.create key:" + itoa64(k.ID),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	all := e.everything()
	for _, secret := range []string{upstreamSecret1, upstreamSecret2, "SECRET"} {
		if strings.Contains(all, secret) {
			t.Fatalf("%q appears in a response or audit row", secret)
		}
	}
	if n := strings.Count(all, k.Key); n != 1 {
		t.Fatalf("key plaintext appears %d times, want 1", n)
	}
}
