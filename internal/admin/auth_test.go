package admin

import (
	"net/http"
	"testing"
)

func TestAuthRequired(t *testing.T) {
	e := newEnv(t)
	unauthorized := wantErr{http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", ""}
	forbidden := wantErr{http.StatusForbidden, "permission_error", "admin_required", ""}
	routes := []struct{ method, path, body string }{
		{"GET", "/admin/api/users", ""},
		{"POST", "/admin/api/users", `{"oid":"x"}`},
		{"DELETE", "/admin/api/users/user-1", ""},
		{"DELETE", "/admin/api/keys/1", ""},
		{"POST", "/admin/api/models", `{}`},
		{"PATCH", "/admin/api/endpoints/1", `{}`},
		{"GET", "/admin/api/audit", ""},
		{"GET", "/admin/api/does-not-exist", ""},
	}
	cases := []struct {
		name   string
		header string
		want   wantErr
	}{
		{"no header", "", unauthorized},
		{"unknown key", "Bearer sk-gate-notarealkey", unauthorized},
		{"basic scheme", "Basic " + e.adminKey, unauthorized},
		{"non-admin key", "Bearer " + e.userKey, forbidden},
	}
	for _, rt := range routes {
		for _, c := range cases {
			t.Run(rt.method+" "+rt.path+"/"+c.name, func(t *testing.T) {
				req := newRequest(rt.method, rt.path, rt.body)
				if c.header != "" {
					req.Header.Set("Authorization", c.header)
				}
				rec := serve(e.mux, req)
				checkErr(t, rec, c.want)
			})
		}
	}
	// Nothing was changed by the refused requests.
	if rows := e.auditRows(auditAll()); len(rows) != 0 {
		t.Fatalf("refused requests wrote %d audit rows", len(rows))
	}
	rec := e.admin("GET", "/admin/api/users", "")
	got := decode[listOf[map[string]any]](t, rec, http.StatusOK)
	if len(got.Data) != 2 {
		t.Fatalf("admin sees %d users, want 2", len(got.Data))
	}
}

func TestRevokedAdminKeyIsRejected(t *testing.T) {
	e := newEnv(t)
	second := e.storeKey(adminOID)
	mustStatus(t, e.do("GET", "/admin/api/users", second, ""), http.StatusOK)
	keys := decode[listOf[keyView]](t, e.admin("GET", "/admin/api/users/admin-1/keys", ""), http.StatusOK)
	if len(keys.Data) != 2 {
		t.Fatalf("admin has %d keys, want 2", len(keys.Data))
	}
	newest := keys.Data[0] // newest first: the second key
	mustStatus(t, e.admin("DELETE", "/admin/api/keys/"+itoa64(newest.ID), ""), http.StatusNoContent)
	rec := e.do("GET", "/admin/api/users", second, "")
	checkErr(t, rec, wantErr{http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", ""})
}

func TestUnroutedPaths(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		method, path string
		status       int
		code         string
		allow        string
	}{
		{"GET", "/admin/api/nope", http.StatusNotFound, "unknown_url", ""},
		{"GET", "/admin/api/users/a/b/c", http.StatusNotFound, "unknown_url", ""},
		{"PUT", "/admin/api/users", http.StatusMethodNotAllowed, "method_not_allowed", "GET, POST"},
		{"POST", "/admin/api/keys/3", http.StatusMethodNotAllowed, "method_not_allowed", "DELETE"},
		{"DELETE", "/admin/api/audit", http.StatusMethodNotAllowed, "method_not_allowed", "GET"},
		{"POST", "/admin/api/endpoints/3", http.StatusMethodNotAllowed, "method_not_allowed", "GET, PATCH, DELETE"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			rec := e.admin(c.method, c.path, "")
			checkErr(t, rec, wantErr{c.status, "invalid_request_error", c.code, ""})
			if got := rec.Header().Get("Allow"); got != c.allow {
				t.Fatalf("Allow = %q, want %q", got, c.allow)
			}
		})
	}
}
