package billing

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// specRows seeds the month of spec §4.1's example: 5000 requests costing
// 150.50 USD, of which user-123 (test@example.com) made 120 for 15.20.
func specRows(e *env) {
	e.user("user-123", "test@example.com")
	e.user("user-456", "other@example.com")
	ts := time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC)
	var rows []store.UsageRecord
	add := func(oid string, n int, each, last money.Nanos) {
		for i := range n {
			c := each
			if i == n-1 {
				c = last
			}
			rows = append(rows, store.UsageRecord{RequestID: fmt.Sprintf("%s-%04d", oid, i),
				CreatedAt: ts.Add(time.Duration(i) * time.Minute), UserOID: oid, Model: "gpt-4o",
				Status: 200, PromptTokens: 10, Cost: c, Attempts: 1})
		}
	}
	add("user-123", 120, 100_000_000, 3_300_000_000) // 119 × 0.10 + 3.30 = 15.20
	add("user-456", 4880, 27_500_000, 1_127_500_000) // 4879 × 0.0275 + 1.1275 = 135.30
	rows = append(rows, rows[:300]...)               // a retried batch counts once
	e.insert(rows...)
}

func TestSpecShape(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.open(t, time.UTC), time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC))
		specRows(e)
		const want = `{"month":"2026-02","total_cost":150.5,"total_requests":5000,"users":[
			{"user_oid":"user-456","email":"other@example.com","requests":4880,"total_cost":135.3},
			{"user_oid":"user-123","email":"test@example.com","requests":120,"total_cost":15.2}]}`
		rec := e.get("/admin/api/billing?month=2026-02", e.adminKey)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, Content-Type %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		// json.Number keeps the rendering: 150.5 must not be 150.49999….
		var got, exp any
		decode(t, rec.Body.String(), &got)
		decode(t, want, &exp)
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("body\n got  %s\n want %s", rec.Body, want)
		}
		if n := rec.Header().Get("X-Total-Count"); n != "2" {
			t.Fatalf("X-Total-Count %q", n)
		}
	})
}

// rawMonth sums the stored raw rows of month m in loc by user, app, model
// and day.
type rawMonth struct {
	total  store.BillingAmounts
	users  map[string]store.BillingAmounts
	apps   map[string]store.BillingAmounts
	models map[string]store.BillingAmounts
	days   map[string]store.BillingAmounts
}

func sumRaw(t *testing.T, st store.Store, m store.Month, loc *time.Location) rawMonth {
	t.Helper()
	r := rawMonth{users: map[string]store.BillingAmounts{}, apps: map[string]store.BillingAmounts{},
		models: map[string]store.BillingAmounts{}, days: map[string]store.BillingAmounts{}}
	for off := 0; ; off += 1000 {
		rows, err := st.ListUsage(t.Context(), store.UsageFilter{Since: m.Start(loc), Until: m.Next().Start(loc),
			Page: store.Page{Limit: 1000, Offset: off}})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range rows {
			a := store.AmountsOf(u)
			app := ""
			if u.AppID != nil {
				app = *u.AppID
			}
			r.total = r.total.Add(a)
			r.users[u.UserOID] = r.users[u.UserOID].Add(a)
			r.apps[app] = r.apps[app].Add(a)
			r.models[u.Model] = r.models[u.Model].Add(a)
			d := u.CreatedAt.In(loc).Format(store.DayLayout)
			r.days[d] = r.days[d].Add(a)
		}
		if len(rows) < 1000 {
			return r
		}
	}
}

// randomRows spreads n rows over users, apps, models and three months.
func randomRows(seed uint64, n int, from time.Time) []store.UsageRecord {
	rng := rand.New(rand.NewPCG(seed, 1))
	apps := []*string{nil, ptr("dify-prod"), ptr("bff")}
	models := []string{"gpt-4o", "gpt-4o-mini", "o3"}
	out := make([]store.UsageRecord, n)
	for i := range out {
		out[i] = store.UsageRecord{RequestID: fmt.Sprintf("rr-%05d", i),
			CreatedAt: from.Add(time.Duration(rng.Int64N(int64(75 * 24 * time.Hour)))),
			UserOID:   fmt.Sprintf("u-%02d", rng.IntN(30)), AppID: apps[rng.IntN(3)], Model: models[rng.IntN(3)],
			Status: 200, PromptTokens: rng.Int64N(4000), CompletionTokens: rng.Int64N(1000),
			CachedTokens: rng.Int64N(500), ReasoningTokens: rng.Int64N(200),
			Cost: money.Nanos(rng.Int64N(90_000_000)), Attempts: 1}
	}
	return out
}

