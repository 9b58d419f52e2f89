package budget

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

const usd = money.Nanos(1_000_000_000)

func TestWorstCase(t *testing.T) {
	m := store.Model{MaxOutputTokens: 1000, ContextWindow: 8000, InputPrice: 2_000_000, OutputPrice: 8_000_000}
	cases := []struct {
		name           string
		model          store.Model
		prompt, output int64
		want           money.Nanos
	}{
		{"explicit max tokens", m, 500, 100, 500*2000 + 100*8000},
		{"model maximum", m, 500, 0, 500*2000 + 1000*8000},
		{"negative means unset", m, 500, -1, 500*2000 + 1000*8000},
		{"context window less prompt", store.Model{ContextWindow: 8000, InputPrice: 1_000_000, OutputPrice: 1_000_000}, 3000, 0, 3000*1000 + 5000*1000},
		{"prompt beyond the window", store.Model{ContextWindow: 100, InputPrice: 1_000_000, OutputPrice: 1_000_000}, 300, 0, 300 * 1000},
		{"free model", store.Model{MaxOutputTokens: 10}, 5, 5, 0},
		{"rounds up", store.Model{InputPrice: 1}, 1, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := WorstCase(tc.model, tc.prompt, tc.output); got != tc.want {
				t.Fatalf("WorstCase = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMonthOf(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	cases := []struct {
		at         time.Time
		loc        *time.Location
		label      string
		start, end time.Time
	}{
		{time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC), time.UTC, "2026-03",
			time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		// 22:30 UTC on March 31 is already April 1 in Paris (CEST, UTC+2).
		{time.Date(2026, 3, 31, 22, 30, 0, 0, time.UTC), paris, "2026-04",
			time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC), time.Date(2026, 4, 30, 22, 0, 0, 0, time.UTC)},
		// March in Paris starts in winter time (UTC+1).
		{time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), paris, "2026-03",
			time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 31, 15, 0, 0, 0, time.UTC), tokyo, "2027-01",
			time.Date(2026, 12, 31, 15, 0, 0, 0, time.UTC), time.Date(2027, 1, 31, 15, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		m := MonthOf(tc.at, tc.loc)
		if m.Label != tc.label || !m.Start.Equal(tc.start) || !m.End.Equal(tc.end) {
			t.Errorf("MonthOf(%v, %v) = %+v, want %s [%v, %v)", tc.at, tc.loc, m, tc.label, tc.start, tc.end)
		}
	}
}

// TestSemantics runs the same scenarios on both implementations.
func TestSemantics(t *testing.T) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			t.Run("basics", func(t *testing.T) { testBasics(t, im) })
			t.Run("all or none", func(t *testing.T) { testAllOrNone(t, im) })
			t.Run("exhausted user", func(t *testing.T) { testExhausted(t, im) })
			t.Run("expiry", func(t *testing.T) { testExpiry(t, im) })
			t.Run("month rollover", func(t *testing.T) { testRollover(t, im) })
			t.Run("loads from the database", func(t *testing.T) { testLoad(t, im) })
		})
	}
}

