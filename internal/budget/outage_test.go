package budget

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/redistest"
	"github.com/antigravity/gateway/internal/store"
)

// partition makes a Redis client's connections fail while down is set, as a
// network partition would.
type partition struct{ down atomic.Bool }

type partConn struct {
	net.Conn
	p *partition
}

var errPartitioned = errors.New("partitioned")

func (c partConn) Read(b []byte) (int, error) {
	if c.p.down.Load() {
		return 0, errPartitioned
	}
	return c.Conn.Read(b)
}

func (c partConn) Write(b []byte) (int, error) {
	if c.p.down.Load() {
		return 0, errPartitioned
	}
	return c.Conn.Write(b)
}

func (p *partition) client(t *testing.T) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if p.down.Load() {
			return nil, errPartitioned
		}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return partConn{c, p}, nil
	}
	opt.MaxRetries = -1
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisUnreachable(t *testing.T) {
	ctx := context.Background()
	for _, failOpen := range []bool{false, true} {
		name := map[bool]string{false: "fail closed", true: "fail open"}[failOpen]
		t.Run(name, func(t *testing.T) {
			st := openStore(t)
			setBudget(t, st, store.BudgetUser, "alice", 10*usd)
			if err := st.InsertUsage(ctx, []store.UsageRecord{usageRow("old", "alice", 0, "", time.Now(), 2*usd)}); err != nil {
				t.Fatal(err)
			}
			var p partition
			c := p.client(t)
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			r := NewRedis(c, newLimits(t, st, nil, -1), st, nil, RedisOptions{
				Options: Options{Metrics: m}, Prefix: testPrefix(t, redisClient(t)), FailOpen: failOpen,
				RecoveryWindow: 20 * time.Millisecond, Log: quiet()})
			defer r.Close()
			alice := Subject{UserOID: "alice"}

			r1, err := r.Reserve(ctx, alice, "r1", usd)
			if err != nil {
				t.Fatal(err)
			}
			_ = r1.Settle(ctx, usd)
			_ = st.InsertUsage(ctx, []store.UsageRecord{usageRow("r1", "alice", 0, "", time.Now(), usd)})

			p.down.Store(true)
			r2, err := r.Reserve(ctx, alice, "r2", 6*usd)
			if !failOpen {
				e := apierror.As(err)
				if err == nil || e.Status != 503 || e.Code != "budget_unavailable" || !e.Retryable {
					t.Fatalf("fail closed: %v", err)
				}
				if got := counterValue(m.Rejections.WithLabelValues("unavailable")); got != 1 {
					t.Fatalf("unavailable rejections = %v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("fail open: %v", err)
			}
			// The fallback starts from the database total ($3) plus its own holds.
			if _, err := r.Reserve(ctx, alice, "r3", 2*usd); code(err) != "insufficient_quota" {
				t.Fatalf("fallback over budget: %v", err)
			}
			_ = r2.Settle(ctx, 6*usd)
			_ = st.InsertUsage(ctx, []store.UsageRecord{usageRow("r2", "alice", 0, "", time.Now(), 6*usd)})
			if got := counterValue(m.Fallbacks); got != 1 {
				t.Fatalf("fallback reservations = %v", got)
			}

			p.down.Store(false)
			// The fallback's settle is replayed: Redis and the database agree.
			deadline := time.Now().Add(3 * time.Second)
			for {
				s, err := r.Status(ctx, store.BudgetUser, "alice")
				if err == nil && s.Spent == 9*usd && s.Reserved == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after the outage: %+v %v, want 9 USD spent", s, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := r.Reserve(ctx, alice, "r4", 2*usd); code(err) != "insufficient_quota" {
				t.Fatalf("the replayed settle counts: %v", err)
			}
			if _, err := r.Reserve(ctx, alice, "r5", usd); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMetricsRegistered checks the collectors' names and that script latency
// is observed.
func TestMetricsRegistered(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	setBudget(t, st, store.BudgetUser, "alice", usd)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	c := redisClient(t)
	r := NewRedis(c, newLimits(t, st, nil, -1), st, nil, RedisOptions{Options: Options{Metrics: m},
		Prefix: testPrefix(t, c), RecoveryWindow: 10 * time.Millisecond, Log: quiet()})
	defer r.Close()
	res, err := r.Reserve(ctx, Subject{UserOID: "alice"}, "m1", usd/2)
	if err != nil {
		t.Fatal(err)
	}
	if counterValue(m.Outstanding) != 1 || counterValue(m.Reserved) != float64(usd/2) {
		t.Fatalf("outstanding %v reserved %v", counterValue(m.Outstanding), counterValue(m.Reserved))
	}
	if _, err := r.Reserve(ctx, Subject{UserOID: "alice"}, "m2", usd); err == nil {
		t.Fatal("over budget")
	}
	_ = res.Settle(ctx, usd/2)
	if counterValue(m.Outstanding) != 0 || counterValue(m.Reserved) != 0 {
		t.Fatal("outstanding not back to zero")
	}
	if counterValue(m.Rejections.WithLabelValues("insufficient_quota")) != 1 {
		t.Fatal("rejection not counted")
	}
	if counterValue(m.Script.WithLabelValues("reserve").(prometheus.Histogram)) < 2 ||
		counterValue(m.Script.WithLabelValues("settle").(prometheus.Histogram)) != 1 {
		t.Fatal("script latency not observed")
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	for _, n := range []string{"gateway_budget_reservations_outstanding", "gateway_budget_reserved_nanodollars",
		"gateway_budget_rejections_total", "gateway_budget_redis_script_seconds", "gateway_budget_counter_rebuilds_total"} {
		if !names[n] {
			t.Errorf("metric %s not gathered (have %v)", n, names)
		}
	}
}
