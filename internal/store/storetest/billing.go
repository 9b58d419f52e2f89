package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// OpenIn opens a new, empty, migrated store whose billing time zone is loc.
type OpenIn func(t *testing.T, loc *time.Location) store.Store

// RunBilling runs the billing contract: the rollups equal the sums of the raw
// rows exactly, whatever the batches, retries and failures, in the billing
// time zone's days and months.
func RunBilling(t *testing.T, open OpenIn) {
	tokyo := mustZone(t, "Asia/Tokyo")
	areas := []struct {
		name string
		loc  *time.Location
		fn   func(t *testing.T, s store.Store)
	}{
		{"RollupsMatchRawUTC", time.UTC, testRollupsMatchRaw},
		{"RollupsMatchRawTokyo", tokyo, testRollupsMatchRaw},
		{"ConcurrentBatches", time.UTC, testRollupsConcurrent},
		{"ZoneBoundaries", tokyo, testZoneBoundaries},
		{"EmptyMonth", tokyo, testBillingEmpty},
		{"UserList", time.UTC, testBillingUserList},
		{"AppsAndUsers", time.UTC, testBillingNames},
		{"Rebuild", tokyo, testRebuild},
		{"Retention", time.UTC, testRetention},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			s := open(t, a.loc)
			equal(t, s.BillingLocation().String(), a.loc.String(), "BillingLocation")
			a.fn(t, s)
		})
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

// rawRows reads every stored usage row back, page by page.
func rawRows(t *testing.T, s store.Store) []store.UsageRecord {
	t.Helper()
	var out []store.UsageRecord
	for off := 0; ; off += 1000 {
		page := try(s.ListUsage(ctx(t), store.UsageFilter{Page: store.Page{Limit: 1000, Offset: off}})).must(t)
		out = append(out, page...)
		if len(page) < 1000 {
			return out
		}
	}
}

// expected is the reference aggregation of raw rows in one zone.
type expected struct {
	loc    *time.Location
	totals map[store.Month]store.BillingAmounts
	users  map[store.Month]map[string]store.BillingAmounts
	apps   map[store.Month]map[string]store.BillingAmounts
	models map[store.Month]map[string]store.BillingAmounts
	days   map[store.Month]map[string]store.BillingAmounts
	// detail is the user × month rows, keyed by day|app|model.
	detail map[string]map[store.Month][]store.UsageRecord
}

