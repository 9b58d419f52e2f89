package budget

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/pgtest"
	"github.com/antigravity/gateway/internal/store/postgres"
)

// replica is one gateway instance's budget side: its own Redis connection,
// event bus subscription, limits cache and reserver (svc; r when on Redis).
type replica struct {
	c   *redis.Client
	bus *events.Redis
	r   *Redis
	svc Service
	m   *Metrics
}

func newReplica(t *testing.T, st store.Budgets, prefix string, o RedisOptions) *replica {
	t.Helper()
	c := redisClient(t)
	bus, err := events.NewRedis(context.Background(), c, "", quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	m := NewMetrics(nil)
	o.Prefix, o.Metrics, o.Log = prefix, m, quiet()
	r := NewRedis(c, newLimits(t, st, bus, -1), st, bus, o)
	t.Cleanup(r.Close)
	return &replica{c: c, bus: bus, r: r, svc: r, m: m}
}

// outcome is what the harness saw of one request.
type outcome struct {
	amount                   money.Nanos
	granted                  bool
	refusal                  string
	reserveStart, reserveEnd time.Time
	finishStart, finishEnd   time.Time
	charged                  money.Nanos // settled cost (0 if released)
	settled                  bool
}

// budgetStore is a store with usage and budgets (both back-ends).
type budgetStore interface {
	store.Budgets
	InsertUsage(ctx context.Context, rows []store.UsageRecord) error
}

func openPostgres(t *testing.T) budgetStore {
	t.Helper()
	st, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestPropertyNoOverspend: 3 replicas (or the embedded reserver), 500
// concurrent requests on a budget covering about 100 of them, with upstream
// failures and client cancels; optionally Redis loses the counters mid-run.
func TestPropertyNoOverspend(t *testing.T) {
	sqliteStore := func(t *testing.T) budgetStore { return openStore(t) }
	for _, tc := range []struct {
		name string
		open func(t *testing.T) budgetStore
		mode string
	}{
		{"redis/sqlite/steady", sqliteStore, "redis"},
		{"redis/sqlite/flushed mid-run", sqliteStore, "flush"},
		{"redis/postgres/steady", openPostgres, "redis"},
		{"redis/postgres/flushed mid-run", openPostgres, "flush"},
		{"embedded/sqlite", sqliteStore, "local"},
		{"redis+leases/sqlite/steady", sqliteStore, "leases"},
		{"redis+leases/postgres/flushed mid-run", openPostgres, "leases+flush"},
	} {
		t.Run(tc.name, func(t *testing.T) { runProperty(t, tc.open(t), tc.mode) })
	}
}

func runProperty(t *testing.T, st budgetStore, mode string) {
	flush := mode == "flush" || mode == "leases+flush"
	leases := mode == "leases" || mode == "leases+flush"
	const (
		requests = 500
		unit     = money.Nanos(1_000_000) // a typical request's worst case
		limit    = 100 * unit
	)
	ctx := context.Background()
	setBudget(t, st, store.BudgetUser, "alice", limit)
	setBudget(t, st, store.BudgetKey, "7", 10*limit)
	var reps []*replica
	var admin *redis.Client
	var prefix string
	if mode == "local" {
		m := NewMetrics(nil)
		l := NewLocal(newLimits(t, st, nil, -1), st, Options{Metrics: m}, quiet())
		reps = []*replica{{svc: l, m: m}}
	} else {
		admin = redisClient(t)
		prefix = testPrefix(t, admin)
		o := RedisOptions{RecoveryWindow: 200 * time.Millisecond}
		if leases {
			// Slack of a few requests, so that the leases are used, then
			// revoked and given up as the budget runs out.
			o.Leases = LeaseOptions{Enabled: true, Requests: 4}
		}
		reps = []*replica{newReplica(t, st, prefix, o), newReplica(t, st, prefix, o), newReplica(t, st, prefix, o)}
	}
	subj := Subject{UserOID: "alice", KeyID: 7}
	var leasedBefore float64
	if leases {
		// Every replica holds its leases before the run (reserved and
		// released: nothing is billed), as a replica serving traffic does;
		// otherwise the budget may be mostly held before the first lease is
		// granted, and the run would only exercise the exact path.
		for _, rep := range reps {
			awaitLease(t, rep, subj, int64(unit))
			leasedBefore += counterValue(rep.m.Leased)
		}
	}

	outs := make([]outcome, requests)
	var settledN, longHeld atomic.Int32
	flushed := make(chan int, 1)
	if flush {
		go func() {
			// Flush while many long requests hold reservations and the
			// budget still has room: lost holds would then be overspent.
			for longHeld.Load() < 25 || settledN.Load() < 10 {
				time.Sleep(time.Millisecond)
			}
			flushed <- flushPrefix(ctx, admin, prefix)
		}()
	}
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			rep := reps[i%len(reps)]
			o := &outs[i]
			o.amount = unit/2 + money.Nanos(rng.Int64N(int64(unit)))
			id := fmt.Sprintf("req-%03d", i)
			time.Sleep(time.Duration(rng.IntN(1_500_000)) * time.Microsecond) // arrivals spread over 1.5s
			o.reserveStart = time.Now()
			res, err := rep.svc.Reserve(ctx, subj, id, o.amount)
			o.reserveEnd = time.Now()
			if err != nil {
				o.refusal = code(err)
				return
			}
			o.granted = true
			// The upstream call: random latency, failures and client cancels.
			latency := time.Duration(rng.IntN(30)) * time.Millisecond
			if rng.IntN(3) == 0 { // a long stream, outliving a counter rebuild
				latency = 400*time.Millisecond + time.Duration(rng.IntN(200))*time.Millisecond
				longHeld.Add(1)
				defer longHeld.Add(-1)
			}
			upstream, cancel := context.WithTimeout(ctx, latency)
			<-upstream.Done()
			cancel()
			o.finishStart = time.Now()
			switch p := rng.IntN(100); {
			case p < 10: // upstream error or panic: nothing owed
				_ = res.Release(ctx)
			case p < 20: // client went away mid-stream: bill what was produced
				o.charged, o.settled = money.Nanos(rng.Int64N(int64(o.amount)/2+1)), true
			default:
				// Most answers use (nearly) all of max_tokens, so holds are tight.
				o.charged, o.settled = o.amount-money.Nanos(rng.Int64N(int64(o.amount)/10+1)), true
			}
			if o.settled {
				if err := res.Settle(ctx, o.charged); err != nil {
					t.Errorf("settle %s: %v", id, err)
				}
				// The usage row is handed to the recorder after Settle.
				if err := st.InsertUsage(ctx, []store.UsageRecord{usageRow(id, "alice", 7, "", time.Now(), o.charged)}); err != nil {
					t.Errorf("usage row %s: %v", id, err)
				}
			}
			o.finishEnd = time.Now()
			settledN.Add(1)
		}()
	}
	wg.Wait()
	if flush {
		if n := <-flushed; n == 0 {
			t.Fatal("the flush deleted nothing")
		}
	}
	if leases {
		leased := -leasedBefore
		for _, rep := range reps {
			leased += counterValue(rep.m.Leased)
			rep.r.leases.close(5 * time.Second) // a replica returns its leases when it stops
		}
		if leased == 0 {
			t.Fatal("no request was reserved against a lease")
		}
		t.Logf("%v requests reserved against leases", leased)
	}

	var billed money.Nanos
	granted, refused := 0, 0
	for _, o := range outs {
		billed += o.charged
		if o.granted {
			granted++
		} else {
			refused++
		}
	}
	t.Logf("granted %d, refused %d, billed %s of %s USD", granted, refused, billed.USD(), limit.USD())
	if billed > limit {
		t.Fatalf("billed %s USD over the budget of %s USD", billed.USD(), limit.USD())
	}
	if granted < 80 || refused == 0 {
		t.Fatalf("granted %d refused %d: the budget should admit about 100 of %d", granted, refused, requests)
	}
	// Every refusal was justified: what could have been committed or held
	// when the script ran, plus the request, exceeded the limit.
	for i, r := range outs {
		if r.granted {
			continue
		}
		if r.refusal != "insufficient_quota" && r.refusal != "kill_switch" {
			t.Fatalf("request %d refused with %q", i, r.refusal)
		}
		var upper money.Nanos
		for j, q := range outs {
			if j == i || !q.granted || !q.reserveStart.Before(r.reserveEnd) {
				continue
			}
			if !q.finishEnd.IsZero() && q.finishEnd.Before(r.reserveStart) {
				upper += q.charged
			} else {
				upper += max(q.amount, q.charged)
			}
		}
		if upper+r.amount <= limit {
			t.Fatalf("request %d (%s USD) refused although at most %s USD was committed or held", i, r.amount.USD(), upper.USD())
		}
	}
	// The database, the Redis counters and the harness agree; nothing is held.
	m := MonthOf(time.Now(), time.UTC)
	db, err := st.SumBudgetSpend(ctx, store.BudgetUser, "alice", m.Start, m.End, nil)
	if err != nil {
		t.Fatal(err)
	}
	if db != billed {
		t.Fatalf("database total %s != billed %s", db.USD(), billed.USD())
	}
	for _, sc := range []struct {
		scope  store.BudgetScope
		target string
	}{{store.BudgetUser, "alice"}, {store.BudgetKey, "7"}} {
		s, err := reps[0].svc.Status(ctx, sc.scope, sc.target)
		if err != nil {
			t.Fatal(err)
		}
		if s.Spent != billed || s.Reserved != 0 {
			t.Fatalf("%s counter: spent %s reserved %s, want %s and 0", sc.scope, s.Spent.USD(), s.Reserved.USD(), billed.USD())
		}
		if reps[0].r == nil {
			continue
		}
		k := reps[0].r.keysOf(ref{sc.scope, sc.target}, m).k
		fields, err := admin.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for f, v := range fields {
			if len(f) > 2 && f[:2] == "h:" && v != "s" && v != "x" && v != "r" {
				t.Fatalf("hold %s = %s still open", f, v)
			}
		}
	}
	for i, rep := range reps {
		if n := counterValue(rep.m.Outstanding); n != 0 {
			t.Fatalf("replica %d reports %v outstanding reservations", i, n)
		}
		if n := counterValue(rep.m.Reserved); n != 0 {
			t.Fatalf("replica %d reports %v reserved nanos", i, n)
		}
	}
	if flush {
		var rebuilds float64
		for _, rep := range reps {
			rebuilds += counterValue(rep.m.Rebuilds)
		}
		if rebuilds == 0 {
			t.Fatal("no counter was rebuilt after the flush")
		}
	}
}

