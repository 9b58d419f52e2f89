package budget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/redistest"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/sqlite"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openStore opens a fresh SQLite store (a real database).
func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// redisClient connects to the real Redis of TEST_REDIS_URL.
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	opt.PoolSize = 64
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// testPrefix is a key prefix of the test's own; its keys are deleted at the end.
func testPrefix(t testing.TB, c *redis.Client) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "gwtest:budget:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() { flushPrefix(context.Background(), c, p) })
	return p
}

// flushPrefix deletes every key under p: the test's equivalent of FLUSHDB
// that leaves the keys of other packages running at the same time alone.
func flushPrefix(ctx context.Context, c *redis.Client, p string) int {
	n := 0
	iter := c.Scan(ctx, 0, p+"*", 500).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			n += int(c.Del(ctx, batch...).Val())
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		n += int(c.Del(ctx, batch...).Val())
	}
	return n
}

func setBudget(t testing.TB, st store.Budgets, scope store.BudgetScope, target string, n money.Nanos) {
	t.Helper()
	if _, err := st.SetBudget(context.Background(), store.Budget{Scope: scope, Target: target, Monthly: n}); err != nil {
		t.Fatal(err)
	}
}

func newLimits(t testing.TB, st store.Budgets, bus events.Bus, def money.Nanos) *Limits {
	t.Helper()
	l, err := NewLimits(context.Background(), st, bus, def, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// impl builds a Service of one kind on st.
type impl struct {
	name string
	make func(t *testing.T, st *sqlite.Store, l *Limits, o Options) Service
}

func impls() []impl {
	return []impl{
		{"local", func(t *testing.T, st *sqlite.Store, l *Limits, o Options) Service {
			return NewLocal(l, st, o, quiet())
		}},
		{"redis", func(t *testing.T, st *sqlite.Store, l *Limits, o Options) Service {
			c := redisClient(t)
			r := NewRedis(c, l, st, nil, RedisOptions{Options: o, Prefix: testPrefix(t, c), Log: quiet(),
				RecoveryWindow: 50 * time.Millisecond})
			t.Cleanup(r.Close)
			return r
		}},
	}
}

// code returns the API error code of err ("" for nil).
func code(err error) string {
	if err == nil {
		return ""
	}
	return apierror.As(err).Code
}

func status(err error) int {
	if err == nil {
		return 0
	}
	return apierror.As(err).Status
}

func usageRow(id, user string, key int64, app string, at time.Time, cost money.Nanos) store.UsageRecord {
	r := store.UsageRecord{RequestID: id, CreatedAt: at, UserOID: user, Model: "m", Status: 200, Cost: cost, Attempts: 1}
	if key != 0 {
		r.KeyID = &key
	}
	if app != "" {
		r.AppID = &app
	}
	return r
}