func aggregate(rows []store.UsageRecord, loc *time.Location) expected {
	e := expected{loc: loc, totals: map[store.Month]store.BillingAmounts{},
		users: map[store.Month]map[string]store.BillingAmounts{}, apps: map[store.Month]map[string]store.BillingAmounts{},
		models: map[store.Month]map[string]store.BillingAmounts{}, days: map[store.Month]map[string]store.BillingAmounts{},
		detail: map[string]map[store.Month][]store.UsageRecord{}}
	addTo := func(m map[store.Month]map[string]store.BillingAmounts, mo store.Month, k string, a store.BillingAmounts) {
		if m[mo] == nil {
			m[mo] = map[string]store.BillingAmounts{}
		}
		m[mo][k] = m[mo][k].Add(a)
	}
	for _, r := range rows {
		mo := store.MonthOf(r.CreatedAt, loc)
		a := store.AmountsOf(r)
		e.totals[mo] = e.totals[mo].Add(a)
		addTo(e.users, mo, r.UserOID, a)
		addTo(e.apps, mo, deref(r.AppID), a)
		addTo(e.models, mo, r.Model, a)
		addTo(e.days, mo, r.CreatedAt.In(loc).Format(store.DayLayout), a)
		if e.detail[r.UserOID] == nil {
			e.detail[r.UserOID] = map[store.Month][]store.UsageRecord{}
		}
		e.detail[r.UserOID][mo] = append(e.detail[r.UserOID][mo], r)
	}
	return e
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// check compares every billing view of every month in e (and of months
// around them) with the store.
func (e expected) check(t *testing.T, s store.Store) {
	t.Helper()
	c := ctx(t)
	months := map[store.Month]bool{}
	for m := range e.totals {
		months[m] = true
		months[m.Next()] = true // a month without rows must read empty
	}
	for m := range months {
		equal(t, try(s.BillingTotals(c, m)).must(t), e.totals[m], m.String()+" totals")

		users, n := byUser(t, s, store.BillingUserFilter{Month: m})
		equal(t, n, int64(len(e.users[m])), m.String()+" user count")
		got := map[string]store.BillingAmounts{}
		for i, u := range users {
			got[u.UserOID] = u.BillingAmounts
			if i > 0 && !ordered(users[i-1].Cost, u.Cost, users[i-1].UserOID, u.UserOID) {
				t.Fatalf("%s: users out of order at %d: %+v then %+v", m, i, users[i-1], u)
			}
		}
		equal(t, got, orEmpty(e.users[m]), m.String()+" by user")

		apps := try(s.BillingByApp(c, m)).must(t)
		got = map[string]store.BillingAmounts{}
		for i, a := range apps {
			got[a.AppID] = a.BillingAmounts
			if i > 0 && !ordered(apps[i-1].Cost, a.Cost, apps[i-1].AppID, a.AppID) {
				t.Fatalf("%s: apps out of order at %d", m, i)
			}
		}
		equal(t, got, orEmpty(e.apps[m]), m.String()+" by app")

		models := try(s.BillingByModel(c, m)).must(t)
		got = map[string]store.BillingAmounts{}
		for i, x := range models {
			got[x.Model] = x.BillingAmounts
			if i > 0 && !ordered(models[i-1].Cost, x.Cost, models[i-1].Model, x.Model) {
				t.Fatalf("%s: models out of order at %d", m, i)
			}
		}
		equal(t, got, orEmpty(e.models[m]), m.String()+" by model")

		days := try(s.BillingByDay(c, m)).must(t)
		got = map[string]store.BillingAmounts{}
		for i, d := range days {
			if d.Day.Location().String() != e.loc.String() || d.Day.Hour() != 0 || d.Day.Minute() != 0 {
				t.Fatalf("%s: day %v is not midnight in %s", m, d.Day, e.loc)
			}
			if i > 0 && !days[i-1].Day.Before(d.Day) {
				t.Fatalf("%s: days out of order at %d", m, i)
			}
			got[d.Day.Format(store.DayLayout)] = d.BillingAmounts
		}
		equal(t, got, orEmpty(e.days[m]), m.String()+" by day")
	}
	for oid, byMonth := range e.detail {
		for m, rows := range byMonth {
			want := store.NewUserBilling(oid, m, userRollups(rows, e.loc))
			got := try(s.UserBilling(c, oid, m)).must(t)
			// Names come from Apps; the reference has none.
			for i := range got.Apps {
				got.Apps[i].Name, got.Apps[i].OwnerID = "", ""
			}
			for i := range got.Rows {
				got.Rows[i].AppName, got.Rows[i].AppOwner = "", ""
			}
			equal(t, got, want, "user billing "+oid+" "+m.String())
		}
	}
}

// userRollups groups one user's raw rows of a month the way UsageRollups does.
func userRollups(rows []store.UsageRecord, loc *time.Location) []store.UserRollupRow {
	idx := map[string]int{}
	var out []store.UserRollupRow
	for _, r := range rows {
		d := r.CreatedAt.In(loc)
		day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
		k := day.Format(store.DayLayout) + "|" + deref(r.AppID) + "|" + r.Model
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, store.UserRollupRow{Day: day, AppID: deref(r.AppID), Model: r.Model})
		}
		out[i].BillingAmounts = out[i].BillingAmounts.Add(store.AmountsOf(r))
	}
	return out
}

// ordered reports whether (ca, ia) may precede (cb, ib): cost descending,
// then id ascending.
func ordered(ca, cb money.Nanos, ia, ib string) bool {
	return ca > cb || ca == cb && ia < ib
}

func orEmpty(m map[string]store.BillingAmounts) map[string]store.BillingAmounts {
	if m == nil {
		return map[string]store.BillingAmounts{}
	}
	return m
}

