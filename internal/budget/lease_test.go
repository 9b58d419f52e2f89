package budget

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/sqlite"
)

// leaseOpts are leases with a short revoke wait and linger, for the tests.
func leaseOpts(o RedisOptions, requests int) RedisOptions {
	o.RecoveryWindow = 50 * time.Millisecond
	o.Leases = LeaseOptions{Enabled: true, Requests: requests, RevokeWait: 500 * time.Millisecond, Linger: 5 * time.Millisecond}
	return o
}

// awaitLease reserves (and releases) until a reservation of amount is taken
// against a lease of rep.
func awaitLease(t *testing.T, rep *replica, subj Subject, amount int64) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		res, err := rep.r.Reserve(ctx, subj, fmt.Sprintf("warm-%d", i), money.Nanos(amount))
		if err != nil {
			t.Fatal(err)
		}
		_, leased := res.(*leaseRes)
		_ = res.Release(ctx)
		if leased {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no lease was granted")
}

// aliceBudget opens a store where user alice has a monthly budget of limit,
// and a Redis client with a fresh key prefix.
func aliceBudget(t *testing.T, limit money.Nanos) (*sqlite.Store, *redis.Client, string) {
	t.Helper()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", limit)
	admin := redisClient(t)
	return st, admin, testPrefix(t, admin)
}