func testBasics(t *testing.T, im impl) {
	ctx := context.Background()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", 10*usd)
	clk := newClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	s := im.make(t, st, newLimits(t, st, nil, -1), Options{Now: clk.Now})
	alice := Subject{UserOID: "alice"}

	// No budget: a no-op reservation.
	r0, err := s.Reserve(ctx, Subject{UserOID: "bob"}, "r0", 1000*usd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r0.(nop); !ok {
		t.Fatalf("bob has no budget but got %T", r0)
	}

	r1, err := s.Reserve(ctx, alice, "r1", 6*usd)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, s, "alice", 0, 6*usd)
	_, err = s.Reserve(ctx, alice, "r2", 5*usd)
	if status(err) != 429 || code(err) != "insufficient_quota" {
		t.Fatalf("over budget: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"user 'alice'", "$10", "$4 left", "$6 is reserved", "up to $5"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	r3, err := s.Reserve(ctx, alice, "r3", 4*usd)
	if err != nil {
		t.Fatalf("exactly what is left: %v", err)
	}
	if err := r1.Settle(ctx, 2*usd); err != nil {
		t.Fatal(err)
	}
	if err := r1.Settle(ctx, 5*usd); err != nil { // idempotent: the first settle counts
		t.Fatal(err)
	}
	if err := r1.Release(ctx); err != nil { // no-op after settle
		t.Fatal(err)
	}
	wantStatus(t, s, "alice", 2*usd, 4*usd)
	if err := r3.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r3.Settle(ctx, usd); err != nil { // no-op after release
		t.Fatal(err)
	}
	wantStatus(t, s, "alice", 2*usd, 0)
	// Settle records the truth even above the hold.
	r4, err := s.Reserve(ctx, alice, "r4", usd)
	if err != nil {
		t.Fatal(err)
	}
	if err := r4.Settle(ctx, 3*usd); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, s, "alice", 5*usd, 0)

	// The default user budget applies to users without their own.
	st2 := openStore(t)
	s2 := im.make(t, st2, newLimits(t, st2, nil, usd), Options{Now: clk.Now})
	if _, err := s2.Reserve(ctx, Subject{UserOID: "carol"}, "c1", 2*usd); code(err) != "insufficient_quota" {
		t.Fatalf("default budget: %v", err)
	}
	if _, err := s2.Reserve(ctx, Subject{UserOID: "carol"}, "c2", usd); err != nil {
		t.Fatalf("default budget: %v", err)
	}
}

func wantStatus(t *testing.T, s Service, user string, spent, reserved money.Nanos) {
	t.Helper()
	got, err := s.Status(context.Background(), store.BudgetUser, user)
	if err != nil {
		t.Fatal(err)
	}
	if got.Spent != spent || got.Reserved != reserved {
		t.Fatalf("status of %s = spent %s reserved %s, want %s and %s", user, got.Spent.USD(), got.Reserved.USD(), spent.USD(), reserved.USD())
	}
}

func testAllOrNone(t *testing.T, im impl) {
	ctx := context.Background()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", 10*usd)
	setBudget(t, st, store.BudgetApp, "dify", 5*usd)
	setBudget(t, st, store.BudgetKey, "7", 3*usd)
	s := im.make(t, st, newLimits(t, st, nil, -1), Options{})
	full := Subject{UserOID: "alice", AppID: "dify", KeyID: 7}

	_, err := s.Reserve(ctx, full, "a1", 4*usd)
	if code(err) != "insufficient_quota" || !strings.Contains(err.Error(), "key '7'") {
		t.Fatalf("key budget should refuse: %v", err)
	}
	wantStatus(t, s, "alice", 0, 0) // nothing held on the user either
	r, err := s.Reserve(ctx, full, "a2", 3*usd)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []struct {
		scope  store.BudgetScope
		target string
	}{{store.BudgetUser, "alice"}, {store.BudgetApp, "dify"}, {store.BudgetKey, "7"}} {
		got, err := s.Status(ctx, sc.scope, sc.target)
		if err != nil || got.Reserved != 3*usd {
			t.Fatalf("%s %s: %+v %v", sc.scope, sc.target, got, err)
		}
	}
	// Another key of the same user and app: the app budget now refuses.
	_, err = s.Reserve(ctx, Subject{UserOID: "alice", AppID: "dify", KeyID: 8}, "a3", 3*usd)
	if code(err) != "insufficient_quota" || !strings.Contains(err.Error(), "app 'dify'") {
		t.Fatalf("app budget should refuse: %v", err)
	}
	if err := r.Settle(ctx, usd); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Status(ctx, store.BudgetApp, "dify")
	if got.Spent != usd || got.Reserved != 0 {
		t.Fatalf("app after settle: %+v", got)
	}
}

func testExhausted(t *testing.T, im impl) {
	ctx := context.Background()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", 2*usd)
	setBudget(t, st, store.BudgetApp, "dify", usd)
	lim := newLimits(t, st, nil, -1)
	s := im.make(t, st, lim, Options{})
	r, err := s.Reserve(ctx, Subject{UserOID: "alice"}, "e1", usd)
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Settle(ctx, 2*usd)
	_, err = s.Reserve(ctx, Subject{UserOID: "alice"}, "e2", 1)
	if status(err) != 403 || code(err) != "kill_switch" || !strings.Contains(err.Error(), "exhausted") {
		t.Fatalf("exhausted user: %v", err)
	}
	// Raising the budget lifts the block.
	setBudget(t, st, store.BudgetUser, "alice", 3*usd)
	if err := lim.Reload(ctx, store.BudgetUser, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, Subject{UserOID: "alice"}, "e3", usd); err != nil {
		t.Fatalf("after raising the budget: %v", err)
	}
	// An exhausted app budget is a 429, not a block.
	r, _ = s.Reserve(ctx, Subject{UserOID: "bob", AppID: "dify"}, "e4", usd)
	_ = r.Settle(ctx, usd)
	if _, err := s.Reserve(ctx, Subject{UserOID: "bob", AppID: "dify"}, "e5", 1); status(err) != 429 {
		t.Fatalf("exhausted app: %v", err)
	}
}

func testExpiry(t *testing.T, im impl) {
	ctx := context.Background()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", 10*usd)
	clk := newClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	m := NewMetrics(nil)
	s := im.make(t, st, newLimits(t, st, nil, -1), Options{Now: clk.Now, TTL: time.Minute, Metrics: m})
	alice := Subject{UserOID: "alice"}
	if _, err := s.Reserve(ctx, alice, "x1", 8*usd); err != nil { // never settled: a dead replica
		t.Fatal(err)
	}
	late, err := s.Reserve(ctx, alice, "x2", 2*usd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, alice, "x3", usd); code(err) != "insufficient_quota" {
		t.Fatalf("before expiry: %v", err)
	}
	clk.Add(61 * time.Second)
	if _, err := s.Reserve(ctx, alice, "x4", 9*usd); err != nil {
		t.Fatalf("after expiry the budget is available again: %v", err)
	}
	if got := counterValue(m.Reclaimed); got != 2 {
		t.Fatalf("reclaimed = %v, want 2", got)
	}
	if got := counterValue(m.ReclaimedN); got != float64(10*usd) {
		t.Fatalf("reclaimed nanos = %v", got)
	}
	// A settle after the hold expired still records the cost.
	if err := late.Settle(ctx, usd); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, s, "alice", usd, 9*usd)
}

