package budget

import (
	"context"
	"github.com/antigravity/gateway/internal/money"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// TestRebuildReasserts: after Redis loses a counter, the rebuilt one holds
// the other replicas' open reservations and counts each settle exactly once,
// whether its usage row reached the database before the rebuild or after.
func TestRebuildReasserts(t *testing.T) {
	for _, rowBeforeRebuild := range []bool{false, true} {
		name := map[bool]string{false: "row written after the rebuild", true: "row written before the rebuild"}[rowBeforeRebuild]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := openStore(t)
			setBudget(t, st, store.BudgetUser, "alice", 10*usd)
			if err := st.InsertUsage(ctx, []store.UsageRecord{usageRow("old", "alice", 0, "", time.Now(), usd)}); err != nil {
				t.Fatal(err)
			}
			admin := redisClient(t)
			prefix := testPrefix(t, admin)
			o := RedisOptions{RecoveryWindow: 300 * time.Millisecond}
			a, b, c := newReplica(t, st, prefix, o), newReplica(t, st, prefix, o), newReplica(t, st, prefix, o)
			alice := Subject{UserOID: "alice"}

			held, err := a.r.Reserve(ctx, alice, "held", 6*usd) // in flight across the loss
			if err != nil {
				t.Fatal(err)
			}
			done, err := b.r.Reserve(ctx, alice, "done", 3*usd)
			if err != nil {
				t.Fatal(err)
			}
			if err := done.Settle(ctx, 2*usd); err != nil { // its row is still in the recorder
				t.Fatal(err)
			}
			row := usageRow("done", "alice", 0, "", time.Now(), 2*usd)
			if rowBeforeRebuild {
				if err := st.InsertUsage(ctx, []store.UsageRecord{row}); err != nil {
					t.Fatal(err)
				}
			}
			if n := flushPrefix(ctx, admin, prefix); n == 0 {
				t.Fatal("nothing flushed")
			}

			// C's next reservation rebuilds the counter: it waits for the
			// window, then sees 1 (database) + 2 (B's settle) spent and A's 6 held.
			start := time.Now()
			if _, err := c.r.Reserve(ctx, alice, "probe", 2*usd); code(err) != "insufficient_quota" {
				t.Fatalf("after the rebuild 1 USD is left: %v", err)
			}
			if waited := time.Since(start); waited < 250*time.Millisecond {
				t.Fatalf("the reservation did not wait for the recovery window (%v)", waited)
			}
			s, err := c.r.Status(ctx, store.BudgetUser, "alice")
			if err != nil || s.Spent != 3*usd || s.Reserved != 6*usd {
				t.Fatalf("rebuilt counter %+v %v, want 3 spent and 6 reserved", s, err)
			}
			if !rowBeforeRebuild {
				if err := st.InsertUsage(ctx, []store.UsageRecord{row}); err != nil {
					t.Fatal(err)
				}
			}
			if err := held.Settle(ctx, 5*usd); err != nil {
				t.Fatal(err)
			}
			if err := st.InsertUsage(ctx, []store.UsageRecord{usageRow("held", "alice", 0, "", time.Now(), 5*usd)}); err != nil {
				t.Fatal(err)
			}
			s, _ = c.r.Status(ctx, store.BudgetUser, "alice")
			m := MonthOf(time.Now(), time.UTC)
			db, _ := st.SumBudgetSpend(ctx, store.BudgetUser, "alice", m.Start, m.End, nil)
			if s.Spent != 8*usd || s.Reserved != 0 || db != 8*usd {
				t.Fatalf("counter %+v, database %s: want 8 USD in both", s, db.USD())
			}
			if counterValue(c.m.Rebuilds) != 1 {
				t.Fatalf("rebuilds on C = %v", counterValue(c.m.Rebuilds))
			}
		})
	}
}

// TestNewCounterNoWindow: once Redis has not lost data for a TTL, a counter
// that never existed (a new month, a new budget) opens without the window.
func TestNewCounterNoWindow(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", 10*usd)
	setBudget(t, st, store.BudgetUser, "bob", 10*usd)
	c := redisClient(t)
	prefix := testPrefix(t, c)
	r := NewRedis(c, newLimits(t, st, nil, -1), st, nil, RedisOptions{Options: Options{TTL: time.Second},
		Prefix: prefix, RecoveryWindow: 3 * time.Second, Log: quiet()})
	defer r.Close()
	start := time.Now()
	if _, err := r.Reserve(ctx, Subject{UserOID: "alice"}, "a", usd); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 2900*time.Millisecond {
		t.Fatalf("the first counter after a loss of the epoch opened without the window (%v)", time.Since(start))
	}
	time.Sleep(1100 * time.Millisecond) // a TTL without data loss
	start = time.Now()
	if _, err := r.Reserve(ctx, Subject{UserOID: "bob"}, "b", usd); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a brand-new counter waited %v", d)
	}
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", 5*usd)
	setBudget(t, st, store.BudgetApp, "dify", 7*usd)
	setBudget(t, st, store.BudgetKey, "9", maxAmount+1000)
	bus := events.NewLocal()
	l := newLimits(t, st, bus, 2*usd)
	defer l.Close()
	cases := []struct {
		subj Subject
		want []applied
	}{
		{Subject{UserOID: "alice", AppID: "dify", KeyID: 9}, []applied{
			{ref{store.BudgetUser, "alice"}, 5 * usd}, {ref{store.BudgetApp, "dify"}, 7 * usd}, {ref{store.BudgetKey, "9"}, maxAmount}}},
		{Subject{UserOID: "bob", AppID: "other", KeyID: 3}, []applied{{ref{store.BudgetUser, "bob"}, 2 * usd}}},
		{Subject{}, nil},
	}
	for _, tc := range cases {
		got := l.For(tc.subj)
		if len(got) != len(tc.want) {
			t.Fatalf("For(%+v) = %+v, want %+v", tc.subj, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("For(%+v)[%d] = %+v, want %+v", tc.subj, i, got[i], tc.want[i])
			}
		}
	}
	// An event reloads one budget; Reset reloads all.
	setBudget(t, st, store.BudgetUser, "alice", 8*usd)
	_ = bus.Publish(ctx, events.Event{Kind: events.BudgetChanged, ID: "user:alice"})
	waitLimit(t, l, store.BudgetUser, "alice", 8*usd, true)
	if err := st.DeleteBudget(ctx, store.BudgetApp, "dify"); err != nil {
		t.Fatal(err)
	}
	_ = bus.Publish(ctx, events.Event{Kind: events.Reset})
	waitLimit(t, l, store.BudgetApp, "dify", 0, false)
	// Malformed events are ignored.
	_ = bus.Publish(ctx, events.Event{Kind: events.BudgetChanged, ID: "rebuild:gw:budget:user:alice:2026-01"})
	_ = bus.Publish(ctx, events.Event{Kind: events.BudgetChanged, ID: "nocolon"})
	if lim, _, ok := l.Limit(store.BudgetUser, "alice"); !ok || lim != 8*usd {
		t.Fatalf("alice = %v %v", lim, ok)
	}
}

func waitLimit(t *testing.T, l *Limits, scope store.BudgetScope, target string, want money.Nanos, ok bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		lim, _, found := l.Limit(scope, target)
		if found == ok && (!ok || lim == want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s = %v %v, want %v %v", scope, target, lim, found, want, ok)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