type amountsJSON struct {
	Requests         int64       `json:"requests"`
	PromptTokens     int64       `json:"prompt_tokens"`
	CompletionTokens int64       `json:"completion_tokens"`
	CachedTokens     int64       `json:"cached_tokens"`
	ReasoningTokens  int64       `json:"reasoning_tokens"`
	TotalCost        json.Number `json:"total_cost"`
}

func (a amountsJSON) amounts(t *testing.T) store.BillingAmounts {
	return store.BillingAmounts{Requests: a.Requests, PromptTokens: a.PromptTokens,
		CompletionTokens: a.CompletionTokens, CachedTokens: a.CachedTokens,
		ReasoningTokens: a.ReasoningTokens, Cost: nanos(t, a.TotalCost.String())}
}

func equalAmounts(t *testing.T, got, want map[string]store.BillingAmounts, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// TestTotalsEqualRawRows checks every route against the raw rows of each
// month, in a billing zone that is not UTC.
func TestTotalsEqualRawRows(t *testing.T) {
	tokyo := mustZone(t, "Asia/Tokyo")
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.open(t, tokyo), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
		for i := range 30 {
			e.user(fmt.Sprintf("u-%02d", i), fmt.Sprintf("u%02d@example.com", i))
		}
		rows := randomRows(9, 3000, time.Date(2025, 12, 20, 0, 0, 0, 0, time.UTC))
		e.insert(rows...)
		e.insert(rows[1000:1700]...) // retried: counts once
		for _, m := range []store.Month{{Year: 2025, Month: 12}, {Year: 2026, Month: 1}, {Year: 2026, Month: 2}, {Year: 2026, Month: 3}} {
			t.Run(m.String(), func(t *testing.T) {
				raw := sumRaw(t, e.st, m, tokyo)
				if raw.total.Requests == 0 {
					t.Fatal("the fixture has no rows this month")
				}
				var spec struct {
					Month         string      `json:"month"`
					TotalCost     json.Number `json:"total_cost"`
					TotalRequests int64       `json:"total_requests"`
					Users         []struct {
						UserOID   string      `json:"user_oid"`
						Requests  int64       `json:"requests"`
						TotalCost json.Number `json:"total_cost"`
					} `json:"users"`
				}
				e.getJSON("/admin/api/billing?limit=1000&month="+m.String(), &spec)
				if spec.Month != m.String() || spec.TotalRequests != raw.total.Requests ||
					nanos(t, spec.TotalCost.String()) != raw.total.Cost {
					t.Fatalf("month %s: %d requests, %s USD; raw %+v", spec.Month, spec.TotalRequests, spec.TotalCost, raw.total)
				}
				users := map[string]store.BillingAmounts{}
				for _, u := range spec.Users {
					users[u.UserOID] = store.BillingAmounts{Requests: u.Requests, Cost: nanos(t, u.TotalCost.String())}
				}
				want := map[string]store.BillingAmounts{}
				for oid, a := range raw.users {
					want[oid] = store.BillingAmounts{Requests: a.Requests, Cost: a.Cost}
				}
				equalAmounts(t, users, want, "users")

				var apps struct {
					Apps []struct {
						AppID *string `json:"app_id"`
						amountsJSON
					} `json:"apps"`
				}
				e.getJSON("/admin/api/billing/apps?month="+m.String(), &apps)
				got := map[string]store.BillingAmounts{}
				for _, a := range apps.Apps {
					id := ""
					if a.AppID != nil {
						id = *a.AppID
					}
					got[id] = a.amounts(t)
				}
				equalAmounts(t, got, raw.apps, "apps")

				var models struct {
					Models []struct {
						Model string `json:"model"`
						amountsJSON
					} `json:"models"`
				}
				e.getJSON("/admin/api/billing/models?month="+m.String(), &models)
				got = map[string]store.BillingAmounts{}
				for _, x := range models.Models {
					got[x.Model] = x.amounts(t)
				}
				equalAmounts(t, got, raw.models, "models")

				var days struct {
					Days []struct {
						Date string `json:"date"`
						amountsJSON
					} `json:"days"`
				}
				e.getJSON("/admin/api/billing/daily?month="+m.String(), &days)
				if len(days.Days) != m.Days() {
					t.Fatalf("%d days, want %d", len(days.Days), m.Days())
				}
				got = map[string]store.BillingAmounts{}
				for _, d := range days.Days {
					if d.Requests > 0 {
						got[d.Date] = d.amounts(t)
					}
				}
				equalAmounts(t, got, raw.days, "days")

				for oid, a := range raw.users {
					var u struct {
						amountsJSON
						TotalRequests int64 `json:"total_requests"`
					}
					e.getJSON("/admin/api/billing/users/"+oid+"?month="+m.String(), &u)
					u.Requests = u.TotalRequests
					if got := u.amounts(t); got != a {
						t.Fatalf("user %s: %+v, want %+v", oid, got, a)
					}
				}
			})
		}
	})
}

