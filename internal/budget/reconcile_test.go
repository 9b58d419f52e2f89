package budget

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// reconcileNow runs a full reconciliation pass of s.
func reconcileNow(t *testing.T, s Service) {
	t.Helper()
	switch v := s.(type) {
	case *Local:
		v.reconcile(context.Background(), true)
	case *Redis:
		v.reconcile(context.Background(), true)
	default:
		t.Fatalf("no reconciliation for %T", s)
	}
}

// TestReconcileLateRows: a counter loaded from the database misses the rows
// written after it was created (spend from before the budget, late usage
// rows, replicas that did not enforce the budget yet); reconciliation raises
// it to the database total, and a reservation that would overrun is refused.
func TestReconcileLateRows(t *testing.T) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			st := openStore(t)
			now := time.Now()
			if err := st.InsertUsage(ctx, []store.UsageRecord{usageRow("old", "alice", 0, "", now, usd)}); err != nil {
				t.Fatal(err)
			}
			setBudget(t, st, store.BudgetUser, "alice", 10*usd)
			s := im.make(t, st, newLimits(t, st, nil, -1), Options{})
			alice := Subject{UserOID: "alice"}

			// The counter is created from the database (1 USD), then one request
			// settles normally (its row follows the settle).
			res, err := s.Reserve(ctx, alice, "a", usd)
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Settle(ctx, usd); err != nil {
				t.Fatal(err)
			}
			if err := st.InsertUsage(ctx, []store.UsageRecord{usageRow("a", "alice", 0, "", now, usd)}); err != nil {
				t.Fatal(err)
			}
			// Rows the counter never saw: written late, or served without the budget.
			if err := st.InsertUsage(ctx, []store.UsageRecord{
				usageRow("late1", "alice", 0, "", now, 3*usd),
				usageRow("late2", "alice", 0, "", now, 2*usd),
			}); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, s, "alice", 2*usd, 0) // the gap: the database says 7
			m := MonthOf(now, time.UTC)
			db, err := st.SumBudgetSpend(ctx, store.BudgetUser, "alice", m.Start, m.End, nil)
			if err != nil || db != 7*usd {
				t.Fatalf("database total %s %v", db.USD(), err)
			}

			reconcileNow(t, s)
			wantStatus(t, s, "alice", db, 0)
			if _, err := s.Reserve(ctx, alice, "over", 4*usd); code(err) != "insufficient_quota" {
				t.Fatalf("7 spent + 4 > 10 must be refused: %v", err)
			}
			res, err = s.Reserve(ctx, alice, "fits", 3*usd)
			if err != nil {
				t.Fatalf("7 spent + 3 fits: %v", err)
			}
			if err := res.Settle(ctx, 3*usd); err != nil {
				t.Fatal(err)
			}
			if err := st.InsertUsage(ctx, []store.UsageRecord{usageRow("fits", "alice", 0, "", now, 3*usd)}); err != nil {
				t.Fatal(err)
			}
			reconcileNow(t, s) // consistent now: nothing changes
			wantStatus(t, s, "alice", 10*usd, 0)
			if _, err := s.Reserve(ctx, alice, "none", 1); code(err) != "kill_switch" {
				t.Fatalf("an exhausted user is blocked: %v", err)
			}
		})
	}
}

// TestReconcileNeverLowers: a counter above the database total (settles whose
// rows are not written yet) keeps its spent; held amounts are untouched.
func TestReconcileNeverLowers(t *testing.T) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			st := openStore(t)
			if err := st.InsertUsage(ctx, []store.UsageRecord{usageRow("old", "alice", 0, "", time.Now(), usd)}); err != nil {
				t.Fatal(err)
			}
			setBudget(t, st, store.BudgetUser, "alice", 10*usd)
			s := im.make(t, st, newLimits(t, st, nil, -1), Options{})
			alice := Subject{UserOID: "alice"}
			res, err := s.Reserve(ctx, alice, "a", 5*usd)
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Settle(ctx, 4*usd); err != nil { // its row is still in the recorder
				t.Fatal(err)
			}
			if _, err := s.Reserve(ctx, alice, "held", 2*usd); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				reconcileNow(t, s)
				wantStatus(t, s, "alice", 5*usd, 2*usd)
			}
		})
	}
}

// TestReconcileSkipsRecovering: a Redis counter being rebuilt is left to its
// recovery, which computes its base from the database itself.
func TestReconcileSkipsRecovering(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", 10*usd)
	c := redisClient(t)
	r := NewRedis(c, newLimits(t, st, nil, -1), st, nil, RedisOptions{Prefix: testPrefix(t, c), Log: quiet(),
		RecoveryWindow: 50 * time.Millisecond})
	defer r.Close()
	if _, err := r.Reserve(ctx, Subject{UserOID: "alice"}, "a", usd); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertUsage(ctx, []store.UsageRecord{usageRow("late", "alice", 0, "", time.Now(), 3*usd)}); err != nil {
		t.Fatal(err)
	}
	k := r.keysOf(ref{store.BudgetUser, "alice"}, MonthOf(time.Now(), time.UTC)).k
	if err := c.HSet(ctx, k, "st", "rec").Err(); err != nil {
		t.Fatal(err)
	}
	reconcileNow(t, r)
	if base := c.HGet(ctx, k, "base").Val(); base != "0" {
		t.Fatalf("a recovering counter was reconciled: base %q", base)
	}
	if err := c.HSet(ctx, k, "st", "ok").Err(); err != nil {
		t.Fatal(err)
	}
	reconcileNow(t, r)
	wantStatus(t, r, "alice", 3*usd, usd)
}

// TestInstanceReconcilesAndReloads: with its loops running (Limits.Run and
// RunReconcile, as the gateway runs them), an Instance reconciles by itself
// within seconds, and Status puts a budget just set in force on this replica.
func TestInstanceReconcilesAndReloads(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openStore(t)
	in, err := New(ctx, Config{Store: st, Bus: events.NewLocal(), Log: quiet(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	done := make(chan struct{})
	go func() { defer close(done); in.RunReconcile(ctx) }()
	limitsDone := make(chan struct{})
	go func() { defer close(limitsDone); in.Limits.Run(ctx, time.Minute) }()
	defer func() { cancel(); <-done; <-limitsDone }()

	// A budget set without an event (as on a replica the event has not
	// reached yet) applies once its status is read.
	setBudget(t, st, store.BudgetUser, "alice", 10*usd)
	if _, _, ok := in.Limits.Limit(store.BudgetUser, "alice"); ok {
		t.Fatal("the limit is cached before any reload")
	}
	if _, err := in.Status(ctx, store.BudgetUser, "alice"); err != nil {
		t.Fatal(err)
	}
	if lim, _, ok := in.Limits.Limit(store.BudgetUser, "alice"); !ok || lim != 10*usd {
		t.Fatalf("limit %v %v after Status", lim, ok)
	}

	if _, err := in.Reserve(ctx, Subject{UserOID: "alice"}, "a", usd); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertUsage(ctx, []store.UsageRecord{usageRow("late", "alice", 0, "", time.Now(), 6*usd)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := in.Status(ctx, store.BudgetUser, "alice")
		if err == nil && s.Spent == 6*usd {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reconciled within 5s: %+v %v", s, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if counterValue(in.Metrics.Reconciled) != float64(6*usd) {
		t.Fatalf("reconciled metric %v", counterValue(in.Metrics.Reconciled))
	}
}
