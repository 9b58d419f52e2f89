package gateway

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/budget"
	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/postgres"
)

// TestCloseWaitsForDeferredSettles: in production mode the proxy settles a
// Redis hold after the response, off the handler, and only then queues the
// usage row. After Close, called right after the last response, every row is
// written and the Redis counter equals their sum with nothing held. This is
// the end-to-end check of the whole path; it does not by itself catch a
// missing wait (the settles' 2 ms gathering is shorter than Close's own
// work): proxy.TestRemoteSettleAfterResponse holds a settle open and checks
// that Deps.Pending (the gateway's handler group, which Close waits for)
// counts it.
func TestCloseWaitsForDeferredSettles(t *testing.T) {
	env := productionEnv(t)
	in := newInstance(t, env)
	_, fakeURL := newFake(t, fakeprovider.Options{})
	in.addModel("m", fakeURL, "")
	key := in.addUserKey("alice")
	in.mustAdmin(200, "PUT", "/admin/api/users/alice/budget", map[string]any{"monthly_usd": 100}, nil)

	ctx := context.Background()
	const n = 20
	for i := range n {
		r, err := postChat(ctx, in.srv.URL, key, `{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`, nil)
		if err != nil || r.status != 200 {
			t.Fatalf("request %d: %v %d %s", i, err, r.status, r.body)
		}
	}
	in.srv.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := in.g.Close(cctx); err != nil {
		t.Fatal(err)
	}

	st, err := postgres.Open(ctx, env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tot, err := st.SumUsage(ctx, store.UsageFilter{UserOID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if tot.Requests != n || tot.Cost <= 0 {
		t.Fatalf("after Close: %d usage rows costing %s, want %d rows", tot.Requests, tot.Cost.USD(), n)
	}

	opt, err := redis.ParseURL(env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	k := env["GATEWAY_REDIS_PREFIX"] + ":budget:user:alice:" + budget.MonthOf(time.Now(), time.UTC).Label
	v, err := rc.HMGet(ctx, k, "base", "spent", "held").Result()
	if err != nil {
		t.Fatal(err)
	}
	n64 := func(x any) money.Nanos {
		s, _ := x.(string)
		m, _ := strconv.ParseInt(s, 10, 64)
		return money.Nanos(m)
	}
	if spent, held := n64(v[0])+n64(v[1]), n64(v[2]); spent != tot.Cost || held != 0 {
		t.Fatalf("Redis counter %s: spent %s held %s, want %s and 0", k, spent.USD(), held.USD(), tot.Cost.USD())
	}
}
