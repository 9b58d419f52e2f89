package budget

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestBatchScriptMatchesSingleScripts runs the same random sequence of
// reserves, settles and releases on two counters over one and three budgets:
// op by op through the single scripts on one, in batches through batchScript
// on the other. Every reply and the final state of both must be the same
// (ops of one batch share their "now", as concurrent requests nearly do).
func TestBatchScriptMatchesSingleScripts(t *testing.T) {
	c := redisClient(t)
	ctx := context.Background()
	p := testPrefix(t, c)
	rng := rand.New(rand.NewPCG(1, 2))

	const budgets = 3
	counter := func(side string, i int) (k, z, rs string) {
		k = p + side + strconv.Itoa(i)
		return k, k + ":z", k + ":rs"
	}
	for _, side := range []string{"single", "batch"} {
		for i := range budgets {
			k, z, _ := counter(side, i)
			c.HSet(ctx, k, "st", "ok", "gen", "1", "base", "0", "spent", "0", "held", "0")
			c.ZAdd(ctx, z, redis.Z{Score: 1e300, Member: "~"})
		}
	}
	// keysOf returns the keys of op name over the first n budgets of side.
	keysOf := func(side, name string, n int) []string {
		var ks, zs, rss []string
		for i := range n {
			k, z, rs := counter(side, i)
			ks, zs, rss = append(ks, k), append(zs, z), append(rss, rs)
		}
		out := append(ks, zs...)
		if name == "settle" {
			out = append(out, rss...)
		}
		return out
	}
	type op struct {
		name string
		n    int // budgets
		args []any
	}
	scripts := map[string]*redis.Script{"reserve": reserveScript, "settle": settleScript, "release": releaseScript}
	now := int64(1_000_000)
	const ttl, tomb = 5_000, 3_000
	var ids []string
	limits := []any{int64(40_000), int64(60_000), int64(1 << 40)}
	for batchNo := range 60 {
		now += int64(rng.IntN(2_000)) // holds expire, tombstones are forgotten
		var ops []op
		for range 1 + rng.IntN(12) {
			n := 1 + rng.IntN(budgets)
			switch r := rng.IntN(10); {
			case r < 5 || len(ids) == 0:
				id := fmt.Sprintf("r%d", len(ids))
				if rng.IntN(20) == 0 && len(ids) > 0 {
					id = ids[rng.IntN(len(ids))] // a reused id
				}
				ids = append(ids, id)
				args := []any{now, id, int64(100 + rng.IntN(5_000)), now + ttl, 0, tomb}
				ops = append(ops, op{"reserve", n, append(args, limits[:n]...)})
			case r < 8:
				id := ids[rng.IntN(len(ids))]
				ops = append(ops, op{"settle", n, []any{now, id, int64(rng.IntN(6_000)), tomb, 3600}})
			default:
				id := ids[rng.IntN(len(ids))]
				ops = append(ops, op{"release", n, []any{now, id, tomb}})
			}
		}
		var single []any
		for _, o := range ops {
			v, err := scripts[o.name].Run(ctx, c, keysOf("single", o.name, o.n), o.args...).Result()
			if err != nil {
				t.Fatal(err)
			}
			single = append(single, v)
		}
		var keys []string
		args := []any{len(ops)}
		for _, o := range ops {
			ks := keysOf("batch", o.name, o.n)
			keys = append(keys, ks...)
			args = append(args, o.name, len(ks), len(o.args))
			args = append(args, o.args...)
		}
		batched, err := batchScript.Run(ctx, c, keys, args...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(single, batched) {
			t.Fatalf("batch %d: replies differ\nsingle: %v\nbatch:  %v", batchNo, single, batched)
		}
	}
	for i := range budgets {
		ks, zs, _ := counter("single", i)
		kb, zb, _ := counter("batch", i)
		hs, _ := c.HGetAll(ctx, ks).Result()
		hb, _ := c.HGetAll(ctx, kb).Result()
		if !reflect.DeepEqual(hs, hb) {
			t.Errorf("budget %d: counters differ\nsingle: %v\nbatch:  %v", i, hs, hb)
		}
		if len(hs) < 6 {
			t.Errorf("budget %d: the sequence left no holds or tombstones: %v", i, hs)
		}
		s1, _ := c.ZRangeWithScores(ctx, zs, 0, -1).Result()
		s2, _ := c.ZRangeWithScores(ctx, zb, 0, -1).Result()
		if !reflect.DeepEqual(s1, s2) {
			t.Errorf("budget %d: expiry sets differ\nsingle: %v\nbatch:  %v", i, s1, s2)
		}
	}
}

// TestBatchOpErrorIsolated: an op whose body raises an error replies
// {-1, message} and the other ops of its batch still run.
func TestBatchOpErrorIsolated(t *testing.T) {
	c := redisClient(t)
	ctx := context.Background()
	p := testPrefix(t, c)
	k := p + "ok"
	c.HSet(ctx, k, "st", "ok", "gen", "1", "base", "0", "spent", "0", "held", "0")
	c.ZAdd(ctx, k+":z", redis.Z{Score: 1e300, Member: "~"})
	bad := p + "bad"
	c.Set(ctx, bad, "a string, not a hash", 0) // HMGET on it raises WRONGTYPE
	v, err := batchScript.Run(ctx, c, []string{bad, bad + ":z", k, k + ":z"},
		2,
		"reserve", 2, 7, 1000, "a", 10, 9000, 0, 100, 1000,
		"reserve", 2, 7, 1000, "b", 10, 9000, 0, 100, 1000,
	).Slice()
	if err != nil {
		t.Fatal(err)
	}
	r0, err0 := opReply(v[0])
	if err0 == nil {
		t.Fatalf("op on a wrong-type key replied %v, want an error", r0)
	}
	if r1, err1 := opReply(v[1]); err1 != nil || num(r1, 0) != codeOK {
		t.Fatalf("second op: %v %v, want OK", r1, err1)
	}
	if held, _ := c.HGet(ctx, k, "held").Result(); held != "10" {
		t.Fatalf("held %q, want 10", held)
	}
}

// panicHook makes the client panic while armed.
type panicHook struct{ armed atomic.Bool }

func (h *panicHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *panicHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.armed.Load() {
			panic("client exploded")
		}
		return next(ctx, cmd)
	}
}
func (h *panicHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestBatcherSurvivesPanic: a panic while a batch is sent answers its ops
// with an error and the batcher keeps serving (no op waits forever).
func TestBatcherSurvivesPanic(t *testing.T) {
	c := redisClient(t)
	ctx := context.Background()
	p := testPrefix(t, c)
	k := p + "k"
	c.HSet(ctx, k, "st", "ok", "gen", "1", "base", "0", "spent", "0", "held", "0")
	c.ZAdd(ctx, k+":z", redis.Z{Score: 1e300, Member: "~"})
	h := &panicHook{}
	c.AddHook(h)
	b := newBatcher(c, 0, 0)
	defer b.close()
	reserve := func(id string) ([]any, error) {
		return b.run(ctx, "reserve", []string{k, k + ":z"}, []any{1000, id, 10, 9000, 0, 100, 1000})
	}
	h.armed.Store(true)
	if _, err := reserve("a"); err == nil || !strings.Contains(err.Error(), "client exploded") {
		t.Fatalf("reserve during the panic: %v", err)
	}
	h.armed.Store(false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if v, err := reserve("b"); err != nil || num(v, 0) != codeOK {
			t.Errorf("reserve after the panic: %v %v", v, err)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the batcher hangs after a panic")
	}
}
