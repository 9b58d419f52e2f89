package admin

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

const (
	upstreamSecret1 = "sk-upstream-SECRET-one-1234567890"
	upstreamSecret2 = "sk-upstream-SECRET-two-0987654321"
)

// credential opens the stored credential of an endpoint.
func (e *env) credential(id int64) string {
	e.t.Helper()
	ep, err := e.st.GetEndpoint(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	pt, err := e.box.Open(ep.Credential)
	if err != nil {
		e.t.Fatal(err)
	}
	return pt
}

func TestCreateEndpoint(t *testing.T) {
	e := newEnv(t)
	mustStatus(t, e.admin("POST", "/admin/api/models", modelBodyGPTX), http.StatusCreated)
	cases := []struct {
		name, body string
		want       endpointView // ID, times ignored
		secret     string
	}{
		{"openai defaults", `{"provider":"openai","api_key":"` + upstreamSecret1 + `"}`,
			endpointView{Model: "gpt-x", Provider: "openai", BaseURL: "https://api.openai.com/v1", UpstreamModel: "gpt-x",
				HasAPIKey: true, Weight: 1, Priority: 1, Active: true}, upstreamSecret1},
		{"azure", `{"provider":"azure","base_url":"https://corp.openai.azure.com/","api_version":"2024-10-21",` +
			`"upstream_model":"gpt-x-deploy","api_key":"` + upstreamSecret2 + `","weight":3,"priority":2,"rpm_limit":60,"tpm_limit":100000,"is_active":false}`,
			endpointView{Model: "gpt-x", Provider: "azure", BaseURL: "https://corp.openai.azure.com", UpstreamModel: "gpt-x-deploy",
				APIVersion: "2024-10-21", HasAPIKey: true, Weight: 3, Priority: 2, RPMLimit: 60, TPMLimit: 100000}, upstreamSecret2},
		{"compatible without key", `{"provider":"openai_compatible","base_url":"http://vllm.internal:8000/v1","upstream_model":"llama","weight":0}`,
			endpointView{Model: "gpt-x", Provider: "openai_compatible", BaseURL: "http://vllm.internal:8000/v1", UpstreamModel: "llama",
				Weight: 0, Priority: 1, Active: true}, ""},
		{"fake without base_url", `{"provider":"fake"}`,
			endpointView{Model: "gpt-x", Provider: "fake", UpstreamModel: "gpt-x", Weight: 1, Priority: 1, Active: true}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.published()
			rec := e.admin("POST", "/admin/api/models/gpt-x/endpoints", c.body)
			got := decode[endpointView](t, rec, http.StatusCreated)
			if got.ID <= 0 || got.CreatedAt.IsZero() {
				t.Fatalf("endpoint = %+v", got)
			}
			want := c.want
			want.ID, want.CreatedAt, want.UpdatedAt = got.ID, got.CreatedAt, got.UpdatedAt
			if got != want {
				t.Fatalf("endpoint = %+v\nwant       %+v", got, want)
			}
			if strings.Contains(rec.Body.String(), "credential") || strings.Contains(rec.Body.String(), `"api_key"`) {
				t.Fatalf("response shows a credential field: %s", rec.Body.String())
			}
			if pt := e.credential(got.ID); pt != c.secret {
				t.Fatalf("stored credential opens to %q, want %q", pt, c.secret)
			}
			if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.ConfigChanged, ID: "gpt-x"}) {
				t.Fatalf("published %v", ev)
			}
		})
	}
	// Ciphertext at rest, never the plaintext.
	eps, err := e.st.ListEndpoints(context.Background(), "gpt-x")
	if err != nil || len(eps) != 4 {
		t.Fatalf("endpoints = %d, %v", len(eps), err)
	}
	for _, ep := range eps {
		if bytes.Contains(ep.Credential, []byte("SECRET")) {
			t.Fatalf("endpoint %d stores its credential in clear", ep.ID)
		}
	}
	m := decode[modelDetail](t, e.admin("GET", "/admin/api/models/gpt-x", ""), http.StatusOK)
	has := mapSlice(m.Endpoints, func(v endpointView) bool { return v.HasAPIKey })
	if len(has) != 4 || !has[0] || !has[1] || has[2] || has[3] {
		t.Fatalf("has_api_key = %v, want [true true false false]", has)
	}
	l := decode[listOf[endpointView]](t, e.admin("GET", "/admin/api/models/gpt-x/endpoints?limit=3", ""), http.StatusOK)
	if len(l.Data) != 3 || !l.HasMore || l.Data[0].ID != eps[0].ID {
		t.Fatalf("endpoint list = %+v", l)
	}
	checkErr(t, e.admin("GET", "/admin/api/models/nope/endpoints", ""), modelNotFound())
	all := e.everything()
	if strings.Contains(all, upstreamSecret1) || strings.Contains(all, upstreamSecret2) || strings.Contains(all, "SECRET") {
		t.Fatal("an upstream credential appears in a response or audit row")
	}
	if rows := e.auditRows(store.AuditFilter{Action: "endpoint.create"}); len(rows) != 4 {
		t.Fatalf("%d endpoint.create audit rows, want 4", len(rows))
	}
}