// byUser calls BillingByUser, failing the test on an error.
func byUser(t *testing.T, s store.Store, f store.BillingUserFilter) ([]store.BillingUserRow, int64) {
	t.Helper()
	rows, n, err := s.BillingByUser(ctx(t), f)
	ok(t, err)
	return rows, n
}

// genUsage returns n pseudo-random rows (seeded) from start over span, with
// ids prefix-0…; every amount is small enough that sums cannot overflow.
func genUsage(seed uint64, prefix string, n int, start time.Time, span time.Duration) []store.UsageRecord {
	rng := rand.New(rand.NewPCG(seed, 7))
	users := []string{"ann", "ben", "cho", "dee", "eve"}
	apps := []*string{nil, ptr("dify-prod"), ptr("bff"), ptr("chat-v1")}
	models := []string{"gpt-4o", "gpt-4o-mini", "o3"}
	out := make([]store.UsageRecord, n)
	for i := range out {
		out[i] = store.UsageRecord{
			RequestID:        fmt.Sprintf("%s-%05d", prefix, i),
			CreatedAt:        start.Add(time.Duration(rng.Int64N(int64(span)))),
			UserOID:          users[rng.IntN(len(users))],
			AppID:            apps[rng.IntN(len(apps))],
			Model:            models[rng.IntN(len(models))],
			Status:           200,
			PromptTokens:     rng.Int64N(5000),
			CompletionTokens: rng.Int64N(2000),
			CachedTokens:     rng.Int64N(1000),
			ReasoningTokens:  rng.Int64N(500),
			Cost:             money.Nanos(rng.Int64N(50_000_000)),
			Attempts:         1,
		}
	}
	return out
}