// TestMonthBoundariesInBillingZone puts rows one microsecond either side of
// midnight in Tokyo, which is 15:00 UTC the day before.
func TestMonthBoundariesInBillingZone(t *testing.T) {
	tokyo := mustZone(t, "Asia/Tokyo")
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.open(t, tokyo), time.Date(2026, 1, 31, 15, 0, 0, 0, time.UTC))
		row := func(id string, ts time.Time, cost money.Nanos) store.UsageRecord {
			return store.UsageRecord{RequestID: id, CreatedAt: ts, UserOID: userOID, Model: "m", Status: 200, Cost: cost, Attempts: 1}
		}
		midnight := time.Date(2026, 2, 1, 0, 0, 0, 0, tokyo)
		e.insert(row("jan", midnight.Add(-time.Microsecond), 1_000_000_000), row("feb", midnight, 2_000_000_000),
			row("feb-end", time.Date(2026, 3, 1, 0, 0, 0, 0, tokyo).Add(-time.Microsecond), 4_000_000_000),
			row("mar", time.Date(2026, 3, 1, 0, 0, 0, 0, tokyo), 8_000_000_000))
		cases := []struct {
			query string // "" is the default month: now is Feb 1 00:00 in Tokyo
			month string
			reqs  int64
			cost  string
		}{
			{"?month=2026-01", "2026-01", 1, "1"},
			{"?month=2026-02", "2026-02", 2, "6"},
			{"", "2026-02", 2, "6"},
			{"?month=2026-03", "2026-03", 1, "8"},
		}
		for _, tc := range cases {
			var got struct {
				Month         string      `json:"month"`
				TotalCost     json.Number `json:"total_cost"`
				TotalRequests int64       `json:"total_requests"`
			}
			e.getJSON("/admin/api/billing"+tc.query, &got)
			if got.Month != tc.month || got.TotalRequests != tc.reqs || got.TotalCost.String() != tc.cost {
				t.Fatalf("%q: %+v, want %s %d %s", tc.query, got, tc.month, tc.reqs, tc.cost)
			}
		}
		var days struct {
			Days []struct {
				Date     string `json:"date"`
				Requests int64  `json:"requests"`
			} `json:"days"`
		}
		e.getJSON("/admin/api/billing/daily?month=2026-02", &days)
		if len(days.Days) != 28 || days.Days[0].Date != "2026-02-01" || days.Days[0].Requests != 1 ||
			days.Days[27].Date != "2026-02-28" || days.Days[27].Requests != 1 {
			t.Fatalf("days %+v", days.Days)
		}
	})
}