func TestCreateEndpointErrors(t *testing.T) {
	e := newEnv(t)
	mustStatus(t, e.admin("POST", "/admin/api/models", modelBodyGPTX), http.StatusCreated)
	cases := []struct {
		name, model, body string
		want              wantErr
	}{
		{"missing provider", "gpt-x", `{"base_url":"https://x.example/v1"}`, badRequest("provider")},
		{"unknown provider", "gpt-x", `{"provider":"bedrock"}`, badRequest("provider")},
		{"azure without api_version", "gpt-x", `{"provider":"azure","base_url":"https://a.example","upstream_model":"d"}`, badRequest("api_version")},
		{"azure without deployment", "gpt-x", `{"provider":"azure","base_url":"https://a.example","api_version":"2024-10-21"}`, badRequest("upstream_model")},
		{"azure without base_url", "gpt-x", `{"provider":"azure","api_version":"v","upstream_model":"d"}`, badRequest("base_url")},
		{"compatible without base_url", "gpt-x", `{"provider":"openai_compatible"}`, badRequest("base_url")},
		{"relative base_url", "gpt-x", `{"provider":"openai","base_url":"api.example.com/v1"}`, badRequest("base_url")},
		{"ftp base_url", "gpt-x", `{"provider":"openai","base_url":"ftp://files.example.com"}`, badRequest("base_url")},
		{"credentials in base_url", "gpt-x", `{"provider":"openai","base_url":"https://u:p@api.example.com"}`, badRequest("base_url")},
		{"query in base_url", "gpt-x", `{"provider":"openai","base_url":"https://api.example.com/v1?x=1"}`, badRequest("base_url")},
		{"negative weight", "gpt-x", `{"provider":"fake","weight":-1}`, badRequest("weight")},
		{"zero priority", "gpt-x", `{"provider":"fake","priority":0}`, badRequest("priority")},
		{"negative rpm", "gpt-x", `{"provider":"fake","rpm_limit":-1}`, badRequest("rpm_limit")},
		{"negative tpm", "gpt-x", `{"provider":"fake","tpm_limit":-5}`, badRequest("tpm_limit")},
		{"weight as string", "gpt-x", `{"provider":"fake","weight":"2"}`, badRequest("weight")},
		{"credential field", "gpt-x", `{"provider":"fake","credential":"x"}`, badRequest("credential")},
		{"unknown model", "nope", `{"provider":"fake"}`, modelNotFound()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkErr(t, e.admin("POST", "/admin/api/models/"+c.model+"/endpoints", c.body), c.want)
		})
	}
	if eps, err := e.st.ListEndpoints(context.Background(), ""); err != nil || len(eps) != 0 {
		t.Fatalf("refused creates left %d endpoints (%v)", len(eps), err)
	}
}