func testRollupsMatchRaw(t *testing.T, s store.Store) {
	c := ctx(t)
	loc := s.BillingLocation()
	// Three months around two month boundaries of the zone.
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Add(-36 * time.Hour)
	rows := genUsage(1, "rm", 1200, start, 62*24*time.Hour)
	step := func(name string, fn func() error, wantErr bool) {
		t.Helper()
		err := fn()
		if wantErr {
			wantFail(t, err, name)
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		raw := rawRows(t, s)
		aggregate(raw, loc).check(t, s)
	}
	step("first batch", func() error { return s.InsertUsage(c, rows[:500]) }, false)
	step("same batch again", func() error { return s.InsertUsage(c, rows[:500]) }, false)
	step("overlapping batch", func() error { return s.InsertUsage(c, rows[400:900]) }, false)
	dup := slices.Concat(rows[900:950], rows[900:950], rows[940:960])
	step("duplicates inside a batch", func() error { return s.InsertUsage(c, dup) }, false)
	step("single rows", func() error {
		for _, r := range rows[960:970] {
			if err := s.InsertUsage(c, []store.UsageRecord{r}); err != nil {
				return err
			}
		}
		return s.InsertUsage(c, rows[960:961])
	}, false)
	bad := slices.Clone(rows[970:1000])
	bad[17].CompletionTokens = -1
	step("failing batch adds nothing", func() error { return s.InsertUsage(c, bad) }, true)
	changed := slices.Clone(rows[:10])
	for i := range changed {
		changed[i].Cost += 1_000_000 // a retry never overwrites the stored row
	}
	step("changed retry", func() error { return s.InsertUsage(c, append(changed, rows[970:]...)) }, false)

	raw := rawRows(t, s)
	equal(t, len(raw), 1200, "stored rows")
	// The reference must be sensitive: a wrong sum is noticed.
	e := aggregate(raw, loc)
	m := store.MonthOf(rows[0].CreatedAt, loc)
	got := try(s.BillingTotals(c, m)).must(t)
	if got.Cost == 0 || got.Requests != e.totals[m].Requests {
		t.Fatalf("%s totals %+v, want %+v", m, got, e.totals[m])
	}
	var sum store.BillingAmounts
	for mo := (store.Month{Year: 2025, Month: 11}); mo != (store.Month{Year: 2026, Month: 4}); mo = mo.Next() {
		sum = sum.Add(try(s.BillingTotals(c, mo)).must(t))
	}
	var want store.BillingAmounts
	for _, r := range raw {
		want = want.Add(store.AmountsOf(r))
	}
	equal(t, sum, want, "all months together")
}

func testRollupsConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	start := time.Date(2026, 4, 30, 12, 0, 0, 0, time.UTC)
	rows := genUsage(2, "cc", 2000, start, 48*time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Overlapping windows: every row is offered by two writers.
			lo := w * 250
			for i := lo; i < lo+500; i += 100 {
				batch := rows[i%2000 : min(i%2000+100, 2000)]
				if err := s.InsertUsage(c, batch); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent insert: %v", err)
	}
	raw := rawRows(t, s)
	equal(t, len(raw), 2000, "stored rows")
	aggregate(raw, time.UTC).check(t, s)
}

func testZoneBoundaries(t *testing.T, s store.Store) {
	c := ctx(t)
	at := func(id string, ts time.Time, cost money.Nanos) store.UsageRecord {
		return store.UsageRecord{RequestID: id, CreatedAt: ts, UserOID: "tz", Model: "m", Status: 200, Cost: cost, Attempts: 1}
	}
	utc := func(mo time.Month, d, h, mi int) time.Time { return time.Date(2026, mo, d, h, mi, 0, 0, time.UTC) }
	ok(t, s.InsertUsage(c, []store.UsageRecord{
		at("jan-last", utc(1, 31, 14, 59).Add(59*time.Second+999999*time.Microsecond), 1), // 23:59:59.999999 JST, Jan 31
		at("feb-first", utc(1, 31, 15, 0), 10),                                            // 00:00 JST, Feb 1 (still January in UTC)
		at("feb-mid", utc(2, 14, 3, 0), 100),
		at("feb-last", utc(2, 28, 14, 59), 1000),  // 23:59 JST, Feb 28
		at("mar-first", utc(2, 28, 15, 0), 10000), // 00:00 JST, Mar 1 (February in UTC)
	}))
	cases := []struct {
		month store.Month
		cost  money.Nanos
		reqs  int64
		days  []string
	}{
		{store.Month{Year: 2026, Month: 1}, 1, 1, []string{"2026-01-31"}},
		{store.Month{Year: 2026, Month: 2}, 1110, 3, []string{"2026-02-01", "2026-02-14", "2026-02-28"}},
		{store.Month{Year: 2026, Month: 3}, 10000, 1, []string{"2026-03-01"}},
	}
	for _, tc := range cases {
		t.Run(tc.month.String(), func(t *testing.T) {
			tot := try(s.BillingTotals(c, tc.month)).must(t)
			equal(t, [2]int64{tot.Requests, int64(tot.Cost)}, [2]int64{tc.reqs, int64(tc.cost)}, "totals")
			var days []string
			for _, d := range try(s.BillingByDay(c, tc.month)).must(t) {
				days = append(days, d.Day.Format(store.DayLayout))
			}
			equal(t, days, tc.days, "days")
			users, n := byUser(t, s, store.BillingUserFilter{Month: tc.month})
			equal(t, n, int64(1), "users")
			equal(t, users[0].Cost, tc.cost, "user cost")
			ub := try(s.UserBilling(c, "tz", tc.month)).must(t)
			equal(t, ub.Totals.Cost, tc.cost, "user detail cost")
		})
	}
}

func testBillingEmpty(t *testing.T, s store.Store) {
	c := ctx(t)
	m := store.Month{Year: 2026, Month: 2}
	equal(t, try(s.BillingTotals(c, m)).must(t), store.BillingAmounts{}, "totals")
	users, n := byUser(t, s, store.BillingUserFilter{Month: m, Limit: 10})
	equal(t, [2]int{len(users), int(n)}, [2]int{0, 0}, "users")
	if users == nil {
		t.Fatal("BillingByUser returned a nil slice")
	}
	if v := try(s.BillingByApp(c, m)).must(t); v == nil || len(v) != 0 {
		t.Fatalf("apps = %#v", v)
	}
	if v := try(s.BillingByModel(c, m)).must(t); v == nil || len(v) != 0 {
		t.Fatalf("models = %#v", v)
	}
	if v := try(s.BillingByDay(c, m)).must(t); v == nil || len(v) != 0 {
		t.Fatalf("days = %#v", v)
	}
	equal(t, try(s.UserBilling(c, "nobody", m)).must(t), store.UserBilling{UserOID: "nobody", Month: m,
		Apps: []store.BillingAppRow{}, Models: []store.BillingModelRow{}, Days: []store.BillingDayRow{},
		Rows: []store.UserRollupRow{}}, "user detail")
}

func testBillingUserList(t *testing.T, s store.Store) {
	c := ctx(t)
	m := store.Month{Year: 2026, Month: 5}
	ts := time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC)
	// Costs with ties: the tie-break is the oid.
	specs := []struct {
		oid, email string
		cost       money.Nanos
	}{
		{"u-a", "alice@example.com", 300}, {"u-b", "bob@corp.test", 500}, {"u-c", "carol@example.com", 300},
		{"u-d", "dan_100%@example.com", 100}, {"u-e", "", 500}, {"u-f", "FRANK@EXAMPLE.COM", 0},
	}
	var rows []store.UsageRecord
	for i, sp := range specs {
		if sp.email != "" {
			try(s.CreateUser(c, store.User{OID: sp.oid, Email: sp.email, Role: store.RoleUser, Active: true})).must(t)
		}
		rows = append(rows, store.UsageRecord{RequestID: fmt.Sprintf("ul-%d", i), CreatedAt: ts, UserOID: sp.oid,
			Model: "m", Status: 200, Cost: sp.cost, Attempts: 1})
	}
	ok(t, s.InsertUsage(c, rows))
	oids := func(us []store.BillingUserRow) []string {
		out := []string{}
		for _, u := range us {
			out = append(out, u.UserOID)
		}
		return out
	}
	cases := []struct {
		name  string
		f     store.BillingUserFilter
		want  []string
		total int64
	}{
		{"all", store.BillingUserFilter{}, []string{"u-b", "u-e", "u-a", "u-c", "u-d", "u-f"}, 6},
		{"page", store.BillingUserFilter{Limit: 2, Offset: 1}, []string{"u-e", "u-a"}, 6},
		{"offset only", store.BillingUserFilter{Offset: 4}, []string{"u-d", "u-f"}, 6},
		{"past the end", store.BillingUserFilter{Limit: 5, Offset: 10}, []string{}, 6},
		{"search email", store.BillingUserFilter{Search: "example.com"}, []string{"u-a", "u-c", "u-d", "u-f"}, 4},
		{"search case-insensitive", store.BillingUserFilter{Search: "Example.COM"}, []string{"u-a", "u-c", "u-d", "u-f"}, 4},
		{"search oid", store.BillingUserFilter{Search: "u-e"}, []string{"u-e"}, 1},
		{"search literal percent", store.BillingUserFilter{Search: "100%"}, []string{"u-d"}, 1},
		{"search literal underscore", store.BillingUserFilter{Search: "n_1"}, []string{"u-d"}, 1},
		{"search no match", store.BillingUserFilter{Search: "zzz"}, []string{}, 0},
		{"search page", store.BillingUserFilter{Search: "example", Limit: 1, Offset: 1}, []string{"u-c"}, 4},
		{"search past the end", store.BillingUserFilter{Search: "example", Limit: 2, Offset: 9}, []string{}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Month = m
			got, n := byUser(t, s, tc.f)
			equal(t, oids(got), tc.want, "users")
			equal(t, n, tc.total, "total")
		})
	}
	got, _ := byUser(t, s, store.BillingUserFilter{Month: m, Search: "bob"})
	equal(t, got, []store.BillingUserRow{{UserOID: "u-b", Email: "bob@corp.test",
		BillingAmounts: store.BillingAmounts{Requests: 1, Cost: 500}}}, "row with email")
	got, _ = byUser(t, s, store.BillingUserFilter{Month: m, Search: "u-e"})
	equal(t, got[0].Email, "", "email of an oid unknown to Users")
}