func TestEmptyMonth(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.open(t, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
		cases := []struct{ path, want string }{
			{"/admin/api/billing?month=2026-02", `{"month":"2026-02","total_cost":0,"total_requests":0,"users":[]}`},
			{"/admin/api/billing/apps?month=2026-02", `{"month":"2026-02","total_cost":0,"total_requests":0,"apps":[]}`},
			{"/admin/api/billing/models?month=2026-02", `{"month":"2026-02","total_cost":0,"total_requests":0,"models":[]}`},
		}
		for _, tc := range cases {
			rec := e.get(tc.path, e.adminKey)
			var got, want any
			decode(t, rec.Body.String(), &got)
			decode(t, tc.want, &want)
			if rec.Code != http.StatusOK || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %d %s, want %s", tc.path, rec.Code, rec.Body, tc.want)
			}
		}
		var days struct {
			Days []amountsJSON `json:"days"`
		}
		e.getJSON("/admin/api/billing/daily?month=2026-02", &days)
		if len(days.Days) != 28 {
			t.Fatalf("%d days", len(days.Days))
		}
		for _, d := range days.Days {
			if d.Requests != 0 || d.TotalCost.String() != "0" {
				t.Fatalf("day %+v", d)
			}
		}
		var u struct {
			TotalCost json.Number `json:"total_cost"`
			Apps      []any       `json:"apps"`
		}
		e.getJSON("/admin/api/billing/users/"+userOID+"?month=2026-02", &u)
		if u.TotalCost.String() != "0" || u.Apps == nil || len(u.Apps) != 0 {
			t.Fatalf("user detail %+v", u)
		}
	})
}

func TestBadMonth(t *testing.T) {
	e := newEnv(t, backends()[0].open(t, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	months := []string{"2026-13", "2026-1", "26-01", "2026-01-01", "", "2026-00", "0000-01", "2026/01",
		"abcd-ef", "+026-01", " 2026-01", "2026-01 ", "２０２６-01", "2026-1x"}
	routes := []string{"/admin/api/billing", "/admin/api/billing/apps", "/admin/api/billing/models",
		"/admin/api/billing/daily", "/admin/api/billing/users/" + userOID, "/v1/me/usage"}
	for _, m := range months {
		for _, r := range routes {
			t.Run(m+r, func(t *testing.T) {
				wantError(t, e.get(r+"?month="+url.QueryEscape(m), e.adminKey), http.StatusBadRequest, "month")
			})
		}
	}
}

func TestQueryValidation(t *testing.T) {
	e := newEnv(t, backends()[0].open(t, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	cases := []struct{ query, param string }{
		{"limit=0", "limit"}, {"limit=1001", "limit"}, {"limit=x", "limit"}, {"limit=", "limit"},
		{"offset=-1", "offset"}, {"offset=1.5", "offset"}, {"format=xml", "format"},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			wantError(t, e.get("/admin/api/billing?"+tc.query, e.adminKey), http.StatusBadRequest, tc.param)
		})
	}
}

func TestAccess(t *testing.T) {
	e := newEnv(t, backends()[0].open(t, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	cases := []struct {
		path, key string
		status    int
	}{
		{"/admin/api/billing", "", http.StatusUnauthorized},
		{"/admin/api/billing", "sk-gate-wrong", http.StatusUnauthorized},
		{"/admin/api/billing", e.userKey, http.StatusForbidden},
		{"/admin/api/billing/apps", e.userKey, http.StatusForbidden},
		{"/admin/api/billing/models", e.userKey, http.StatusForbidden},
		{"/admin/api/billing/daily", e.userKey, http.StatusForbidden},
		{"/admin/api/billing/users/" + userOID, e.userKey, http.StatusForbidden},
		{"/admin/api/billing", e.adminKey, http.StatusOK},
		{"/admin/api/billing/users/nobody", e.adminKey, http.StatusNotFound},
		{"/v1/me/usage", "", http.StatusUnauthorized},
		{"/v1/me/usage", e.userKey, http.StatusOK},
		{"/v1/me/usage", e.adminKey, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %d", tc.path, tc.status), func(t *testing.T) {
			if rec := e.get(tc.path, tc.key); rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
		})
	}
}
