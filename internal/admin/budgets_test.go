package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/budget"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// withBudgets rebuilds e's API with an in-process budget service whose users
// get a default budget of defaultUSD; it returns the service.
func withBudgets(t *testing.T, e *env, defaultNanos money.Nanos) *budget.Local {
	t.Helper()
	bus := events.NewLocal()
	bus.Subscribe(func(ev events.Event) {
		e.mu.Lock()
		e.events = append(e.events, ev)
		e.mu.Unlock()
	})
	lim, err := budget.NewLimits(context.Background(), e.st, bus, defaultNanos, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := budget.NewLocal(lim, e.st, budget.Options{Now: func() time.Time { return e.now }}, nil)
	e.mux = http.NewServeMux()
	New(Deps{Store: e.st, Auth: e.auth, Box: e.box, Bus: bus, Budgets: svc,
		Now: func() time.Time { return e.now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(e.mux)
	return svc
}

// view is a decoded budget response.
type view struct {
	Scope        string       `json:"scope"`
	Target       string       `json:"target"`
	MonthlyUSD   *json.Number `json:"monthly_usd"`
	Source       string       `json:"source"`
	Month        string       `json:"month"`
	SpentUSD     json.Number  `json:"spent_usd"`
	ReservedUSD  json.Number  `json:"reserved_usd"`
	RemainingUSD *json.Number `json:"remaining_usd"`
	Exhausted    bool         `json:"exhausted"`
}

func numStr(n *json.Number) string {
	if n == nil {
		return "null"
	}
	return n.String()
}

func TestUserBudget(t *testing.T) {
	e := newEnv(t)
	svc := withBudgets(t, e, 5*1_000_000_000)
	ctx := context.Background()
	month := e.now.UTC().Format("2006-01")
	if err := e.st.InsertUsage(ctx, []store.UsageRecord{{RequestID: "u1", CreatedAt: e.now, UserOID: userOID,
		Model: "m", Status: 200, Cost: 1_250_000_000, Attempts: 1}}); err != nil {
		t.Fatal(err)
	}

	v := decode[view](t, e.admin("GET", "/admin/api/users/user-1/budget", ""), http.StatusOK)
	if numStr(v.MonthlyUSD) != "5" || v.Source != "default" || v.SpentUSD != "1.25" || v.Month != month || numStr(v.RemainingUSD) != "3.75" {
		t.Fatalf("default budget view %+v", v)
	}
	v = decode[view](t, e.admin("PUT", "/admin/api/users/user-1/budget", `{"monthly_usd": 12.5}`), http.StatusOK)
	if numStr(v.MonthlyUSD) != "12.5" || v.Source != "explicit" || v.Scope != "user" || v.Target != userOID {
		t.Fatalf("after PUT %+v", v)
	}
	if got := e.published(); len(got) == 0 || got[len(got)-1] != (events.Event{Kind: events.BudgetChanged, ID: "user:user-1"}) {
		t.Fatalf("events %+v", got)
	}
	// The hot path sees the new limit (the event reloads it) and a hold shows as reserved.
	deadline := time.Now().Add(time.Second)
	var res budget.Reservation
	for {
		var err error
		res, err = svc.Reserve(ctx, budget.Subject{UserOID: userOID}, "r1", 10*1_000_000_000)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new limit did not reach the reserver: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	v = decode[view](t, e.admin("GET", "/admin/api/users/user-1/budget", ""), http.StatusOK)
	if v.ReservedUSD != "10" || v.SpentUSD != "1.25" || numStr(v.RemainingUSD) != "1.25" || v.Exhausted {
		t.Fatalf("with a hold %+v", v)
	}
	_ = res.Settle(ctx, 12*1_000_000_000)
	v = decode[view](t, e.admin("GET", "/admin/api/users/user-1/budget", ""), http.StatusOK)
	if v.SpentUSD != "13.25" || v.ReservedUSD != "0" || numStr(v.RemainingUSD) != "0" || !v.Exhausted {
		t.Fatalf("overspent %+v", v)
	}

	v = decode[view](t, e.admin("PUT", "/admin/api/users/user-1/budget", `{"monthly_usd": null}`), http.StatusOK)
	if numStr(v.MonthlyUSD) != "5" || v.Source != "default" {
		t.Fatalf("after removal %+v", v)
	}
	rows := e.auditRows(store.AuditFilter{TargetType: "budget"})
	if len(rows) != 2 || rows[0].Action != "budget.remove" || rows[1].Action != "budget.set" ||
		rows[1].Target != "user:user-1" || rows[1].Actor != adminOID || string(rows[1].After) != `{"monthly_usd":12.5}` ||
		string(rows[0].Before) != `{"monthly_usd":12.5}` {
		t.Fatalf("audit rows %+v", rows)
	}
}

func TestAppAndKeyBudgets(t *testing.T) {
	e := newEnv(t) // no budget service: spend comes from the database
	ctx := context.Background()
	if _, err := e.st.CreateApp(ctx, store.App{AppID: "dify", Name: "Dify", OwnerID: userOID, IsActive: true}); err != nil {
		t.Fatal(err)
	}
	keys, err := e.st.ListKeys(ctx, userOID, store.Page{})
	if err != nil || len(keys) == 0 {
		t.Fatal(keys, err)
	}
	keyPath := "/admin/api/keys/" + itoa64(keys[0].ID) + "/budget"
	app := "dify"
	if err := e.st.InsertUsage(ctx, []store.UsageRecord{{RequestID: "a1", CreatedAt: e.now, UserOID: userOID,
		KeyID: &keys[0].ID, AppID: &app, Model: "m", Status: 200, Cost: 300_000_000, Attempts: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/admin/api/apps/dify/budget", keyPath} {
		v := decode[view](t, e.admin("GET", path, ""), http.StatusOK)
		if v.MonthlyUSD != nil || v.Source != "none" || v.SpentUSD != "0.3" || v.RemainingUSD != nil {
			t.Fatalf("%s without budget: %+v", path, v)
		}
		v = decode[view](t, e.admin("PUT", path, `{"monthly_usd": "0.000000001"}`), http.StatusOK)
		if numStr(v.MonthlyUSD) != "0.000000001" || !v.Exhausted {
			t.Fatalf("%s: %+v", path, v)
		}
	}
	b, err := e.st.GetBudget(ctx, store.BudgetKey, itoa64(keys[0].ID))
	if err != nil || b.Monthly != 1 {
		t.Fatalf("stored key budget %+v %v", b, err)
	}
}

func TestBudgetErrors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, path, body string
		want                     wantErr
	}{
		{"negative", "PUT", "/admin/api/users/user-1/budget", `{"monthly_usd": -1}`, badRequest("monthly_usd")},
		{"ten decimals", "PUT", "/admin/api/users/user-1/budget", `{"monthly_usd": 0.0000000001}`, badRequest("monthly_usd")},
		{"too large", "PUT", "/admin/api/users/user-1/budget", `{"monthly_usd": 9007199.254740992}`, badRequest("monthly_usd")},
		{"not a number", "PUT", "/admin/api/users/user-1/budget", `{"monthly_usd": "lots"}`, badRequest("monthly_usd")},
		{"boolean", "PUT", "/admin/api/users/user-1/budget", `{"monthly_usd": true}`, badRequest("monthly_usd")},
		{"missing", "PUT", "/admin/api/users/user-1/budget", `{}`, badRequest("monthly_usd")},
		{"unknown field", "PUT", "/admin/api/users/user-1/budget", `{"monthly_usd": 1, "daily_usd": 1}`, badRequest("daily_usd")},
		{"unknown user", "PUT", "/admin/api/users/nobody/budget", `{"monthly_usd": 1}`, notFound()},
		{"unknown user GET", "GET", "/admin/api/users/nobody/budget", ``, notFound()},
		{"unknown app", "GET", "/admin/api/apps/nope/budget", ``, notFound()},
		{"unknown key", "PUT", "/admin/api/keys/999/budget", `{"monthly_usd": 1}`, notFound()},
		{"bad key id", "GET", "/admin/api/keys/x/budget", ``, badRequest("id")},
		{"wrong method", "POST", "/admin/api/users/user-1/budget", `{}`,
			wantErr{http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, e.admin(tc.method, tc.path, tc.body), tc.want)
		})
	}
	rec := e.do("PUT", "/admin/api/users/user-1/budget", e.userKey, `{"monthly_usd": 1}`)
	checkErr(t, rec, wantErr{http.StatusForbidden, "permission_error", "admin_required", ""})
	if _, err := e.st.GetBudget(context.Background(), store.BudgetUser, userOID); err == nil {
		t.Fatal("a refused PUT stored a budget")
	}
	if rows := e.auditRows(store.AuditFilter{TargetType: "budget"}); len(rows) != 0 {
		t.Fatalf("refused changes were audited: %+v", rows)
	}
	if !strings.Contains(e.admin("PUT", "/admin/api/users/user-1/budget", `{"monthly_usd": 0}`).Body.String(), `"monthly_usd":0`) {
		t.Fatal("a zero budget is allowed")
	}
}
