package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

const modelBodyGPTX = `{"name":"gpt-x","context_window":128000,"max_output_tokens":16384,` +
	`"input_price_per_1m":2.5,"output_price_per_1m":10}`

func TestCreateKey(t *testing.T) {
	e := newEnv(t)
	mustStatus(t, e.admin("POST", "/admin/api/models", modelBodyGPTX), http.StatusCreated)
	expires := e.now.Add(24 * time.Hour)
	body := `{"name":"ci","expires_at":"` + expires.Format(time.RFC3339) + `","allowed_models":["gpt-x","gpt-x"]}`
	rec := e.admin("POST", "/admin/api/users/user-1/keys", body)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(mustStatus(t, rec, http.StatusCreated), &raw); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"id", "key", "prefix", "name", "user_oid", "expires_at", "allowed_models", "created_at"} {
		if _, ok := raw[f]; !ok {
			t.Fatalf("response lacks %q: %s", f, rec.Body.String())
		}
	}
	k := decode[keyCreated](t, rec, http.StatusCreated)
	if !strings.HasPrefix(k.Key, auth.KeyPrefix) || len(k.Key) != len(auth.KeyPrefix)+43 || k.Prefix != k.Key[:12] {
		t.Fatalf("key %q prefix %q", k.Key, k.Prefix)
	}
	if k.ID <= 0 || k.UserOID != userOID || k.Name != "ci" || !k.Active || k.ExpiresAt == nil || !k.ExpiresAt.Equal(expires) ||
		!slices.Equal(k.AllowedModels, []string{"gpt-x"}) || k.CreatedAt.IsZero() {
		t.Fatalf("created key = %+v", k)
	}
	hash := auth.HashKey(k.Key)
	if strings.Contains(rec.Body.String(), hash) {
		t.Fatal("create response contains the key hash")
	}
	// The plaintext works, with its restrictions.
	p, err := e.auth.Authenticate(context.Background(), k.Key)
	if err != nil || p.UserOID != userOID || p.KeyID != k.ID || !p.MayUse("gpt-x") || p.MayUse("other") {
		t.Fatalf("principal = %+v, %v", p, err)
	}
	// Listing never shows the plaintext or the hash.
	lrec := e.admin("GET", "/admin/api/users/user-1/keys", "")
	l := decode[listOf[keyView]](t, lrec, http.StatusOK)
	if len(l.Data) != 2 || l.Data[0].ID != k.ID || l.Data[1].ID == k.ID || l.HasMore {
		t.Fatalf("keys = %+v", l)
	}
	if l.Data[1].AllowedModels == nil || len(l.Data[1].AllowedModels) != 0 {
		t.Fatalf("unrestricted key allowed_models = %#v, want []", l.Data[1].AllowedModels)
	}
	if strings.Contains(lrec.Body.String(), k.Key) || strings.Contains(lrec.Body.String(), hash) {
		t.Fatal("key list contains the plaintext or hash")
	}
	page := decode[listOf[keyView]](t, e.admin("GET", "/admin/api/users/user-1/keys?limit=1", ""), http.StatusOK)
	if len(page.Data) != 1 || page.Data[0].ID != k.ID || !page.HasMore {
		t.Fatalf("first page = %+v", page)
	}
	// The plaintext appeared in exactly one response, once, and in no audit row.
	all := e.everything()
	if n := strings.Count(all, k.Key); n != 1 {
		t.Fatalf("plaintext appears %d times across responses and audit rows, want 1", n)
	}
	if strings.Contains(all, hash) {
		t.Fatal("key hash appears in a response or audit row")
	}
	rows := e.auditRows(store.AuditFilter{Action: "key.create"})
	if len(rows) != 1 || rows[0].Target != itoa64(k.ID) || rows[0].TargetType != "key" || rows[0].Actor != adminOID ||
		rows[0].Before != nil || !strings.Contains(string(rows[0].After), `"prefix":"`+k.Prefix+`"`) {
		t.Fatalf("audit rows = %+v", rows)
	}
}

func TestCreateKeyErrors(t *testing.T) {
	e := newEnv(t)
	mustStatus(t, e.admin("POST", "/admin/api/models", modelBodyGPTX), http.StatusCreated)
	past := e.now.Add(-time.Minute).Format(time.RFC3339)
	cases := []struct {
		name, oid, body string
		want            wantErr
	}{
		{"expiry in the past", userOID, `{"expires_at":"` + past + `"}`, badRequest("expires_at")},
		{"expiry now", userOID, `{"expires_at":"` + e.now.Format(time.RFC3339) + `"}`, badRequest("expires_at")},
		{"expiry not RFC 3339", userOID, `{"expires_at":"tomorrow"}`, badRequest("expires_at")},
		{"expiry wrong type", userOID, `{"expires_at":1700000000}`, badRequest("expires_at")},
		{"unknown model", userOID, `{"allowed_models":["gpt-x","nope"]}`, badRequest("allowed_models")},
		{"empty model name", userOID, `{"allowed_models":[""]}`, badRequest("allowed_models")},
		{"models not an array", userOID, `{"allowed_models":"gpt-x"}`, badRequest("allowed_models")},
		{"name too long", userOID, `{"name":"` + strings.Repeat("n", 101) + `"}`, badRequest("name")},
		{"plaintext not settable", userOID, `{"key":"sk-gate-mine"}`, badRequest("key")},
		{"unknown user", "ghost", `{"name":"k"}`, notFound()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkErr(t, e.admin("POST", "/admin/api/users/"+c.oid+"/keys", c.body), c.want)
		})
	}
	keys, err := e.st.ListKeys(context.Background(), userOID, store.Page{})
	if err != nil || len(keys) != 1 {
		t.Fatalf("refused creates left %d keys (%v), want 1", len(keys), err)
	}
	checkErr(t, e.admin("GET", "/admin/api/users/ghost/keys", ""), notFound())
}

func TestRevokeKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k := decode[keyCreated](t, e.admin("POST", "/admin/api/users/user-1/keys", `{"name":"temp"}`), http.StatusCreated)
	if _, err := e.auth.Authenticate(ctx, k.Key); err != nil { // now cached
		t.Fatal(err)
	}
	e.published()
	mustStatus(t, e.admin("DELETE", "/admin/api/keys/"+itoa64(k.ID), ""), http.StatusNoContent)
	hash := auth.HashKey(k.Key)
	if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.KeyChanged, ID: hash}) {
		t.Fatalf("published %v, want KeyChanged for the key hash", ev)
	}
	_, err := e.auth.Authenticate(ctx, k.Key)
	if err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked key: err = %v", err)
	}
	stored, err := e.st.GetKey(ctx, k.ID)
	if err != nil || stored.Active {
		t.Fatalf("stored key = %+v, %v", stored, err)
	}
	rows := e.auditRows(store.AuditFilter{Action: "key.revoke", Target: itoa64(k.ID)})
	if len(rows) != 1 || !strings.Contains(string(rows[0].Before), `"is_active":true`) ||
		!strings.Contains(string(rows[0].After), `"is_active":false`) {
		t.Fatalf("audit rows = %+v", rows)
	}
	if strings.Contains(e.everything(), hash) {
		t.Fatal("the key hash leaked into a response or audit row")
	}
	cases := []struct {
		id   string
		want wantErr
	}{
		{"999999", notFound()},
		{"abc", badRequest("id")},
		{"0", badRequest("id")},
		{"-3", badRequest("id")},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) { checkErr(t, e.admin("DELETE", "/admin/api/keys/"+c.id, ""), c.want) })
	}
}