func TestPatchEndpoint(t *testing.T) {
	e := newEnv(t)
	mustStatus(t, e.admin("POST", "/admin/api/models", modelBodyGPTX), http.StatusCreated)
	ep := decode[endpointView](t, e.admin("POST", "/admin/api/models/gpt-x/endpoints",
		`{"provider":"openai","api_key":"`+upstreamSecret1+`"}`), http.StatusCreated)
	path := "/admin/api/endpoints/" + itoa64(ep.ID)
	cases := []struct {
		name, path, body string
		want             wantErr
		secret           string
		check            func(v endpointView) bool
	}{
		{"weight only keeps the key", path, `{"weight":5,"rpm_limit":10}`, wantErr{}, upstreamSecret1,
			func(v endpointView) bool { return v.Weight == 5 && v.RPMLimit == 10 && v.HasAPIKey }},
		{"new key replaces", path, `{"api_key":"` + upstreamSecret2 + `"}`, wantErr{}, upstreamSecret2,
			func(v endpointView) bool { return v.HasAPIKey && v.Weight == 5 }},
		{"empty key keeps", path, `{"api_key":"","priority":3}`, wantErr{}, upstreamSecret2,
			func(v endpointView) bool { return v.HasAPIKey && v.Priority == 3 }},
		{"switch to azure", path, `{"provider":"azure","base_url":"https://corp.openai.azure.com","api_version":"2024-10-21","upstream_model":"dep"}`,
			wantErr{}, upstreamSecret2,
			func(v endpointView) bool {
				return v.Provider == "azure" && v.BaseURL == "https://corp.openai.azure.com" && v.APIVersion == "2024-10-21" && v.UpstreamModel == "dep"
			}},
		{"deactivate", path, `{"is_active":false}`, wantErr{}, upstreamSecret2,
			func(v endpointView) bool { return !v.Active && v.Provider == "azure" }},
		{"azure loses api_version", path, `{"api_version":""}`, badRequest("api_version"), upstreamSecret2, nil},
		{"bad base_url", path, `{"base_url":"nope"}`, badRequest("base_url"), upstreamSecret2, nil},
		{"zero priority", path, `{"priority":0}`, badRequest("priority"), upstreamSecret2, nil},
		{"model not patchable", path, `{"model":"other"}`, badRequest("model"), upstreamSecret2, nil},
		{"empty", path, `{}`, badRequest(""), upstreamSecret2, nil},
		{"unknown endpoint", "/admin/api/endpoints/99999", `{"weight":1}`, notFound(), upstreamSecret2, nil},
		{"bad id", "/admin/api/endpoints/x", `{"weight":1}`, badRequest("id"), upstreamSecret2, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.published()
			rec := e.admin("PATCH", c.path, c.body)
			if c.want.status != 0 {
				checkErr(t, rec, c.want)
			} else {
				got := decode[endpointView](t, rec, http.StatusOK)
				if got.ID != ep.ID || !c.check(got) {
					t.Fatalf("endpoint = %+v", got)
				}
				if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.ConfigChanged, ID: "gpt-x"}) {
					t.Fatalf("published %v", ev)
				}
			}
			if pt := e.credential(ep.ID); pt != c.secret {
				t.Fatalf("credential = %q, want %q", pt, c.secret)
			}
		})
	}
	got := decode[endpointView](t, e.admin("GET", path, ""), http.StatusOK)
	if got.ID != ep.ID || got.Provider != "azure" || got.Weight != 5 || got.Priority != 3 || !got.HasAPIKey || got.Active {
		t.Fatalf("GET endpoint = %+v", got)
	}
	rows := e.auditRows(store.AuditFilter{Action: "endpoint.update", Target: itoa64(ep.ID)})
	if len(rows) != 5 {
		t.Fatalf("%d endpoint.update rows, want 5", len(rows))
	}
	if first := rows[4]; !strings.Contains(string(first.Before), `"weight":1,`) || !strings.Contains(string(first.After), `"weight":5,`) {
		t.Fatalf("first update audit before %s after %s", first.Before, first.After)
	}
	all := e.everything()
	if strings.Contains(all, upstreamSecret1) || strings.Contains(all, upstreamSecret2) {
		t.Fatal("an upstream credential appears in a response or audit row")
	}
}

func TestDeleteEndpoint(t *testing.T) {
	e := newEnv(t)
	mustStatus(t, e.admin("POST", "/admin/api/models", modelBodyGPTX), http.StatusCreated)
	ep := decode[endpointView](t, e.admin("POST", "/admin/api/models/gpt-x/endpoints",
		`{"provider":"openai","api_key":"`+upstreamSecret1+`"}`), http.StatusCreated)
	path := "/admin/api/endpoints/" + itoa64(ep.ID)
	e.published()
	mustStatus(t, e.admin("DELETE", path, ""), http.StatusNoContent)
	if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.ConfigChanged, ID: "gpt-x"}) {
		t.Fatalf("published %v", ev)
	}
	checkErr(t, e.admin("GET", path, ""), notFound())
	checkErr(t, e.admin("DELETE", path, ""), notFound())
	checkErr(t, e.admin("PATCH", path, `{"weight":2}`), notFound())
	rows := e.auditRows(store.AuditFilter{Action: "endpoint.delete"})
	if len(rows) != 1 || rows[0].After != nil || !strings.Contains(string(rows[0].Before), `"has_api_key":true`) {
		t.Fatalf("audit = %+v", rows)
	}
	if strings.Contains(e.everything(), upstreamSecret1) {
		t.Fatal("the upstream credential leaked")
	}
}
