package storetest

import (
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// BudgetStore is a store with budgets and kill switches.
type BudgetStore interface {
	store.Store
	store.Budgets
	store.KillSwitches
}

// RunBudgets runs the contract suite of store.Budgets and store.KillSwitches.
// open must return a new, empty, migrated store implementing both.
func RunBudgets(t *testing.T, open func(t *testing.T) store.Store) {
	areas := []struct {
		name string
		fn   func(t *testing.T, s BudgetStore)
	}{
		{"Budgets", testBudgets},
		{"BudgetSpend", testBudgetSpend},
		{"KillSwitches", testKillSwitches},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			s, ok := open(t).(BudgetStore)
			if !ok {
				t.Fatal("the store does not implement store.Budgets and store.KillSwitches")
			}
			a.fn(t, s)
		})
	}
}

func testBudgets(t *testing.T, s BudgetStore) {
	c := ctx(t)
	_, err := s.GetBudget(c, store.BudgetUser, "alice")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteBudget(c, store.BudgetUser, "alice"), store.ErrNotFound)

	b := try(s.SetBudget(c, store.Budget{Scope: store.BudgetUser, Target: "alice", Monthly: 12_500_000_000, UpdatedAt: base()})).must(t)
	equal(t, b, store.Budget{Scope: store.BudgetUser, Target: "alice", Monthly: 12_500_000_000, UpdatedAt: micro(base())}, "SetBudget")
	equal(t, try(s.GetBudget(c, store.BudgetUser, "alice")).must(t), b, "GetBudget")
	// Another scope with the same target is another budget.
	_, err = s.GetBudget(c, store.BudgetApp, "alice")
	wantErr(t, err, store.ErrNotFound)

	later := base().Add(time.Hour)
	b2 := try(s.SetBudget(c, store.Budget{Scope: store.BudgetUser, Target: "alice", Monthly: 1, UpdatedAt: later})).must(t)
	equal(t, try(s.GetBudget(c, store.BudgetUser, "alice")).must(t), b2, "replaced budget")

	before := time.Now()
	k := try(s.SetBudget(c, store.Budget{Scope: store.BudgetKey, Target: "42", Monthly: 0})).must(t)
	recent(t, k.UpdatedAt, before, time.Now(), "assigned UpdatedAt")
	a := try(s.SetBudget(c, store.Budget{Scope: store.BudgetApp, Target: "dify", Monthly: money.Nanos(1) << 62, UpdatedAt: base()})).must(t)
	equal(t, try(s.GetBudget(c, store.BudgetApp, "dify")).must(t), a, "large budget")

	equal(t, try(s.ListBudgets(c)).must(t), []store.Budget{a, k, b2}, "ListBudgets by scope, target")

	for _, bad := range []store.Budget{
		{Scope: "team", Target: "x", Monthly: 1},
		{Scope: store.BudgetUser, Target: "", Monthly: 1},
		{Scope: store.BudgetUser, Target: "neg", Monthly: -1},
	} {
		_, err := s.SetBudget(c, bad)
		wantFail(t, err, "invalid budget "+string(bad.Scope)+"/"+bad.Target)
	}

	ok(t, s.DeleteBudget(c, store.BudgetUser, "alice"))
	_, err = s.GetBudget(c, store.BudgetUser, "alice")
	wantErr(t, err, store.ErrNotFound)
	equal(t, len(try(s.ListBudgets(c)).must(t)), 2, "budgets left")
}

