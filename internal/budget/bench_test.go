package budget

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/store"
)

// roundTrips counts the commands (and pipelines) a client sends: each is one
// round trip to Redis.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// benchReserver is a Redis reserver with a user, an app and a key budget that
// never run out, counting round trips.
func benchReserver(b *testing.B) (*Redis, *roundTrips) {
	st := openStore(b)
	for _, sc := range []struct {
		scope  store.BudgetScope
		target string
	}{{store.BudgetUser, "alice"}, {store.BudgetApp, "dify"}, {store.BudgetKey, "7"}} {
		setBudget(b, st, sc.scope, sc.target, maxAmount)
	}
	c := redisClient(b)
	h := &roundTrips{}
	c.AddHook(h)
	r := NewRedis(c, newLimits(b, st, nil, -1), st, nil, RedisOptions{Prefix: testPrefix(b, c), Log: quiet()})
	b.Cleanup(r.Close)
	// Warm up: build the counters and load the scripts.
	res, err := r.Reserve(context.Background(), Subject{UserOID: "alice", AppID: "dify", KeyID: 7}, "warm", 1)
	if err != nil {
		b.Fatal(err)
	}
	_ = res.Settle(context.Background(), 1)
	return r, h
}

// BenchmarkRedisReserveSettle is one request's budget overhead: Reserve over
// three budgets, then Settle.
func BenchmarkRedisReserveSettle(b *testing.B) {
	r, h := benchReserver(b)
	ctx := context.Background()
	subj := Subject{UserOID: "alice", AppID: "dify", KeyID: 7}
	h.n.Store(0)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		res, err := r.Reserve(ctx, subj, "b"+strconv.Itoa(i), 1000)
		if err != nil {
			b.Fatal(err)
		}
		if err := res.Settle(ctx, 500); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(h.n.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkRedisReserveSettleParallel is the same under concurrency.
func BenchmarkRedisReserveSettleParallel(b *testing.B) {
	r, h := benchReserver(b)
	ctx := context.Background()
	subj := Subject{UserOID: "alice", AppID: "dify", KeyID: 7}
	var seq atomic.Int64
	h.n.Store(0)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := r.Reserve(ctx, subj, "p"+strconv.FormatInt(seq.Add(1), 10), 1000)
			if err != nil {
				b.Error(err)
				return
			}
			_ = res.Settle(ctx, 500)
		}
	})
	b.ReportMetric(float64(h.n.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkLocalReserveSettle is the embedded mode's overhead.
func BenchmarkLocalReserveSettle(b *testing.B) {
	st := openStore(b)
	setBudget(b, st, store.BudgetUser, "alice", maxAmount)
	l := NewLocal(newLimits(b, st, nil, -1), st, Options{}, quiet())
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		res, err := l.Reserve(ctx, Subject{UserOID: "alice"}, "l"+strconv.Itoa(i), 1000)
		if err != nil {
			b.Fatal(err)
		}
		_ = res.Settle(ctx, 500)
	}
}

// BenchmarkNoBudget is a subject without budgets: no round trip at all.
func BenchmarkNoBudget(b *testing.B) {
	r, h := benchReserver(b)
	ctx := context.Background()
	h.n.Store(0)
	for b.Loop() {
		res, err := r.Reserve(ctx, Subject{UserOID: "bob"}, "n", 1000)
		if err != nil {
			b.Fatal(err)
		}
		_ = res.Settle(ctx, 500)
	}
	b.ReportMetric(float64(h.n.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkRedisPing is the baseline: one bare round trip to the same Redis.
func BenchmarkRedisPing(b *testing.B) {
	c := redisClient(b)
	ctx := context.Background()
	for b.Loop() {
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
