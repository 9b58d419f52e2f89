package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

func TestCreateModel(t *testing.T) {
	e := newEnv(t)
	body := `{"name":"gpt-4o-mini","context_window":128000,"max_output_tokens":16384,` +
		`"input_price_per_1m":0.000150,"output_price_per_1m":2.5,"routing":"least_inflight"}`
	rec := e.admin("POST", "/admin/api/models", body)
	raw := string(mustStatus(t, rec, http.StatusCreated))
	for _, want := range []string{`"input_price_per_1m":0.00015,`, `"output_price_per_1m":2.5,`,
		`"cached_input_price_per_1m":0.00015,`, `"endpoints":[]`, `"routing":"least_inflight"`, `"is_active":true`} {
		if !strings.Contains(raw, want) {
			t.Fatalf("response lacks %s: %s", want, raw)
		}
	}
	m, err := e.st.GetModel(context.Background(), "gpt-4o-mini")
	if err != nil {
		t.Fatal(err)
	}
	if m.InputPrice != 150 || m.OutputPrice != 2_500_000 || m.CachedInputPrice != 150 ||
		m.ContextWindow != 128000 || m.MaxOutputTokens != 16384 || m.Routing != "least_inflight" || !m.Active {
		t.Fatalf("stored model = %+v", m)
	}
	if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.ConfigChanged, ID: "gpt-4o-mini"}) {
		t.Fatalf("published %v", ev)
	}
	rows := e.auditRows(store.AuditFilter{Action: "model.create"})
	if len(rows) != 1 || rows[0].Target != "gpt-4o-mini" || !strings.Contains(string(rows[0].After), `"input_price_per_1m":0.00015`) {
		t.Fatalf("audit = %+v", rows)
	}
}

func TestModelPriceRoundTrip(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		in       string
		micros   money.Micros
		rendered string
	}{
		{"2.5", 2_500_000, "2.5"},
		{"0.000150", 150, "0.00015"},
		{"0.000001", 1, "0.000001"},
		{"1e-6", 1, "0.000001"},
		{"0", 0, "0"},
		{"10", 10_000_000, "10"},
		{"123456.789012", 123_456_789_012, "123456.789012"},
		{`"3.75"`, 3_750_000, "3.75"},
	}
	for i, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			name := "m" + itoa64(int64(i))
			body := `{"name":"` + name + `","context_window":1000,"max_output_tokens":100,` +
				`"input_price_per_1m":` + c.in + `,"output_price_per_1m":` + c.in + `,"cached_input_price_per_1m":` + c.in + `}`
			mustStatus(t, e.admin("POST", "/admin/api/models", body), http.StatusCreated)
			m, err := e.st.GetModel(context.Background(), name)
			if err != nil || m.InputPrice != c.micros || m.OutputPrice != c.micros || m.CachedInputPrice != c.micros {
				t.Fatalf("stored = %+v, %v; want %d micros", m, err, c.micros)
			}
			got := decode[modelDetail](t, e.admin("GET", "/admin/api/models/"+name, ""), http.StatusOK)
			if string(got.InputPrice) != c.rendered || string(got.OutputPrice) != c.rendered || string(got.CachedInputPrice) != c.rendered {
				t.Fatalf("rendered %s/%s/%s, want %s", got.InputPrice, got.OutputPrice, got.CachedInputPrice, c.rendered)
			}
		})
	}
}