// TestDeadReplicaReclaimed: a replica that dies holding reservations leaks
// nothing; after the expiry the whole budget is available to the others. The
// replicas share a fake clock, which the scripts use for expiries.
func TestDeadReplicaReclaimed(t *testing.T) {
	ctx := context.Background()
	st, _, prefix := aliceBudget(t, 10*usd)
	clk := newClock(time.Now())
	o := RedisOptions{Options: Options{TTL: time.Minute, Now: clk.Now}, RecoveryWindow: 50 * time.Millisecond}
	a, dying := newReplica(t, st, prefix, o), newReplica(t, st, prefix, o)
	for i := range 5 {
		if _, err := dying.r.Reserve(ctx, Subject{UserOID: "alice"}, fmt.Sprintf("d%d", i), 2*usd); err != nil {
			t.Fatal(err)
		}
	}
	dying.r.Close()
	dying.c.Close() // the replica is gone: nothing will ever settle or release
	clk.Add(59 * time.Second)
	if _, err := a.r.Reserve(ctx, Subject{UserOID: "alice"}, "a0", 1); code(err) != "insufficient_quota" {
		t.Fatalf("the dead replica's holds still count before the expiry: %v", err)
	}
	clk.Add(2 * time.Second)
	r, err := a.r.Reserve(ctx, Subject{UserOID: "alice"}, "a1", 10*usd)
	if err != nil {
		t.Fatalf("after the expiry the budget is whole again: %v", err)
	}
	if got := counterValue(a.m.Reclaimed); got != 5 {
		t.Fatalf("reclaimed %v holds, want 5", got)
	}
	_ = r.Release(ctx)
}
