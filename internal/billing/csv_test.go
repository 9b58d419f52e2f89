package billing

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// csvSums adds the requests and total_cost_usd columns of parsed CSV rows.
func csvSums(t *testing.T, recs [][]string) (int64, money.Nanos) {
	t.Helper()
	header := recs[0]
	ri, ci := -1, -1
	for i, h := range header {
		switch h {
		case "requests":
			ri = i
		case "total_cost_usd":
			ci = i
		}
	}
	if ri < 0 || ci < 0 {
		t.Fatalf("header %v lacks requests or total_cost_usd", header)
	}
	var reqs int64
	var cost money.Nanos
	for _, r := range recs[1:] {
		n, err := strconv.ParseInt(r[ri], 10, 64)
		if err != nil {
			t.Fatalf("requests %q: %v", r[ri], err)
		}
		reqs += n
		cost += nanos(t, r[ci])
	}
	return reqs, cost
}

func TestCSV(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.open(t, time.UTC), time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC))
		specRows(e)
		e.user("=cmd", "@evil")
		e.insert(store.UsageRecord{RequestID: "evil", CreatedAt: time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC),
			UserOID: "=cmd", AppID: ptr("bff"), Model: "gpt-4o-mini", Status: 200, Cost: 5, Attempts: 1})
		const reqs, cost = 5001, money.Nanos(150_500_000_005)
		cases := []struct {
			path   string
			header []string
			want   []string // the header row
			rows   int
		}{
			{"/admin/api/billing?month=2026-02&format=csv", nil, []string{"month", "user_oid", "email", "requests",
				"prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "total_cost_usd"}, 3},
			{"/admin/api/billing?month=2026-02", []string{"Accept", "text/csv"}, nil, 3},
			{"/admin/api/billing/apps?month=2026-02&format=CSV", nil, []string{"month", "app_id", "name", "owner_id",
				"requests", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "total_cost_usd"}, 2},
			{"/admin/api/billing/models?month=2026-02", []string{"Accept", "text/html, text/csv;q=0.9"}, nil, 2},
			{"/admin/api/billing/daily?month=2026-02&format=csv", nil, nil, 28},
		}
		for _, tc := range cases {
			t.Run(tc.path, func(t *testing.T) {
				recs := e.getCSV(tc.path, tc.header...)
				if tc.want != nil && !reflect.DeepEqual(recs[0], tc.want) {
					t.Fatalf("header %v, want %v", recs[0], tc.want)
				}
				if len(recs)-1 != tc.rows {
					t.Fatalf("%d rows, want %d: %v", len(recs)-1, tc.rows, recs)
				}
				gotReqs, gotCost := csvSums(t, recs)
				if gotReqs != reqs || gotCost != cost {
					t.Fatalf("sums %d requests, %d nanos; want %d, %d", gotReqs, gotCost, reqs, cost)
				}
			})
		}
		t.Run("users by cost, formula cells defused", func(t *testing.T) {
			recs := e.getCSV("/admin/api/billing?month=2026-02&format=csv")
			want := [][]string{
				{"2026-02", "user-456", "other@example.com", "4880", "48800", "0", "0", "0", "135.3"},
				{"2026-02", "user-123", "test@example.com", "120", "1200", "0", "0", "0", "15.2"},
				{"2026-02", "'=cmd", "'@evil", "1", "0", "0", "0", "0", "0.000000005"},
			}
			if !reflect.DeepEqual(recs[1:], want) {
				t.Fatalf("rows %v, want %v", recs[1:], want)
			}
		})
		t.Run("csv ignores the JSON default limit", func(t *testing.T) {
			if recs := e.getCSV("/admin/api/billing?month=2026-02&format=csv&q=example.com"); len(recs) != 3 {
				t.Fatalf("%d records", len(recs))
			}
			if recs := e.getCSV("/admin/api/billing?month=2026-02&format=csv&limit=1&offset=1"); len(recs) != 2 || recs[1][1] != "user-123" {
				t.Fatalf("records %v", recs)
			}
		})
		t.Run("user detail rows", func(t *testing.T) {
			recs := e.getCSV("/admin/api/billing/users/user-123?month=2026-02&format=csv")
			if !reflect.DeepEqual(recs[0], []string{"date", "user_oid", "app_id", "app_name", "model", "requests",
				"prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "total_cost_usd"}) {
				t.Fatalf("header %v", recs[0])
			}
			gotReqs, gotCost := csvSums(t, recs)
			if gotReqs != 120 || gotCost != 15_200_000_000 {
				t.Fatalf("user-123: %d requests, %d nanos", gotReqs, gotCost)
			}
		})
	})
}

func TestUserPagingAndSearch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b.open(t, time.UTC), time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC))
		var rows []store.UsageRecord
		for i := range 12 {
			oid := fmt.Sprintf("p-%02d", i)
			e.user(oid, fmt.Sprintf("%s@%s.test", oid, []string{"red", "blue"}[i%2]))
			rows = append(rows, store.UsageRecord{RequestID: "pg-" + oid, CreatedAt: time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC),
				UserOID: oid, Model: "m", Status: 200, Cost: money.Nanos(1000 * (i + 1)), Attempts: 1})
		}
		e.insert(rows...)
		type page struct {
			TotalRequests int64 `json:"total_requests"`
			Users         []struct {
				UserOID string `json:"user_oid"`
			} `json:"users"`
		}
		cases := []struct {
			query string
			oids  []string
			total string
		}{
			{"limit=3", []string{"p-11", "p-10", "p-09"}, "12"},
			{"limit=2&offset=10", []string{"p-01", "p-00"}, "12"},
			{"offset=20", []string{}, "12"},
			{"q=BLUE", []string{"p-11", "p-09", "p-07", "p-05", "p-03", "p-01"}, "6"},
			{"q=blue&limit=2&offset=1", []string{"p-09", "p-07"}, "6"},
			{"q=p-0", []string{"p-09", "p-08", "p-07", "p-06", "p-05", "p-04", "p-03", "p-02", "p-01", "p-00"}, "10"},
			{"q=nobody", []string{}, "0"},
		}
		for _, tc := range cases {
			t.Run(tc.query, func(t *testing.T) {
				rec := e.get("/admin/api/billing?month=2026-02&"+tc.query, e.adminKey)
				if rec.Code != http.StatusOK {
					t.Fatalf("%d %s", rec.Code, rec.Body)
				}
				var p page
				decode(t, rec.Body.String(), &p)
				oids := []string{}
				for _, u := range p.Users {
					oids = append(oids, u.UserOID)
				}
				if !reflect.DeepEqual(oids, tc.oids) {
					t.Fatalf("users %v, want %v", oids, tc.oids)
				}
				if p.TotalRequests != 12 {
					t.Fatalf("total_requests %d: the totals cover the whole month", p.TotalRequests)
				}
				if got := rec.Header().Get("X-Total-Count"); got != tc.total {
					t.Fatalf("X-Total-Count %q, want %q", got, tc.total)
				}
			})
		}
	})
}