func testBudgetSpend(t *testing.T, s BudgetStore) {
	c := ctx(t)
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	april := march.AddDate(0, 1, 0)
	row := func(id string, at time.Time, user string, key int64, app string, cost money.Nanos) store.UsageRecord {
		r := store.UsageRecord{RequestID: id, CreatedAt: at, UserOID: user, Model: "m", Status: 200, Cost: cost, Attempts: 1}
		if key != 0 {
			r.KeyID = ptr(key)
		}
		if app != "" {
			r.AppID = ptr(app)
		}
		return r
	}
	ok(t, s.InsertUsage(c, []store.UsageRecord{
		row("feb", march.Add(-time.Microsecond), "alice", 1, "dify", 1000),
		row("m1", march, "alice", 1, "dify", 10),
		row("m2", march.Add(time.Hour), "alice", 2, "", 20),
		row("m3", march.Add(48*time.Hour), "bob", 1, "dify", 40),
		row("m4", april.Add(-time.Microsecond), "alice", 0, "bff", 80),
		row("apr", april, "alice", 1, "dify", 5000),
	}))
	cases := []struct {
		name    string
		scope   store.BudgetScope
		target  string
		exclude []string
		want    money.Nanos
	}{
		{"user", store.BudgetUser, "alice", nil, 110},
		{"user excluding", store.BudgetUser, "alice", []string{"m2", "nope", "m3"}, 90},
		{"key", store.BudgetKey, "1", nil, 50},
		{"key excluding all", store.BudgetKey, "1", []string{"m1", "m3"}, 0},
		{"app", store.BudgetApp, "dify", nil, 50},
		{"other user", store.BudgetUser, "bob", []string{}, 40},
		{"no rows", store.BudgetUser, "carol", nil, 0},
		{"key not a number", store.BudgetKey, "x", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := try(s.SumBudgetSpend(c, tc.scope, tc.target, march, april, tc.exclude)).must(t)
			equal(t, got, tc.want, "spend")
		})
	}
	_, err := s.SumBudgetSpend(c, "team", "x", march, april, nil)
	wantFail(t, err, "unknown scope")
}

func testKillSwitches(t *testing.T, s BudgetStore) {
	c := ctx(t)
	equal(t, try(s.ListKillSwitches(c, true)).must(t), []store.KillSwitch{}, "empty list")
	_, err := s.GetKillSwitch(c, 1)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.LiftKillSwitch(c, 1, "admin", base())
	wantErr(t, err, store.ErrNotFound)
	_, err = s.CreateKillSwitch(c, store.KillSwitch{Scope: "planet", Target: "x"})
	wantFail(t, err, "unknown scope")

	g := try(s.CreateKillSwitch(c, store.KillSwitch{Scope: store.KillGlobal, Reason: "incident 7", CreatedBy: "admin", CreatedAt: base()})).must(t)
	if g.ID == 0 || g.LiftedAt != nil || !g.Active() {
		t.Fatalf("created = %+v", g)
	}
	equal(t, g.CreatedAt, micro(base()), "CreatedAt")
	equal(t, try(s.GetKillSwitch(c, g.ID)).must(t), g, "GetKillSwitch")
	before := time.Now()
	m := try(s.CreateKillSwitch(c, store.KillSwitch{Scope: store.KillModel, Target: "gpt-4o", Reason: "leak", CreatedBy: "admin"})).must(t)
	recent(t, m.CreatedAt, before, time.Now(), "assigned CreatedAt")
	if m.ID <= g.ID {
		t.Fatalf("ids %d then %d", g.ID, m.ID)
	}
	equal(t, try(s.ListKillSwitches(c, false)).must(t), []store.KillSwitch{m, g}, "active, newest first")

	lifted := try(s.LiftKillSwitch(c, g.ID, "admin-2", base().Add(time.Minute))).must(t)
	want := g
	want.LiftedAt, want.LiftedBy = ptr(micro(base().Add(time.Minute))), "admin-2"
	equal(t, lifted, want, "lifted")
	if lifted.Active() {
		t.Fatal("lifted switch is still active")
	}
	equal(t, try(s.GetKillSwitch(c, g.ID)).must(t), want, "GetKillSwitch after lift")
	_, err = s.LiftKillSwitch(c, g.ID, "admin", base())
	wantErr(t, err, store.ErrNotFound)
	equal(t, try(s.ListKillSwitches(c, false)).must(t), []store.KillSwitch{m}, "active after lift")
	equal(t, try(s.ListKillSwitches(c, true)).must(t), []store.KillSwitch{m, want}, "all after lift")
}