func testRollover(t *testing.T, im impl) {
	ctx := context.Background()
	paris, _ := time.LoadLocation("Europe/Paris")
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", 10*usd)
	// 23:00 UTC on March 31 is 01:00 on April 1 in Paris.
	clk := newClock(time.Date(2026, 3, 31, 21, 0, 0, 0, time.UTC))
	s := im.make(t, st, newLimits(t, st, nil, -1), Options{Now: clk.Now, Location: paris})
	alice := Subject{UserOID: "alice"}
	r, err := s.Reserve(ctx, alice, "m1", 9*usd)
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Settle(ctx, 9*usd)
	if _, err := s.Reserve(ctx, alice, "m2", 2*usd); code(err) != "insufficient_quota" {
		t.Fatalf("March is nearly spent: %v", err)
	}
	clk.Set(time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC)) // midnight in Paris
	if _, err := s.Reserve(ctx, alice, "m3", 10*usd); err != nil {
		t.Fatalf("April in Paris starts with the full budget: %v", err)
	}
	got, _ := s.Status(ctx, store.BudgetUser, "alice")
	if got.Month != "2026-04" || got.Spent != 0 || got.Reserved != 10*usd {
		t.Fatalf("April status %+v", got)
	}
	// A request that started in March (Subject.At) is billed to March.
	_, err = s.Reserve(ctx, Subject{UserOID: "alice", At: time.Date(2026, 3, 31, 21, 59, 0, 0, time.UTC)}, "m4", 2*usd)
	if code(err) != "insufficient_quota" || !strings.Contains(err.Error(), "2026-03") {
		t.Fatalf("a March request: %v", err)
	}
}

func testLoad(t *testing.T, im impl) {
	ctx := context.Background()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", 10*usd)
	setBudget(t, st, store.BudgetKey, "7", 10*usd)
	clk := newClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	if err := st.InsertUsage(ctx, []store.UsageRecord{
		usageRow("old", "alice", 7, "", time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC), 50*usd),
		usageRow("u1", "alice", 7, "", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), 4*usd),
		usageRow("u2", "alice", 8, "", time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC), 3*usd),
	}); err != nil {
		t.Fatal(err)
	}
	s := im.make(t, st, newLimits(t, st, nil, -1), Options{Now: clk.Now})
	wantStatus(t, s, "alice", 7*usd, 0)
	_, err := s.Reserve(ctx, Subject{UserOID: "alice", KeyID: 7}, "l1", 4*usd)
	if code(err) != "insufficient_quota" || !strings.Contains(err.Error(), "user 'alice'") {
		t.Fatalf("3 USD left on alice: %v", err)
	}
	if _, err := s.Reserve(ctx, Subject{UserOID: "alice", KeyID: 7}, "l2", 3*usd); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Status(ctx, store.BudgetKey, "7")
	if got.Spent != 4*usd || got.Reserved != 3*usd {
		t.Fatalf("key 7 status %+v", got)
	}
}

func TestLocalForgetsOldMonths(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", 10*usd)
	clk := newClock(time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC))
	l := NewLocal(newLimits(t, st, nil, -1), st, Options{Now: clk.Now}, quiet())
	for _, month := range []time.Month{1, 2, 3, 4} {
		clk.Set(time.Date(2026, month, 15, 0, 0, 0, 0, time.UTC))
		r, err := l.Reserve(ctx, Subject{UserOID: "alice"}, "m"+month.String(), usd)
		if err != nil {
			t.Fatal(err)
		}
		_ = r.Settle(ctx, usd)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var months []string
	for k := range l.counters {
		months = append(months, k.month)
	}
	if len(months) != 2 {
		t.Fatalf("counters kept for %v, want March and April only", months)
	}
}