func testBillingNames(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "owner")
	try(s.CreateApp(c, store.App{AppID: "dify-prod", Name: "Dify", OwnerID: "owner", IsActive: true})).must(t)
	ts := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ok(t, s.InsertUsage(c, []store.UsageRecord{
		{RequestID: "n1", CreatedAt: ts, UserOID: "owner", AppID: ptr("dify-prod"), Model: "m", Cost: 5, Attempts: 1},
		{RequestID: "n2", CreatedAt: ts, UserOID: "owner", AppID: ptr("gone"), Model: "m", Cost: 7, Attempts: 1},
		{RequestID: "n3", CreatedAt: ts, UserOID: "owner", Model: "m", Cost: 5, Attempts: 1},
	}))
	m := store.Month{Year: 2026, Month: 6}
	want := []store.BillingAppRow{
		{AppID: "gone", BillingAmounts: store.BillingAmounts{Requests: 1, Cost: 7}},
		{AppID: "", BillingAmounts: store.BillingAmounts{Requests: 1, Cost: 5}},
		{AppID: "dify-prod", Name: "Dify", OwnerID: "owner", BillingAmounts: store.BillingAmounts{Requests: 1, Cost: 5}},
	}
	equal(t, try(s.BillingByApp(c, m)).must(t), want, "apps with names")
	equal(t, try(s.UserBilling(c, "owner", m)).must(t).Apps, want, "user's apps with names")
}

