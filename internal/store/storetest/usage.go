package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// normUsage is r as a store returns it.
func normUsage(r store.UsageRecord) store.UsageRecord {
	r.CreatedAt = micro(r.CreatedAt)
	return r
}

func requestIDs(rs []store.UsageRecord) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.RequestID)
	}
	return out
}

func countUsage(t *testing.T, s store.Store, f store.UsageFilter) int64 {
	t.Helper()
	return try(s.SumUsage(ctx(t), f)).must(t).Requests
}

func testUsageInsert(t *testing.T, s store.Store) {
	c := ctx(t)
	t0 := base()
	batch := []store.UsageRecord{
		{RequestID: "req-1", CreatedAt: t0, UserOID: "u1", KeyID: ptr(int64(7)), Model: "gpt-4o",
			EndpointID: ptr(int64(3)), Status: 200, PromptTokens: 1000, CompletionTokens: 250,
			CachedTokens: 400, ReasoningTokens: 50, Cost: 5_000_123, LatencyMs: 1234, TTFTMs: 321,
			Stream: true, Attempts: 2},
		{RequestID: "req-2", CreatedAt: t0.Add(time.Second), UserOID: "u2", AppID: ptr("dify-prod"),
			Model: "gpt-4o-mini", Status: 502, ErrorCode: "upstream_error",
			DelegationMethod: "message_json", Attempts: 3},
		{RequestID: "req-3", CreatedAt: t0.Add(2 * time.Second).In(time.FixedZone("UTC-7", -7*3600)),
			UserOID: "u1", KeyID: ptr(int64(8)), AppID: ptr("bff"), Model: "gpt-4o", Status: 200,
			PromptTokens: 1 << 40, CompletionTokens: 1, Cost: money.Nanos(1) << 60, Attempts: 1},
	}
	ok(t, s.InsertUsage(c, nil))
	ok(t, s.InsertUsage(c, []store.UsageRecord{}))
	ok(t, s.InsertUsage(c, batch))

	t.Run("round trip", func(t *testing.T) {
		for _, want := range batch {
			got := try(s.ListUsage(c, store.UsageFilter{RequestID: want.RequestID})).must(t)
			if len(got) != 1 {
				t.Fatalf("%s: %d rows", want.RequestID, len(got))
			}
			equal(t, got[0], normUsage(want), "stored row "+want.RequestID)
			if !isUTC(got[0].CreatedAt) {
				t.Fatalf("CreatedAt %v not UTC", got[0].CreatedAt)
			}
		}
	})

	t.Run("same batch twice counts once", func(t *testing.T) {
		ok(t, s.InsertUsage(c, batch))
		sum := try(s.SumUsage(c, store.UsageFilter{})).must(t)
		equal(t, sum, store.UsageTotals{Requests: 3, PromptTokens: 1000 + 1<<40, CompletionTokens: 251,
			Cost: 5_000_123 + money.Nanos(1)<<60}, "totals after retry")
	})

	t.Run("existing rows are not overwritten", func(t *testing.T) {
		changed := batch[0]
		changed.PromptTokens = 1
		fresh := store.UsageRecord{RequestID: "req-4", CreatedAt: t0.Add(3 * time.Second), UserOID: "u3", Model: "m", Status: 200, Attempts: 1}
		ok(t, s.InsertUsage(c, []store.UsageRecord{changed, fresh}))
		equal(t, try(s.ListUsage(c, store.UsageFilter{RequestID: "req-1"})).must(t)[0], normUsage(batch[0]), "req-1 kept")
		equal(t, try(s.ListUsage(c, store.UsageFilter{RequestID: "req-4"})).must(t)[0], normUsage(fresh), "req-4 added")
		equal(t, countUsage(t, s, store.UsageFilter{}), int64(4), "rows")
	})

	t.Run("duplicate inside one batch", func(t *testing.T) {
		r := store.UsageRecord{RequestID: "req-dup", CreatedAt: t0, UserOID: "u9", Model: "m", Status: 200, PromptTokens: 10, Attempts: 1}
		ok(t, s.InsertUsage(c, []store.UsageRecord{r, r}))
		equal(t, countUsage(t, s, store.UsageFilter{UserOID: "u9"}), int64(1), "rows of u9")
	})

	t.Run("all or nothing", func(t *testing.T) {
		good := func(id string) store.UsageRecord {
			return store.UsageRecord{RequestID: id, CreatedAt: t0, UserOID: "atomic", Model: "m", Status: 200, PromptTokens: 5, Attempts: 1}
		}
		bad := good("bad-neg")
		bad.PromptTokens = -1
		err := s.InsertUsage(c, []store.UsageRecord{good("ok-1"), bad, good("ok-2")})
		wantFail(t, err, "batch with negative token count")
		empty := good("")
		err = s.InsertUsage(c, []store.UsageRecord{good("ok-3"), empty})
		wantFail(t, err, "batch with empty request id")
		equal(t, countUsage(t, s, store.UsageFilter{UserOID: "atomic"}), int64(0), "rows of a failed batch")
		ok(t, s.InsertUsage(c, []store.UsageRecord{good("ok-1"), good("ok-2")}))
		equal(t, countUsage(t, s, store.UsageFilter{UserOID: "atomic"}), int64(2), "rows after the good batch")
	})

	t.Run("zero CreatedAt becomes now", func(t *testing.T) {
		before := time.Now()
		ok(t, s.InsertUsage(c, []store.UsageRecord{{RequestID: "req-now", UserOID: "u1", Model: "m", Status: 200, Attempts: 1}}))
		after := time.Now()
		got := try(s.ListUsage(c, store.UsageFilter{RequestID: "req-now"})).must(t)
		if len(got) != 1 {
			t.Fatalf("%d rows", len(got))
		}
		recent(t, got[0].CreatedAt, before, after, "CreatedAt")
	})

	t.Run("month boundary and other years", func(t *testing.T) {
		times := []time.Time{
			time.Date(2026, 1, 31, 23, 59, 59, 999999000, time.UTC),
			time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2025, 12, 31, 23, 59, 59, 999999999, time.UTC), // truncates into December
			time.Date(2027, 6, 15, 8, 0, 0, 0, time.UTC),
		}
		var rows []store.UsageRecord
		for i, tm := range times {
			rows = append(rows, store.UsageRecord{RequestID: fmt.Sprintf("mb-%d", i), CreatedAt: tm, UserOID: "mb", Model: "m", Status: 200, CompletionTokens: int64(i + 1), Attempts: 1})
		}
		ok(t, s.InsertUsage(c, rows))
		jan := try(s.ListUsage(c, store.UsageFilter{UserOID: "mb",
			Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})).must(t)
		equal(t, requestIDs(jan), []string{"mb-0"}, "January")
		feb := try(s.ListUsage(c, store.UsageFilter{UserOID: "mb",
			Since: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})).must(t)
		equal(t, requestIDs(feb), []string{"mb-1"}, "February")
		equal(t, try(s.ListUsage(c, store.UsageFilter{RequestID: "mb-2"})).must(t)[0].CreatedAt,
			time.Date(2025, 12, 31, 23, 59, 59, 999999000, time.UTC), "truncated, not rounded")
		equal(t, requestIDs(try(s.ListUsage(c, store.UsageFilter{UserOID: "mb"})).must(t)),
			[]string{"mb-3", "mb-1", "mb-0", "mb-2"}, "newest first")
	})

	t.Run("large batch", func(t *testing.T) {
		var rows []store.UsageRecord
		var want store.UsageTotals
		for i := range 2500 {
			r := store.UsageRecord{RequestID: fmt.Sprintf("big-%05d", i), CreatedAt: t0.Add(time.Duration(i) * time.Millisecond),
				UserOID: "big", Model: "m", Status: 200, PromptTokens: int64(i), CompletionTokens: int64(2 * i), Cost: money.Nanos(i * 1000), Attempts: 1}
			rows = append(rows, r)
			want.Requests++
			want.PromptTokens += r.PromptTokens
			want.CompletionTokens += r.CompletionTokens
			want.Cost += r.Cost
		}
		ok(t, s.InsertUsage(c, rows))
		ok(t, s.InsertUsage(c, rows[1000:1500]))
		equal(t, try(s.SumUsage(c, store.UsageFilter{UserOID: "big"})).must(t), want, "large batch totals")
	})
}

