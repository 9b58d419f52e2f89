package upstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/redistest"
)

// redisClient connects to the test Redis (skipping without one) and returns a
// key prefix unique to the test, whose keys are removed at the end.
func redisClient(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	prefix := fmt.Sprintf("gwtest:%d:%s", time.Now().UnixNano(), strings.ReplaceAll(t.Name(), " ", "_"))
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+":*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return c, prefix
}

// newReplicaClient opens another connection, as a second gateway would.
func newReplicaClient(t testing.TB) *redis.Client {
	t.Helper()
	opt, _ := redis.ParseURL(redistest.URL(t))
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisLimiter(t *testing.T) {
	for _, tc := range limiterCases() {
		t.Run(tc.name, func(t *testing.T) {
			c, prefix := redisClient(t)
			runLimiterCase(t, NewRedisLimiter(c, prefix), limitedEP(1, tc.rpm, tc.tpm), tc)
		})
	}
}

// TestRedisLimiterKeys: one hash per endpoint and minute under the prefix,
// expiring, and nothing written for unlimited endpoints.
func TestRedisLimiterKeys(t *testing.T) {
	c, prefix := redisClient(t)
	ctx := context.Background()
	l := NewRedisLimiter(c, prefix)
	now := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	if ok, _, err := l.Admit(ctx, limitedEP(42, 5, 0), 7, now); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, _, err := l.Admit(ctx, limitedEP(43, 0, 0), 7, now); !ok || err != nil {
		t.Fatal(ok, err)
	}
	keys, err := c.Keys(ctx, prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s:ep:{42}:%d", prefix, now.Unix()/60)
	if len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys %v, want [%s]", keys, want)
	}
	if ttl := c.TTL(ctx, want).Val(); ttl <= 0 || ttl > redisWindowTTL {
		t.Fatalf("ttl %v", ttl)
	}
	if v := c.HGetAll(ctx, want).Val(); v["r"] != "1" || v["t"] != "7" {
		t.Fatalf("hash %v", v)
	}
}

// TestRedisLimiterTwoReplicas: two gateways sharing Redis, 50 concurrent
// admissions at once, admit exactly the limit between them.
func TestRedisLimiterTwoReplicas(t *testing.T) {
	cases := []struct {
		name     string
		rpm, tpm int64
		tokens   int64
	}{
		{"rpm 10", 10, 0, 100},
		{"tpm 1000 at 100 tokens each", 0, 1000, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c1, prefix := redisClient(t)
			c2 := newReplicaClient(t)
			// Each replica has its own Endpoint (own State) for the same id.
			replicas := []struct {
				l *RedisLimiter
				e *Endpoint
			}{
				{NewRedisLimiter(c1, prefix), limitedEP(9, tc.rpm, tc.tpm)},
				{NewRedisLimiter(c2, prefix), limitedEP(9, tc.rpm, tc.tpm)},
			}
			now := time.Date(2026, 3, 1, 12, 0, 20, 0, time.UTC)
			var admitted, refused atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 50 {
				r := replicas[i%2]
				wg.Go(func() {
					<-start
					ok, ra, err := r.l.Admit(context.Background(), r.e, tc.tokens, now)
					if err != nil {
						t.Error(err)
					}
					if ok {
						admitted.Add(1)
					} else if ra == 40*time.Second {
						refused.Add(1)
					}
				})
			}
			close(start)
			wg.Wait()
			if admitted.Load() != 10 || refused.Load() != 40 {
				t.Fatalf("admitted %d, refused with the right retry-after %d; want 10 and 40", admitted.Load(), refused.Load())
			}
			for i, r := range replicas {
				rpm, tpm, err := r.l.Usage(context.Background(), r.e, now)
				if err != nil || rpm != 10 || tpm != 10*tc.tokens {
					t.Fatalf("replica %d usage %d/%d %v", i, rpm, tpm, err)
				}
				// Both replicas' views are now at the limit: selection skips the
				// endpoint without a round trip.
				if !r.e.state.usage.atLimit(r.e, tc.tokens, now) {
					t.Fatalf("replica %d view not at limit", i)
				}
			}
		})
	}
}

// TestRedisLimiterFallback: with Redis unreachable, admission falls back to
// this replica's counts against the full limit, and says so.
func TestRedisLimiterFallback(t *testing.T) {
	l := NewRedisLimiter(downRedis{}, "unreachable")
	e := limitedEP(1, 2, 0)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	want := []bool{true, true, false}
	for i, w := range want {
		ok, ra, err := l.Admit(ctx, e, 1, now)
		if err == nil || ok != w || (!ok && ra != time.Minute) {
			t.Fatalf("admission %d: %v %v %v, want %v with an error", i, ok, ra, err, w)
		}
	}
	if rpm, _, err := l.Usage(ctx, e, now); err == nil || rpm != 2 {
		t.Fatalf("usage %d %v", rpm, err)
	}
	if err := l.Adjust(ctx, e, -1, now); err == nil {
		t.Fatal("adjust reported no error")
	}
	// Unlimited endpoints never touch Redis.
	if ok, _, err := l.Admit(ctx, limitedEP(2, 0, 0), 1, now); !ok || err != nil {
		t.Fatalf("unlimited: %v %v", ok, err)
	}
}

// downRedis is a Redis that fails every call.
type downRedis struct{}

func (downRedis) fail(ctx context.Context) *redis.Cmd {
	c := redis.NewCmd(ctx)
	c.SetErr(errors.New("connection refused"))
	return c
}
func (d downRedis) Eval(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return d.fail(ctx)
}
func (d downRedis) EvalSha(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return d.fail(ctx)
}
func (d downRedis) EvalRO(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return d.fail(ctx)
}
func (d downRedis) EvalShaRO(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return d.fail(ctx)
}
func (downRedis) ScriptExists(ctx context.Context, _ ...string) *redis.BoolSliceCmd {
	c := redis.NewBoolSliceCmd(ctx)
	c.SetErr(errors.New("connection refused"))
	return c
}
func (downRedis) ScriptLoad(ctx context.Context, _ string) *redis.StringCmd {
	c := redis.NewStringCmd(ctx)
	c.SetErr(errors.New("connection refused"))
	return c
}