func TestCreateModelErrors(t *testing.T) {
	e := newEnv(t)
	mustStatus(t, e.admin("POST", "/admin/api/models", modelBodyGPTX), http.StatusCreated)
	// body builds a create body with one field replaced or removed (value "").
	body := func(field, value string) string {
		f := map[string]string{"name": `"m1"`, "context_window": "1000", "max_output_tokens": "100",
			"input_price_per_1m": "1", "output_price_per_1m": "2"}
		order := []string{"name", "context_window", "max_output_tokens", "input_price_per_1m", "output_price_per_1m"}
		if _, ok := f[field]; !ok {
			order = append(order, field)
		}
		f[field] = value
		var parts []string
		for _, k := range order {
			if f[k] != "" {
				parts = append(parts, `"`+k+`":`+f[k])
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	cases := []struct {
		name, field, value string
		want               wantErr
	}{
		{"missing name", "name", "", badRequest("name")},
		{"empty name", "name", `""`, badRequest("name")},
		{"name with space", "name", `"gpt 4"`, badRequest("name")},
		{"name with slash", "name", `"openai/gpt-4"`, badRequest("name")},
		{"name with tab", "name", `"gpt\t4"`, badRequest("name")},
		{"name too long", "name", `"` + strings.Repeat("m", 101) + `"`, badRequest("name")},
		{"missing context window", "context_window", "", badRequest("context_window")},
		{"zero context window", "context_window", "0", badRequest("context_window")},
		{"fractional context window", "context_window", "1000.5", badRequest("context_window")},
		{"missing max output", "max_output_tokens", "", badRequest("max_output_tokens")},
		{"zero max output", "max_output_tokens", "0", badRequest("max_output_tokens")},
		{"max output above context", "max_output_tokens", "1001", badRequest("max_output_tokens")},
		{"missing input price", "input_price_per_1m", "", badRequest("input_price_per_1m")},
		{"negative input price", "input_price_per_1m", "-1", badRequest("input_price_per_1m")},
		{"seven decimals", "output_price_per_1m", "0.0000001", badRequest("output_price_per_1m")},
		{"price as bool", "output_price_per_1m", "true", badRequest("output_price_per_1m")},
		{"price as text", "output_price_per_1m", `"cheap"`, badRequest("output_price_per_1m")},
		{"negative cached price", "cached_input_price_per_1m", "-0.5", badRequest("cached_input_price_per_1m")},
		{"routing too long", "routing", `"` + strings.Repeat("r", 65) + `"`, badRequest("routing")},
		{"unknown field", "price", "1", badRequest("price")},
		{"existing name", "name", `"gpt-x"`, conflict()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkErr(t, e.admin("POST", "/admin/api/models", body(c.field, c.value)), c.want)
		})
	}
	if models, err := e.st.ListModels(context.Background()); err != nil || len(models) != 1 {
		t.Fatalf("refused creates left %d models (%v), want 1", len(models), err)
	}
}

func TestPatchModel(t *testing.T) {
	e := newEnv(t)
	mustStatus(t, e.admin("POST", "/admin/api/models", modelBodyGPTX), http.StatusCreated)
	cases := []struct {
		name, path, body string
		want             wantErr
		check            func(m store.Model) bool
	}{
		{"output price", "gpt-x", `{"output_price_per_1m":0.6}`, wantErr{},
			func(m store.Model) bool {
				return m.OutputPrice == 600_000 && m.InputPrice == 2_500_000 && m.CachedInputPrice == 2_500_000
			}},
		{"limits and routing", "gpt-x", `{"name":"gpt-x","context_window":200000,"max_output_tokens":100000,"routing":"weighted"}`, wantErr{},
			func(m store.Model) bool {
				return m.ContextWindow == 200000 && m.MaxOutputTokens == 100000 && m.Routing == "weighted"
			}},
		{"deactivate", "gpt-x", `{"is_active":false}`, wantErr{},
			func(m store.Model) bool { return !m.Active && m.OutputPrice == 600_000 }},
		{"rename", "gpt-x", `{"name":"gpt-y"}`, badRequest("name"), nil},
		{"empty", "gpt-x", `{}`, badRequest(""), nil},
		{"only name", "gpt-x", `{"name":"gpt-x"}`, badRequest(""), nil},
		{"max output above context", "gpt-x", `{"max_output_tokens":200001}`, badRequest("max_output_tokens"), nil},
		{"context below max output", "gpt-x", `{"context_window":99999}`, badRequest("max_output_tokens"), nil},
		{"bad price", "gpt-x", `{"input_price_per_1m":-2}`, badRequest("input_price_per_1m"), nil},
		{"unknown model", "nope", `{"is_active":true}`, modelNotFound(), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.published()
			rec := e.admin("PATCH", "/admin/api/models/"+c.path, c.body)
			if c.want.status != 0 {
				checkErr(t, rec, c.want)
				return
			}
			mustStatus(t, rec, http.StatusOK)
			m, err := e.st.GetModel(context.Background(), "gpt-x")
			if err != nil || !c.check(m) {
				t.Fatalf("stored model = %+v, %v", m, err)
			}
			if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.ConfigChanged, ID: "gpt-x"}) {
				t.Fatalf("published %v", ev)
			}
		})
	}
	rows := e.auditRows(store.AuditFilter{Action: "model.update"})
	if len(rows) != 3 {
		t.Fatalf("%d model.update rows, want 3", len(rows))
	}
	first := rows[2] // newest first
	if !strings.Contains(string(first.Before), `"output_price_per_1m":10,`) || !strings.Contains(string(first.After), `"output_price_per_1m":0.6,`) {
		t.Fatalf("first update audit before %s after %s", first.Before, first.After)
	}
}