// usageData is the fixture of the filter tests: users, apps, models and times
// varying independently.
func usageData() []store.UsageRecord {
	t0 := base()
	users := []string{"alice", "bob", "carol"}
	apps := []*string{nil, ptr("dify"), ptr("bff")}
	models := []string{"gpt-4o", "gpt-4o-mini"}
	var out []store.UsageRecord
	for i := range 36 {
		out = append(out, store.UsageRecord{
			RequestID:        fmt.Sprintf("f-%02d", i),
			CreatedAt:        t0.Add(time.Duration(i) * time.Hour),
			UserOID:          users[i%3],
			AppID:            apps[(i/3)%3],
			Model:            models[(i/2)%2],
			Status:           200,
			PromptTokens:     int64(100 + i),
			CompletionTokens: int64(10 * i),
			Cost:             money.Nanos(1_000_000*i + 7),
			Attempts:         1,
		})
	}
	return out
}

// matches is the reference implementation of a usage filter.
func matches(r store.UsageRecord, f store.UsageFilter) bool {
	switch {
	case f.UserOID != "" && r.UserOID != f.UserOID,
		f.AppID != "" && (r.AppID == nil || *r.AppID != f.AppID),
		f.Model != "" && r.Model != f.Model,
		f.RequestID != "" && r.RequestID != f.RequestID,
		!f.Since.IsZero() && micro(r.CreatedAt).Before(micro(f.Since)),
		!f.Until.IsZero() && !micro(r.CreatedAt).Before(micro(f.Until)):
		return false
	}
	return true
}