func testRebuild(t *testing.T, s store.Store) {
	c := ctx(t)
	loc := s.BillingLocation()
	rows := genUsage(3, "rb", 600, time.Date(2026, 7, 1, 0, 0, 0, 0, loc).Add(-48*time.Hour), 40*24*time.Hour)
	ok(t, s.InsertUsage(c, rows))
	before := aggregate(rawRows(t, s), loc)
	before.check(t, s)
	ok(t, s.RebuildUsageRollups(c))
	before.check(t, s)
	ok(t, s.InsertUsage(c, genUsage(4, "rb2", 50, time.Date(2026, 7, 15, 0, 0, 0, 0, loc), time.Hour)))
	aggregate(rawRows(t, s), loc).check(t, s)
}

func testRetention(t *testing.T, s store.Store) {
	c := ctx(t)
	months := []time.Time{
		time.Date(2025, 11, 15, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	var rows []store.UsageRecord
	for i, ts := range months {
		for j := range 3 {
			rows = append(rows, store.UsageRecord{RequestID: fmt.Sprintf("ret-%d-%d", i, j), CreatedAt: ts,
				UserOID: "keep", Model: "m", Status: 200, Cost: money.Nanos(10*i + j + 1), Attempts: 1})
		}
	}
	ok(t, s.InsertUsage(c, rows))
	totals := map[store.Month]store.BillingAmounts{}
	for _, ts := range months {
		m := store.MonthOf(ts, time.UTC)
		totals[m] = try(s.BillingTotals(c, m)).must(t)
	}
	dropped := try(s.DropUsagePartitionsBefore(c, time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC))).must(t)
	equal(t, dropped, []string{"usagelogs_2025_11", "usagelogs_2025_12"}, "dropped")
	left := rawRows(t, s)
	var ids []string
	for _, r := range left {
		ids = append(ids, r.RequestID)
	}
	sort.Strings(ids)
	equal(t, strings.Join(ids, ","), "ret-2-0,ret-2-1,ret-2-2", "raw rows left")
	for m, want := range totals {
		equal(t, try(s.BillingTotals(c, m)).must(t), want, m.String()+" rollups kept")
	}
	equal(t, try(s.DropUsagePartitionsBefore(c, time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC))).must(t),
		[]string{}, "second run")
	// A late row for a dropped month is stored again (and counted).
	late := store.UsageRecord{RequestID: "ret-late", CreatedAt: months[0], UserOID: "keep", Model: "m", Cost: 1000, Attempts: 1}
	ok(t, s.InsertUsage(c, []store.UsageRecord{late}))
	m := store.MonthOf(months[0], time.UTC)
	equal(t, try(s.BillingTotals(c, m)).must(t).Cost, totals[m].Cost+1000, "late row counted")
}