func TestGetListDeleteModel(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a-model", "b-model", "c-model"} {
		mustStatus(t, e.admin("POST", "/admin/api/models", strings.Replace(modelBodyGPTX, "gpt-x", n, 1)), http.StatusCreated)
	}
	ep := decode[endpointView](t, e.admin("POST", "/admin/api/models/b-model/endpoints",
		`{"provider":"openai","api_key":"sk-upstream-b"}`), http.StatusCreated)
	l := decode[listOf[modelDetail]](t, e.admin("GET", "/admin/api/models?limit=2", ""), http.StatusOK)
	if len(l.Data) != 2 || l.Data[0].Name != "a-model" || l.Data[1].Name != "b-model" || !l.HasMore ||
		len(l.Data[0].Endpoints) != 0 || len(l.Data[1].Endpoints) != 1 || !l.Data[1].Endpoints[0].HasAPIKey {
		t.Fatalf("first page = %+v", l)
	}
	l = decode[listOf[modelDetail]](t, e.admin("GET", "/admin/api/models?limit=2&offset=2", ""), http.StatusOK)
	if len(l.Data) != 1 || l.Data[0].Name != "c-model" || l.HasMore {
		t.Fatalf("second page = %+v", l)
	}
	m := decode[modelDetail](t, e.admin("GET", "/admin/api/models/b-model", ""), http.StatusOK)
	if m.Name != "b-model" || len(m.Endpoints) != 1 || m.Endpoints[0].ID != ep.ID || m.Endpoints[0].Provider != "openai" {
		t.Fatalf("model = %+v", m)
	}
	checkErr(t, e.admin("GET", "/admin/api/models/nope", ""), modelNotFound())

	e.published()
	mustStatus(t, e.admin("DELETE", "/admin/api/models/b-model", ""), http.StatusNoContent)
	if ev := e.published(); len(ev) != 1 || ev[0] != (events.Event{Kind: events.ConfigChanged, ID: "b-model"}) {
		t.Fatalf("published %v", ev)
	}
	checkErr(t, e.admin("GET", "/admin/api/models/b-model", ""), modelNotFound())
	checkErr(t, e.admin("GET", "/admin/api/endpoints/"+itoa64(ep.ID), ""), notFound())
	checkErr(t, e.admin("DELETE", "/admin/api/models/b-model", ""), modelNotFound())
	rows := e.auditRows(store.AuditFilter{Action: "model.delete"})
	if len(rows) != 1 || rows[0].After != nil || !strings.Contains(string(rows[0].Before), `"has_api_key":true`) {
		t.Fatalf("audit = %+v", rows)
	}
	if strings.Contains(e.everything(), "sk-upstream-b") {
		t.Fatal("upstream credential leaked")
	}
}

func TestCreateModelRejectsUnknownRouting(t *testing.T) {
	env := newEnv(t)
	rec := env.admin("POST", "/admin/api/models", `{"name":"m-routing","context_window":1000,"max_output_tokens":100,`+
		`"input_price_per_1m":1,"output_price_per_1m":1,"routing":"priority"}`)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"param":"routing"`) {
		t.Fatalf("status = %d, body %s", rec.Code, rec.Body)
	}
}