// TestLeaseServesRequestsExactly: once a replica holds a lease, its
// reservations take no round trip, every settle is in the counter when Settle
// returns, reserved_usd does not count the lease's unused slack, and closing
// the replica returns the lease.
func TestLeaseServesRequestsExactly(t *testing.T) {
	ctx := context.Background()
	st, admin, prefix := aliceBudget(t, 1000*usd)
	rep := newReplica(t, st, prefix, leaseOpts(RedisOptions{}, 64))
	subj := Subject{UserOID: "alice"}
	awaitLease(t, rep, subj, int64(usd/100))

	before := counterValue(rep.m.Leased)
	var spent int64
	for i := range 50 {
		res, err := rep.r.Reserve(ctx, subj, fmt.Sprintf("r%d", i), usd/100)
		if err != nil {
			t.Fatal(err)
		}
		cost := int64(usd/200) + int64(i)
		if err := res.Settle(ctx, money.Nanos(cost)); err != nil {
			t.Fatal(err)
		}
		spent += cost
		s, err := rep.r.Status(ctx, store.BudgetUser, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if int64(s.Spent) != spent {
			t.Fatalf("after settle %d the counter shows %d spent, want %d", i, s.Spent, spent)
		}
		if s.Reserved != 0 {
			t.Fatalf("after settle %d reserved = %d, want 0 (the lease's slack is no request's)", i, s.Reserved)
		}
	}
	if got := counterValue(rep.m.Leased) - before; got < 40 {
		t.Fatalf("%v of 50 reservations were taken against the lease", got)
	}
	open, err := rep.r.Reserve(ctx, subj, "open", usd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := open.(*leaseRes); !ok {
		// Too large for the lease: it held in Redis; still counted below.
		t.Logf("the 1 USD reservation went to Redis")
	}
	if err := open.Release(ctx); err != nil {
		t.Fatal(err)
	}
	rep.r.Close()
	k := rep.r.keysOf(ref{store.BudgetUser, "alice"}, MonthOf(time.Now(), time.UTC)).k
	v, err := admin.HMGet(ctx, k, "held", "lslack", "spent", "base").Result()
	if err != nil {
		t.Fatal(err)
	}
	if num(v, 0) != 0 || num(v, 1) != 0 || num(v, 2)+num(v, 3) != spent {
		t.Fatalf("after the replica closed: held %v, lease slack %v, spent %v+%v; want 0, 0, %d", v[0], v[1], v[3], v[2], spent)
	}
}

// TestLeaseRevokedForAnotherReplica: a request refused only because another
// replica's lease holds unused slack gets it after the lease is revoked; one
// refused by what is really in flight is refused.
func TestLeaseRevokedForAnotherReplica(t *testing.T) {
	ctx := context.Background()
	st, _, prefix := aliceBudget(t, 100*usd)
	a := newReplica(t, st, prefix, leaseOpts(RedisOptions{}, 1000))
	b := newReplica(t, st, prefix, leaseOpts(RedisOptions{}, 1000))
	subj := Subject{UserOID: "alice"}
	awaitLease(t, a, subj, int64(usd/10))
	inFlight, err := a.r.Reserve(ctx, subj, "a-open", usd)
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.r.Status(ctx, store.BudgetUser, "alice")
	if err != nil {
		t.Fatal(err)
	}
	// 100 USD, 1 held by a's request: 99 fit only once a's slack is revoked.
	res, err := b.r.Reserve(ctx, subj, "b-big", 99*usd)
	if err != nil {
		t.Fatalf("refused although only 1 USD was held by requests (status before: reserved %d): %v", s.Reserved, err)
	}
	if got := counterValue(a.m.Revokes); got != 1 {
		t.Fatalf("replica a revoked %v leases, want 1", got)
	}
	_ = res.Release(ctx)
	// Now 1 USD is really held: 99.5 USD must be refused, and soon.
	start := time.Now()
	if _, err := b.r.Reserve(ctx, subj, "b-bigger", 99*usd+usd/2); code(err) != "insufficient_quota" {
		t.Fatalf("want insufficient_quota, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the refusal took %v", d)
	}
	if err := inFlight.Settle(ctx, usd/2); err != nil {
		t.Fatal(err)
	}
	s, err = b.r.Status(ctx, store.BudgetUser, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if s.Spent != usd/2 {
		t.Fatalf("spent %d, want %d", s.Spent, usd/2)
	}
}

// TestDeadReplicaLeaseReclaimed: a replica that dies holding a lease leaks
// nothing: after the lease's expiry the budget is whole again.
func TestDeadReplicaLeaseReclaimed(t *testing.T) {
	ctx := context.Background()
	st, _, prefix := aliceBudget(t, 10*usd)
	clk := newClock(time.Now())
	o := leaseOpts(RedisOptions{Options: Options{TTL: time.Minute, Now: clk.Now}}, 1000)
	o.Leases.TTL = 30 * time.Second
	a, dying := newReplica(t, st, prefix, o), newReplica(t, st, prefix, o)
	subj := Subject{UserOID: "alice"}
	awaitLease(t, dying, subj, int64(usd/100))
	if _, err := dying.r.Reserve(ctx, subj, "d-open", usd/100); err != nil {
		t.Fatal(err)
	}
	dying.c.Close() // gone: its lease is never returned nor renewed
	if _, err := a.r.Reserve(ctx, subj, "a0", 10*usd); code(err) != "insufficient_quota" {
		t.Fatalf("the dead replica's lease should still count before its expiry: %v", err)
	}
	clk.Add(31 * time.Second)
	res, err := a.r.Reserve(ctx, subj, "a1", 10*usd)
	if err != nil {
		t.Fatalf("after the lease's expiry the budget is whole again: %v", err)
	}
	if got := counterValue(a.m.Reclaimed); got < 1 {
		t.Fatalf("reclaimed %v holds, want the lease", got)
	}
	_ = res.Release(ctx)
}

// TestLeaseFlushDuringOutage: settles against a lease while Redis does not
// answer neither hang nor get lost: their costs reach the counter, once,
// when Redis answers again.
func TestLeaseFlushDuringOutage(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", 1000*usd)
	var p partition
	c := p.client(t)
	m := NewMetrics(nil)
	o := leaseOpts(RedisOptions{Options: Options{Metrics: m}, Prefix: testPrefix(t, redisClient(t)), Log: quiet()}, 64)
	r := NewRedis(c, newLimits(t, st, nil, -1), st, nil, o)
	defer r.Close()
	rep := &replica{c: c, r: r, svc: r, m: m}
	subj := Subject{UserOID: "alice"}
	awaitLease(t, rep, subj, int64(usd/100))
	var held []Reservation
	for i := range 3 {
		res, err := r.Reserve(ctx, subj, fmt.Sprintf("o%d", i), usd/100)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := res.(*leaseRes); !ok {
			t.Fatalf("reservation %d not taken against the lease", i)
		}
		held = append(held, res)
	}
	p.down.Store(true)
	start := time.Now()
	for i, res := range held {
		if err := res.Settle(ctx, usd/200); err != nil {
			t.Fatalf("settle %d: %v", i, err)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("settles during the outage took %v", d)
	}
	if r.leases.stuck.Load() == 0 {
		t.Fatal("reconciliation would run while settles that did not wait are unconfirmed")
	}
	p.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := r.Status(ctx, store.BudgetUser, "alice")
		if err == nil && s.Spent == 3*usd/200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the outage: %+v %v, want %d spent", s, err, 3*usd/200)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for r.leases.stuck.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("reconciliation still paused after the settles were confirmed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLeaseGrowsWithDemand: with far more requests in flight than the first
// slack covers, the lease grows until nearly every reservation is taken
// against it (instead of falling back to a hold in Redis per request).
func TestLeaseGrowsWithDemand(t *testing.T) {
	ctx := context.Background()
	st, _, prefix := aliceBudget(t, 1000*usd)
	rep := newReplica(t, st, prefix, leaseOpts(RedisOptions{}, 4))
	subj := Subject{UserOID: "alice"}
	const workers, each = 128, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				res, err := rep.r.Reserve(ctx, subj, fmt.Sprintf("w%d-%d", w, i), usd/100)
				if err != nil {
					t.Error(err)
					return
				}
				time.Sleep(2 * time.Millisecond) // the upstream call
				if err := res.Settle(ctx, usd/200); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	leased := counterValue(rep.m.Leased)
	if leased < 0.5*workers*each { // the first sizing leased 10 of 5,120
		t.Fatalf("%v of %d reservations taken against the lease, want most", leased, workers*each)
	}
	s, err := rep.r.Status(ctx, store.BudgetUser, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if s.Spent != workers*each*usd/200 || s.Reserved != 0 {
		t.Fatalf("spent %d reserved %d, want %d and 0", s.Spent, s.Reserved, workers*each*usd/200)
	}
}

// TestLeaseLingerEndsWhenUrgent: a settle's flush lingers for more settles,
// but a request that misses the lease meanwhile makes the flush urgent, so
// even an hour's linger does not hold back the lease's growth (nor the
// settle).
func TestLeaseLingerEndsWhenUrgent(t *testing.T) {
	ctx := context.Background()
	st, _, prefix := aliceBudget(t, 1000*usd)
	o := leaseOpts(RedisOptions{}, 64)
	o.Leases.Linger = time.Hour
	rep := newReplica(t, st, prefix, o)
	subj := Subject{UserOID: "alice"}
	awaitLease(t, rep, subj, int64(usd/100))

	res, err := rep.r.Reserve(ctx, subj, "small", usd/100)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.(*leaseRes); !ok {
		t.Fatalf("reservation %T, want one against the lease", res)
	}
	settled := make(chan error, 1)
	go func() { settled <- res.Settle(ctx, usd/200) }()
	select {
	case err := <-settled:
		t.Fatalf("settle returned (%v) before its flush, which lingers for an hour", err)
	case <-time.After(100 * time.Millisecond):
	}

	big, err := rep.r.Reserve(ctx, subj, "big", 10*usd) // more than the lease's slack
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := big.(*leaseRes); ok {
		t.Fatal("a reservation larger than the lease was taken against it")
	}
	select {
	case err := <-settled:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the urgent flush waited for the linger")
	}
	if err := big.Release(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := rep.r.Status(ctx, store.BudgetUser, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if s.Spent != usd/200 || s.Reserved != 0 {
		t.Fatalf("spent %d reserved %d, want %d and 0", s.Spent, s.Reserved, usd/200)
	}
}