func testUsageFilters(t *testing.T, s store.Store) {
	c := ctx(t)
	data := usageData()
	// Inserted in two batches, out of time order.
	ok(t, s.InsertUsage(c, data[18:]))
	ok(t, s.InsertUsage(c, data[:18]))
	t0 := base()
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }

	cases := []struct {
		name string
		f    store.UsageFilter
		n    int // expected row count, independent of the reference filter
	}{
		{"all", store.UsageFilter{}, 36},
		{"user", store.UsageFilter{UserOID: "bob"}, 12},
		{"app", store.UsageFilter{AppID: "dify"}, 12},
		{"model", store.UsageFilter{Model: "gpt-4o-mini"}, 18},
		{"request", store.UsageFilter{RequestID: "f-07"}, 1},
		{"unknown user", store.UsageFilter{UserOID: "nobody"}, 0},
		{"since inclusive", store.UsageFilter{Since: h(30)}, 6},
		{"until exclusive", store.UsageFilter{Until: h(5)}, 5},
		{"range", store.UsageFilter{Since: h(10), Until: h(20)}, 10},
		{"since within the microsecond", store.UsageFilter{Since: h(35).Add(100 * time.Nanosecond)}, 1},
		{"until sub-microsecond later", store.UsageFilter{Until: h(1).Add(100 * time.Nanosecond)}, 1},
		{"user and app", store.UsageFilter{UserOID: "alice", AppID: "bff"}, 4},
		{"user, model and range", store.UsageFilter{UserOID: "carol", Model: "gpt-4o", Since: h(6), Until: h(30)}, 4},
		{"zoned range", store.UsageFilter{Since: h(10).In(time.FixedZone("A", 3600)), Until: h(12).In(time.FixedZone("B", -3600))}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want []store.UsageRecord
			var sum store.UsageTotals
			for i := len(data) - 1; i >= 0; i-- { // newest first
				if r := data[i]; matches(r, tc.f) {
					want = append(want, normUsage(r))
					sum.Requests++
					sum.PromptTokens += r.PromptTokens
					sum.CompletionTokens += r.CompletionTokens
					sum.Cost += r.Cost
				}
			}
			if len(want) != tc.n {
				t.Fatalf("reference filter found %d rows, the case expects %d", len(want), tc.n)
			}
			got := try(s.ListUsage(c, tc.f)).must(t)
			if want == nil {
				want = []store.UsageRecord{}
			}
			equal(t, requestIDs(got), requestIDs(want), "ListUsage ids")
			equal(t, got, want, "ListUsage rows")
			equal(t, try(s.SumUsage(c, tc.f)).must(t), sum, "SumUsage")
		})
	}

	t.Run("sum ignores the page", func(t *testing.T) {
		sum := try(s.SumUsage(c, store.UsageFilter{UserOID: "bob", Page: store.Page{Limit: 1, Offset: 5}})).must(t)
		equal(t, sum.Requests, int64(12), "requests")
	})
}

func testUsagePages(t *testing.T, s store.Store) {
	c := ctx(t)
	t0 := base()
	var rows []store.UsageRecord
	for i := range 1005 {
		rows = append(rows, store.UsageRecord{RequestID: fmt.Sprintf("p-%04d", i),
			CreatedAt: t0.Add(time.Duration(i) * time.Second), UserOID: "pager", Model: "m", Status: 200, Attempts: 1})
	}
	ok(t, s.InsertUsage(c, rows))
	cases := []struct {
		name      string
		page      store.Page
		wantLen   int
		wantFirst string
	}{
		{"default 100", store.Page{}, 100, "p-1004"},
		{"max 1000", store.Page{Limit: 5000}, 1000, "p-1004"},
		{"offset", store.Page{Limit: 3, Offset: 4}, 3, "p-1000"},
		{"tail", store.Page{Limit: 1000, Offset: 1000}, 5, "p-0004"},
		{"negative offset", store.Page{Limit: 1, Offset: -1}, 1, "p-1004"},
		{"past the end", store.Page{Offset: 2000}, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := try(s.ListUsage(c, store.UsageFilter{UserOID: "pager", Page: tc.page})).must(t)
			if got == nil {
				t.Fatal("nil slice, want empty")
			}
			if len(got) != tc.wantLen {
				t.Fatalf("len = %d, want %d", len(got), tc.wantLen)
			}
			if tc.wantLen > 0 && got[0].RequestID != tc.wantFirst {
				t.Fatalf("first = %s, want %s", got[0].RequestID, tc.wantFirst)
			}
		})
	}
	t.Run("audit max 1000", func(t *testing.T) {
		for i := range 3 {
			try(s.InsertAudit(c, store.AuditEntry{Actor: "pager", Action: fmt.Sprint(i)})).must(t)
		}
		got := try(s.ListAudit(c, store.AuditFilter{Actor: "pager", Page: store.Page{Limit: 2}})).must(t)
		equal(t, []string{got[0].Action, got[1].Action}, []string{"2", "1"}, "audit page")
	})
}
